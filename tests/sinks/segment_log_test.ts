import assert from "node:assert/strict";
import type { Observation } from "../../envelope/observation.ts";
import { serializeObservation } from "../../envelope/serialize.ts";
import { Ack } from "../../operators/ack.ts";
import { ingestBatch } from "../../operators/ingest_batch.ts";
import { DedupeWindow } from "../../operators/dedupe_window.ts";
import {
  fillDedupeWindow,
  openDeadLetterLog,
  openEventLog,
  readDeadLetterLog,
  readEventLog,
  readRecentIds,
} from "../../sinks/event_log.ts";
import { DirectoryInUseError } from "../../sinks/dir_lock.ts";
import { IngestSink } from "../../sinks/ingest_sink.ts";
import { readLogLines } from "../../sinks/log_reader.ts";
import { type LogFile, SegmentLog, segmentName } from "../../sinks/segment_log.ts";
import { radarObservation, removeDir } from "../_observations.ts";

Deno.test("SegmentLog() writes 1,000,000 observations across segments and reads them back from 0 and from mid-segment", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const log = await openEventLog({ dir, segmentBytes: 48 * 1024 * 1024, fsync: "never" });
    const total = 1_000_000;
    const template = Array.from({ length: 1000 }, (_, i) => radarObservation(i));
    for (let start = 0; start < total; start += 10_000) {
      const batch: Observation[] = [];
      for (let i = start; i < start + 10_000; i++) {
        // Distinct records cheaply: the template with the offset as ref.
        const o = template[i % 1000];
        batch.push({ ...o, provenance: { ...o.provenance, ref: String(i) } });
      }
      const result = await log.append(batch);
      assert.equal(result.first, start);
    }
    assert.equal(log.nextOffset, total);
    await log.close();

    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    assert.ok(names.length >= 5, `only ${names.length} segments`);
    assert.equal(names[0], "00000000000000000000.jsonl");
    // Each segment is named by the offset of its first record and stays within bounds.
    let expectedBase = 0;
    for (const name of names) {
      assert.equal(name, segmentName(expectedBase));
      const text = await Deno.readTextFile(`${dir}/${name}`);
      assert.ok(new TextEncoder().encode(text).length <= 48 * 1024 * 1024);
      const first = JSON.parse(text.slice(0, text.indexOf("\n")));
      assert.equal(first.provenance.ref, String(expectedBase));
      expectedBase += text.split("\n").length - 1;
    }
    assert.equal(expectedBase, total);

    let count = 0;
    for await (const { offset, observation } of readEventLog(dir)) {
      if (offset !== count || observation.provenance.ref !== String(count)) {
        assert.fail(`record ${count} read as offset ${offset} ref ${observation.provenance.ref}`);
      }
      count++;
    }
    assert.equal(count, total);

    // From the middle of the second segment.
    const secondBase = Number(names[1].slice(0, 20));
    const from = secondBase + 12_345;
    const tail = [];
    for await (const record of readEventLog(dir, { from })) {
      tail.push(record.offset);
      if (tail.length === 3) break;
    }
    assert.deepEqual(tail, [from, from + 1, from + 2]);
    let rest = 0;
    for await (const { offset } of readLogLines(dir, { from: total - 5 })) {
      assert.equal(offset, total - 5 + rest++);
    }
    assert.equal(rest, 5);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("SegmentLog() truncates a half-written last line and appends continue at the right offset", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const log = await openEventLog({ dir, segmentBytes: 2000 });
    const records = Array.from({ length: 12 }, (_, i) => radarObservation(i));
    await log.append(records);
    await log.close();
    const names = [...Deno.readDirSync(dir)].map((e) => e.name).sort();
    const last = `${dir}/${names[names.length - 1]}`;
    const before = await Deno.readFile(last);
    // A crash in the middle of writing record 12.
    const torn = serializeObservation(radarObservation(12)).slice(0, 77);
    await Deno.writeTextFile(last, torn, { append: true });

    const reopened = await openEventLog({ dir, segmentBytes: 2000 });
    assert.equal(reopened.recoveredBytes, 77);
    assert.equal(reopened.nextOffset, 12);
    assert.deepEqual(await Deno.readFile(last), before);
    const { first } = await reopened.append([radarObservation(100)]);
    assert.equal(first, 12);
    await reopened.close();

    const all = await Array.fromAsync(readEventLog(dir));
    assert.equal(all.length, 13);
    assert.deepEqual(all.map((r) => r.offset), [...Array(13).keys()]);
    assert.equal(all[12].observation.id, radarObservation(100).id);
    assert.equal(all[11].observation.id, records[11].id);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("readEventLog() with follow, started before the writer, sees every record exactly once across rotations", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const controller = new AbortController();
    const seen: number[] = [];
    const follower = (async () => {
      for await (
        const { offset, observation } of readEventLog(`${dir}/events`, {
          follow: true,
          pollIntervalMs: 5,
          signal: controller.signal,
        })
      ) {
        assert.equal(observation.provenance.ref, `MSG-1#0@${offset * 5 + 10}`);
        seen.push(offset);
        if (seen.length === 3000) controller.abort();
      }
    })();
    await new Promise((r) => setTimeout(r, 30));
    const log = await openEventLog({
      dir: `${dir}/events`,
      segmentBytes: 64 * 1024,
      fsync: "interval",
      fsyncIntervalMs: 5,
    });
    for (let i = 0; i < 3000; i += 100) {
      await log.append(Array.from({ length: 100 }, (_, j) => radarObservation(i + j)));
      await new Promise((r) => setTimeout(r, 1));
    }
    await follower;
    await log.close();
    assert.equal(seen.length, 3000);
    assert.deepEqual(seen, [...Array(3000).keys()]);
    assert.ok([...Deno.readDirSync(`${dir}/events`)].length > 5);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("readLogLines() without follow stops before a partial last line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    await Deno.writeTextFile(`${dir}/${segmentName(0)}`, '{"a":1}\n{"a":2}\n{"a":');
    const lines = await Array.fromAsync(readLogLines(dir));
    assert.deepEqual(lines, [{ offset: 0, line: '{"a":1}' }, { offset: 1, line: '{"a":2}' }]);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("readLogLines() reports a damaged log instead of ending early: missing records, a torn record mid-log, overlapping segments", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  const records = (from: number, to: number) =>
    Array.from({ length: to - from }, (_, i) => `{"n":${from + i}}\n`).join("");
  const write = async (segments: Record<number, string>) => {
    for await (const entry of Deno.readDir(dir)) await Deno.remove(`${dir}/${entry.name}`);
    for (const [base, text] of Object.entries(segments)) {
      await Deno.writeTextFile(`${dir}/${segmentName(Number(base))}`, text);
    }
  };
  const read = async (from = 0) => {
    const got: number[] = [];
    try {
      for await (const { offset } of readLogLines(dir, { from })) got.push(offset);
      return { got, error: undefined };
    } catch (error) {
      return { got, error: (error as Error).message };
    }
  };
  try {
    // The middle segment (records 2…3) deleted: the old reader ended at 2, exit 0.
    await write({ 0: records(0, 2), 4: records(4, 6) });
    assert.deepEqual(await read(), {
      got: [0, 1],
      error: `Damaged log: records 2…3 are missing (${dir}/${segmentName(0)} ends at 2, ` +
        `the next segment is ${dir}/${segmentName(4)})`,
    });
    assert.deepEqual((await read(3)).got, []);
    // A record cut short inside the log (not at its end, where the writer may be).
    await write({ 0: records(0, 2) + '{"n":', 3: records(3, 5) });
    assert.deepEqual(await read(), {
      got: [0, 1],
      error: `Damaged log: ${dir}/${segmentName(0)} ends inside record 2 (no line end), and ` +
        `${dir}/${segmentName(3)} follows it`,
    });
    // A segment renamed into the range of the one before it.
    await write({ 0: records(0, 4), 2: records(4, 6) });
    assert.deepEqual(await read(), {
      got: [0, 1, 2, 3],
      error: `Damaged log: ${dir}/${segmentName(2)} starts at record 2, inside ` +
        `${dir}/${segmentName(0)} (records 0…3)`,
    });
    // Whole, it reads to the end; a torn last record is the writer's, not damage.
    await write({ 0: records(0, 2), 2: records(2, 4) + '{"n":' });
    assert.deepEqual(await read(), { got: [0, 1, 2, 3], error: undefined });
  } finally {
    await removeDir(dir);
  }
});

Deno.test("fillDedupeWindow() leaves out lines of a damaged log that are not observations", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const a = radarObservation(1);
    const b = radarObservation(2);
    await Deno.writeTextFile(
      `${dir}/${segmentName(0)}`,
      [serializeObservation(a), "null", "garbage line", '{"v":1}', serializeObservation(b)]
        .join("\n") + "\n",
    );
    // The old rebuild threw ("Cannot read properties of null"): serve did not start.
    const window = new DedupeWindow(10);
    assert.equal(await fillDedupeWindow(dir, window), 2);
    assert.deepEqual(await readRecentIds(dir, 10), [a.id, b.id]);
    assert.equal(window.has(a.id) && window.has(b.id), true);
  } finally {
    await removeDir(dir);
  }
});

/** A real file whose calls are recorded in `calls`. */
function recordingOpen(calls: string[]): (path: string) => Promise<LogFile> {
  return async (path) => {
    const file = await Deno.open(path, { create: true, append: true });
    return {
      async write(bytes) {
        calls.push("write");
        return await file.write(bytes);
      },
      async syncData() {
        calls.push("sync:start");
        await new Promise((r) => setTimeout(r, 2));
        await file.syncData();
        calls.push("sync:end");
      },
      truncate(length) {
        calls.push("truncate");
        return file.truncate(length);
      },
      close() {
        file.close();
      },
    };
  };
}

Deno.test("IngestSink() with fsync always never releases an ack before its fdatasync", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const calls: string[] = [];
    const events = await openEventLog({
      dir: `${dir}/events`,
      fsync: "always",
      openFile: recordingOpen(calls),
    });
    const deadLetters = await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "always" });
    calls.length = 0; // ignore opening
    const batches = Array.from({ length: 20 }, (_, i) => {
      const ack = new Ack();
      ack.done.then(() => calls.push(`ack:${i}`));
      return ingestBatch("xr1", [radarObservation(i)], [], [ack]);
    });
    await ReadableStream.from(batches).pipeTo(new IngestSink({ events, deadLetters }));
    await Promise.all(batches.map((b) => b.acks[0].done));
    await events.close();
    await deadLetters.close();
    for (let i = 0; i < 20; i++) {
      const ack = calls.indexOf(`ack:${i}`);
      // The write of batch i is the (i+1)-th write; its sync must end before the ack.
      const writes = calls.flatMap((c, j) => (c === "write" ? [j] : []));
      const syncEnd = calls.indexOf("sync:end", writes[i]);
      assert.ok(syncEnd > writes[i] && syncEnd < ack, `batch ${i}: ${calls.join(" ")}`);
    }
    // Acks come out in order.
    const acks = calls.filter((c) => c.startsWith("ack:"));
    assert.deepEqual(acks, batches.map((_, i) => `ack:${i}`));
  } finally {
    await removeDir(dir);
  }
});

