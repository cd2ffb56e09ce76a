/**
 * The ISL packets as the gateway simulator reads and writes them (SPEC §6):
 * CCSDS Space Packets with a 6-byte primary header, big-endian fields and a
 * trailing CRC-16/CCITT-FALSE that the data length counts.
 *
 * Independent implementation on purpose: the simulator is a test peer. It
 * is written from the SPEC's tables, not from the service's codec, so the
 * two sides cannot agree on the same mistake.
 *
 * @module
 */

import { crc16 } from "./_crc16.ts";

/** Poll request: header + u32 after + u16 max + u16 crc. */
export const POLL_BYTES = 14;
/** Status packet: header + u32 oldest + u32 newest + u16 count + u16 crc. */
export const STATUS_BYTES = 18;
/** Beacon packet, header included (data length field 89). */
export const BEACON_BYTES = 96;
/** Largest answer datagram a gateway sends. */
export const MAX_DATAGRAM_BYTES = 1400;
/** APID of poll requests and status packets. */
const SERVICE_APID = 0x7fe;
/** CUC P-field: 1958 TAI epoch, 4 coarse + 2 fine octets. */
const CUC_P_FIELD = 0x1e;

/** Beacon flag bits (offset 93). */
export const BEACON_FLAGS = {
  /** Bit 0: range and range 1σ are valid. */
  rangeValid: 1,
  /** Bit 1: range rate is valid. */
  rangeRateValid: 2,
  /** Bit 2: the observer state is valid. */
  stateValid: 4,
} as const;

/** What a poll asks for. */
export interface PollRequest {
  /** The poll's 14-bit sequence count; the answer's status echoes it. */
  seq: number;
  /** Send beacons with a gateway index greater than this. */
  after: number;
  /** Send at most this many beacons. */
  max: number;
}

/** What a status packet says. */
export interface StatusFields {
  /** Sequence count of the poll answered. */
  seq: number;
  /** Oldest index held, 0 if none. */
  oldest: number;
  /** Newest index held, 0 if none. */
  newest: number;
  /** Beacon packets in the answer. */
  count: number;
}

/** The fields of a beacon packet. */
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
  /** Range 1σ, km (a 32-bit float on the wire). */
  range_sigma_km: number;
  /** Observer position, km, GCRF. */
  r_km: [number, number, number];
  /** Observer velocity, km/s, GCRF. */
  v_km_s: [number, number, number];
  /** Validity bits, see {@link BEACON_FLAGS}. */
  flags: number;
}

/**
 * The primary header's three 16-bit words: version 0, the packet type bit,
 * the secondary header flag and the APID; sequence flags 0b11
 * (unsegmented) and the 14-bit count; the data length, which CCSDS counts
 * as the bytes after the header minus one.
 */
function writeHeader(
  view: DataView,
  at: number,
  telecommand: boolean,
  secondaryHeader: boolean,
  apid: number,
  seq: number,
  bytes: number,
): void {
  view.setUint16(at, (telecommand ? 0x1000 : 0) | (secondaryHeader ? 0x0800 : 0) | apid);
  view.setUint16(at + 2, 0xc000 | (seq & 0x3fff));
  view.setUint16(at + 4, bytes - 6 - 1);
}

/**
 * Reads a poll request: exactly 14 bytes, a sound CRC, version 0, a
 * telecommand without secondary header on APID 0x7FE, unsegmented, data
 * length 7.
 *
 * @throws {SyntaxError} when the datagram is anything else
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc16 } from "./_crc16.ts";
 * import { decodePoll } from "./_isl_wire.ts";
 *
 * const bytes = new Uint8Array([0x17, 0xfe, 0xc0, 0x05, 0, 7, 0, 0, 0, 9, 1, 0, 0, 0]);
 * new DataView(bytes.buffer).setUint16(12, crc16(bytes, 0, 12));
 * assert.deepEqual(decodePoll(bytes), { seq: 5, after: 9, max: 256 });
 * bytes[9] ^= 1;
 * assert.throws(() => decodePoll(bytes), SyntaxError);
 * ```
 */
