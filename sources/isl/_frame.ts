/**
 * The checks every ISL packet must pass before its fields mean anything.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { crc16 } from "./crc16.ts";
import {
  BEACON_BYTES,
  CUC_P_FIELD,
  hex,
  IDLE_APID,
  SERVICE_APID,
  STATUS_BYTES,
  TM,
  UNSEGMENTED,
} from "./_layout.ts";

/**
 * Why the packet `bytes[offset, offset + total)` is not a sound unsegmented
 * Space Packet of `type`, or `undefined` when it is. The CRC comes first:
 * when it fails, no header field can be trusted, so "bad CRC" is the honest
 * reason; only a packet that arrived as sent can be blamed for its layout.
 */
export function frameFault(
  bytes: Uint8Array,
  offset: number,
  total: number,
  type: number,
): string | undefined {
  if (total < 8) return `Packet too short to hold a CRC: ${total} bytes`;
  const end = offset + total;
  const stored = (bytes[end - 2] << 8) | bytes[end - 1];
  const computed = crc16(bytes, offset, end - 2);
  if (stored !== computed) {
    return `Bad CRC: packet says ${hex(stored, 4)}, computed ${hex(computed, 4)}`;
  }
  const actualType = (bytes[offset] >> 4) & 1;
  if (actualType !== type) {
    return actualType === 1
      ? "Unexpected telecommand packet (type bit 1) where telemetry was expected"
      : "Unexpected telemetry packet (type bit 0) where a telecommand was expected";
  }
  const flags = bytes[offset + 2] >> 6;
  if (flags !== UNSEGMENTED) {
    return `Segmented packets are not supported: sequence flags 0b${
      flags.toString(2).padStart(2, "0")
    } (expected 0b11)`;
  }
  return undefined;
}

/** The APID of the packet at `offset`. */
export function apidAt(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset] & 0x07) << 8) | bytes[offset + 1];
}

/** The 14-bit sequence count of the packet at `offset`. */
export function seqAt(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset + 2] & 0x3f) << 8) | bytes[offset + 3];
}

/** The total length (header included) that the packet at `offset` declares. */
export function declaredLength(bytes: Uint8Array, offset: number): number {
  return ((bytes[offset + 4] << 8) | bytes[offset + 5]) + 7;
}

/** Whether the packet at `offset` sets the secondary header flag. */
export function hasSecondaryHeader(bytes: Uint8Array, offset: number): boolean {
  return (bytes[offset] & 0x08) !== 0;
}

/** Why the `total`-byte packet at `offset` is not a sound status or beacon packet. */
export function packetFault(bytes: Uint8Array, offset: number, total: number): string | undefined {
  const frame = frameFault(bytes, offset, total, TM);
  if (frame !== undefined) return frame;
  const apid = apidAt(bytes, offset);
  if (apid === SERVICE_APID) {
    if (total !== STATUS_BYTES) {
      return `Wrong data length for a status packet: ${total - 7} (expected 11)`;
    }
    if (hasSecondaryHeader(bytes, offset)) {
      return "Status packet with the secondary header flag set (expected 0)";
    }
    return undefined;
  }
  if (apid === IDLE_APID) return "Unexpected idle packet (APID 0x7ff)";
  if (apid === 0) return "APID 0 is not a link id (expected 1–2046)";
  if (total !== BEACON_BYTES) {
    return `Wrong data length for a beacon packet: ${total - 7} (expected 89)`;
  }
  if (!hasSecondaryHeader(bytes, offset)) {
    return "Beacon packet without the secondary header flag (expected 1)";
  }
  const pField = bytes[offset + 6];
  if (pField !== CUC_P_FIELD) {
    return `Unsupported CUC P-field: ${hex(pField)} (expected 0x1e: 1958 TAI epoch, 4 + 2 octets)`;
  }
  return undefined;
}

/**
 * Why the 18-byte packet at `offset` is not a sound status packet, or
 * `undefined` (for {@link decodeStatus}-style callers).
 */
export function statusPacketFault(bytes: Uint8Array, offset: number): string | undefined {
  return packetFault(bytes, offset, STATUS_BYTES) ??
    (apidAt(bytes, offset) === SERVICE_APID
      ? undefined
      : `Not a status packet: APID ${hex(apidAt(bytes, offset), 3)} (expected 0x7fe)`);
}

/**
 * Whether a sound status or beacon packet starts at `p` in `bytes[0, end)`
 * (its header is there): where a skip over bytes that cannot start a
 * packet ends. `undefined`: one may, but it runs past `end`.
 */
export function soundPacketAt(bytes: Uint8Array, p: number, end: number): boolean | undefined {
  if ((bytes[p] & 0xf0) !== 0 || bytes[p + 2] >> 6 !== UNSEGMENTED) return false;
  const total = declaredLength(bytes, p);
  if (total !== BEACON_BYTES && total !== STATUS_BYTES) return false;
  if (p + total > end) return undefined;
  return packetFault(bytes, p, total) === undefined;
}

/** Whether the `total`-byte packet at `offset` is a sound beacon: one that tells its index. */
export function soundBeaconAt(bytes: Uint8Array, offset: number, total: number): boolean {
  return packetFault(bytes, offset, total) === undefined && apidAt(bytes, offset) !== SERVICE_APID;
}