Deno.test("SegmentLog() refuses a second writer of its directory at once, in this process and in another, and lets go on close and when the process dies", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  const serialize = (n: number) => JSON.stringify({ n });
  try {
    const first = await SegmentLog.open({ dir, serialize });
    await first.append([1, 2]);
    await assert.rejects(SegmentLog.open({ dir, serialize }), DirectoryInUseError);
    // Another process: refused too (flock), the first writer's records untouched.
    const script = `import { SegmentLog } from ${
      JSON.stringify(
        new URL("../../sinks/segment_log.ts", import.meta.url).href,
      )
    };
      try { await SegmentLog.open({ dir: Deno.args[0], serialize: String }); console.log("opened"); }
      catch (error) { console.log(error.name); }`;
    const other = async () =>
      new TextDecoder().decode(
        (await new Deno.Command(Deno.execPath(), {
          args: ["eval", "--quiet", script, dir],
          stdout: "piped",
          stderr: "inherit",
        }).output()).stdout,
      ).trim();
    assert.equal(await other(), "DirectoryInUseError");
    await first.close();
    assert.equal(await other(), "opened"); // and that process ended without closing it
    const again = await SegmentLog.open({ dir, serialize });
    assert.equal(again.nextOffset, 2);
    await again.close();
  } finally {
    await removeDir(dir);
  }
});

