/**
 * RFC 4180 records of a CSV body that arrives in pieces cut anywhere — or in
 * one piece, as a whole page does — each record handed on as soon as it is
 * complete. Parsing is papaparse's core `Parser` (web JavaScript, no Node
 * APIs), driven the way papaparse's own chunked reader drives it: parse
 * what arrived, keep the unfinished last record for the next piece.
 * (Not csv-parse: its browser build carries a Buffer polyfill that sets
 * `__proto__`, which Deno disables, and its Node build needs `Buffer`.)
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
    fastMode?: boolean;
  }): { parse(input: string, baseIndex: number, ignoreLastRow: boolean): PapaResult };
}

const Parser = (Papa as unknown as { Parser: PapaParserConstructor }).Parser;

/** SPEC §5: records end at LF; a CR before it belongs to the line end (CRLF). */
const CONFIG = { delimiter: ",", newline: "\n", quoteChar: '"' };

/** What a dead letter keeps of a record that is too long, in UTF-16 units. */
const HEAD = 1024;
/**
 * Input up to this long (UTF-16 units) may take papaparse's fast path
 * (no quote in it: split at every LF at once, then stepped); longer input
 * is scanned record by record, as that fast path made an array of every
 * line first — 620 MB for a 60 MB page of 5-byte lines.
 */
const FAST_CHARS = 4 << 20;

/**
 * The chunker. Line ends are LF or CRLF (SPEC §5, RFC 4180); a CR that is
 * not followed by LF is data — in a quoted field as RFC 4180 has it, and in
 * an unquoted one too rather than a silent line break — except at the very
 * end of the input, where it ends the last line (a CRLF cut after its CR).
 * Quoted fields may hold commas, doubled quotes and line ends.
 *
 * Pieces without a line end are only collected, and an unfinished record is
 * parsed again only once it has doubled, so a long record cut into many small
 * pieces costs linear time, not quadratic. Where a record ends never depends
 * on what comes after its line end, so neither the cuts nor when parsing
 * happens change the records.
 */
export class CsvChunker {
  #max: number;
  /** The unfinished last record (text not yet parsed to its end), in pieces. */
  #pieces: string[] = [];
  #length = 0;
  /** Length of the pending text when it was last parsed without completing a record. */
  #parsed = 0;
  /** Whether an LF came since then. */
  #lf = false;
  /** Offset of the pending text in the whole input. */
  #base = 0;
  /** After a record that was too long: skipping to its line end. */
  #skipping = false;
  /** …which is the first LF at least this many characters further on. */
  #skipLf = 0;

  /** @param maxRecordChars longest record kept between pieces, in UTF-16 units */
  constructor(maxRecordChars: number) {
    this.#max = maxRecordChars;
  }

