/**
 * Raw input kept in dead letters (SPEC §3): text as a string, binary as
 * base64, both capped at 1 KiB of input so that a dead letter never
 * amplifies what an attacker sends. A cut raw ends in `…(N bytes)`, N being
 * the size of the whole input it stands for.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { Raw } from "./dead_letter.ts";

/**
 * Dead letters keep at most this many bytes of raw input, then `…(N bytes)`
 * (SPEC §3: a dead letter must not amplify an attack). Here rather than
 * beside the schema so that decoders, in a decode worker too, do not load zod.
 */
export const MAX_RAW_BYTES = 1024;

/**
 * Raw text, cut to at most 1 KiB of UTF-8 at a character boundary and then
 * followed by `…(N bytes)`, where N is `size` (the whole input's size in
 * bytes, when the caller kept only part of it) or the text's own UTF-8 size.
 *
 * @example A long line is cut, and says how long it was
 * ```ts
 * import assert from "node:assert/strict";
 * import { textRaw } from "./raw.ts";
 *
 * assert.equal(textRaw("ANGLE_1 = x"), "ANGLE_1 = x");
 * const raw = textRaw("é".repeat(40_000));
 * assert.equal(raw, "é".repeat(512) + "…(80000 bytes)");
 * assert.equal(textRaw("RANGE = …", 5000).endsWith("…(5000 bytes)"), true);
 * ```
 */
export function textRaw(text: string, size?: number): string {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short strings need no count.
  if (size === undefined && text.length * 3 <= MAX_RAW_BYTES) return text;
  let bytes = 0;
  let cut = -1;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    let width = c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    // A surrogate pair is one 4-byte character: never cut between its halves.
    if (c >= 0xd800 && c < 0xdc00 && i + 1 < n) {
      const d = text.charCodeAt(i + 1);
      if (d >= 0xdc00 && d < 0xe000) width = 4;
    }
    if (cut < 0 && bytes + width > MAX_RAW_BYTES) cut = i;
    bytes += width;
    if (width === 4) i++;
  }
  const total = size !== undefined && size > bytes ? size : bytes;
  if (cut < 0 && total === bytes) return text;
  return (cut < 0 ? text : text.slice(0, cut)) + `…(${total} bytes)`;
}

/**
 * Raw bytes as `{ base64 }` of at most their first 1 KiB; a cut one is
 * followed, after the base64, by `…(N bytes)` (N = `size`, default the
 * length of `bytes`): split at `…` before decoding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { binaryRaw } from "./raw.ts";
 *
 * assert.deepEqual(binaryRaw(new Uint8Array([0, 1, 255])), { base64: "AAH/" });
 * const { base64 } = binaryRaw(new Uint8Array(3000)) as { base64: string };
 * assert.equal(base64, "A".repeat(1366) + "==…(3000 bytes)");
 * assert.equal(atob(base64.split("…")[0]).length, 1024);
 * ```
 */
export function binaryRaw(bytes: Uint8Array, size: number = bytes.length): Raw {
  const view = bytes.length > MAX_RAW_BYTES ? bytes.subarray(0, MAX_RAW_BYTES) : bytes;
  const base64 = btoa(String.fromCharCode(...view));
  const total = size > bytes.length ? size : bytes.length;
  return { base64: total > view.length ? base64 + `…(${total} bytes)` : base64 };
}
