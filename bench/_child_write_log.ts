/**
 * The `write-log` bench child: writes a radar event log for the restart
 * scenario.
 *
 * @module
 */

import { parseOptions, UsageError } from "../cli/_args.ts";
import type { RadarObservation } from "../envelope/observation.ts";
import { observationId } from "../envelope/observation_id.ts";
import { formatTimestamp } from "../envelope/time.ts";
import { openEventLog } from "../sinks/event_log.ts";

/** Writes `--count` radar observations to a fresh event log at `--out`. */
export async function writeLog(args: string[]): Promise<number> {
  const { values } = parseOptions(args, { out: { type: "string" }, count: { type: "string" } });
  if (values.out === undefined) throw new UsageError("--out is required");
  const count = Number(values.count ?? 5_000_000);
  const log = await openEventLog({ dir: values.out, fsync: "never" });
  const t0 = Date.parse("2026-11-25T00:00:00Z") * 1000;
  const meta = {
    CCSDS_TDM_VERS: "2.0",
    ORIGINATOR: "BENCH",
    PARTICIPANT_1: "XR1",
    ANGLE_TYPE: "AZEL",
  };
  for (let start = 0; start < count; start += 10_000) {
    const batch: RadarObservation[] = [];
    for (let i = start; i < Math.min(count, start + 10_000); i++) {
      const t = formatTimestamp(t0 + i * 1000);
      const o: RadarObservation = {
        v: 1,
        id: "",
        kind: "radar",
        t_obs: t,
        t_rx: t,
        sensor: "XR1",
        target: { norad: 49863 + (i % 240), id: String(49863 + (i % 240)) },
        measurement: {
          range_km: 1000 + (i % 1000) / 7,
          az_deg: (i % 3600) / 10,
          el_deg: 45,
          rcs_m2: 1.5,
        },
        provenance: {
          source: "xr1",
          format: "ccsds-tdm-kvn",
          transport: "tcp",
          peer: "127.0.0.1:50312",
          ref: `BENCH#0@${i}`,
          time_system: "UTC",
          meta,
        },
      };
      o.id = observationId(o);
      batch.push(o);
    }
    await log.append(batch);
  }
  await log.close();
  return 0;
}
