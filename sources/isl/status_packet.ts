/**
 * The status packet that opens every gateway answer (SPEC §6).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { crc16 } from "./crc16.ts";
import { declaredLength, statusPacketFault } from "./_frame.ts";
import { SERVICE_APID, STATUS_BYTES, TM, viewOf, writeHeader } from "./_layout.ts";
import { readStatus } from "./_read.ts";

/** What the gateway says about its ring buffer and this answer. */
export interface StatusPacket {
  /** The sequence count of the poll this answers. */
  seq: number;
  /** Oldest gateway index still held, 0 if none. */
  oldest: number;
  /** Newest gateway index held, 0 if none. */
  newest: number;
  /** Beacon packets in this answer. */
  count: number;
}

/**
 * Writes an 18-byte status packet into `target` at `offset` (the gateway's
 * side; a new array when no target is given) and returns its bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeStatus, encodeStatus } from "./status_packet.ts";
 *
 * const status = { seq: 42, oldest: 1, newest: 5000, count: 256 };
 * const bytes = encodeStatus(status);
 * assert.equal(bytes.length, 18);
 * assert.deepEqual(decodeStatus(bytes), status);
 * ```
 */
export function encodeStatus(
  status: StatusPacket,
  target: Uint8Array = new Uint8Array(STATUS_BYTES),
  offset = 0,
): Uint8Array {
  const view = viewOf(target);
  writeHeader(view, offset, TM, false, SERVICE_APID, status.seq, STATUS_BYTES);
  view.setUint32(offset + 6, status.oldest);
  view.setUint32(offset + 10, status.newest);
  view.setUint16(offset + 14, status.count);
  view.setUint16(offset + 16, crc16(target, offset, offset + 16));
  return target.subarray(offset, offset + STATUS_BYTES);
}

/**
 * Parses one status packet (exactly its 18 bytes).
 *
 * @throws {SyntaxError} when the bytes are not a sound status packet
 *
 * @example A status packet built by hand
 * ```ts
 * import assert from "node:assert/strict";
 * import { crc16 } from "./crc16.ts";
 * import { decodeStatus } from "./status_packet.ts";
 *
 * const bytes = new Uint8Array(18);
 * const view = new DataView(bytes.buffer);
 * view.setUint16(0, 0x07fe); // version 0, TM, no secondary header, APID 0x7FE
 * view.setUint16(2, 0xc000 | 7); // unsegmented, answers poll 7
 * view.setUint16(4, 11); // data length
 * view.setUint32(6, 100); // oldest
 * view.setUint32(10, 150); // newest
 * view.setUint16(14, 20); // count
 * view.setUint16(16, crc16(bytes, 0, 16));
 * assert.deepEqual(decodeStatus(bytes), { seq: 7, oldest: 100, newest: 150, count: 20 });
 * ```
 */
export function decodeStatus(bytes: Uint8Array): StatusPacket {
  if (bytes.length !== STATUS_BYTES) {
    throw new SyntaxError(`Cannot parse a status packet of ${bytes.length} bytes (expected 18)`);
  }
  if (declaredLength(bytes, 0) !== STATUS_BYTES) {
    throw new SyntaxError(
      `Cannot parse status packet: data length ${declaredLength(bytes, 0) - 7} (expected 11)`,
    );
  }
  const fault = statusPacketFault(bytes, 0);
  if (fault !== undefined) throw new SyntaxError(`Cannot parse status packet: ${fault}`);
  return readStatus(viewOf(bytes), 0);
}
