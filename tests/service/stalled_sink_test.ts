/**
 * Issue 16: with decode workers, a stalled sink still stops every archive
 * request and every gateway poll, not only socket reads (the radar side is
 * tests/sources/radar/tcp_adapter_test.ts), and nothing is lost once it
 * resumes.
 */

import assert from "node:assert/strict";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import { DedupeWindow } from "../../operators/dedupe_window.ts";
import { parseConfig } from "../../service/config.ts";
import { Pipeline } from "../../service/pipeline.ts";
import { createSource } from "../../service/source_factory.ts";
import { StateStore } from "../../service/state_store.ts";
import { ArchiveSim } from "../../sim/archive.ts";
import { startIslSim } from "../../sim/isl.ts";
import { openDeadLetterLog, openEventLog } from "../../sinks/event_log.ts";
import { readAllLines, removeDir } from "../_observations.ts";
import { testWorkers } from "../_workers.ts";

async function until(what: string, condition: () => boolean, ms = 20_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Not within ${ms} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Waits until `read()` has not changed for 500 ms; returns it. */
async function settled(read: () => number): Promise<number> {
  let value = read();
  for (let quiet = 0; quiet < 5;) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const now = read();
    quiet = now === value ? quiet + 1 : 0;
    value = now;
  }
  return value;
}

Deno.test("with decode workers a stalled sink stops the archive requests and the gateway polls, and everything arrives once it resumes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-stalled-" });
  const records = 20_000;
  const beacons = 20_000;
  const archive = new ArchiveSim({ count: records });
  const gateway = await startIslSim({ port: 0, rate: 0, prefill: beacons, ring: 2 * beacons });
  // Decode workers as the service would run them here, at least one.
  const workers = await testWorkers(Math.max(1, navigator.hardwareConcurrency - 1));
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  let sinkWrites = 0;
  try {
    await archive.ready;
    const config = parseConfig({
      sources: [
        { name: "archive", kind: "optical", url: archive.url, pageSize: 500, pollIntervalMs: 50 },
        {
          name: "isl",
          kind: "isl",
          gateways: [{ hostname: "127.0.0.1", port: gateway.port }],
          pollIntervalMs: 20,
          maxPackets: 256,
        },
      ],
    });
    const store = new StateStore(`${dir}/state`);
    const sources = config.sources.map((c) => createSource(c, store, { workers }));
    const pipeline = new Pipeline({
      events: await openEventLog({ dir: `${dir}/events`, fsync: "interval" }),
      deadLetters: await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "interval" }),
      dedupe: new DedupeWindow(1_000_000),
      highWaterMark: 4,
      // The log behind a sink that takes nothing until the gate opens.
      sink: (log) => {
        const writer = log.getWriter();
        return new WritableStream<IngestBatch[]>({
          async write(batches) {
            sinkWrites++;
            await gate;
            await writer.write(batches);
          },
          async close() {
            await writer.close();
          },
        });
      },
    });
    for (const source of sources) {
      await source.started;
      pipeline.add(source.readable);
    }
    await until("the first write", () => sinkWrites === 1);
    const requests = await settled(() => archive.counters.requests);
    const polls = await settled(() => gateway.counters.polls);
    // Stalled: not one more request or poll for 1.5 s.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(archive.counters.requests, requests, "archive requests went on");
    assert.equal(gateway.counters.polls, polls, "gateway polls went on");
    assert.equal(sinkWrites, 1);
    // Bounded by the queues between source and sink, not by what there is
    // to fetch: a few 500-record pages of 20,000 and a few answers of 256
    // beacons of 20,000.
    assert.ok(requests <= 12, `${requests} archive requests while stalled`);
    assert.ok(polls <= 12, `${polls} gateway polls while stalled`);

    open();
    await until(
      "everything logged",
      () =>
        pipeline.counts("archive").observations === records &&
        pipeline.counts("isl").observations === beacons,
      60_000,
    );
    for (const source of sources) await source.stop();
    pipeline.close();
    await pipeline.done;
    const lines = await readAllLines(`${dir}/events`);
    assert.equal(lines.length, records + beacons);
    assert.equal(new Set(lines.map((l) => JSON.parse(l).id)).size, records + beacons);
  } finally {
    open();
    workers?.close();
    await archive.stop();
    await gateway.stop();
    await removeDir(dir);
  }
});
