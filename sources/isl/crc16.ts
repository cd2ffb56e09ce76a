/**
 * CRC-16/CCITT-FALSE, the checksum that ends every ISL packet (SPEC §6).
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** Polynomial x^16 + x^12 + x^5 + 1, MSB first (no reflection). */
const POLY = 0x1021;

/** One entry per leading byte: the CRC register after shifting that byte through. */
const TABLE = /* @__PURE__ */ (() => {
  const table = new Uint16Array(256);
  for (let byte = 0; byte < 256; byte++) {
    let crc = byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? (crc << 1) ^ POLY : crc << 1;
    }
    table[byte] = crc & 0xffff;
  }
  return table;
})();

/**
 * CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, xorout 0) of
 * `bytes[start, end)`. The range arguments let a decoder check a packet in
 * place inside a datagram without copying it.
 *
 * @example The catalogue check value
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc16 } from "./crc16.ts";
 *
 * assert.equal(crc16(new TextEncoder().encode("123456789")), 0x29b1);
 * assert.equal(crc16(new Uint8Array(0)), 0xffff);
 * ```
 */
export function crc16(bytes: Uint8Array, start = 0, end: number = bytes.length): number {
  let crc = 0xffff;
  for (let i = start; i < end; i++) {
    crc = ((crc << 8) & 0xff00) ^ TABLE[((crc >> 8) ^ bytes[i]) & 0xff];
  }
  return crc;
}
