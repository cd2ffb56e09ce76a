/**
 * Byte layout of the ISL packets (SPEC §6): CCSDS Space Packets (133.0-B)
 * with a 6-byte primary header, big-endian fields and a trailing
 * CRC-16/CCITT-FALSE that the data length counts.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** Primary header bytes. */
export const HEADER_BYTES = 6;
/** APID of the service's poll requests and the gateway's status packets. */
export const SERVICE_APID = 0x7fe;
/** APID of CCSDS idle (fill) packets. */
export const IDLE_APID = 0x7ff;
/** Poll request: header + u32 after + u16 max + u16 crc. */
export const POLL_BYTES = 14;
/** Status packet: header + u32 oldest + u32 newest + u16 count + u16 crc. */
export const STATUS_BYTES = 18;
/** Beacon packet, header included (data length field 89). */
export const BEACON_BYTES = 96;
/** CUC P-field: 1958 TAI epoch (agency-defined level 2), 4 coarse + 2 fine octets. */
export const CUC_P_FIELD = 0x1e;
/** Sequence flags 0b11: an unsegmented packet. */
export const UNSEGMENTED = 0b11;
/** Sequence counts are 14 bits. */
export const SEQUENCE_MODULUS = 1 << 14;
/** A gateway splits an answer into datagrams of at most this many bytes. */
export const MAX_DATAGRAM_BYTES = 1400;

/** Packet type bit: 0 telemetry (from space), 1 telecommand (to a gateway). */
export const TM = 0;
/** Packet type bit for telecommands. */
export const TC = 1;

/**
 * Writes a primary header at `offset`: version 0, the given type, secondary
 * header flag, APID, sequence flags 0b11, sequence count, and a data length
 * field of `totalBytes − 7` (CCSDS counts the data field length minus one).
 */
export function writeHeader(
  view: DataView,
  offset: number,
  type: number,
  secondaryHeader: boolean,
  apid: number,
  seq: number,
  totalBytes: number,
): void {
  view.setUint16(offset, (type << 12) | (secondaryHeader ? 0x0800 : 0) | (apid & 0x7ff));
  view.setUint16(offset + 2, (UNSEGMENTED << 14) | (seq & 0x3fff));
  view.setUint16(offset + 4, totalBytes - 7);
}

/** A `DataView` over exactly the bytes of `bytes`, which may be a subarray. */
export function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `0x1e`-style hex of a byte or a 16-bit value, for error messages. */
export function hex(value: number, digits = 2): string {
  return "0x" + value.toString(16).padStart(digits, "0");
}
