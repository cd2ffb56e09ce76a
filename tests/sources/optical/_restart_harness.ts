/**
 * A minimal optical ingest service for the restart test: OpticalHttpSource →
 * Pipeline → event log (fsync always), the cursor in a StateStore and the
 * dedupe window rebuilt from the log's tail, as the service does.
 *
 * Prints `started <cursor|->`, then `logged <n>` each time observations
 * become durable, and `done` once the archive has nothing newer (it then
 * stops gracefully). The test SIGKILLs the first run in the middle.
 *
 * Usage: deno run --allow-read --allow-write --allow-net=127.0.0.1 \
 *   _restart_harness.ts <url> <dir> <pageSize>
 */

import { DedupeWindow } from "../../../operators/dedupe_window.ts";
import { Pipeline } from "../../../service/pipeline.ts";
import { StateStore } from "../../../service/state_store.ts";
import { openDeadLetterLog, openEventLog, readRecentIds } from "../../../sinks/event_log.ts";
import { OpticalHttpSource } from "../../../sources/optical/http_adapter.ts";

const [url, dir, pageSize] = Deno.args;
const encoder = new TextEncoder();
const say = (line: string) => Deno.stdout.writeSync(encoder.encode(line + "\n"));

const dedupe = new DedupeWindow(100_000);
for (const id of await readRecentIds(`${dir}/events`, 100_000)) dedupe.add(id);
const checkpoint = new StateStore(`${dir}/state`).checkpoint<string>("optical.archive");
let logged = 0;
const pipeline = new Pipeline({
  events: await openEventLog({ dir: `${dir}/events`, fsync: "always" }),
  deadLetters: await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "always" }),
  dedupe,
  onDurable(batches) {
    for (const batch of batches) logged += batch.observations;
    say(`logged ${logged}`);
  },
});
const source = new OpticalHttpSource({
  name: "archive",
  url,
  pageSize: Number(pageSize),
  pollIntervalMs: 50,
  checkpoint,
});
pipeline.add(source.readable);
await source.started;
say(`started ${source.cursor ?? "-"}`);
while (source.status().counters.empty_pages === 0) {
  await new Promise((resolve) => setTimeout(resolve, 10));
}
await source.stop();
pipeline.close();
await pipeline.done;
say("done");
