/**
 * The seam through which the ISL source has its beacons mapped elsewhere —
 * in a decode worker — rather than on the thread that polls (issue 16).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { IngestBatch } from "../../operators/ingest_batch.ts";
import type { DecodeContext } from "../decode_context.ts";
import { decodeIslPackets } from "./decode_isl_packets.ts";

/** Beacons mapped: observations (as objects, or packed lines) and the dead letters of those that could not be. */
export type MappedBeacons = Pick<IngestBatch, "observations" | "packed" | "deadLetters">;

/**
 * Maps sound beacon packets, laid back to back, that arrived at
 * `receivedAt` (µs) from the gateway of `ctx`, by the rules of
 * `decodeIslPackets`: each becomes an observation or a `decoding` or
 * `validation` dead letter.
 */
export type MapBeacons = (
  packets: Uint8Array,
  ctx: DecodeContext,
  receivedAt: number,
) => Promise<MappedBeacons>;

/**
 * {@link MapBeacons} on this thread: what a source falls back to when the
 * mapping elsewhere failed (a decode worker that crashed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBeacon } from "./beacon.ts";
 * import { mapBeaconsHere } from "./map_beacons.ts";
 *
 * const packets = encodeBeacon({
 *   apid: 1, seq: 5, coarse: 2_174_299_237, fine: 0, index: 42, observer: 60001,
 *   target: 60002, range_km: 370.25, range_rate_km_s: -0.5, range_sigma_km: 0.5,
 *   r_km: [7000, 0, 0], v_km_s: [0, 7.5, 0], flags: 0b011,
 * });
 * const ctx = { source: "isl", transport: "udp" as const, peer: "127.0.0.1:7003" };
 * const { observations } = await mapBeaconsHere(packets, ctx, 1_795_608_000_000_000);
 * assert.equal(observations[0].provenance.ref, "42");
 * assert.equal(observations[0].t_rx, "2026-11-25T12:00:00.000000Z");
 * ```
 */
export function mapBeaconsHere(
  packets: Uint8Array,
  ctx: DecodeContext,
  receivedAt: number,
): Promise<MappedBeacons> {
  return Promise.resolve(decodeIslPackets(packets, { ...ctx, now: () => receivedAt }));
}
