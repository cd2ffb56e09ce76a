/** Test data: realistic observations, quick to make in bulk. */

import type { Observation, RadarObservation } from "../envelope/observation.ts";
import { observationId } from "../envelope/observation_id.ts";
import { formatTimestamp } from "../envelope/time.ts";

const T0 = Date.parse("2026-11-25T12:00:00Z") * 1000;

/** The i-th radar observation of a synthetic pass (the SPEC §2 shape). */
export function radarObservation(i: number, source = "xr1"): RadarObservation {
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
      range_km: 1234.5678 + i / 1000,
      range_rate_km_s: -1.234567,
      az_deg: (i * 0.01) % 360,
      el_deg: 45.678,
      rcs_m2: 1.2,
    },
    provenance: {
      source,
      format: "ccsds-tdm-kvn",
      transport: "tcp",
      peer: "127.0.0.1:50312",
      ref: `MSG-1#0@${i * 5 + 10}`,
      time_system: "UTC",
      meta: { ORIGINATOR: "XR1-OPS", PARTICIPANT_1: "XR1", ANGLE_TYPE: "AZEL" },
    },
  };
  o.id = observationId(o);
  return o;
}

/** Removes a directory tree, ignoring that it is already gone. */
export async function removeDir(dir: string): Promise<void> {
  await Deno.remove(dir, { recursive: true }).catch(() => {});
}

/** Reads every line of every segment of a log directory, oldest first. */
export async function readAllLines(dir: string): Promise<string[]> {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".jsonl"))
    .sort();
  const lines: string[] = [];
  for (const name of names) {
    const text = await Deno.readTextFile(`${dir}/${name}`);
    for (const line of text.split("\n")) if (line !== "") lines.push(line);
  }
  return lines;
}

/** Parses every observation of a log directory. */
export async function readAllObservations(dir: string): Promise<Observation[]> {
  return (await readAllLines(dir)).map((line) => JSON.parse(line) as Observation);
}