Deno.test("SegmentLog() refuses to open with something else where its free-space probe file goes, and names it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    // A directory by that name read as a full disk: open went on, not
    // ready, retrying for ever; a symbolic link had its target truncated.
    await Deno.mkdir(`${dir}/.space-probe/kept`, { recursive: true });
    await assert.rejects(
      SegmentLog.open({ dir, serialize: String }),
      (error: Error) => {
        assert.ok(error instanceof Deno.errors.AlreadyExists, String(error));
        assert.match(error.message, /\.space-probe is a directory: .*move it away/);
        return true;
      },
    );
    // Nothing of it left behind, the directory unlocked: open works once it is moved.
    assert.ok((await Deno.lstat(`${dir}/.space-probe/kept`)).isDirectory);
    await Deno.remove(`${dir}/.space-probe`, { recursive: true });
    await Deno.writeTextFile(`${dir}/elsewhere`, "precious");
    await Deno.symlink(`${dir}/elsewhere`, `${dir}/.space-probe`);
    await assert.rejects(SegmentLog.open({ dir, serialize: String }), /is a symbolic link/);
    assert.equal(await Deno.readTextFile(`${dir}/elsewhere`), "precious");
    await Deno.remove(`${dir}/.space-probe`);
    // A left-over probe file (a crash during the probe) is simply used again.
    await Deno.writeTextFile(`${dir}/.space-probe`, "x");
    const log = await SegmentLog.open({ dir, serialize: String });
    assert.equal(log.problem, undefined);
    await log.append(["a"]);
    await log.close();
    await assert.rejects(Deno.lstat(`${dir}/.space-probe`), Deno.errors.NotFound);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("SegmentLog() refuses to open over a gap or an overlap between its last two segments, or a torn record before the last", async () => {
  const serialize = (n: number) => JSON.stringify({ n });
  const make = async () => {
    const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
    const log = await SegmentLog.open({ dir, serialize, segmentBytes: 20 });
    await log.append([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await log.close();
    return dir;
  };
  const dirs: string[] = [];
  try {
    const healthy = await make();
    dirs.push(healthy);
    const segments = [...Deno.readDirSync(healthy)].map((e) => e.name).sort();
    assert.ok(segments.length >= 3, segments.join());
    const reopened = await SegmentLog.open({ dir: healthy, serialize, segmentBytes: 20 });
    assert.equal(reopened.nextOffset, 10);
    await reopened.close();

    const gap = await make();
    dirs.push(gap);
    await Deno.writeTextFile(`${gap}/${segmentName(99)}`, "");
    await assert.rejects(
      SegmentLog.open({ dir: gap, serialize }),
      /^Error: Damaged log: records 10…98 are missing: .* Not writing over it/,
    );
    const overlap = await make();
    dirs.push(overlap);
    await Deno.writeTextFile(`${overlap}/${segmentName(9)}`, "");
    await assert.rejects(
      SegmentLog.open({ dir: overlap, serialize }),
      /Damaged log: .*00000000000000000009\.jsonl starts at record 9, inside /,
    );
    const torn = await make();
    dirs.push(torn);
    const names = [...Deno.readDirSync(torn)].map((e) => e.name).sort();
    const beforeLast = `${torn}/${names.at(-2)}`;
    const text = await Deno.readTextFile(beforeLast);
    await Deno.writeTextFile(beforeLast, text.slice(0, -3));
    await assert.rejects(
      SegmentLog.open({ dir: torn, serialize }),
      /Damaged log: .* ends inside record \d+ \(no line end\)/,
    );
    // Nothing was changed by the refusals.
    assert.equal(await Deno.readTextFile(beforeLast), text.slice(0, -3));
  } finally {
    for (const dir of dirs) await removeDir(dir);
  }
});

Deno.test("SegmentLog() group-commits appends queued during a sync into one write and one sync", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const calls: string[] = [];
    const log = await openEventLog({ dir, fsync: "always", openFile: recordingOpen(calls) });
    calls.length = 0;
    const appends = Array.from({ length: 50 }, (_, i) => log.append([radarObservation(i)]));
    const results = await Promise.all(appends);
    assert.deepEqual(results.map((r) => r.first), [...Array(50).keys()]);
    // The first append goes alone; the other 49 queued behind its sync go as one group.
    assert.deepEqual(calls, ["write", "sync:start", "sync:end", "write", "sync:start", "sync:end"]);
    assert.equal(log.stats.syncs, 2);
    await log.close();
  } finally {
    await removeDir(dir);
  }
});

Deno.test("SegmentLog() with fsync interval reports durability only after the interval's sync", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const calls: string[] = [];
    const log = await openEventLog({
      dir,
      fsync: "interval",
      fsyncIntervalMs: 200,
      openFile: recordingOpen(calls),
    });
    calls.length = 0;
    const durable = [];
    for (let i = 0; i < 5; i++) {
      const result = await log.append([radarObservation(i)]);
      durable.push(result.durable.then(() => calls.push(`durable:${i}`)));
    }
    await Promise.all(durable);
    // Each append becomes durable only after a sync that began after its
    // write (not on a clock: a slow machine may take longer than the
    // interval between two writes, and then the sync falls between them).
    const writes = calls.flatMap((c, j) => (c === "write" ? [j] : []));
    assert.equal(writes.length, 5, calls.join(" "));
    for (let i = 0; i < 5; i++) {
      const syncStart = calls.indexOf("sync:start", writes[i]);
      const syncEnd = calls.indexOf("sync:end", syncStart);
      const at = calls.indexOf(`durable:${i}`);
      assert.ok(syncStart > writes[i] && syncEnd < at, `append ${i}: ${calls.join(" ")}`);
    }
    // On the interval, not per write: five writes in far less than 200 ms.
    assert.ok(calls.filter((c) => c === "sync:start").length < 5, calls.join(" "));
    await log.close();
  } finally {
    await removeDir(dir);
  }
});

