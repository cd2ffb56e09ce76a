/**
 * Raw input kept in dead letters (SPEC §3): text as a string, binary as
 * base64, both truncated to 64 KiB.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { MAX_RAW_BYTES, type Raw } from "./dead_letter.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Raw text, cut to at most 64 KiB of UTF-8 at a character boundary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { textRaw } from "./raw.ts";
 *
 * assert.equal(textRaw("ANGLE_1 = x"), "ANGLE_1 = x");
 * assert.equal(new TextEncoder().encode(textRaw("é".repeat(40_000))).length, 65_536);
 * ```
 */
export function textRaw(text: string): string {
  // A UTF-16 code unit is at most 3 UTF-8 bytes: short strings need no check.
  if (text.length * 3 <= MAX_RAW_BYTES) return text;
  const bytes = encoder.encode(text);
  if (bytes.length <= MAX_RAW_BYTES) return text;
  let end = MAX_RAW_BYTES;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return decoder.decode(bytes.subarray(0, end));
}

/**
 * Raw bytes as `{ base64 }`, cut to at most 64 KiB before encoding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { binaryRaw } from "./raw.ts";
 *
 * assert.deepEqual(binaryRaw(new Uint8Array([0, 1, 255])), { base64: "AAH/" });
 * ```
 */
export function binaryRaw(bytes: Uint8Array): Raw {
  const view = bytes.subarray(0, MAX_RAW_BYTES);
  let binary = "";
  for (let i = 0; i < view.length; i += 0x2000) {
    binary += String.fromCharCode(...view.subarray(i, i + 0x2000));
  }
  return { base64: btoa(binary) };
}
