/**
 * RFC 4180 records of one CSV page, with the text span of each record so a
 * bad row can be dead-lettered with its raw text.
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

/** One record as the parser hands it over. */
export interface CsvRecord {
  /** The fields, unquoted; `""` for an empty cell. */
  fields: string[];
  /** Offset in the text where the record starts. */
  start: number;
  /** Offset just past the record's line end. */
  end: number;
  /** A quoting error of this record (its fields are then unreliable). */
  error?: string;
}

interface PapaStepResult {
  /** The one record of this step (the core parser wraps it in an array). */
  data: string[][];
  errors: { message: string }[];
  meta: { cursor: number };
}

interface PapaParser {
  parse(input: string): unknown;
}

interface PapaParserConstructor {
  new (config: {
    delimiter: string;
    newline: string;
    quoteChar: string;
    step: (results: PapaStepResult) => void;
  }): PapaParser;
}

const Parser = (Papa as unknown as { Parser: PapaParserConstructor }).Parser;

/**
 * Calls `onRecord` for every record of `text` (BOM already removed), in
 * order. Records end at LF; a CR before the LF is part of the line end
 * (CRLF), so pages with CRLF, LF or a mix of both read the same. A text
 * without any LF uses bare CR line ends. Quoted fields may hold commas,
 * doubled quotes and line ends.
 *
 * `onRecord` receives the same `CsvRecord` object each time: copy what it
 * keeps.
 */
export function forEachCsvRecord(text: string, onRecord: (record: CsvRecord) => void): void {
  const newline = text.includes("\n") ? "\n" : text.includes("\r") ? "\r" : "\n";
  const record: CsvRecord = { fields: [], start: 0, end: 0 };
  const parser = new Parser({
    delimiter: ",",
    newline,
    quoteChar: '"',
    step(results) {
      const fields = results.data[0];
      record.start = record.end;
      record.end = results.meta.cursor;
      if (newline === "\n") {
        // CRLF read with LF line ends: the CR sticks to the last field.
        const last = fields.length - 1;
        const value = fields[last];
        if (value.charCodeAt(value.length - 1) === 13) fields[last] = value.slice(0, -1);
      }
      record.fields = fields;
      record.error = results.errors.length > 0 ? results.errors[0].message : undefined;
      onRecord(record);
    },
  });
  parser.parse(text);
}

/** The raw text of a record, without its line end. */
export function recordText(text: string, record: CsvRecord): string {
  let end = record.end;
  if (end > record.start && text.charCodeAt(end - 1) === 10) end--;
  if (end > record.start && text.charCodeAt(end - 1) === 13) end--;
  return text.slice(record.start, end);
}