export function decodePoll(bytes: Uint8Array): PollRequest {
  if (bytes.length !== POLL_BYTES) {
    throw new SyntaxError(`Not a poll request: ${bytes.length} bytes (expected 14)`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(12) !== crc16(bytes, 0, 12)) {
    throw new SyntaxError("Not a poll request: bad CRC");
  }
  const word0 = view.getUint16(0);
  const word1 = view.getUint16(2);
  // Version 0 (bits 15–13), type 1 (bit 12), no secondary header (bit 11), APID 0x7FE.
  if (word0 !== (0x1000 | SERVICE_APID)) {
    throw new SyntaxError(`Not a poll request: first header word 0x${word0.toString(16)}`);
  }
  if (word1 >> 14 !== 0b11) throw new SyntaxError("Not a poll request: segmented packet");
  if (view.getUint16(4) !== POLL_BYTES - 7) {
    throw new SyntaxError(`Not a poll request: data length ${view.getUint16(4)} (expected 7)`);
  }
  return { seq: word1 & 0x3fff, after: view.getUint32(6), max: view.getUint16(10) };
}

/**
 * Writes an 18-byte status packet into `target` at `offset`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc16 } from "./_crc16.ts";
 * import { encodeStatus } from "./_isl_wire.ts";
 *
 * const bytes = new Uint8Array(18);
 * encodeStatus({ seq: 7, oldest: 1, newest: 20, count: 14 }, bytes, 0);
 * assert.deepEqual([...bytes.subarray(0, 6)], [0x07, 0xfe, 0xc0, 0x07, 0x00, 0x0b]);
 * assert.equal(crc16(bytes, 0, 16), (bytes[16] << 8) | bytes[17]);
 * ```
 */
export function encodeStatus(status: StatusFields, target: Uint8Array, offset: number): void {
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  writeHeader(view, offset, false, false, SERVICE_APID, status.seq, STATUS_BYTES);
  view.setUint32(offset + 6, status.oldest);
  view.setUint32(offset + 10, status.newest);
  view.setUint16(offset + 14, status.count);
  view.setUint16(offset + 16, crc16(target, offset, offset + 16));
}

/**
 * Writes a 96-byte beacon packet into `target` at `offset` (the gateway
 * writes straight into its ring buffer).
 *
 * @throws {RangeError} when the APID is outside 1–2046
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc16 } from "./_crc16.ts";
 * import { encodeBeacon } from "./_isl_wire.ts";
 *
 * const bytes = new Uint8Array(96);
 * encodeBeacon({
 *   apid: 3, seq: 10, coarse: 2_174_299_237, fine: 32768, index: 1,
 *   observer: 60001, target: 60002, range_km: 370.5, range_rate_km_s: -0.01,
 *   range_sigma_km: 0.0009765625, r_km: [6778, 0, 0], v_km_s: [0, 7.67, 0], flags: 7,
 * }, bytes, 0);
 * assert.deepEqual([...bytes.subarray(0, 7)], [0x08, 0x03, 0xc0, 0x0a, 0x00, 0x59, 0x1e]);
 * assert.equal(crc16(bytes, 0, 94), (bytes[94] << 8) | bytes[95]);
 * ```
 */
export function encodeBeacon(beacon: Beacon, target: Uint8Array, offset: number): void {
  if (!(beacon.apid >= 1 && beacon.apid <= 2046)) {
    throw new RangeError(`Cannot encode a beacon on APID ${beacon.apid} (expected 1–2046)`);
  }
  const view = new DataView(target.buffer, target.byteOffset, target.byteLength);
  writeHeader(view, offset, false, true, beacon.apid, beacon.seq, BEACON_BYTES);
  view.setUint8(offset + 6, CUC_P_FIELD);
  view.setUint32(offset + 7, beacon.coarse);
  view.setUint16(offset + 11, beacon.fine);
  view.setUint32(offset + 13, beacon.index);
  view.setUint32(offset + 17, beacon.observer);
  view.setUint32(offset + 21, beacon.target);
  view.setFloat64(offset + 25, beacon.range_km);
  view.setFloat64(offset + 33, beacon.range_rate_km_s);
  view.setFloat32(offset + 41, beacon.range_sigma_km);
  for (let k = 0; k < 3; k++) {
    view.setFloat64(offset + 45 + 8 * k, beacon.r_km[k]);
    view.setFloat64(offset + 69 + 8 * k, beacon.v_km_s[k]);
  }
  view.setUint8(offset + 93, beacon.flags);
  view.setUint16(offset + 94, crc16(target, offset, offset + 94));
}