  /** Feeds the next piece of text. */
  push(text: string, sink: CsvSink): void {
    if (this.#skipping) {
      if (!this.#skip(text)) return;
      text = this.#afterSkip(text);
    }
    if (text.length === 0) return;
    this.#pieces.push(text);
    this.#length += text.length;
    if (!this.#lf) this.#lf = text.includes("\n");
    // A record can only end at an LF; the pending text is parsed again once
    // it has doubled since it was last parsed in vain, or when it would
    // pass the limit (the record may have ended before it).
    if (this.#length > this.#max || (this.#lf && this.#length >= 2 * this.#parsed)) {
      this.#parse(this.#take(), false, sink);
    }
  }

  /**
   * Ends the input, with `text` its last piece: the last record needs no
   * line end, and nothing is cut for its length — a body that arrives in
   * one piece is read as it is.
   */
  end(sink: CsvSink, text = ""): void {
    if (this.#skipping) {
      if (!this.#skip(text)) return;
      text = this.#afterSkip(text);
    }
    if (text.length > 0) {
      this.#pieces.push(text);
      this.#length += text.length;
    }
    const input = this.#take();
    if (input.length > 0) this.#parse(input, true, sink);
  }

  /** The pending text, joined once. */
  #take(): string {
    const pieces = this.#pieces;
    const input = pieces.length === 1 ? pieces[0] : pieces.join("");
    pieces.length = 0;
    this.#length = 0;
    this.#lf = false;
    return input;
  }

  /**
   * While skipping a record that was too long: whether its line end is in
   * `text` (the first LF at least `#max` characters into the record, so
   * that where it is does not depend on how the input was cut).
   */
  #skip(text: string): boolean {
    const lf = text.indexOf("\n", this.#skipLf);
    if (lf >= 0) return true;
    this.#skipLf = Math.max(0, this.#skipLf - text.length);
    this.#base += text.length;
    return false;
  }

  /** The text after the skipped record's line end. */
  #afterSkip(text: string): string {
    const lf = text.indexOf("\n", this.#skipLf);
    this.#skipping = false;
    this.#parsed = 0;
    this.#base += lf + 1;
    return text.slice(lf + 1);
  }

  #parse(input: string, last: boolean, sink: CsvSink): void {
    const base = this.#base;
    // A CRLF read with LF line ends leaves its CR on the last field when that
    // is not quoted (papaparse drops it after a closing quote itself). Only
    // a text with CR before a quote can have a quoted field that ends in a
    // CR of its own: there the record's raw text tells which it is.
    let crQuote: boolean | undefined;
    let start = 0;
    // Record by record (papaparse's step mode), so that a page of millions
    // of tiny records never has them all as arrays at once (a 60 MB page
    // of one-character lines held 3 GB that way).
    const step = (result: PapaResult) => {
      const fields = result.data[0];
      const from = start;
      const to = result.meta.cursor;
      start = to;
      let raw: CsvRaw | undefined;
      const rawOf = (): CsvRaw => raw ??= rawText(input, from, to, base);
      const end = fields.length - 1;
      const value = fields[end];
      if (value.charCodeAt(value.length - 1) === 13) {
        crQuote ??= input.includes('\r"');
        if (!crQuote || unquotedLast(rawOf().text, value)) fields[end] = value.slice(0, -1);
      }
      sink.record(fields, result.errors[0]?.message, rawOf);
    };
    const fastMode = input.length > FAST_CHARS ? false : undefined;
    const result = new Parser({ ...CONFIG, step, fastMode }).parse(input, 0, !last);
    // (The errors left in the result are the unfinished record's: found again with the rest of it.)
    const consumed = last ? input.length : result.meta.cursor;
    this.#base += consumed;
    if (last) return;
    const rest = input.slice(consumed);
    if (rest.length <= this.#max) {
      if (rest.length > 0) {
        this.#pieces.push(rest);
        this.#length = rest.length;
      }
      this.#parsed = rest.length;
      return;
    }
    sink.tooLong(rest.slice(0, HEAD));
    this.#skipping = true;
    this.#skipLf = this.#max;
    if (this.#skip(rest)) this.push(this.#afterSkip(rest), sink);
  }
}

/** The raw text of the record at `from`…`to` of `input` (its line end left out). */
function rawText(input: string, from: number, to: number, base: number): CsvRaw {
  let end = to;
  if (end > from && input.charCodeAt(end - 1) === 10) end--;
  if (end > from && input.charCodeAt(end - 1) === 13) end--;
  return { text: input.slice(from, end), end: base + end };
}

/**
 * Whether `value`, which ends in a CR, is the last field of the record
 * `raw` unquoted (its raw text then ends with the value itself, after a
 * comma or from the start), rather than quoted.
 */
function unquotedLast(raw: string, value: string): boolean {
  // raw lost the CR before its LF as its line end: put it back to compare.
  const text = raw + "\r";
  if (!text.endsWith(value)) return false;
  const before = text.length - value.length - 1;
  return before < 0 || text.charCodeAt(before) === 44;
}
