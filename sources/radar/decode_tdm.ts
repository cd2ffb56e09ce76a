/**
 * A whole CCSDS TDM (KVN) body at once — the edge worker's
 * `POST /ingest/radar` (SPEC §13) — decoded by the same state machine as the
 * stream.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { RadarObservation } from "../../envelope/observation.ts";
import { LineSplitter } from "../../operators/line_split_stream.ts";
import { type DecodeContext, receiveTime } from "../decode_context.ts";
import { TdmDecoder } from "./_tdm_decoder.ts";

/** Options for {@link decodeTdm}. */
export interface DecodeTdmOptions {
  /** Longest line accepted, in bytes without its terminator (default 4096). */
  maxLineBytes?: number;
}

/** What {@link decodeTdm} found in a body. */
export interface DecodeTdmResult {
  /** Observations, in input order. */
  observations: RadarObservation[];
  /** Dead letters, in input order. */
  deadLetters: DeadLetter[];
}

const encoder = new TextEncoder();
const SLICE = 64 * 1024;

/**
 * Decodes a complete TDM body: every group is closed at the end of the body,
 * and a last line without a line end is read like any other.
 *
 * @example A body with one good and one bad data line
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeTdm } from "./decode_tdm.ts";
 *
 * const body = [
 *   "CCSDS_TDM_VERS = 2.0",
 *   "MESSAGE_ID = M-1",
 *   "META_START",
 *   "TIME_SYSTEM = UTC",
 *   "PARTICIPANT_1 = XR1",
 *   "ANGLE_TYPE = AZEL",
 *   "META_STOP",
 *   "DATA_START",
 *   "ANGLE_1 = 2026-11-25T12:00:00 -10.5",
 *   "ANGLE_1 = 2026-11-25T12:00:01 12.3.4",
 *   "DATA_STOP",
 * ].join("\n");
 * const ctx = { source: "edge", transport: "worker" as const, peer: "203.0.113.7" };
 * const { observations, deadLetters } = decodeTdm(body, ctx);
 * assert.deepEqual(observations[0].measurement, { az_deg: 349.5 });
 * assert.deepEqual(observations[0].target, { norad: null, id: null });
 * assert.equal(deadLetters[0].reason, 'Cannot parse ANGLE_1 value as a number: "12.3.4"');
 * assert.equal(deadLetters[0].ref, "M-1#0@10");
 * ```
 */
export function decodeTdm(
  input: string | Uint8Array,
  ctx: DecodeContext,
  options: DecodeTdmOptions = {},
): DecodeTdmResult {
  const maxLineBytes = options.maxLineBytes ?? 4096;
  if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
    throw new RangeError(`Cannot decode with maxLineBytes below 1: ${maxLineBytes}`);
  }
  const bytes = typeof input === "string" ? encoder.encode(input) : input;
  const splitter = new LineSplitter(maxLineBytes);
  const decoder = new TdmDecoder(ctx, maxLineBytes);
  const receivedAt = receiveTime(ctx);
  // In slices, as a socket would deliver it: one huge string and line array
  // for a multi-megabyte body costs more than many small ones.
  for (let i = 0; i < bytes.length; i += SLICE) {
    decoder.push(splitter.push(bytes.subarray(i, i + SLICE)), receivedAt);
  }
  decoder.push(splitter.end(), receivedAt);
  decoder.end(receivedAt);
  const out = decoder.take();
  return {
    observations: out?.observations ?? [],
    deadLetters: out?.deadLetters ?? [],
  };
}