Deno.test("SegmentLog() with fsync interval still syncs under a steady stream of writes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const log = await openEventLog({ dir, fsync: "interval", fsyncIntervalMs: 10 });
    let durable = 0;
    const until = Date.now() + 200;
    const pending = [];
    // Keep the writer busy: never let the queue drain.
    while (Date.now() < until) {
      const p = log.append([radarObservation(durable)]).then((r) => r.durable).then(() => {
        durable++;
      });
      pending.push(p);
      if (pending.length % 50 === 0) await pending[pending.length - 25];
    }
    await Promise.all(pending);
    assert.equal(durable, pending.length);
    assert.ok(log.stats.syncs >= 2, `syncs ${log.stats.syncs}`);
    await log.close();
  } finally {
    await removeDir(dir);
  }
});

Deno.test("the dead-letter log uses the same machinery", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const log = await openDeadLetterLog({ dir, segmentBytes: 300 });
    for (let i = 0; i < 5; i++) {
      await log.append([{
        v: 1,
        t_rx: "2026-11-25T12:00:00.000000Z",
        source: "isl",
        format: "isl-spp",
        peer: "127.0.0.1:7003",
        stage: "framing",
        reason: `Bad CRC ${i}`,
        raw: { base64: "AAEC" },
      }]);
    }
    await log.close();
    const records = await Array.fromAsync(readDeadLetterLog(dir));
    assert.deepEqual(
      records.map((r) => r.deadLetter.reason),
      [0, 1, 2, 3, 4].map((i) => `Bad CRC ${i}`),
    );
    assert.ok([...Deno.readDirSync(dir)].length >= 2);
  } finally {
    await removeDir(dir);
  }
});

