/**
 * `/health` degraded by dead letters (issue 11): a source whose recent inputs
 * are all dead letters is reported degraded, with the reason, from the
 * pipeline's own view of what each source sent.
 */

import assert from "node:assert/strict";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import { DedupeWindow } from "../../operators/dedupe_window.ts";
import { type IngestBatch, ingestBatch } from "../../operators/ingest_batch.ts";
import { healthDocument } from "../../service/http_server.ts";
import { StatusBoard } from "../../service/status_board.ts";
import { ServiceMetrics } from "../../service/metrics.ts";
import { DEGRADED_AFTER_INPUTS, Pipeline } from "../../service/pipeline.ts";
import { openDeadLetterLog, openEventLog } from "../../sinks/event_log.ts";
import type { Source } from "../../sources/source.ts";
import { radarObservation, removeDir } from "../_observations.ts";

function letter(source: string, i: number): DeadLetter {
  return {
    v: 1,
    t_rx: "2026-11-25T12:00:00.000000Z",
    source,
    format: "udl-eo-csv",
    peer: "http://127.0.0.1/udl",
    stage: "decoding",
    reason: `Unsupported Content-Type: "text/html" (page ${i})`,
    raw: "<html>",
  };
}

/** A pipeline fed by hand, one batch at a time. */
async function feedable() {
  const dir = await Deno.makeTempDir({ prefix: "sda-health-" });
  const pipeline = new Pipeline({
    events: await openEventLog({ dir: `${dir}/events`, fsync: "never" }),
    deadLetters: await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "never" }),
    dedupe: new DedupeWindow(1000),
  });
  const controllers = new Map<string, ReadableStreamDefaultController<IngestBatch>>();
  const add = (name: string) =>
    pipeline.add(new ReadableStream({ start: (c) => void controllers.set(name, c) }), name);
  const settle = () => new Promise((r) => setTimeout(r, 50));
  return {
    pipeline,
    add,
    async send(batch: IngestBatch) {
      controllers.get(batch.source)!.enqueue(batch);
      await settle();
    },
    async close() {
      for (const c of controllers.values()) c.close();
      pipeline.close();
      await pipeline.done;
      await removeDir(dir);
    },
  };
}

function source(name: string): Source {
  return {
    name,
    kind: "optical",
    readable: new ReadableStream(),
    started: Promise.resolve(),
    stop: () => Promise.resolve(),
    status: () => ({ state: "up", counters: {} }),
  };
}

function health(pipeline: Pipeline, names: string[]) {
  return healthDocument({
    metrics: new ServiceMetrics(),
    sources: () => names.map(source),
    pipeline: () => pipeline,
    ready: () => true,
    phase: () => "running",
    offsets: () => ({ events: 0, deadLetters: 0 }),
    startedAt: Date.now(),
  }) as { status: string; sources: Record<string, Record<string, unknown>> };
}

Deno.test("healthDocument() reports a source degraded, with the reason, when its last inputs were all dead letters", async () => {
  const t = await feedable();
  try {
    t.add("archive");
    t.add("xr1");
    await t.send(ingestBatch("xr1", [radarObservation(1)]));
    for (let i = 0; i < DEGRADED_AFTER_INPUTS - 1; i++) {
      await t.send(ingestBatch("archive", [], [letter("archive", i)]));
    }
    assert.equal(t.pipeline.degradation("archive"), undefined);
    assert.equal(health(t.pipeline, ["archive", "xr1"]).status, "ok");
    await t.send(ingestBatch("archive", [], [letter("archive", 99)]));
    const doc = health(t.pipeline, ["archive", "xr1"]);
    assert.equal(doc.status, "degraded");
    assert.equal(doc.sources.archive.state, "degraded");
    assert.match(
      String(doc.sources.archive.degraded_by),
      /^Every input for \d+ s was a dead letter \(100 in a row, no observation\); last: decoding: Unsupported Content-Type: "text\/html" \(page 99\)$/,
    );
    assert.equal(doc.sources.xr1.state, "up");
    assert.equal("degraded_by" in doc.sources.xr1, false);
    // The status page and sda_ingest_source_up say the same (they read the
    // source's own "up").
    const sources = () => ["archive", "xr1"].map(source);
    const board = new StatusBoard({
      metrics: new ServiceMetrics(),
      sources,
      pipeline: () => t.pipeline,
      offsets: () => ({ events: 0, deadLetters: 0 }),
      ready: () => true,
      phase: () => "running",
      logs: { events: "e", deadLetters: "d", fsync: "always", fsyncIntervalMs: 100 },
      startedAt: Date.now(),
    });
    board.sample();
    const page = await board.document();
    assert.equal(page.status, "degraded");
    assert.deepEqual(page.sources.map((s) => [s.name, s.state]), [
      ["archive", "degraded"],
      ["xr1", "up"],
    ]);
    assert.match(
      page.banners[0].text,
      /^Source archive is degraded: Every input for \d+ s was a dead letter/,
    );
    const metrics = new ServiceMetrics();
    const log = { nextOffset: 0, stats: {} as never };
    metrics.attach({ pipeline: t.pipeline, sources, events: log, deadLetters: log });
    const text = await metrics.text();
    assert.match(text, /^sda_ingest_source_up\{source="archive"\} 0$/m);
    assert.match(text, /^sda_ingest_source_up\{source="xr1"\} 1$/m);
    // One observation and it is up again.
    await t.send(ingestBatch("archive", [radarObservation(2, "archive")]));
    assert.equal(health(t.pipeline, ["archive", "xr1"]).status, "ok");
  } finally {
    await t.close();
  }
});

Deno.test("Pipeline.degradation() counts a slow source that sends only dead letters for 30 s", async () => {
  const t = await feedable();
  try {
    t.add("archive");
    for (let i = 0; i < 3; i++) await t.send(ingestBatch("archive", [], [letter("archive", i)]));
    assert.equal(t.pipeline.degradation("archive"), undefined);
    assert.match(t.pipeline.degradation("archive", Date.now() + 30_000)!, /3 in a row/);
    // Dead letters after the last observation of a batch continue a run; before it, not.
    await t.send({
      ...ingestBatch("archive", [radarObservation(1, "archive")], [
        letter("archive", 3),
        letter("archive", 4),
      ]),
      deadLetterAt: [0, 1],
    });
    assert.equal(t.pipeline.degradation("archive", Date.now() + 60_000), undefined);
    await t.send(ingestBatch("archive", [], [letter("archive", 5), letter("archive", 6)]));
    assert.match(t.pipeline.degradation("archive", Date.now() + 60_000)!, /3 in a row/);
  } finally {
    await t.close();
  }
});

Deno.test("healthDocument() reports a source whose stream failed as down, with the failure", async () => {
  const t = await feedable();
  try {
    t.pipeline.add(
      new ReadableStream({ pull: (c) => c.error(new Error("Injected source failure")) }),
      "isl",
    );
    await new Promise((r) => setTimeout(r, 50));
    const doc = health(t.pipeline, ["isl"]);
    assert.equal(doc.status, "degraded");
    assert.equal(doc.sources.isl.state, "down");
    assert.equal(doc.sources.isl.failure, "Error: Injected source failure");
  } finally {
    await t.close();
  }
});
