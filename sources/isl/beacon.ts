/**
 * The ranging beacon packet relayed by an ISL gateway (SPEC §6).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { crc16 } from "./crc16.ts";
import { BEACON_BYTES, CUC_P_FIELD, TM, viewOf, writeHeader } from "./_layout.ts";

/** Beacon flag bits (offset 93). */
export const BEACON_FLAGS = {
  /** Bit 0: `range_km` and `range_sigma_km` are valid. */
  rangeValid: 1,
  /** Bit 1: `range_rate_km_s` is valid. */
  rangeRateValid: 2,
  /** Bit 2: the observer state (`r_km`, `v_km_s`) is valid. */
  stateValid: 4,
} as const;

/** The fields of a beacon packet, as on the wire. */
export interface Beacon {
  /** Link id (APID), 1–2046. */
  apid: number;
  /** The link's 14-bit sequence count. */
  seq: number;
  /** CUC coarse time: seconds since 1958-01-01T00:00:00 TAI. */
  coarse: number;
  /** CUC fine time: units of 2^-16 s. */
  fine: number;
  /** Gateway-wide index (u32, from 1). */
  index: number;
  /** NORAD number of the satellite that measured. */
  observer: number;
  /** NORAD number of the satellite ranged, 0 when uncorrelated. */
  target: number;
  /** Range, km. */
  range_km: number;
  /** Range rate, km/s. */
  range_rate_km_s: number;
  /** Range 1σ, km (sent as a 32-bit float). */
  range_sigma_km: number;
  /** Observer position, km, GCRF. */
  r_km: [number, number, number];
  /** Observer velocity, km/s, GCRF. */
  v_km_s: [number, number, number];
  /** Validity bits, see {@link BEACON_FLAGS}. */
  flags: number;
}

/**
 * Writes a 96-byte beacon packet (header, CUC time with P-field 0x1E, the
 * fields, CRC) into `target` at `offset` — the gateway simulator writes
 * straight into its ring buffer — and returns the packet's bytes.
 *
 * @throws {RangeError} when the APID is outside 1–2046
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BEACON_FLAGS, encodeBeacon } from "./beacon.ts";
 * import { crc16 } from "./crc16.ts";
 *
 * const bytes = encodeBeacon({
 *   apid: 3, seq: 10, coarse: 2_174_299_237, fine: 32768, index: 1,
 *   observer: 60001, target: 60002, range_km: 370.5, range_rate_km_s: -0.01,
 *   range_sigma_km: 0.0009765625, r_km: [6778, 0, 0], v_km_s: [0, 7.67, 0],
 *   flags: BEACON_FLAGS.rangeValid | BEACON_FLAGS.rangeRateValid | BEACON_FLAGS.stateValid,
 * });
 * assert.equal(bytes.length, 96);
 * assert.equal(bytes[6], 0x1e);
 * assert.equal(crc16(bytes, 0, 94), (bytes[94] << 8) | bytes[95]);
 * ```
 */
export function encodeBeacon(
  beacon: Beacon,
  target: Uint8Array = new Uint8Array(BEACON_BYTES),
  offset = 0,
): Uint8Array {
  if (!(beacon.apid >= 1 && beacon.apid <= 2046)) {
    throw new RangeError(`Cannot encode a beacon on APID ${beacon.apid} (expected 1–2046)`);
  }
  const view = viewOf(target);
  writeHeader(view, offset, TM, true, beacon.apid, beacon.seq, BEACON_BYTES);
  view.setUint8(offset + 6, CUC_P_FIELD);
  view.setUint32(offset + 7, beacon.coarse);
  view.setUint16(offset + 11, beacon.fine);
  view.setUint32(offset + 13, beacon.index);
  view.setUint32(offset + 17, beacon.observer);
  view.setUint32(offset + 21, beacon.target);
  view.setFloat64(offset + 25, beacon.range_km);
  view.setFloat64(offset + 33, beacon.range_rate_km_s);
  view.setFloat32(offset + 41, beacon.range_sigma_km);
  view.setFloat64(offset + 45, beacon.r_km[0]);
  view.setFloat64(offset + 53, beacon.r_km[1]);
  view.setFloat64(offset + 61, beacon.r_km[2]);
  view.setFloat64(offset + 69, beacon.v_km_s[0]);
  view.setFloat64(offset + 77, beacon.v_km_s[1]);
  view.setFloat64(offset + 85, beacon.v_km_s[2]);
  view.setUint8(offset + 93, beacon.flags);
  view.setUint16(offset + 94, crc16(target, offset, offset + 94));
  return target.subarray(offset, offset + BEACON_BYTES);
}