/** Writes `count` radar observations to a fresh event log in `dir`, in segments of `segmentBytes`. */
async function writeRadarLog(
  dir: string,
  count: number,
  segmentBytes: number,
): Promise<Observation[]> {
  const log = await openEventLog({ dir, segmentBytes, fsync: "never" });
  const records = Array.from({ length: count }, (_, i) => radarObservation(i));
  await log.append(records);
  await log.close();
  return records;
}

/** Appends `text` to the newest segment in `dir`, as another writer would. */
async function appendToNewestSegment(dir: string, text: string): Promise<void> {
  const newest = [...Deno.readDirSync(dir)].map((e) => e.name).sort().at(-1)!;
  await Deno.writeTextFile(`${dir}/${newest}`, text, { append: true });
}

Deno.test("readRecentIds() returns the newest ids across segments, oldest first", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const records = await writeRadarLog(dir, 100, 4096);
    assert.deepEqual(await readRecentIds(dir, 30), records.slice(70).map((o) => o.id));
    assert.deepEqual(await readRecentIds(dir, 1000), records.map((o) => o.id));
  } finally {
    await removeDir(dir);
  }
});

Deno.test("readRecentIds() takes every count across segment edges, skips a torn tail and parses lines of another writer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const records = await writeRadarLog(dir, 40, 2048);
    const ids = records.map((o) => o.id);
    for (let count = 1; count <= 41; count++) {
      assert.deepEqual(await readRecentIds(dir, count), ids.slice(Math.max(0, 40 - count)));
    }
    // A line whose keys are in another order, then a torn one (no newline).
    const other = { id: "0123456789abcdef0123456789abcdef", v: 1 };
    await appendToNewestSegment(dir, JSON.stringify(other) + '\n{"v":1,"id":"ff');
    assert.deepEqual(await readRecentIds(dir, 2), [ids[39], other.id]);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("fillDedupeWindow() fills the window with readRecentIds()'s ids in the same order, other writers' and non-hex ids included", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const records = await writeRadarLog(dir, 40, 2048);
    // Lines of another writer: keys in another order, an id that is not hex,
    // the all-zero id; then a torn line (no newline).
    const others = [
      { id: "0123456789abcdef0123456789abcdef", v: 1 },
      { v: 1, id: "not-hex-but-an-id-of-32-chars-ok" },
      { v: 1, id: "00000000000000000000000000000000" },
    ];
    await appendToNewestSegment(
      dir,
      others.map((o) => JSON.stringify(o) + "\n").join("") + '{"v":1,"id":"ff',
    );
    const all = [...records.map((o) => o.id), ...others.map((o) => o.id)];
    for (const capacity of [1, 2, 3, 5, 17, 43, 100]) {
      const window = new DedupeWindow(capacity);
      const read = await fillDedupeWindow(dir, window);
      const expected = await readRecentIds(dir, capacity);
      assert.deepEqual(expected, all.slice(Math.max(0, all.length - capacity)));
      assert.equal(read, expected.length);
      assert.equal(window.size, expected.length);
      for (const id of expected) assert.equal(window.has(id), true, id);
      // Oldest first: one more id evicts the oldest of them, and only it.
      if (capacity <= all.length) {
        window.add("ffffffffffffffffffffffffffffffff");
        assert.equal(window.has(expected[0]), false);
        for (const id of expected.slice(1)) assert.equal(window.has(id), true, id);
      }
    }
  } finally {
    await removeDir(dir);
  }
});

