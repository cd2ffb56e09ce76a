/**
 * Stateless decoding of ISL packets: the replay. It is the edge worker's
 * streaming decoder handed the whole input as one piece, so both give the
 * same output by construction.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import type { DecodeContext } from "../decode_context.ts";
import { IslStreamDecoder } from "./_isl_stream_decoder.ts";

/**
 * Decodes beacon packets laid back to back — a capture "as a gateway sent
 * them" (`fixtures/isl/*.spp`, SPEC §10) or the body of `POST /ingest/isl`
 * (§13) — with no polling semantics: every sound beacon becomes an
 * observation (`provenance.ref` = its gateway index), every malformed packet
 * a `framing` dead letter with its raw bytes as base64 and, where the sound
 * beacons around it tell, its index as `ref` (the rule of
 * `inferFaultIndexes`; past 4,096 malformed packets in a row the oldest is
 * resolved from before it only, as in `IslDecodeStream`). Dead letters and
 * observations come in input order, each list on its own. Status packets
 * carry no measurement and are skipped. Loss is not counted here; see
 * {@link LinkSequenceTracker} for link gaps in a capture. `t_rx` is one
 * receive time for the whole input.
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
  const decoder = new IslStreamDecoder(ctx);
  decoder.end(bytes);
  const out = decoder.take();
  return out === undefined
    ? { observations: [], deadLetters: [] }
    : { observations: out.observations, deadLetters: out.deadLetters };
}
