/**
 * Framing: the packets back to back in one datagram (or one capture).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { Beacon } from "./beacon.ts";
import type { StatusPacket } from "./status_packet.ts";
import { apidAt, declaredLength, packetFault } from "./_frame.ts";
import { HEADER_BYTES, SERVICE_APID, STATUS_BYTES, viewOf } from "./_layout.ts";
import { readBeacon, readStatus } from "./_read.ts";

/** A sound packet found in a datagram. */
export type IslPacket =
  | {
    /** A status packet (the first packet of an answer). */
    type: "status";
    /** Ordinal of the packet in the datagram, from 0. */
    position: number;
    /** Byte offset of the packet in the datagram. */
    offset: number;
    /** The fields. */
    status: StatusPacket;
  }
  | {
    /** A beacon packet. */
    type: "beacon";
    /** Ordinal of the packet in the datagram, from 0. */
    position: number;
    /** Byte offset of the packet in the datagram. */
    offset: number;
    /** The fields. */
    beacon: Beacon;
  };

/** A malformed packet: a `framing` dead letter (SPEC §6). */
export interface PacketFault {
  /** Ordinal of the packet in the datagram, from 0. */
  position: number;
  /** Byte offset of the packet in the datagram. */
  offset: number;
  /** The packet's bytes as received (a view into the datagram). */
  bytes: Uint8Array;
  /** Why, e.g. `Bad CRC: packet says 0x1234, computed 0xabcd`. */
  reason: string;
}

/** What {@link decodeDatagram} found, each list in datagram order. */
export interface DecodedDatagram {
  /** Sound packets. */
  packets: IslPacket[];
  /** Malformed packets. */
  faults: PacketFault[];
}

/**
 * Splits `bytes` into the Space Packets it holds back to back and checks
 * each: CRC-16/CCITT-FALSE, telemetry type, unsegmented, the data length of
 * its kind (status 11, beacon 89), the CUC P-field `0x1E`. A bad packet
 * becomes a fault and the next one is still parsed, as long as the declared
 * lengths allow finding it: a length that runs past the end, or a packet
 * version other than 0, makes the rest of the datagram one fault.
 *
 * @example A status packet, then a beacon whose CRC was damaged in transit
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBeacon } from "./beacon.ts";
 * import { decodeDatagram } from "./decode_datagram.ts";
 * import { encodeStatus } from "./status_packet.ts";
 *
 * const datagram = new Uint8Array(18 + 96);
 * encodeStatus({ seq: 1, oldest: 1, newest: 1, count: 1 }, datagram, 0);
 * encodeBeacon({
 *   apid: 1, seq: 0, coarse: 2_174_299_237, fine: 0, index: 1, observer: 60001,
 *   target: 60002, range_km: 370, range_rate_km_s: 0, range_sigma_km: 0.5,
 *   r_km: [7000, 0, 0], v_km_s: [0, 7.5, 0], flags: 7,
 * }, datagram, 18);
 * datagram[50] ^= 0xff;
 * const { packets, faults } = decodeDatagram(datagram);
 * assert.equal(packets.length, 1);
 * assert.equal(packets[0].type, "status");
 * assert.equal(faults.length, 1);
 * assert.match(faults[0].reason, /^Bad CRC/);
 * assert.equal(faults[0].offset, 18);
 * ```
 */
export function decodeDatagram(bytes: Uint8Array): DecodedDatagram {
  const packets: IslPacket[] = [];
  const faults: PacketFault[] = [];
  const view = viewOf(bytes);
  const length = bytes.length;
  let offset = 0;
  let position = 0;
  while (offset < length) {
    const left = length - offset;
    if (left < HEADER_BYTES) {
      faults.push(
        fault(
          bytes,
          position,
          offset,
          length,
          `Truncated packet: ${left} bytes left, a primary header needs 6`,
        ),
      );
      break;
    }
    const version = bytes[offset] >> 5;
    if (version !== 0) {
      faults.push(
        fault(
          bytes,
          position,
          offset,
          length,
          `Unknown packet version ${version} (expected 0): the rest of the datagram cannot be split into packets`,
        ),
      );
      break;
    }
    const total = declaredLength(bytes, offset);
    if (total < STATUS_BYTES) {
      // Zero padding reads as a version-0 header of a 7-byte packet: split
      // where such lengths lead, a datagram of zeros was a dead letter per
      // 7 bytes (~30 times its size in dead letters).
      faults.push(
        fault(
          bytes,
          position,
          offset,
          length,
          `A header declaring a ${total}-byte packet, shorter than any (a status packet has ${STATUS_BYTES}): the rest of the datagram cannot be split into packets`,
        ),
      );
      break;
    }
    if (total > left) {
      faults.push(
        fault(
          bytes,
          position,
          offset,
          length,
          `Truncated packet: the header declares ${total} bytes, ${left} left`,
        ),
      );
      break;
    }
    const end = offset + total;
    const reason = packetFault(bytes, offset, total);
    if (reason !== undefined) {
      faults.push(fault(bytes, position, offset, end, reason));
    } else if (apidAt(bytes, offset) === SERVICE_APID) {
      packets.push({ type: "status", position, offset, status: readStatus(view, offset) });
    } else {
      packets.push({ type: "beacon", position, offset, beacon: readBeacon(view, offset) });
    }
    offset = end;
    position++;
  }
  return { packets, faults };
}

function fault(
  bytes: Uint8Array,
  position: number,
  offset: number,
  end: number,
  reason: string,
): PacketFault {
  return { position, offset, bytes: bytes.subarray(offset, end), reason };
}
