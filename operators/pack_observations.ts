/**
 * Observations → {@link PackedObservations}: what a decode worker sends the
 * main thread instead of the objects.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { sha256Words } from "../envelope/_sha256.ts";
import type { Observation } from "../envelope/observation.ts";
import { idInput } from "../envelope/observation_id.ts";
import { serializeObservation } from "../envelope/serialize.ts";
import { parseTimestamp } from "../envelope/time.ts";
import type { PackedObservations } from "./ingest_batch.ts";

const encoder = new TextEncoder();

/** Value of a lowercase hex digit by char code, or -1. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[97 + i] = 10 + i;

/**
 * Serialises `observations` into one buffer of lines and packs their ids and
 * times into typed arrays, all on fresh `ArrayBuffer`s that can be
 * transferred. An id that is not 32 lowercase hex digits packs as four zero
 * words (the reader then takes it from the line).
 *
 * With `deferIds` the ids are not hashed here: each line gets a placeholder
 * id (so does each observation's `id`), and each id's input goes into
 * `idInputs` for {@link fillPackedIds} — a decode worker leaves the hashing
 * (a sixth of its time per radar observation) to the main thread, which
 * has time to spare.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTdm } from "../sources/radar/decode_tdm.ts";
 * import { packObservations } from "./pack_observations.ts";
 *
 * const { observations } = decodeTdm(
 *   "CCSDS_TDM_VERS = 2.0\nMESSAGE_ID = M1\nMETA_START\nTIME_SYSTEM = UTC\n" +
 *     "PARTICIPANT_1 = XR1\nMETA_STOP\nDATA_START\nRCS = 2026-11-25T12:00:00 1.5\nDATA_STOP\n",
 *   { source: "xr1", transport: "tcp", peer: "127.0.0.1:1" },
 * );
 * const packed = packObservations(observations);
 * assert.equal(packed.count, 1);
 * const line = new TextDecoder().decode(packed.lines.subarray(0, packed.ends[0]));
 * assert.equal(JSON.parse(line).id, observations[0].id);
 * assert.equal(packed.ids[0] >>> 0, parseInt(observations[0].id.slice(0, 8), 16));
 * assert.deepEqual(packed.keys, ["radar\u0000XR1"]);
 * ```
 */
export function packObservations(
  observations: readonly Observation[],
  memory?: (bytes: number) => PackMemory | undefined,
  deferIds = false,
): PackedObservations {
  const count = observations.length;
  if (byteEnds.length < count) byteEnds = new Uint32Array(Math.max(count, 2 * byteEnds.length));
  if (deferIds && inputEnds.length < count) {
    inputEnds = new Uint32Array(Math.max(count, 2 * inputEnds.length));
  }
  let inputsAt = 0;
  // Each line encoded into the scratch buffer on its own: encodeInto() on
  // one string of all lines (a rope of thousands of pieces, flattened
  // first) took 1.1 µs per optical line, encode() of it 3.5 µs; line by
  // line it is ~0.3 µs (Deno 2.9, measured).
  let at = 0;
  for (let i = 0; i < count; i++) {
    const o = observations[i];
    if (deferIds) {
      const input = idInput(o);
      const need = 3 * input.length;
      if (inputScratch.length - inputsAt < need) {
        const larger = new Uint8Array(Math.max(2 * inputScratch.length, inputsAt + need));
        larger.set(inputScratch.subarray(0, inputsAt));
        inputScratch = larger;
      }
      inputsAt += encoder.encodeInto(input, inputScratch.subarray(inputsAt)).written;
      inputEnds[i] = inputsAt;
      (o as { id: string }).id = PLACEHOLDER_ID;
    }
    const line = serializeObservation(o);
    // UTF-8 needs at most 3 bytes per UTF-16 code unit.
    const room = 3 * line.length + 1;
    if (scratch.length - at < room) {
      const larger = new Uint8Array(Math.max(2 * scratch.length, at + room));
      larger.set(scratch.subarray(0, at));
      scratch = larger;
    }
    at += encoder.encodeInto(line, scratch.subarray(at)).written;
    scratch[at++] = 10;
    byteEnds[i] = at;
  }
  let packed: PackedObservations;
  const place = memory?.(packedBytes(count, at, deferIds ? inputsAt : -1));
  if (place !== undefined) {
    // Encoded above and copied: encodeInto() straight into shared memory
    // encodes to a fresh buffer and copies anyway (Deno 2).
    packed = packedAt(place.buffer, place.offset, count, at, [], deferIds ? inputsAt : -1);
    packed.lines.set(scratch.subarray(0, at));
    packed.ends.set(byteEnds.subarray(0, count));
    if (deferIds) {
      packed.idInputs!.set(inputScratch.subarray(0, inputsAt));
      packed.idInputEnds!.set(inputEnds.subarray(0, count));
    }
  } else {
    packed = {
      count,
      lines: scratch.slice(0, at),
      ends: byteEnds.slice(0, count),
      ids: new Int32Array(count * 4),
      received: new Float64Array(count),
      observed: new Float64Array(count),
      keyAt: new Uint16Array(count),
      keys: [],
    };
    if (deferIds) {
      packed.idInputs = inputScratch.slice(0, inputsAt);
      packed.idInputEnds = inputEnds.slice(0, count);
    }
  }
  const { ids, received, observed, keyAt, keys } = packed;
  let lastKey = "";
  let lastKeyIndex = -1;
  let lastRx = "";
  let lastRxMicros = NaN;
  let lastObs = "";
  let lastObsMicros = NaN;
  for (let i = 0; i < count; i++) {
    const o = observations[i];
    if (!deferIds) packId(o.id, ids, i * 4);
    const rx = o.t_rx;
    if (rx !== lastRx) {
      lastRx = rx;
      lastRxMicros = micros(rx);
    }
    received[i] = lastRxMicros;
    const t = o.t_obs;
    if (t !== lastObs) {
      lastObs = t;
      lastObsMicros = micros(t);
    }
    observed[i] = lastObsMicros;
    const key = o.kind + "\u0000" + o.sensor;
    if (key !== lastKey) {
      lastKey = key;
      lastKeyIndex = keys.indexOf(key);
      if (lastKeyIndex < 0) lastKeyIndex = keys.push(key) - 1;
    }
    keyAt[i] = lastKeyIndex;
  }
  return packed;
}

