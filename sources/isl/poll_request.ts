/**
 * The poll request the service sends to a gateway (SPEC §6).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { crc16 } from "./crc16.ts";
import { apidAt, declaredLength, frameFault, hasSecondaryHeader, seqAt } from "./_frame.ts";
import { hex, POLL_BYTES, SERVICE_APID, TC, viewOf, writeHeader } from "./_layout.ts";

/** What a poll asks for. */
export interface PollRequest {
  /** The service's own poll counter, mod 2^14; the answer's status echoes it. */
  seq: number;
  /** Send beacons with a gateway index greater than this (the watermark `W`). */
  after: number;
  /** Send at most this many beacons. */
  max: number;
}

function checkField(name: string, value: number, limit: number): void {
  if (!Number.isInteger(value) || value < 0 || value > limit) {
    throw new RangeError(`Cannot encode poll ${name} outside 0–${limit}: ${value}`);
  }
}

/**
 * The 14-byte poll request: a TC Space Packet on APID 0x7FE with data length
 * 7, then `u32 after`, `u16 max` and the CRC. `seq` is taken mod 2^14.
 *
 * @throws {RangeError} when `after` is not a u32 or `max` not a u16
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePoll } from "./poll_request.ts";
 *
 * const poll = encodePoll({ seq: 1, after: 0, max: 256 });
 * assert.deepEqual(
 *   [...poll.subarray(0, 12)],
 *   [0x17, 0xfe, 0xc0, 0x01, 0x00, 0x07, 0, 0, 0, 0, 0x01, 0x00],
 * );
 * ```
 */
export function encodePoll(poll: PollRequest): Uint8Array {
  checkField("after", poll.after, 0xffffffff);
  checkField("max", poll.max, 0xffff);
  if (!Number.isInteger(poll.seq) || poll.seq < 0) {
    throw new RangeError(`Cannot encode a negative or fractional poll seq: ${poll.seq}`);
  }
  const bytes = new Uint8Array(POLL_BYTES);
  const view = viewOf(bytes);
  writeHeader(view, 0, TC, false, SERVICE_APID, poll.seq, POLL_BYTES);
  view.setUint32(6, poll.after);
  view.setUint16(10, poll.max);
  view.setUint16(12, crc16(bytes, 0, 12));
  return bytes;
}

/**
 * Parses a poll request (the gateway's side).
 *
 * @throws {SyntaxError} when the datagram is not a sound poll request (wrong
 * length, bad CRC, not a TC packet on APID 0x7FE)
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodePoll, encodePoll } from "./poll_request.ts";
 *
 * const poll = { seq: 16383, after: 4_000_000_000, max: 65535 };
 * assert.deepEqual(decodePoll(encodePoll(poll)), poll);
 * ```
 */
export function decodePoll(bytes: Uint8Array): PollRequest {
  if (bytes.length !== POLL_BYTES) {
    throw new SyntaxError(`Cannot parse a poll request of ${bytes.length} bytes (expected 14)`);
  }
  const fault = frameFault(bytes, 0, POLL_BYTES, TC);
  if (fault !== undefined) throw new SyntaxError(`Cannot parse poll request: ${fault}`);
  const apid = apidAt(bytes, 0);
  if (apid !== SERVICE_APID || hasSecondaryHeader(bytes, 0)) {
    throw new SyntaxError(`Cannot parse poll request: APID ${hex(apid, 3)} (expected 0x7fe)`);
  }
  if (declaredLength(bytes, 0) !== POLL_BYTES) {
    throw new SyntaxError(
      `Cannot parse poll request: data length ${declaredLength(bytes, 0) - 7} (expected 7)`,
    );
  }
  const view = viewOf(bytes);
  return { seq: seqAt(bytes, 0), after: view.getUint32(6), max: view.getUint16(10) };
}
