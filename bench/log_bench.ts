/**
 * Micro-benchmarks of the hot path below the sources: id hashing,
 * serialisation and appending to the event log (issue: foundation).
 *
 * Run: deno task bench:micro   (each iteration handles BATCH observations;
 * observations/s = BATCH / time per iteration)
 */

import type { RadarObservation } from "../envelope/observation.ts";
import { observationId } from "../envelope/observation_id.ts";
import { serializeObservation } from "../envelope/serialize.ts";
import { formatTimestamp } from "../envelope/time.ts";
import { openEventLog } from "../sinks/event_log.ts";

const BATCH = 1000;
const T0 = Date.parse("2026-11-25T12:00:00Z") * 1000;
let counter = 0;

const META = {
  CCSDS_TDM_VERS: "2.0",
  ORIGINATOR: "XR1-OPS",
  MESSAGE_ID: "XR1-0001",
  TIME_SYSTEM: "UTC",
  PARTICIPANT_1: "XR1",
  PARTICIPANT_2: "49863",
  ANGLE_TYPE: "AZEL",
};

/**
 * A radar-shaped envelope as SPEC §2 shows it, as a decoder builds it before
 * hashing (the meta object shared by the segment, as decoders do).
 */
function decoded(): RadarObservation {
  const i = counter++;
  const t = formatTimestamp(T0 + i * 1000);
  const o: RadarObservation = {
    v: 1,
    id: "",
    kind: "radar",
    t_obs: t,
    t_rx: t,
    sensor: "XR1",
    target: { norad: 49863, id: "49863" },
    measurement: {
      range_km: 1234.5678 + i / 1e6,
      range_rate_km_s: -1.234567,
      az_deg: 123.456,
      el_deg: 45.678,
      rcs_m2: 1.2,
    },
    provenance: {
      source: "xr1",
      format: "ccsds-tdm-kvn",
      transport: "tcp",
      peer: "127.0.0.1:50312",
      ref: `MSG-1#0@${i}`,
      time_system: "UTC",
      meta: META,
    },
  };
  return o;
}

/** Hashing as the decoder does it, the work measured with the log below. */
function hashed(batch: RadarObservation[]): RadarObservation[] {
  for (const o of batch) o.id = observationId(o);
  return batch;
}

const sample = hashed(Array.from({ length: BATCH }, decoded));
/** Distinct decoded observations, made outside the timed region. */
const pool = Array.from({ length: 200 }, () => Array.from({ length: BATCH }, decoded));
let next = 0;
const take = () => pool[next++ % pool.length];

Deno.bench(`observationId() × ${BATCH}`, { group: "envelope" }, () => {
  for (const o of sample) observationId(o);
});

Deno.bench(`serializeObservation() × ${BATCH}`, { group: "envelope" }, () => {
  for (const o of sample) serializeObservation(o);
});

const dir = await Deno.makeTempDir({ prefix: "sda-bench-" });
const interval = await openEventLog({ dir: `${dir}/interval`, fsync: "interval" });
const always = await openEventLog({ dir: `${dir}/always`, fsync: "always" });

Deno.bench(
  `hash + serialise + append × ${BATCH}, fsync interval`,
  { group: "log", baseline: true },
  async () => {
    await interval.append(hashed(take()));
  },
);

Deno.bench(
  `hash + serialise + append × ${BATCH}, fsync always, 10 appends of 100 in flight (group commit)`,
  { group: "log" },
  async () => {
    const pending = [];
    for (let i = 0; i < 10; i++) {
      const part = take().slice(i * (BATCH / 10), (i + 1) * (BATCH / 10));
      pending.push(always.append(hashed(part)));
    }
    await Promise.all(pending);
  },
);

globalThis.addEventListener("unload", () => {
  Deno.removeSync(dir, { recursive: true });
});
