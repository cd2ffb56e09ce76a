/**
 * Observations → {@link PackedObservations}: what a decode worker sends the
 * main thread instead of the objects.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { Observation } from "../envelope/observation.ts";
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
export function packObservations(observations: readonly Observation[]): PackedObservations {
  const count = observations.length;
  const ends = new Uint32Array(count);
  const ids = new Int32Array(count * 4);
  const received = new Float64Array(count);
  const observed = new Float64Array(count);
  const keyAt = new Uint16Array(count);
  const keys: string[] = [];
  let lastKey = "";
  let lastKeyIndex = -1;
  let lastRx = "";
  let lastRxMicros = NaN;
  let lastObs = "";
  let lastObsMicros = NaN;
  let text = "";
  for (let i = 0; i < count; i++) {
    const o = observations[i];
    text += serializeObservation(o) + "\n";
    ends[i] = text.length;
    packId(o.id, ids, i * 4);
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
  // JSON is nearly all ASCII: one byte per character, then the ends are the
  // character offsets; otherwise they are found again among the bytes.
  let lines = new Uint8Array(text.length);
  const { read, written } = encoder.encodeInto(text, lines);
  if (read < text.length || written < text.length) {
    lines = encoder.encode(text);
    let at = 0;
    for (let i = 0; i < count; i++) {
      at = lines.indexOf(10, at) + 1;
      ends[i] = at;
    }
  }
  return { count, lines, ends, ids, received, observed, keyAt, keys };
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
