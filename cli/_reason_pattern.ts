/**
 * Dead-letter reasons with their variable parts taken out, so that a report
 * can count them by kind.
 *
 * @module
 */

/**
 * The pattern of a dead-letter reason: quoted strings become `"…"`,
 * timestamps `<time>`, URLs `<url>`, IPv4 addresses (with a port) `<address>`,
 * numbers (decimal, signed, hex) `N`, and a value after the last colon —
 * the house style puts the detail there — becomes `…`.
 *
 * @example Every "Cannot parse … as a number" of one field is one pattern
 * ```ts
 * import assert from "node:assert/strict";
 * import { reasonPattern } from "./_reason_pattern.ts";
 *
 * assert.equal(
 *   reasonPattern('Cannot parse RCS value as a number: "12.3.4"'),
 *   "Cannot parse RCS value as a number: …",
 * );
 * assert.equal(reasonPattern("Cannot parse RCS value as a number: true"), "Cannot parse RCS value as a number: …");
 * assert.equal(reasonPattern("Line longer than 4096 bytes"), "Line longer than N bytes");
 * assert.equal(reasonPattern("ra value out of range [0, 360): -0.001"), "ra value out of range [N, N): …");
 * ```
 */
export function reasonPattern(reason: string): string {
  return reason
    .replace(/"(?:[^"\\]|\\.)*"/g, '"…"')
    .replace(/\bhttps?:\/\/[^\s"]+/g, "<url>")
    .replace(/\b\d{4}-(?:\d{2}-\d{2}|\d{3})T[\d:.]+Z?/g, "<time>")
    .replace(/\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b/g, "<address>")
    .replace(/(?<![\w.]|\w-)[-+]?(?:0x[0-9a-f]+|\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?![\w.])/gi, "N")
    .replace(/: (?:"…"|N|true|false|null|<time>)$/, ": …");
}
