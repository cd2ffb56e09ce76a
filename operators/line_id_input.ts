/**
 * An observation's id input (`idInput`, SPEC §3) read back from its
 * serialised line: what the main thread hashes for a decode worker's batch,
 * so the worker neither builds nor encodes the input a second time.
 *
 * Portable: web APIs only.
 *
 * @module
 */

const encoder = new TextEncoder();
const KIND = encoder.encode('","kind":"');
const T_OBS = encoder.encode('","t_obs":"');
const T_RX = encoder.encode('","t_rx":"');
const SENSOR = encoder.encode('","sensor":"');
const NORAD = encoder.encode('","target":{"norad":');
const TARGET_ID = encoder.encode(',"id":');
const MEASUREMENT = encoder.encode('},"measurement":');
const NULL = encoder.encode("null");
const QUOTE = 34;
const BACKSLASH = 92;
const BAR = 124;

/**
 * Writes the UTF-8 id input of a line into `out` (which must hold at least
 * `end - idEnd` bytes) and returns its length, given `idEnd`, where the
 * line's 32 id digits end, and `end`, where the line ends. The line is one
 * `serializeObservation` wrote:
 * `kind`, `t_obs`, `t_rx`, `sensor`, `target` and `measurement` follow the
 * id in this order, and the input is `kind|sensor|target|t_obs|measurement`
 * with the JSON of the measurement as it stands in the line.
 *
 * Returns -1, writing nothing meaningful, where the line is not of that
 * plain shape — a string with an escape (a quote, a control character, a
 * lone surrogate) — and the input must be taken from the parsed line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lineIdInput } from "./line_id_input.ts";
 *
 * const line = new TextEncoder().encode(
 *   '{"v":1,"id":"00000000000000000000000000000000","kind":"radar",' +
 *     '"t_obs":"2026-11-25T12:00:00.000000Z","t_rx":"2026-11-25T12:00:01.000000Z",' +
 *     '"sensor":"XR1","target":{"norad":25544,"id":null},"measurement":{"rcs_m2":1.5},' +
 *     '"provenance":{}}\n',
 * );
 * const out = new Uint8Array(line.length);
 * const n = lineIdInput(line, 45, line.length, out);
 * assert.equal(
 *   new TextDecoder().decode(out.subarray(0, n)),
 *   'radar|XR1|25544|2026-11-25T12:00:00.000000Z|{"rcs_m2":1.5}',
 * );
 * ```
 */
export function lineIdInput(
  lines: Uint8Array,
  idEnd: number,
  end: number,
  out: Uint8Array,
): number {
  let at = expect(lines, idEnd, end, KIND);
  const kindStart = at;
  const kindEnd = stringEnd(lines, at, end);
  const tObsStart = expect(lines, kindEnd, end, T_OBS);
  const tObsEnd = stringEnd(lines, tObsStart, end);
  at = stringEnd(lines, expect(lines, tObsEnd, end, T_RX), end);
  const sensorStart = expect(lines, at, end, SENSOR);
  const sensorEnd = stringEnd(lines, sensorStart, end);
  // `"norad":` a number or null, then `"id":` a string or null.
  const noradStart = expect(lines, sensorEnd, end, NORAD);
  let noradEnd = noradStart;
  if (noradStart >= 0) {
    if (isAt(lines, noradStart, end, NULL)) {
      noradEnd = noradStart + NULL.length;
    } else {
      while (noradEnd < end && isNumberByte(lines[noradEnd])) noradEnd++;
      if (noradEnd === noradStart) return -1;
    }
  }
  const idStart = expect(lines, noradEnd, end, TARGET_ID);
  if (idStart < 0) return -1;
  let targetStart = noradStart;
  let targetEnd = noradEnd;
  if (noradEnd - noradStart === NULL.length && lines[noradStart] === NULL[0]) {
    // No NORAD number: the target's own id, or nothing.
    targetStart = targetEnd = idStart;
  }
  let idEndAt: number;
  if (isAt(lines, idStart, end, NULL)) {
    idEndAt = idStart + NULL.length;
  } else {
    if (lines[idStart] !== QUOTE) return -1;
    const stringEndAt = stringEnd(lines, idStart + 1, end);
    if (stringEndAt < 0) return -1;
    if (targetStart === idStart) {
      targetStart = idStart + 1;
      targetEnd = stringEndAt;
    }
    idEndAt = stringEndAt + 1;
  }
  const measurementStart = expect(lines, idEndAt, end, MEASUREMENT);
  const measurementEnd = objectEnd(lines, measurementStart, end);
  if (measurementEnd < 0) return -1;

  let n = copy(lines, kindStart, kindEnd, out, 0);
  out[n++] = BAR;
  n = copy(lines, sensorStart, sensorEnd, out, n);
  out[n++] = BAR;
  n = copy(lines, targetStart, targetEnd, out, n);
  out[n++] = BAR;
  n = copy(lines, tObsStart, tObsEnd, out, n);
  out[n++] = BAR;
  out.set(lines.subarray(measurementStart, measurementEnd), n);
  return n + measurementEnd - measurementStart;
}

/** Where `literal` ends if it stands at `at` (≥ 0), else -1. */
function expect(lines: Uint8Array, at: number, end: number, literal: Uint8Array): number {
  return at >= 0 && isAt(lines, at, end, literal) ? at + literal.length : -1;
}

function isAt(lines: Uint8Array, at: number, end: number, literal: Uint8Array): boolean {
  if (at + literal.length > end) return false;
  for (let k = 0; k < literal.length; k++) {
    if (lines[at + k] !== literal[k]) return false;
  }
  return true;
}

/** Where the JSON string whose text starts at `at` ends (its closing quote), or -1 if it has an escape. */
function stringEnd(lines: Uint8Array, at: number, end: number): number {
  if (at < 0) return -1;
  for (let i = at; i < end; i++) {
    const c = lines[i];
    if (c === QUOTE) return i;
    if (c === BACKSLASH) return -1;
  }
  return -1;
}

/** Where the JSON object starting at `at` ends (after its `}`), or -1. */
function objectEnd(lines: Uint8Array, at: number, end: number): number {
  if (at < 0 || lines[at] !== 123) return -1;
  let depth = 0;
  for (let i = at; i < end; i++) {
    const c = lines[i];
    if (c === QUOTE) {
      // Skip the string, escapes and all.
      for (i++; i < end && lines[i] !== QUOTE; i++) {
        if (lines[i] === BACKSLASH) i++;
      }
    } else if (c === 123 || c === 91) {
      depth++;
    } else if (c === 125 || c === 93) {
      if (--depth === 0) return i + 1;
    }
  }
  return -1;
}

/** A byte of a JSON number: digits, sign, point, exponent. */
function isNumberByte(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46 || c === 101 || c === 69;
}

function copy(from: Uint8Array, start: number, end: number, to: Uint8Array, at: number): number {
  for (let i = start; i < end; i++) to[at++] = from[i];
  return at;
}