/** Where each line ends in the bytes, reused from batch to batch. */
let byteEnds = new Uint32Array(1024);
/** The id inputs of a batch with deferred ids, and where each ends, reused. */
let inputScratch = new Uint8Array(1 << 16);
let inputEnds = new Uint32Array(1024);
/** The id a line holds until {@link fillPackedIds} writes the real one. */
const PLACEHOLDER_ID = "0".repeat(32);
const HEX_CODES = encoder.encode("0123456789abcdef");
/** `"id":"`, which comes right after `v` in every line. */
const ID_KEY = encoder.encode('"id":"');
/** The lines encoded before they are copied into given memory, reused. */
let scratch = new Uint8Array(1 << 16);

/** Where {@link packObservations} may put a batch: `bytes` from `offset` (a multiple of 8) on. */
export interface PackMemory {
  buffer: ArrayBufferLike;
  offset: number;
}

/**
 * The {@link PackedObservations} that {@link packObservations} wrote into
 * `buffer` at `offset` (given as its `memory`) for `count` observations
 * with `linesBytes` bytes of lines (and `inputsBytes` of deferred id
 * inputs, or -1 for none) — e.g. on the other side of a
 * `SharedArrayBuffer`. Views, not copies.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { packedAt } from "./pack_observations.ts";
 *
 * const packed = packedAt(new ArrayBuffer(64), 0, 1, 8, ["radar\u0000XR1"]);
 * assert.equal(packed.lines.length, 8);
 * assert.equal(packed.ids.length, 4);
 * ```
 */
export function packedAt(
  buffer: ArrayBufferLike,
  offset: number,
  count: number,
  linesBytes: number,
  keys: string[],
  inputsBytes = -1,
): PackedObservations {
  const deferred = inputsBytes >= 0;
  const linesAt = offset + arraysBytes(count, deferred);
  const packed: PackedObservations = {
    count,
    received: new Float64Array(buffer, offset, count),
    observed: new Float64Array(buffer, offset + 8 * count, count),
    ids: new Int32Array(buffer, offset + 16 * count, 4 * count),
    ends: new Uint32Array(buffer, offset + 32 * count, count),
    keyAt: new Uint16Array(buffer, offset + 36 * count, count),
    lines: new Uint8Array(buffer, linesAt, linesBytes),
    keys,
  };
  if (deferred) {
    packed.idInputEnds = new Uint32Array(buffer, offset + arraysBytes(count, false), count);
    packed.idInputs = new Uint8Array(buffer, linesAt + linesBytes, inputsBytes);
  }
  return packed;
}

