/**
 * RFC 4180 records of a CSV body that arrives in pieces cut anywhere, each
 * record handed on as soon as it is complete — papaparse's core `Parser`,
 * as `csvRecords` uses for a whole page, driven the way papaparse's own
 * chunked reader drives it (parse what arrived, keep the unfinished last
 * record for the next piece).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import Papa from "papaparse";

/** Where the chunker hands its records. */
export interface CsvSink {
  /**
   * One record: its fields (`""` for an empty cell), its quoting error if
   * any, and a way to get its raw text without its line end, and where it
   * ends in the whole input (UTF-16 units), when someone needs them.
   */
  record(fields: string[], error: string | undefined, raw: () => CsvRaw): void;
  /** A record longer than the limit: its first characters (the rest is skipped). */
  tooLong(head: string): void;
}

/** The raw text of a record and where it ends in the whole input. */
export interface CsvRaw {
  text: string;
  end: number;
}

interface PapaResult {
  data: string[][];
  errors: { message: string; row?: number }[];
  meta: { cursor: number };
}

interface PapaParserConstructor {
  new (config: {
    delimiter: string;
    newline: string;
    quoteChar: string;
    step?: (results: PapaResult) => void;
  }): { parse(input: string, baseIndex: number, ignoreLastRow: boolean): PapaResult };
}

const Parser = (Papa as unknown as { Parser: PapaParserConstructor }).Parser;

/** What a dead letter keeps of a record that is too long, in UTF-16 units. */
const HEAD = 1024;

/**
 * The chunker. Line ends are LF (a CR before it belongs to the line end) as
 * soon as the first line end is LF or CRLF; bare CR when the first line end
 * is a CR followed by anything else. (For a whole page, `csvRecords` looks
 * for an LF anywhere; a page that mixes bare-CR lines before LF lines is the
 * only one read differently.)
 */
export class CsvChunker {
  #max: number;
  #newline: "\n" | "\r" | undefined;
  /** The unfinished last record (text not yet parsed). */
  #rest = "";
  /** Offset of `#rest` in the whole input. */
  #base = 0;
  /** After a record that was too long: the characters of it still to skip. */
  #skipping = false;
  #skipLf = 0;

  /** @param maxRecordChars longest record kept, in UTF-16 units */
  constructor(maxRecordChars: number) {
    this.#max = maxRecordChars;
  }

  /** Feeds the next piece of text. */
  push(text: string, sink: CsvSink): void {
    if (text.length === 0) return;
    this.#parse(this.#rest.length === 0 ? text : this.#rest + text, false, sink);
  }

  /** Ends the input: the last record needs no line end. */
  end(sink: CsvSink): void {
    const rest = this.#rest;
    this.#rest = "";
    if (rest.length > 0) this.#parse(rest, true, sink);
  }

  #parse(input: string, last: boolean, sink: CsvSink): void {
    if (this.#skipping) {
      // Skip to the first line end at least `#max` characters into the
      // record: where it is does not depend on how the input was cut.
      const lf = input.indexOf(this.#newline ?? "\n", this.#skipLf);
      if (lf < 0) {
        this.#skipLf = Math.max(0, this.#skipLf - input.length);
        this.#base += input.length;
        this.#rest = "";
        return;
      }
      this.#skipping = false;
      this.#base += lf + 1;
      input = input.slice(lf + 1);
      if (input.length === 0) {
        this.#rest = "";
        return;
      }
    }
    if (this.#newline === undefined) {
      const lf = input.indexOf("\n");
      const cr = input.indexOf("\r");
      if (cr >= 0 && (lf < 0 || cr < lf)) {
        if (cr + 1 < input.length) this.#newline = lf === cr + 1 ? "\n" : "\r";
        else if (last) this.#newline = "\r";
      } else if (lf >= 0 || last) {
        this.#newline = "\n";
      }
      if (this.#newline === undefined) {
        this.#keep(input, sink);
        return;
      }
    }
    const newline = this.#newline;
    const config = { delimiter: ",", newline, quoteChar: '"' };
    const result = new Parser(config).parse(input, 0, !last);
    const records = result.data;
    const consumed = last ? input.length : result.meta.cursor;
    if (newline === "\n") {
      for (let i = 0; i < records.length; i++) {
        // CRLF read with LF line ends: the CR sticks to the last field.
        const fields = records[i];
        const end = fields.length - 1;
        const value = fields[end];
        if (value.charCodeAt(value.length - 1) === 13) fields[end] = value.slice(0, -1);
      }
    }
    let errors: Map<number, string> | undefined;
    for (const error of result.errors) {
      // An error of the unfinished record is found again with the rest of it.
      if (error.row === undefined || error.row >= records.length) continue;
      errors ??= new Map();
      if (!errors.has(error.row)) errors.set(error.row, error.message);
    }
    const base = this.#base;
    let ends: number[] | undefined;
    const rawOf = (index: number): CsvRaw => {
      if (ends === undefined) {
        // Positions are kept by a second parse, only when a record needs them.
        const found: number[] = [];
        new Parser({ ...config, step: (step) => found.push(step.meta.cursor) })
          .parse(input, 0, !last);
        ends = found;
      }
      const start = index === 0 ? 0 : ends[index - 1];
      let end = ends[index];
      if (end > start && input.charCodeAt(end - 1) === 10) end--;
      if (end > start && input.charCodeAt(end - 1) === 13) end--;
      return { text: input.slice(start, end), end: base + end };
    };
    for (let i = 0; i < records.length; i++) {
      const index = i;
      sink.record(records[i], errors?.get(i), () => rawOf(index));
    }
    this.#base += consumed;
    if (last) {
      this.#rest = "";
      return;
    }
    this.#keep(input.slice(consumed), sink);
  }

  /** Keeps the unfinished record, or gives up on it when it is too long. */
  #keep(rest: string, sink: CsvSink): void {
    if (rest.length <= this.#max) {
      this.#rest = rest;
      return;
    }
    sink.tooLong(rest.slice(0, HEAD));
    this.#rest = "";
    this.#skipping = true;
    this.#skipLf = this.#max;
    this.#parse(rest, false, sink);
  }
}
