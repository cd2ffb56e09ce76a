/**
 * Whether an archive page's body was cut short in transit.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { mediaType } from "./_media_type.ts";

/** Bytes JSON allows between tokens: space, tab, LF, CR. */
function isJsonSpace(byte: number): boolean {
  return byte === 0x20 || byte === 0x09 || byte === 0x0a || byte === 0x0d;
}

/**
 * Why `body` reads as a page cut short, or undefined. Decoded, a page cut
 * short keeps the records before the cut, makes the one under way a dead
 * letter and never shows the records after it — and its cursor moved past
 * them (a 200 with `X-Next-Cursor` whose body broke off: 45 of 50 records
 * logged, 5 gone). Asked for again instead, as a transport failure.
 *
 * - JSON: the page opens its array but does not close it (after trailing
 *   white space).
 * - CSV: the body ends inside a quoted field, or its last record has no
 *   line end and fewer fields than the header. (A cut inside the last
 *   field of a record, or just after a line end, leaves a page that reads
 *   whole: CSV has no end marker.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cutShort } from "./_cut_short.ts";
 *
 * const text = (s: string) => new TextEncoder().encode(s);
 * assert.equal(cutShort(text('[{"id":"EO-1"}]\n'), "application/json"), undefined);
 * assert.match(cutShort(text('[{"id":"EO-1"},{"id":"EO'), "application/json")!, /cut short/);
 * assert.equal(cutShort(text("id,obTime\nEO-1,2026-11-25T12:00:00Z"), "text/csv"), undefined);
 * assert.match(cutShort(text("id,obTime\nEO-1,2026-11-25T12:00:00Z\nEO-2"), "text/csv")!, /1 of its 2 fields/);
 * assert.match(cutShort(text('id,obTime\nEO-1,"2026-11-25'), "text/csv")!, /inside a quoted field/);
 * ```
 */
export function cutShort(body: Uint8Array, contentType: string): string | undefined {
  const { format, charset } = mediaType(contentType);
  // The checks read bytes as ASCII: UTF-16 pages (LF is 0a 00) are not
  // looked at, nor are pages in a charset the decoder does not know (it
  // makes them a dead letter of their own).
  if (charset !== undefined && !asciiCompatible(charset)) return undefined;
  if (format === "udl-eo-json") return jsonCutShort(body);
  if (format === "udl-eo-csv") return csvCutShort(body);
  return undefined;
}

function asciiCompatible(charset: string): boolean {
  try {
    return !new TextDecoder(charset).encoding.startsWith("utf-16");
  } catch {
    return false;
  }
}

function bomLength(body: Uint8Array): number {
  return body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf ? 3 : 0;
}

function jsonCutShort(body: Uint8Array): string | undefined {
  let start = bomLength(body);
  while (start < body.length && isJsonSpace(body[start])) start++;
  if (body[start] !== 0x5b /* [ */) return undefined; // not an array: the decoder says so
  let end = body.length - 1;
  while (end > start && isJsonSpace(body[end])) end--;
  if (body[end] === 0x5d /* ] */) return undefined;
  return "The JSON page ends before its array is closed (cut short in transit?): asking for the same cursor again";
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const LF = 0x0a;

/**
 * Fields are counted as the CSV decoder (papaparse) reads them: a quote
 * opens a quoted field only at the field's start; inside, `""` is a quote
 * and a quote closes it when what follows is not a letter of the field
 * (a comma, a line end, space or the end). Every other quote is text.
 */
function csvCutShort(body: Uint8Array): string | undefined {
  const start = bomLength(body);
  // No quote anywhere (the usual page): only the first and last lines count.
  if (body.indexOf(QUOTE, start) < 0) {
    const firstEnd = body.indexOf(LF, start);
    if (body.at(-1) === LF || firstEnd < 0) return undefined;
    const header = commas(body, start, firstEnd) + 1;
    const fields = commas(body, body.lastIndexOf(LF) + 1, body.length) + 1;
    return fields >= header ? undefined : fewerFields(fields, header);
  }
  let header = -1;
  let fields = 1;
  let atFieldStart = true;
  let quoted = false;
  for (let i = start; i < body.length; i++) {
    const byte = body[i];
    if (quoted) {
      if (byte !== QUOTE) continue;
      const next = body[i + 1];
      if (next === QUOTE) i++;
      else if (next === undefined || next === COMMA || next === LF || next <= 0x20) quoted = false;
      continue;
    }
    if (byte === COMMA) {
      fields++;
      atFieldStart = true;
    } else if (byte === LF) {
      if (header < 0) header = fields;
      fields = 1;
      atFieldStart = true;
    } else {
      quoted = byte === QUOTE && atFieldStart;
      atFieldStart = false;
    }
  }
  if (quoted) {
    return "The CSV page ends inside a quoted field (cut short in transit?): asking for the same cursor again";
  }
  if (body.at(-1) === LF || header < 0 || fields >= header) return undefined;
  return fewerFields(fields, header);
}

function commas(body: Uint8Array, from: number, to: number): number {
  let count = 0;
  for (let i = body.indexOf(COMMA, from); i >= 0 && i < to; i = body.indexOf(COMMA, i + 1)) count++;
  return count;
}

function fewerFields(fields: number, header: number): string {
  return `The CSV page's last record has ${fields} of its ${header} fields and no line end (cut short in transit?): asking for the same cursor again`;
}