/**
 * Hashes the deferred ids of a batch that {@link packObservations} packed
 * with `deferIds`: writes each id's words into `ids` and its hex digits
 * into its line, then drops the inputs. Does nothing for a batch whose ids
 * are there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTdm } from "../sources/radar/decode_tdm.ts";
 * import { fillPackedIds, packObservations } from "./pack_observations.ts";
 *
 * const tdm = "CCSDS_TDM_VERS = 2.0\nMESSAGE_ID = M1\nMETA_START\nTIME_SYSTEM = UTC\n" +
 *   "PARTICIPANT_1 = XR1\nMETA_STOP\nDATA_START\nRCS = 2026-11-25T12:00:00 1.5\nDATA_STOP\n";
 * const ctx = { source: "xr1", transport: "tcp" as const, peer: "127.0.0.1:1", now: () => 0 };
 * const expected = packObservations(decodeTdm(tdm, ctx).observations);
 * const packed = packObservations(decodeTdm(tdm, { ...ctx, deferIds: true }).observations, undefined, true);
 * fillPackedIds(packed);
 * assert.deepEqual(packed.lines, expected.lines);
 * assert.deepEqual(packed.ids, expected.ids);
 * assert.equal(packed.idInputs, undefined);
 * ```
 */
export function fillPackedIds(packed: PackedObservations): void {
  const inputs = packed.idInputs;
  const inputEnds = packed.idInputEnds;
  if (inputs === undefined || inputEnds === undefined) return;
  const { lines, ends, ids } = packed;
  let inputStart = 0;
  let lineStart = 0;
  for (let i = 0; i < packed.count; i++) {
    const inputEnd = inputEnds[i];
    sha256Words(inputs, inputStart, inputEnd, ids, 4 * i);
    inputStart = inputEnd;
    const digits = idDigitsAt(lines, lineStart, ends[i]);
    if (digits >= 0) writeIdHex(ids, 4 * i, lines, digits);
    lineStart = ends[i];
  }
  packed.idInputs = undefined;
  packed.idInputEnds = undefined;
}

/**
 * Writes the 32 lowercase hex digits of the packed id at `ids[at]` …
 * `ids[at + 3]` into `out` from `outAt` on (ASCII bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeIdHex } from "./pack_observations.ts";
 *
 * const out = new Uint8Array(32);
 * writeIdHex(Int32Array.of(0x00112233, 0x44556677, -0x77665545, -0x33221101), 0, out, 0);
 * assert.equal(new TextDecoder().decode(out), "00112233445566778899aabbccddeeff");
 * ```
 */
export function writeIdHex(ids: Int32Array, at: number, out: Uint8Array, outAt: number): void {
  for (let d = 0; d < 32; d++) {
    out[outAt + d] = HEX_CODES[(ids[at + (d >>> 3)] >>> (28 - 4 * (d & 7))) & 15];
  }
}

/** Where the placeholder id's digits start in the line at `start`…`end`, or -1. */
function idDigitsAt(lines: Uint8Array, start: number, end: number): number {
  // `{"v":<n>,"id":"`: the key follows the version's few digits.
  const last = Math.min(end - ID_KEY.length - 32, start + 24);
  outer: for (let at = start + 5; at <= last; at++) {
    for (let k = 0; k < ID_KEY.length; k++) {
      if (lines[at + k] !== ID_KEY[k]) continue outer;
    }
    return at + ID_KEY.length;
  }
  return -1;
}

/**
 * The bytes {@link packObservations} needs in given memory for `count`
 * observations with `linesBytes` bytes of lines.
 */
export function packedBytes(count: number, linesBytes: number, inputsBytes = -1): number {
  return inputsBytes < 0
    ? arraysBytes(count, false) + linesBytes
    : arraysBytes(count, true) + linesBytes + inputsBytes;
}

/**
 * Bytes of the typed arrays of `count` observations, laid out before the
 * lines (a multiple of 8); with deferred ids, the input ends come after.
 */
function arraysBytes(count: number, deferred: boolean): number {
  const plain = (38 * count + 7) & ~7;
  return deferred ? plain + ((4 * count + 7) & ~7) : plain;
}

function micros(timestamp: string): number {
  try {
    return parseTimestamp(timestamp);
  } catch {
    return NaN;
  }
}

/** Writes the 32 hex digits of `id` as four words at `ids[at]`; zeros for anything else. */
function packId(id: string, ids: Int32Array, at: number): void {
  if (id.length === 32) {
    let bad = 0;
    for (let w = 0; w < 4; w++) {
      let word = 0;
      for (let i = w * 8; i < w * 8 + 8; i++) {
        const c = id.charCodeAt(i);
        const v = c < 128 ? HEX_VALUE[c] : -1;
        bad |= v;
        word = (word << 4) | (v & 15);
      }
      ids[at + w] = word;
    }
    if (bad >= 0) return;
  }
  ids.fill(0, at, at + 4);
}
