/**
 * The `stalled-service` bench child: the service with a sink that stalls
 * once (the stalled-sink scenario).
 *
 * @module
 */

import { parseOptions, UsageError } from "../cli/_args.ts";
import { runUntilSignal } from "../cli/serve.ts";
import type { IngestBatch } from "../operators/ingest_batch.ts";
import { loadConfig } from "../service/config_file.ts";
import { closeLogging, setupLogging } from "../service/logging.ts";
import { IngestService } from "../service/service.ts";

/** The service with a sink that stalls for `--stall-ms` once, `--stall-after` ms after it is ready. */
export async function stalledService(args: string[]): Promise<number> {
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
