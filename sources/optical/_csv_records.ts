/**
 * RFC 4180 records of one CSV page, and the raw text of any record, so a bad
 * row can be dead-lettered with its text.
 *
 * Parsing is papaparse's core `Parser` (web JavaScript, no Node APIs), not
 * csv-parse: csv-parse's browser build carries a Buffer polyfill that sets
 * `__proto__`, which Deno disables, and its Node build needs `Buffer`.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import Papa from "papaparse";

interface PapaResult {
  /** One array of fields per record (the core parser's shape). */
  data: string[][];
  /** Quoting errors, with the index of the record they belong to. */
  errors: { message: string; row?: number }[];
  meta: { cursor: number };
}

interface PapaParser {
  parse(input: string): PapaResult;
}

interface PapaParserConstructor {
  new (config: {
    delimiter: string;
    newline: string;
    quoteChar: string;
    step?: (results: PapaResult) => void;
  }): PapaParser;
}

const Parser = (Papa as unknown as { Parser: PapaParserConstructor }).Parser;

/** The records of one page. */
export interface CsvRecords {
  /** Fields of each record, unquoted; `""` for an empty cell. */
  records: string[][];
  /** Quoting error of a record, by record index (its fields are then unreliable). */
  errors: Map<number, string>;
  /** The raw text of record `index`, without its line end. */
  text(index: number): string;
}

/**
 * Splits `text` (BOM already removed) into records. Records end at LF; a
 * CR before the LF is part of the line end (CRLF), so pages with CRLF, LF
 * or a mix of both read the same. A text without any LF uses bare CR line
 * ends. Quoted fields may hold commas, doubled quotes and line ends.
 *
 * The parse keeps no per-record positions: `text(i)` parses the page a
 * second time, once, when the first bad record needs its raw text — good
 * pages, the common case, never pay for it.
 */
export function csvRecords(text: string): CsvRecords {
  const newline = text.includes("\n") ? "\n" : text.includes("\r") ? "\r" : "\n";
  const config = { delimiter: ",", newline, quoteChar: '"' };
  const result = new Parser(config).parse(text);
  const records = result.data;
  if (newline === "\n") {
    for (let i = 0; i < records.length; i++) {
      // CRLF read with LF line ends: the CR sticks to the last field.
      const fields = records[i];
      const last = fields.length - 1;
      const value = fields[last];
      if (value.charCodeAt(value.length - 1) === 13) fields[last] = value.slice(0, -1);
    }
  }
  const errors = new Map<number, string>();
  for (const error of result.errors) {
    if (error.row !== undefined && !errors.has(error.row)) errors.set(error.row, error.message);
  }
  let ends: number[] | undefined;
  return {
    records,
    errors,
    text(index) {
      if (ends === undefined) {
        const found: number[] = [];
        new Parser({ ...config, step: (step) => found.push(step.meta.cursor) }).parse(text);
        ends = found;
      }
      const start = index === 0 ? 0 : ends[index - 1];
      let end = ends[index];
      if (end > start && text.charCodeAt(end - 1) === 10) end--;
      if (end > start && text.charCodeAt(end - 1) === 13) end--;
      return text.slice(start, end);
    },
  };
}
