import assert from "node:assert/strict";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import { Ack } from "../../operators/ack.ts";
import { DedupeWindow } from "../../operators/dedupe_window.ts";
import { type IngestBatch, ingestBatch } from "../../operators/ingest_batch.ts";
import { openDeadLetterLog, openEventLog, readRecentIds } from "../../sinks/event_log.ts";
import { packObservations } from "../../operators/pack_observations.ts";
import { FanOutSink } from "../../sinks/fan_out_sink.ts";
import { Pipeline } from "../../service/pipeline.ts";
import {
  radarObservation,
  readAllLines,
  readAllObservations,
  removeDir,
} from "../_observations.ts";

const deadLetter = (reason: string): DeadLetter => ({
  v: 1,
  t_rx: "2026-11-25T12:00:00.000000Z",
  source: "xr1",
  format: "ccsds-tdm-kvn",
  peer: "127.0.0.1:1",
  stage: "decoding",
  reason,
  raw: "X = 1",
});

async function openPipeline(
  dir: string,
  options: Partial<ConstructorParameters<typeof Pipeline>[0]> = {},
) {
  const events = await openEventLog({ dir: `${dir}/events`, fsync: "always" });
  const deadLetters = await openDeadLetterLog({ dir: `${dir}/dead` });
  const dedupe = new DedupeWindow(1000);
  for (const id of await readRecentIds(`${dir}/events`, 1000)) dedupe.add(id);
  return new Pipeline({ events, deadLetters, dedupe, ...options });
}

Deno.test("Pipeline() logs merged sources once each, dead letters apart, and acks after durability", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-pipe-" });
  try {
    const pipeline = await openPipeline(dir);
    const acks: Ack[] = [];
    const source = (name: string, from: number) =>
      ReadableStream.from(Array.from({ length: 10 }, (_, b) => {
        const ack = new Ack();
        acks.push(ack);
        const observations = Array.from(
          { length: 10 },
          (_, i) => radarObservation(from + b * 10 + i, name),
        );
        return ingestBatch(name, observations, b === 3 ? [deadLetter(`bad ${name}`)] : [], [ack]);
      }));
    pipeline.add(source("a", 0));
    pipeline.add(source("b", 1000));
    // A re-delivery of a's first batch: every one a duplicate.
    pipeline.add(
      ReadableStream.from([ingestBatch(
        "a",
        Array.from({ length: 10 }, (_, i) => radarObservation(i, "a")),
      )]),
    );
    pipeline.close();
    await pipeline.done;
    await Promise.all(acks.map((a) => a.done));
    const logged = await readAllObservations(`${dir}/events`);
    assert.equal(logged.length, 200);
    assert.equal(new Set(logged.map((o) => o.id)).size, 200);
    assert.equal(pipeline.counts("a").observations, 100);
    assert.equal(pipeline.counts("b").observations, 100);
    assert.equal(pipeline.counts("a").duplicates, 10);
    assert.equal(pipeline.counts("a").deadLetters.decoding, 1);
    const dead = await readAllLines(`${dir}/dead`);
    assert.deepEqual(dead.map((l) => JSON.parse(l).reason).sort(), ["bad a", "bad b"]);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("Pipeline() after a restart does not log again what the log already had", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-pipe-" });
  try {
    const first = await openPipeline(dir);
    first.add(ReadableStream.from([ingestBatch("a", [0, 1, 2].map((i) => radarObservation(i)))]));
    first.close();
    await first.done;
    const second = await openPipeline(dir);
    second.add(ReadableStream.from([ingestBatch("a", [1, 2, 3].map((i) => radarObservation(i)))]));
    second.close();
    await second.done;
    const ids = (await readAllObservations(`${dir}/events`)).map((o) => o.id);
    assert.deepEqual(ids, [0, 1, 2, 3].map((i) => radarObservation(i).id));
    assert.equal(second.counts("a").duplicates, 2);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("Pipeline() with a second sink: an ack settles only when both sinks released it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-pipe-" });
  try {
    let releaseRemote: () => void = () => {};
    const remoteGate = new Promise<void>((r) => (releaseRemote = r));
    const remote = new WritableStream<IngestBatch[]>({
      write(batches) {
        remoteGate.then(() => {
          for (const b of batches) for (const ack of b.acks) ack.release();
        });
      },
    });
    const pipeline = await openPipeline(dir, { sink: (log) => new FanOutSink([log, remote]) });
    const ack = new Ack();
    pipeline.add(ReadableStream.from([ingestBatch("a", [radarObservation(1)], [], [ack])]));
    pipeline.close();
    await pipeline.done;
    // Durable in the log, but the remote sink has not acknowledged yet.
    assert.equal((await readAllLines(`${dir}/events`)).length, 1);
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(ack.state, "pending");
    releaseRemote();
    await ack.done;
    assert.equal(ack.state, "done");
  } finally {
    await removeDir(dir);
  }
});

Deno.test("Pipeline() logs packed batches byte for byte as their observations, repeats dropped by their packed ids, memory released once written", async () => {
  const dirs = [await Deno.makeTempDir({ prefix: "sda-pipe-" }), await Deno.makeTempDir()];
  try {
    const all = Array.from({ length: 40 }, (_, i) => radarObservation(i));
    // Objects in one log; the same, packed, in the other; both with repeats
    // inside a batch, across batches and across the two kinds of batch.
    const batches = (packed: boolean): IngestBatch[] =>
      [all.slice(0, 15), [...all.slice(10, 30), all[3]], all.slice(25, 40)].map((part, k) => {
        if (!packed || k === 2) return { ...ingestBatch("xr1", part), receivedAt: 1 };
        const batch: IngestBatch = { ...ingestBatch("xr1"), receivedAt: 1 };
        batch.packed = packObservations(part);
        batch.packed.release = () => released++;
        return batch;
      });
    let released = 0;
    const logged: string[][] = [];
    for (const [i, packed] of [false, true].entries()) {
      const pipeline = await openPipeline(dirs[i]);
      pipeline.add(ReadableStream.from(batches(packed)), "xr1");
      pipeline.close();
      await pipeline.done;
      assert.equal(pipeline.counts("xr1").observations, 40);
      assert.equal(pipeline.counts("xr1").duplicates, 11);
      logged.push(await readAllLines(`${dirs[i]}/events`));
    }
    assert.deepEqual(logged[1], logged[0]);
    assert.equal(logged[0].length, 40);
    assert.equal(released, 2);
  } finally {
    for (const dir of dirs) await removeDir(dir);
  }
});
