/**
 * CCSDS Space Packet facts for the ISL mutators and oracle, written from
 * SPEC §6 and CCSDS 133.0-B rather than taken from `sources/isl/`, so that
 * the oracle does not share the decoder's mistakes.
 *
 * @module
 */

/** Primary header bytes. */
export const HEADER = 6;
/** Status packet bytes (data length field 11). */
export const STATUS = 18;
/** Beacon packet bytes (data length field 89). */
export const BEACON = 96;
/** APID of status packets. */
export const STATUS_APID = 0x7fe;

/**
 * CRC-16/CCITT-FALSE bit by bit (poly 0x1021, init 0xFFFF, no reflection,
 * xorout 0): slow and obviously right, unlike the decoder's table.
 *
 * @example The standard check value
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc16 } from "./_spp.ts";
 *
 * assert.equal(crc16(new TextEncoder().encode("123456789"), 0, 9), 0x29b1);
 * ```
 */
export function crc16(bytes: Uint8Array, start: number, end: number): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc ^= bytes[i] << 8;
    for (let b = 0; b < 8; b++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

/** Total packet length (header included) that the header at `offset` declares. */
export function declared(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset + 4] << 8) | bytes[offset + 5]) + 7;
}

/** The APID of the packet at `offset`. */
export function apid(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] & 0x07) << 8) | bytes[offset + 1];
}

/** Big-endian u32 at `offset`. */
export function u32(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] << 24) | (bytes[offset + 1] << 16) | (bytes[offset + 2] << 8) |
    bytes[offset + 3]) >>> 0;
}

/** Writes the CRC of the `total`-byte packet at `offset` into its last two bytes. */
export function fixCrc(bytes: Uint8Array, offset: number, total: number): void {
  const end = offset + total;
  if (total < 2 || end > bytes.length) return;
  const crc = crc16(bytes, offset, end - 2);
  bytes[end - 2] = crc >> 8;
  bytes[end - 1] = crc & 0xff;
}

/** Whether the `total`-byte packet at `offset` ends in its correct CRC. */
export function crcOk(bytes: Uint8Array, offset: number, total: number): boolean {
  if (total < 8 || offset + total > bytes.length) return false;
  const end = offset + total;
  return ((bytes[end - 2] << 8) | bytes[end - 1]) === crc16(bytes, offset, end - 2);
}

/**
 * Packet boundaries by declared lengths, as far as they fit: the offsets
 * of the packets that lie wholly inside `bytes`, in order.
 */
export function packetOffsets(bytes: Uint8Array): number[] {
  const offsets: number[] = [];
  let offset = 0;
  while (bytes.length - offset >= HEADER) {
    const total = declared(bytes, offset);
    if (offset + total > bytes.length) break;
    offsets.push(offset);
    offset += total;
  }
  return offsets;
}

/**
 * A sound status packet (SPEC §6) with the given fields, CRC included.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crcOk, statusPacket } from "./_spp.ts";
 *
 * const p = statusPacket(5, 1, 3, 3);
 * assert.equal(p.length, 18);
 * assert.ok(crcOk(p, 0, 18));
 * ```
 */
export function statusPacket(
  seq: number,
  oldest: number,
  newest: number,
  count: number,
): Uint8Array {
  const p = new Uint8Array(STATUS);
  const view = new DataView(p.buffer);
  view.setUint16(0, STATUS_APID); // version 0, TM, no secondary header
  view.setUint16(2, 0xc000 | (seq & 0x3fff));
  view.setUint16(4, STATUS - 7);
  view.setUint32(6, oldest >>> 0);
  view.setUint32(10, newest >>> 0);
  view.setUint16(14, count & 0xffff);
  fixCrc(p, 0, STATUS);
  return p;
}
