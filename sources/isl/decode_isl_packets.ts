/**
 * Stateless decoding of ISL packets: the replay and the edge worker.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import { binaryRaw } from "../../envelope/raw.ts";
import { formatTimestamp } from "../../envelope/time.ts";
import { type DecodeContext, makeDeadLetter, receiveTime } from "../decode_context.ts";
import { decodeDatagram } from "./decode_datagram.ts";
import { BeaconMapper } from "./_beacon_mapper.ts";
import { inferFaultIndexes } from "./_infer_index.ts";
import { BEACON_BYTES } from "./_layout.ts";

/**
 * Decodes beacon packets laid back to back — a capture "as a gateway sent
 * them" (`fixtures/isl/*.spp`, SPEC §10) or the body of `POST /ingest/isl`
 * (§13) — with no polling semantics: every sound beacon becomes an
 * observation (`provenance.ref` = its gateway index), every malformed packet
 * a `framing` dead letter with its raw bytes as base64 and, where the sound
 * beacons around it tell, its index as `ref`. Status packets carry no
 * measurement and are skipped. Loss is not counted here; see
 * {@link LinkSequenceTracker} for link gaps in a capture.
 *
 * @example One beacon, replayed deterministically
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBeacon } from "./beacon.ts";
 * import { decodeIslPackets } from "./decode_isl_packets.ts";
 *
 * const bytes = encodeBeacon({
 *   apid: 1, seq: 5, coarse: 2_174_299_237, fine: 16384, index: 42, observer: 60001,
 *   target: 60002, range_km: 370.25, range_rate_km_s: -0.5, range_sigma_km: 0.5,
 *   r_km: [7000, 0, 0], v_km_s: [0, 7.5, 0], flags: 0b011,
 * });
 * const ctx = { source: "replay", transport: "replay" as const, peer: "isl/x.spp", deterministic: true };
 * const { observations, deadLetters } = decodeIslPackets(bytes, ctx);
 * assert.equal(deadLetters.length, 0);
 * assert.equal(observations[0].t_obs, "2026-11-25T12:00:00.250000Z");
 * assert.equal(observations[0].provenance.ref, "42");
 * assert.deepEqual(observations[0].measurement, {
 *   range_km: 370.25, range_rate_km_s: -0.5, range_sigma_km: 0.5,
 *   observer: { norad: 60001, frame: "GCRF" },
 * });
 * ```
 */
export function decodeIslPackets(
  bytes: Uint8Array,
  ctx: DecodeContext,
): { observations: Observation[]; deadLetters: DeadLetter[] } {
  const receivedAt = receiveTime(ctx);
  const tRx = ctx.deterministic ? "" : formatTimestamp(receivedAt);
  const { packets, faults } = decodeDatagram(bytes);
  const mapper = new BeaconMapper(ctx);
  const observations: Observation[] = [];
  const deadLetters: DeadLetter[] = [];
  const faultIndexes = inferFaultIndexes(packets, faults);
  // Dead letters in input order: merge the faults in by position.
  let f = 0;
  const flushFaults = (position: number) => {
    while (f < faults.length && faults[f].position < position) {
      const fault = faults[f];
      const index = faultIndexes[f];
      deadLetters.push(makeDeadLetter(ctx, "isl-spp", {
        stage: "framing",
        reason: fault.reason,
        raw: binaryRaw(fault.bytes),
        ref: index === undefined ? undefined : String(index),
        receivedAt,
      }));
      f++;
    }
  };
  for (const packet of packets) {
    if (packet.type !== "beacon") continue;
    flushFaults(packet.position);
    const observation = mapper.map(packet.beacon, tRx, receivedAt);
    if (observation !== undefined) {
      observations.push(observation);
    } else {
      deadLetters.push(makeDeadLetter(ctx, "isl-spp", {
        stage: mapper.failure!.stage,
        reason: mapper.failure!.reason,
        raw: binaryRaw(bytes.subarray(packet.offset, packet.offset + BEACON_BYTES)),
        ref: String(packet.beacon.index),
        receivedAt,
      }));
    }
  }
  flushFaults(Infinity);
  return { observations, deadLetters };
}
