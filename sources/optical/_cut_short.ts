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
 * Why `body` reads as a page cut short, or undefined: a JSON page that
 * opens its array but does not close it (after trailing white space).
 * Decoded, such a page keeps the records before the cut, makes the one
 * under way a dead letter and never shows the records after it — and its
 * cursor moved past them (a 200 with `X-Next-Cursor` whose body broke off:
 * 45 of 50 records logged, 5 gone). Asked for again instead, as a transport
 * failure. (A CSV page has no such end marker: its last record may lack a
 * line end.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cutShort } from "./_cut_short.ts";
 *
 * const text = (s: string) => new TextEncoder().encode(s);
 * assert.equal(cutShort(text('[{"id":"EO-1"}]\n'), "application/json"), undefined);
 * assert.match(cutShort(text('[{"id":"EO-1"},{"id":"EO'), "application/json")!, /cut short/);
 * assert.equal(cutShort(text("id,obTime\nEO-1,2026"), "text/csv"), undefined);
 * ```
 */
export function cutShort(body: Uint8Array, contentType: string): string | undefined {
  if (mediaType(contentType).format !== "udl-eo-json") return undefined;
  let start = 0;
  // A UTF-8 byte order mark.
  if (body[0] === 0xef && body[1] === 0xbb && body[2] === 0xbf) start = 3;
  while (start < body.length && isJsonSpace(body[start])) start++;
  if (body[start] !== 0x5b /* [ */) return undefined; // not an array: the decoder says so
  let end = body.length - 1;
  while (end > start && isJsonSpace(body[end])) end--;
  if (body[end] === 0x5d /* ] */) return undefined;
  return "The JSON page ends before its array is closed (cut short in transit?): asking for the same cursor again";
}