Deno.test("SegmentLog() appends a batch larger than one write group in pieces, in order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const log = await openEventLog({ dir, fsync: "never" });
    // ~40 MB of JSON in one append: more than a group (16 MB of text).
    const big = "x".repeat(1 << 20);
    const records = Array.from({ length: 40 }, (_, i) => {
      const o = radarObservation(i);
      return { ...o, provenance: { ...o.provenance, ref: `${i}:${big}` } };
    });
    const result = await log.append(records);
    assert.deepEqual([result.first, result.count, log.nextOffset], [0, 40, 40]);
    assert.ok(log.stats.writes >= 3);
    await log.close();
    const refs = [];
    for await (const { observation } of readEventLog(dir)) {
      refs.push(observation.provenance.ref.split(":")[0]);
    }
    assert.deepEqual(refs, records.map((_, i) => String(i)));
  } finally {
    await removeDir(dir);
  }
});

/** A real file whose writes fail with ENOSPC, after writing half their bytes, while `full()`. */
function fillingOpen(full: () => boolean): (path: string) => Promise<LogFile> {
  return async (path) => {
    const file = await Deno.open(path, { create: true, append: true });
    const enospc = () =>
      Object.assign(new Error("No space left on device (os error 28)"), { code: "ENOSPC" });
    return {
      async write(bytes) {
        if (!full()) return await file.write(bytes);
        if (bytes.length > 1) await file.write(bytes.subarray(0, bytes.length >> 1));
        throw enospc();
      },
      syncData: () => file.syncData(),
      truncate: (length) => file.truncate(length),
      close: () => file.close(),
    };
  };
}

