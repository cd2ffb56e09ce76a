/**
 * Child processes of `main.ts bench`, started with `main.ts bench --child NAME`.
 *
 * @module
 */

import { parseOptions, UsageError } from "../cli/_args.ts";
import { runUntilSignal } from "../cli/serve.ts";
import type { RadarObservation } from "../envelope/observation.ts";
import { observationId } from "../envelope/observation_id.ts";
import { formatTimestamp } from "../envelope/time.ts";
import type { IngestBatch } from "../operators/ingest_batch.ts";
import { openEventLog } from "../sinks/event_log.ts";
import { loadConfig } from "../service/config_file.ts";
import { closeLogging, setupLogging } from "../service/logging.ts";
import { replay } from "../service/replay.ts";
import { IngestService } from "../service/service.ts";
import { generatedIsl, generatedOptical, generatedRadar } from "./_generate.ts";

/** Replays 10,000,000 generated observations; the last stderr line is the JSON result. */
async function replay10m(args: string[]): Promise<number> {
  const { values } = parseOptions(args, { out: { type: "string" } });
  if (values.out === undefined) throw new UsageError("--out is required");
  const inputs = [
    generatedRadar(4_000_000),
    ...generatedOptical(3_000_000),
    generatedIsl(3_000_000),
  ];
  const t0 = performance.now();
  const result = await replay({ inputs, out: values.out });
  const seconds = (performance.now() - t0) / 1000;
  console.error(JSON.stringify({ seconds, observations: result.observations }));
  // Stay alive until the parent has read this process's peak RSS.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, 30_000);
    Deno.addSignalListener("SIGTERM", done);
    function done() {
      clearTimeout(timer);
      Deno.removeSignalListener("SIGTERM", done);
      resolve();
    }
  });
  return 0;
}

/** The service with a sink that stalls for `--stall-ms` once, `--stall-after` ms after it is ready. */
async function stalledService(args: string[]): Promise<number> {
  const { values } = parseOptions(args, {
    config: { type: "string" },
    "stall-after": { type: "string" },
    "stall-ms": { type: "string" },
  });
  if (values.config === undefined) throw new UsageError("--config is required");
  const after = Number(values["stall-after"] ?? 2000);
  const stallMs = Number(values["stall-ms"] ?? 20_000);
  await setupLogging({ level: "warning" });
  let gate: Promise<void> | undefined;
  const config = await loadConfig(values.config);
  const service = await IngestService.start(config, {
    wrapSink: (sink) => {
      const writer = sink.getWriter();
      return new WritableStream<IngestBatch[]>({
        async write(batches) {
          if (gate) await gate;
          await writer.write(batches);
        },
        close: () => writer.close(),
        abort: (reason) => writer.abort(reason),
      });
    },
  });
  setTimeout(() => {
    console.error("stall: begin");
    gate = new Promise((resolve) =>
      setTimeout(() => {
        gate = undefined;
        console.error("stall: end");
        resolve();
      }, stallMs)
    );
  }, after);
  const code = await runUntilSignal(service);
  await closeLogging();
  return code;
}

/** Writes `--count` radar observations to a fresh event log at `--out`. */
async function writeLog(args: string[]): Promise<number> {
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

const CHILDREN: Record<string, (args: string[]) => Promise<number>> = {
  "replay-10m": replay10m,
  "stalled-service": stalledService,
  "write-log": writeLog,
};

/** Runs the child named by `args[0]`. */
export function runChild(args: string[]): Promise<number> {
  const child = CHILDREN[args[0]];
  if (child === undefined) throw new UsageError(`unknown bench child: "${args[0]}"`);
  return child(args.slice(1));
}