Deno.test("SegmentLog() retries a write that fails for lack of space, without a torn line, and resolves only then", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    let full = false;
    const log = await SegmentLog.open({
      dir,
      serialize: (n: number) => JSON.stringify({ n }),
      openFile: fillingOpen(() => full),
      retryMs: 20,
      probeBytes: 0,
    });
    await log.append([1, 2]);
    full = true;
    let settled = false;
    const appended = log.append([3, 4, 5]).then((r) => {
      settled = true;
      return r;
    });
    await new Promise((r) => setTimeout(r, 150));
    assert.equal(settled, false);
    assert.match(log.problem!.error, /No space left on device/);
    assert.ok(log.stats.retries >= 2);
    full = false;
    assert.deepEqual((await appended).first, 2);
    assert.equal(log.problem, undefined);
    await log.close();
    assert.equal(
      await Deno.readTextFile(`${dir}/${segmentName(0)}`),
      '{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n{"n":5}\n',
    );
  } finally {
    await removeDir(dir);
  }
});

Deno.test("SegmentLog() does not retry an error that is not an I/O error", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    const log = await SegmentLog.open({
      dir,
      serialize: (n: number) => JSON.stringify({ n }),
      openFile: async (path) => {
        const file = await Deno.open(path, { create: true, append: true });
        return {
          write: () => Promise.reject(new TypeError("A bug")),
          syncData: () => file.syncData(),
          truncate: (length) => file.truncate(length),
          close: () => file.close(),
        };
      },
      probeBytes: 0,
    });
    await assert.rejects(log.append([1]), TypeError);
    assert.equal(log.problem, undefined);
    await assert.rejects(log.close(), TypeError);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("SegmentLog() pauses on a write error Deno gives no errno name (EFBIG: a file-size limit; EDQUOT is the same), rather than failing the pipeline", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  const script = `${dir}/append.ts`;
  try {
    await Deno.writeTextFile(
      script,
      `import { SegmentLog } from ${
        JSON.stringify(new URL("../../sinks/segment_log.ts", import.meta.url).href)
      };
const log = await SegmentLog.open({
  dir: ${JSON.stringify(`${dir}/log`)},
  serialize: (n) => JSON.stringify({ n, pad: "x".repeat(1000) }),
  retryMs: 20,
  probeBytes: 0,
});
let outcome = "pending";
log.append(Array.from({ length: 100 }, (_, i) => i)).then(
  () => outcome = "appended",
  (error) => outcome = "failed: " + error.message,
);
setTimeout(() => {
  console.log(JSON.stringify({ outcome, problem: log.problem?.error, retries: log.stats.retries }));
  Deno.exit(0);
}, 500);
`,
    );
    await Deno.mkdir(`${dir}/log`);
    // 64 KiB of file at most, and the signal ignored: writes past it fail with EFBIG.
    const out = await new Deno.Command("bash", {
      args: [
        "-c",
        `trap '' XFSZ; ulimit -f 64; exec "${Deno.execPath()}" run -A --config "${
          new URL("../../deno.json", import.meta.url).pathname
        }" "${script}"`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const { outcome, problem, retries } = JSON.parse(text);
    assert.equal(outcome, "pending", "held back, not failed");
    assert.match(problem, /File too large \(os error 27\)/);
    assert.ok(retries >= 2, `${retries} retries`);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("SegmentLog.durableOffset follows the syncs, not the writes, with fsync interval (what a saved position may count on)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-log-" });
  try {
    let log = await SegmentLog.open({
      dir,
      serialize: (n: number) => JSON.stringify({ n }),
      fsync: "interval",
      fsyncIntervalMs: 60_000,
      probeBytes: 0,
    });
    const { durable } = await log.append([1, 2, 3]);
    assert.equal(log.writtenOffset, 3);
    assert.equal(log.durableOffset, 0, "written, not synced yet");
    await log.sync();
    await durable;
    assert.equal(log.durableOffset, 3);
    await log.close();
    // What is on disk at open counts as durable.
    log = await SegmentLog.open({ dir, serialize: (n: number) => String(n), probeBytes: 0 });
    assert.equal(log.durableOffset, 3);
    await log.close();
  } finally {
    await removeDir(dir);
  }
});
