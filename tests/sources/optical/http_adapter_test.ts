import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { DeadLetter } from "../../../envelope/dead_letter.ts";
import { DedupeWindow } from "../../../operators/dedupe_window.ts";
import type { IngestBatch } from "../../../operators/ingest_batch.ts";
import { Pipeline } from "../../../service/pipeline.ts";
import { DecodePool } from "../../../service/workers/decode_pool.ts";
import { testWorkers } from "../../_workers.ts";
import { ArchiveSim } from "../../../sim/archive.ts";
import { openDeadLetterLog, openEventLog } from "../../../sinks/event_log.ts";
import { OpticalHttpSource } from "../../../sources/optical/http_adapter.ts";
import { readAllLines, readAllObservations, removeDir } from "../../_observations.ts";
import { csvPage, memoryCheckpoint, scriptedArchive, until } from "./_helpers.ts";

const T0_US = Date.parse("2026-11-25T12:00:00Z") * 1000;

/** Reads one batch and releases its acks, as the pipeline's sink would. */
async function take(reader: ReadableStreamDefaultReader<IngestBatch>): Promise<IngestBatch> {
  const { value, done } = await reader.read();
  assert.equal(done, false);
  for (const ack of value!.acks) ack.release();
  return value!;
}

Deno.test("OpticalHttpSource() logs all 20,000 observations exactly once from an archive failing 20% of requests", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-optical-" });
  const sim = new ArchiveSim({ count: 20_000, failRate: 0.2, seed: 7 });
  // Pages decoded in decode workers as the service would here (issue 16).
  const workers = await testWorkers();
  try {
    const { checkpoint, saves } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: sim.url,
      pageSize: 1000,
      pollIntervalMs: 20,
      backoffBaseMs: 5,
      maxBackoffMs: 40,
      checkpoint,
      workers,
    });
    const pipeline = new Pipeline({
      events: await openEventLog({ dir: `${dir}/events`, fsync: "interval" }),
      deadLetters: await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "interval" }),
      dedupe: new DedupeWindow(100_000),
    });
    pipeline.add(source.readable);
    await until(() => pipeline.counts("archive").observations >= 20_000, 30_000, "20,000 logged");
    await source.stop();
    pipeline.close();
    await pipeline.done;

    const logged = await readAllObservations(`${dir}/events`);
    assert.equal(logged.length, 20_000);
    assert.equal(new Set(logged.map((o) => o.id)).size, 20_000);
    assert.equal(new Set(logged.map((o) => o.provenance.ref)).size, 20_000);
    assert.ok(sim.counters.failures > 0, "the archive failed some requests");
    // Every failed answer the source received is one transport dead letter,
    // and counted. The source keeps polling after the last page, so the
    // stop may abort one request the archive had already chosen to fail.
    const dead = (await readAllLines(`${dir}/dead`)).map((l) => JSON.parse(l) as DeadLetter);
    const status = source.status();
    assert.equal(dead.length, status.counters.errors);
    assert.ok(dead.every((d) => d.stage === "transport" && /^HTTP 50[023] /.test(d.raw as string)));
    assert.ok(
      [0, 1].includes(sim.counters.failures - status.counters.errors),
      `archive failed ${sim.counters.failures}, source saw ${status.counters.errors}`,
    );
    // Each failure was retried, except perhaps one just before the stop.
    assert.ok(sim.counters.failures - status.counters.retries <= 1);
    assert.equal(status.counters.observations, 20_000);
    assert.equal(status.state, "stopped");
    assert.equal(saves.at(-1), ArchiveSim.cursorAt(20_000));
  } finally {
    workers?.close();
    await sim.stop();
    await removeDir(dir);
  }
});

Deno.test("OpticalHttpSource() sends no request while the pipeline has no demand", async () => {
  const sim = new ArchiveSim({ count: 5000 });
  try {
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: sim.url,
      pageSize: 100,
      checkpoint,
    });
    await source.started;
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(sim.counters.requests, 0, "nothing read, nothing requested");

    const reader = source.readable.getReader();
    await take(reader);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(sim.counters.requests, 1, "one read, one page");
    reader.releaseLock();

    // A stalled sink: writes never finish.
    let writes = 0;
    let sinkStalled = true;
    const unstall: (() => void)[] = [];
    const stop = new AbortController();
    const piped = source.readable.pipeTo(
      new WritableStream<IngestBatch>({
        write() {
          writes++;
          if (sinkStalled) return new Promise<void>((resolve) => unstall.push(resolve));
        },
      }, { highWaterMark: 2 }),
      { signal: stop.signal },
    ).catch(() => {});
    await until(() => writes === 1, 5000, "the first write");
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stalled = sim.counters.requests;
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(sim.counters.requests, stalled, "no request while the sink is stalled");
    // The first read, then what the sink's queue (2) holds: nothing ahead of demand.
    assert.equal(stalled, 1 + 2);

    // Abort the pipe; it finishes the write in flight, then cancels the source.
    stop.abort();
    sinkStalled = false;
    for (const resolve of unstall) resolve();
    await piped;
    assert.equal(source.status().state, "stopped", "cancelling the readable reached the source");
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(sim.counters.requests, stalled);
  } finally {
    await sim.stop();
  }
});

Deno.test("OpticalHttpSource() with decode workers asks for the page after a full one while that decodes, one page ahead of demand at most, and decodes it as it arrives", async () => {
  const sim = new ArchiveSim({ count: 5000 });
  const workers = new DecodePool(1);
  // The pages handed to the worker, by their first record's index (the
  // simulator's ids end in it, in hex).
  const decoding: number[] = [];
  const decode = workers.page.bind(workers);
  workers.page = (spec, bytes) => {
    const firstId = new TextDecoder().decode(bytes).split("\n")[1].split(",")[0];
    decoding.push(parseInt(firstId.slice(-12), 16));
    return decode(spec, bytes);
  };
  const pause = () => new Promise((resolve) => setTimeout(resolve, 200));
  try {
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: sim.url,
      pageSize: 100,
      checkpoint,
      workers,
    });
    const reader = source.readable.getReader();
    await take(reader);
    await pause();
    assert.equal(sim.counters.requests, 1, "the first page: none before it was full");
    await take(reader);
    await until(() => sim.counters.requests >= 3, 5000, "page 3 asked for while page 2 decoded");
    await pause();
    assert.equal(sim.counters.requests, 3, "never more than one page ahead");
    assert.equal(decoding.length, 3, "page 3 went to the worker before the pipeline asked for it");
    assert.deepEqual(decoding, [0, 100, 200]);
    const third = await take(reader);
    assert.equal(third.packed?.count, 100);
    assert.equal(source.cursor, ArchiveSim.cursorAt(300), "page 3 is the one asked ahead");
    await until(() => sim.counters.requests >= 4, 5000, "page 4 asked for while page 3 decoded");
    await source.stop();
    reader.releaseLock();
    assert.equal(sim.counters.requests, 4, "the page asked ahead was not asked again");
  } finally {
    workers.close();
    await sim.stop();
  }
});

Deno.test("OpticalHttpSource() with decode workers drops the page asked ahead of a short one and waits pollIntervalMs", async () => {
  const sim = new ArchiveSim({ count: 250 });
  const workers = new DecodePool(1);
  try {
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: sim.url,
      pageSize: 100,
      pollIntervalMs: 60_000,
      checkpoint,
      workers,
    });
    const reader = source.readable.getReader();
    assert.equal((await take(reader)).packed?.count, 100);
    assert.equal((await take(reader)).packed?.count, 100);
    assert.equal((await take(reader)).packed?.count, 50);
    assert.equal(source.cursor, ArchiveSim.cursorAt(250));
    // Page 4 was asked for while the short page 3 decoded, and dropped: it
    // may have been cut off before the archive saw it.
    assert.equal(source.status().counters.requests, 4);
    const seen = sim.counters.requests;
    assert.ok(seen === 3 || seen === 4, `the archive saw ${seen} requests`);
    const next = reader.read();
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(
      source.status().counters.requests,
      4,
      "after a short page the next request waits pollIntervalMs",
    );
    assert.ok(sim.counters.requests <= 4);
    await source.stop();
    assert.equal((await next).done, true);
  } finally {
    workers.close();
    await sim.stop();
  }
});

Deno.test("OpticalHttpSource() saves its cursor again once the state store works again (a full disk for a moment), degraded meanwhile", async () => {
  const sim = new ArchiveSim({ count: 300 });
  try {
    const saves: string[] = [];
    let failures = 3;
    const source = new OpticalHttpSource({
      name: "archive",
      url: sim.url,
      pageSize: 100,
      pollIntervalMs: 50,
      checkpoint: {
        load: () => Promise.resolve(undefined),
        save: (cursor) => {
          if (failures-- > 0) {
            return Promise.reject(new Error("No space left on device (os error 28)"));
          }
          saves.push(cursor);
          return Promise.resolve();
        },
        retryMs: 200, // as a state file's (1 s), shorter
      },
    });
    const reader = source.readable.getReader();
    let observations = 0;
    while (observations < 300) observations += (await take(reader)).observations.length;
    await until(() => source.status().state === "degraded", 5_000, "degraded while saves fail");
    assert.match(source.status().lastError ?? "", /Cannot save the cursor: No space left/);
    // Tried again every second, with the newest cursor: the last page's.
    await until(() => saves.at(-1) === ArchiveSim.cursorAt(300), 10_000, "the last cursor saved");
    assert.equal(source.savedCursor, ArchiveSim.cursorAt(300));
    await until(() => source.status().state === "up", 5_000, "up once saving works");
    reader.releaseLock();
    await source.stop();
  } finally {
    await sim.stop();
  }
});

Deno.test("OpticalHttpSource() resumes from the saved cursor and saves a page's cursor only once it is durable", async () => {
  const sim = new ArchiveSim({ count: 1000 });
  try {
    const { checkpoint, saves } = memoryCheckpoint(ArchiveSim.cursorAt(300));
    const source = new OpticalHttpSource({
      name: "archive",
      url: sim.url,
      pageSize: 100,
      checkpoint,
    });
    const reader = source.readable.getReader();
    const first = (await reader.read()).value!;
    const second = (await reader.read()).value!;
    assert.deepEqual(sim.requests.map((r) => r.cursor), ["v1.300", "v1.400"]);
    assert.equal(first.observations[0].provenance.peer, sim.url); // as configured
    assert.equal(first.observations[0].provenance.transport, "http");
    assert.equal(first.observations.length, 100);
    assert.equal(first.acks.length, 1);
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(saves, [], "nothing durable yet");
    second.acks[0].release(); // the later page durable first: still nothing to save
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(saves, []);
    first.acks[0].release();
    await source.checkpointed();
    assert.deepEqual(saves, ["v1.500"]);
    assert.equal(source.savedCursor, "v1.500");
    reader.releaseLock();
    await source.stop();
  } finally {
    await sim.stop();
  }
});

Deno.test("OpticalHttpSource() asks for obTime after startTime when it has no cursor", async () => {
  const archive = scriptedArchive(() => csvPage(0, 1, "c1"));
  try {
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 5,
      startTime: "2026-11-25T00:00:00Z",
      token: "s3cr3t",
      checkpoint,
    });
    const reader = source.readable.getReader();
    await take(reader);
    const [request] = archive.seen;
    assert.equal(request.url.searchParams.get("maxResults"), "5");
    assert.equal(request.url.searchParams.get("obTime"), ">2026-11-25T00:00:00Z");
    assert.equal(request.url.searchParams.has("cursor"), false);
    assert.match(request.url.search, /obTime=%3E2026/);
    assert.equal(request.headers.get("accept"), "text/csv");
    assert.equal(request.headers.get("authorization"), "Bearer s3cr3t");
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() follows a full page at once and waits pollIntervalMs after a short or empty one", async () => {
  const sim = new ArchiveSim({ count: 150 });
  try {
    const { checkpoint } = memoryCheckpoint();
    const waits: number[] = [];
    const source = new OpticalHttpSource({
      name: "archive",
      url: sim.url,
      pageSize: 100,
      pollIntervalMs: 1000,
      checkpoint,
      now: () => T0_US,
      sleep: (ms, signal) => {
        waits.push(ms);
        // The second wait parks until the source stops.
        if (waits.length < 2) return Promise.resolve();
        return new Promise((resolve) => signal.addEventListener("abort", () => resolve()));
      },
    });
    const reader = source.readable.getReader();
    assert.equal((await take(reader)).observations.length, 100);
    assert.equal((await take(reader)).observations.length, 50);
    assert.deepEqual(waits, [], "a full page is followed at once");
    const third = reader.read();
    await until(() => waits.length === 2, 5000, "two waits");
    // After the short page: wait; then an empty page: wait again.
    assert.deepEqual(waits, [1000, 1000]);
    assert.deepEqual(sim.requests.map((r) => [r.cursor, r.records]), [
      [null, 100],
      ["v1.100", 50],
      ["v1.150", 0],
    ]);
    assert.equal(source.status().counters.empty_pages, 1);
    await source.stop();
    assert.equal((await third).done, true);
  } finally {
    await sim.stop();
  }
});

Deno.test("OpticalHttpSource() waits as long as Retry-After says, in seconds or as an HTTP-date", async () => {
  const dates = [
    "2", // seconds
    new Date(T0_US / 1000 + 3000).toUTCString(), // HTTP-date, 3 s ahead of the clock
  ];
  const archive = scriptedArchive((_request, n) => {
    if (n === 1) {
      return new Response("slow down", { status: 429, headers: { "retry-after": dates[0] } });
    }
    if (n === 2) {
      return new Response("busy", {
        status: 503,
        statusText: "Service Unavailable",
        headers: { "retry-after": dates[1] },
      });
    }
    return csvPage(0, 3, "c1");
  });
  try {
    const { checkpoint } = memoryCheckpoint();
    const waits: number[] = [];
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 3,
      checkpoint,
      now: () => T0_US,
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    });
    const reader = source.readable.getReader();
    const first = await take(reader);
    assert.equal(first.deadLetters[0].stage, "transport");
    assert.equal(first.deadLetters[0].reason, "HTTP 429 Too Many Requests (Retry-After: 2)");
    assert.equal(first.deadLetters[0].raw, "HTTP 429 Too Many Requests");
    const second = await take(reader);
    assert.equal(
      second.deadLetters[0].reason,
      `HTTP 503 Service Unavailable (Retry-After: ${dates[1]})`,
    );
    assert.equal((await take(reader)).observations.length, 3);
    assert.deepEqual(waits, [2000, 3000]);
    assert.equal(archive.seen.length, 3);
    const counters = source.status().counters;
    assert.equal(counters.rate_limited, 1);
    assert.equal(counters.errors, 2);
    assert.equal(counters.retries, 2);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() backs off on a Retry-After of 0, under a second or a past date instead of asking again at once", async () => {
  const past = new Date(T0_US / 1000 - 60_000).toUTCString();
  // 0.0001 was honoured as 1 ms: ~280 requests a second, each a dead letter.
  const asked = ["0", past, "-5", "0.0001", "0.5"];
  const archive = scriptedArchive((_request, n) =>
    n <= asked.length
      ? new Response("slow down", { status: 429, headers: { "retry-after": asked[n - 1] } })
      : csvPage(0, 3, "c1")
  );
  try {
    const { checkpoint } = memoryCheckpoint();
    const waits: number[] = [];
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 3,
      checkpoint,
      now: () => T0_US,
      random: () => 1,
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    });
    const reader = source.readable.getReader();
    for (let i = 0; i < asked.length; i++) {
      assert.equal((await take(reader)).deadLetters.length, 1);
    }
    assert.equal((await take(reader)).observations.length, 3);
    // The exponential backoff (250 ms doubling), not 0 ms (or 1 ms) each time.
    assert.deepEqual(waits, [250, 500, 1000, 2000, 4000]);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() waits pollIntervalMs after a full page that does not move the cursor, and counts it", async () => {
  // The same full page, with the same X-Next-Cursor, every time.
  const archive = scriptedArchive(() => csvPage(0, 3, "c1"));
  try {
    const { checkpoint } = memoryCheckpoint("c1");
    const waits: number[] = [];
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 3,
      pollIntervalMs: 700,
      checkpoint,
      now: () => T0_US,
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    });
    const reader = source.readable.getReader();
    for (let i = 0; i < 3; i++) assert.equal((await take(reader)).observations.length, 3);
    assert.deepEqual(waits, [700, 700]);
    assert.equal(source.status().counters.stuck_pages, 3);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() waits pollIntervalMs after a full page that leads back to a cursor it gave before", async () => {
  // Full pages whose X-Next-Cursor alternates cA, cB, cA, …: the old source
  // asked again at once, ~1,000 times a second, for pages of duplicates.
  const archive = scriptedArchive((_request, n) => csvPage(0, 3, n % 2 === 1 ? "cA" : "cB"));
  try {
    const { checkpoint } = memoryCheckpoint();
    const waits: number[] = [];
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 3,
      pollIntervalMs: 700,
      checkpoint,
      now: () => T0_US,
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    });
    const reader = source.readable.getReader();
    for (let i = 0; i < 4; i++) assert.equal((await take(reader)).observations.length, 3);
    // Pages 1 (→ cA) and 2 (→ cB) are new; 3 (→ cA) and 4 (→ cB) lead back.
    assert.deepEqual(waits, [700]);
    assert.equal(source.status().counters.stuck_pages, 2);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() prints a cursor with its secret-looking parameters redacted", async () => {
  // A signed next-link as the cursor; the request after it fails.
  const archive = scriptedArchive((_request, n) =>
    n === 1 ? csvPage(0, 3, "page=2&X-Amz-Signature=s3cret") : new Response("no", { status: 500 })
  );
  try {
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 3,
      checkpoint,
      now: () => T0_US,
      sleep: () => Promise.resolve(),
    });
    const reader = source.readable.getReader();
    assert.equal((await take(reader)).observations.length, 3);
    const failed = await take(reader);
    // Sent as it is; printed (dead letter ref, logs) redacted.
    assert.equal(archive.seen[1].url.searchParams.get("cursor"), "page=2&X-Amz-Signature=s3cret");
    assert.equal(failed.deadLetters[0].ref, "page=2&X-Amz-Signature=***");
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() after a 429 with Retry-After: 2 sends the next request 2 s later (real clock)", async () => {
  const archive = scriptedArchive((_request, n) =>
    n === 1
      ? new Response("slow down", { status: 429, headers: { "retry-after": "2" } })
      : csvPage(0, 1, "c1")
  );
  try {
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({ name: "archive", url: archive.url, checkpoint });
    const reader = source.readable.getReader();
    await take(reader);
    await take(reader);
    const gap = archive.seen[1].at - archive.seen[0].at;
    assert.ok(gap >= 1995, `waited ${gap} ms`); // a lower bound only
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() aborts a hanging request after timeoutMs and retries the same cursor", async () => {
  let aborted = false;
  const archive = scriptedArchive((request, n) => {
    if (n > 1) return csvPage(0, 2, "c2");
    return new Promise((resolve) => {
      request.signal.addEventListener("abort", () => {
        aborted = true;
        resolve(new Response("too late"));
      });
    });
  });
  try {
    const { checkpoint } = memoryCheckpoint("c1");
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      timeoutMs: 200,
      backoffBaseMs: 10,
      checkpoint,
    });
    const reader = source.readable.getReader();
    const failed = await take(reader);
    assert.deepEqual(failed.deadLetters.map((d) => [d.stage, d.reason, d.raw, d.ref]), [
      ["transport", "Request timed out after 200 ms", "", "c1"],
    ]);
    assert.equal(source.status().state, "degraded");
    assert.equal((await take(reader)).observations.length, 2);
    assert.equal(source.status().state, "up");
    assert.deepEqual(archive.seen.map((s) => s.url.searchParams.get("cursor")), ["c1", "c1"]);
    const counters = source.status().counters;
    assert.equal(counters.timeouts, 1);
    assert.equal(counters.retries, 1);
    await until(() => aborted, 2000, "the server to see the abort");
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() backs off exponentially with jitter, capped, on 5xx and connection errors", async () => {
  const archive = scriptedArchive((_request, n) =>
    n <= 4 ? new Response("oops", { status: 500 }) : csvPage(0, 1, "c1")
  );
  try {
    const { checkpoint } = memoryCheckpoint();
    const waits: number[] = [];
    let jitter = 0;
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      backoffBaseMs: 100,
      maxBackoffMs: 300,
      checkpoint,
      now: () => T0_US,
      random: () => jitter,
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    });
    const reader = source.readable.getReader();
    for (let i = 0; i < 4; i++) {
      jitter = i % 2 === 0 ? 0 : 0.999_999;
      assert.equal((await take(reader)).deadLetters[0].reason, "HTTP 500 Internal Server Error");
    }
    assert.equal((await take(reader)).observations.length, 1);
    // Ceilings 100, 200, 300 (capped), 300; each wait between half and all of it.
    assert.deepEqual(waits, [50, 200, 150, 300]);
    assert.ok(archive.seen.every((s) => !s.url.searchParams.has("cursor")));
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }

  // Nobody listening: a connection error, retried the same way.
  const closed = scriptedArchive(() => new Response());
  const url = closed.url;
  await closed.close();
  const { checkpoint } = memoryCheckpoint();
  const source = new OpticalHttpSource({
    name: "archive",
    url,
    checkpoint,
    random: () => 0,
    sleep: () => Promise.resolve(),
  });
  const reader = source.readable.getReader();
  const batch = await take(reader);
  assert.match(batch.deadLetters[0].reason, /^Cannot fetch from the archive: /);
  assert.equal(source.status().state, "degraded");
  reader.releaseLock();
  await source.stop();
});

Deno.test("OpticalHttpSource() on 401 reports down and retries slowly, never logging the token", async () => {
  const token = "tok-9f8e7d6c5b4a";
  const archive = scriptedArchive((request, n) =>
    n <= 2 || request.headers.get("authorization") !== `Bearer ${token}`
      ? new Response("no", { status: 401, statusText: "Unauthorized" })
      : csvPage(0, 1, "c1")
  );
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["sda-ingest"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["memory"] },
    ],
  });
  try {
    const { checkpoint } = memoryCheckpoint();
    const waits: number[] = [];
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      token,
      authRetryMs: 30_000,
      checkpoint,
      now: () => T0_US,
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    });
    const reader = source.readable.getReader();
    const failed = await take(reader);
    assert.equal(
      failed.deadLetters[0].reason,
      "HTTP 401 Unauthorized: the archive refused the credentials (check the token)",
    );
    const status = source.status();
    assert.equal(status.state, "down");
    assert.match(status.lastError!, /401/);
    assert.equal(status.lastErrorAt, T0_US, "when it happened, on the source's clock");
    await take(reader);
    assert.equal((await take(reader)).observations.length, 1);
    assert.equal(source.status().state, "up");
    assert.deepEqual(waits, [30_000, 30_000]);
    assert.equal(source.status().counters.auth_failures, 2);
    reader.releaseLock();
    await source.stop();

    assert.ok(records.some((r) => r.level === "error"), "the refusal is logged as an error");
    const logged = JSON.stringify(records.map((r) => [r.message, r.properties]));
    assert.ok(!logged.includes(token), "the token is never logged");
    assert.ok(!JSON.stringify(source.status()).includes(token));
  } finally {
    await reset();
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() refuses a token no header can carry without quoting it, and never puts the token in a reason", async () => {
  // Two lines of a secret file: fetch refused the header and quoted it,
  // token and all, in every transport dead letter, /health and the log.
  for (const token of ["SECRET-1\nSECRET-2", "SECRET\u0000", "SECRET 2", "SECRËT"]) {
    assert.throws(
      () =>
        new OpticalHttpSource({
          name: "archive",
          url: "http://127.0.0.1:1/",
          token,
          checkpoint: memoryCheckpoint().checkpoint,
        }),
      (error: Error) => {
        assert.ok(error instanceof TypeError);
        assert.ok(!/SECR/.test(error.message), error.message);
        return true;
      },
    );
  }
  // Whatever a client error quotes of the request, the token is starred out.
  const token = "tok-9f8e7d6c5b4a";
  const { checkpoint } = memoryCheckpoint();
  const source = new OpticalHttpSource({
    name: "archive",
    url: "http://127.0.0.1:1/",
    token,
    checkpoint,
    fetch: () => Promise.reject(new TypeError(`Invalid header value: "Bearer ${token}"`)),
    sleep: () => Promise.resolve(),
  });
  const reader = source.readable.getReader();
  const failed = await take(reader);
  assert.equal(
    failed.deadLetters[0].reason,
    'Cannot fetch from the archive: Invalid header value: "Bearer ***"',
  );
  assert.ok(!JSON.stringify(source.status()).includes(token));
  reader.releaseLock();
  await source.stop();
});

Deno.test("OpticalHttpSource() keeps ingesting after a page with bad records, and asks again for an answer that is no page (not CSV or JSON)", async () => {
  const archive = scriptedArchive((_request, n) => {
    if (n === 1) {
      return new Response(
        "id,obTime,idSensor,ra,declination\nEO-1,2026-11-25T12:00:00Z,S,400,1\nEO-2,2026-11-25T12:00:01Z,S,1,1\n",
        { headers: { "content-type": "text/csv", "x-next-cursor": "c1" } },
      );
    }
    if (n === 2) {
      return new Response("<html>oops</html>", {
        headers: { "content-type": "text/html", "x-next-cursor": "c2" },
      });
    }
    return csvPage(10, 2, "c3");
  });
  try {
    const { checkpoint, saves } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 2,
      pollIntervalMs: 10,
      checkpoint,
    });
    const reader = source.readable.getReader();
    const first = await take(reader);
    assert.deepEqual(first.observations.map((o) => o.provenance.ref), ["EO-2"]);
    assert.deepEqual(first.deadLetters.map((d) => d.stage), ["validation"]);
    const second = await take(reader);
    assert.deepEqual(second.deadLetters.map((d) => [d.stage, d.reason]), [[
      "transport",
      'Unsupported Content-Type: "text/html" (not a CSV or JSON page): asking for the same cursor again',
    ]]);
    assert.equal(source.status().counters.wrong_type_pages, 1);
    // No page: its cursor was asked for again (moved on, a page of records was lost).
    const third = await take(reader);
    assert.deepEqual(third.observations.map((o) => o.provenance.ref), ["EO-10", "EO-11"]);
    assert.deepEqual(archive.seen.map((s) => s.url.searchParams.get("cursor")), [null, "c1", "c1"]);
    await source.checkpointed();
    assert.equal(saves.at(-1), "c3");
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() takes at most maxResults records of a page, the rest one dead letter, and goes on", async () => {
  // An archive that ignores maxResults: 5 records for maxResults=3.
  const archive = scriptedArchive((_request, n) =>
    n === 1 ? csvPage(0, 5, "c1") : csvPage(5, 2, "c2")
  );
  const workers = await testWorkers();
  try {
    const { checkpoint, saves } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 3,
      pollIntervalMs: 10,
      checkpoint,
      workers,
    });
    const reader = source.readable.getReader();
    const first = await take(reader);
    assert.equal(first.packed?.count ?? first.observations.length, 3);
    assert.deepEqual(first.deadLetters.map((d) => [d.stage, d.reason]), [[
      "decoding",
      "Page holds 5 records, more than the 3 asked for (maxResults): the 2 after them were not read",
    ]]);
    assert.match(first.deadLetters[0].raw as string, /^EO-3,/);
    const second = await take(reader);
    assert.equal(second.packed?.count ?? second.observations.length, 2);
    // (With decode workers a third request may be on its way: one page ahead.)
    const asked = archive.seen.slice(0, 2).map((s) => s.url.searchParams);
    assert.deepEqual(asked.map((p) => [p.get("maxResults"), p.get("cursor")]), [
      ["3", null],
      ["3", "c1"],
    ]);
    await source.checkpointed();
    assert.equal(saves.at(-1), "c2");
    reader.releaseLock();
    await source.stop();
  } finally {
    workers?.close();
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() refuses a saved cursor that is not one an archive could send, and asks nothing", async () => {
  const archive = scriptedArchive(() => csvPage(0, 1, "c1"));
  try {
    for (
      const [saved, problem] of [
        [12345, "it is not text: 12345"],
        [{ value: "x" }, 'it is not text: {"value":"x"}'],
        ["c".repeat(900_000), "the saved cursor is 900000 characters long, more than 4096"],
        ["", "the saved cursor is empty"],
        ["a\u0000b", 'the saved cursor is not printable ASCII: "a\\u0000b"'],
      ] as const
    ) {
      const source = new OpticalHttpSource({
        name: "archive",
        url: archive.url,
        checkpoint: {
          load: () => Promise.resolve(saved as unknown as string),
          save: async () => {},
          where: "state file /s/optical.archive.json",
        },
      });
      // Named, so the operator knows what to look at.
      const error = `state file /s/optical.archive.json: ${problem}`;
      const reader = source.readable.getReader();
      await assert.rejects(reader.read(), new Error(error));
      await assert.rejects(source.started, new Error(error));
      const status = source.status();
      assert.equal(status.state, "down");
      assert.equal(status.lastError, `Cannot load the saved cursor: ${error}`);
      await source.stop();
    }
    // The old source sent requests with these (30 a second with a number, whose
    // transport dead letters then failed: text.charCodeAt is not a function).
    assert.equal(archive.seen.length, 0);
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() rejects options that cannot work", () => {
  const { checkpoint } = memoryCheckpoint();
  const base = { name: "a", url: "http://127.0.0.1:1/eo", checkpoint };
  assert.throws(() => new OpticalHttpSource({ ...base, pageSize: 0 }), RangeError);
  assert.throws(() => new OpticalHttpSource({ ...base, timeoutMs: -1 }), RangeError);
  assert.throws(
    () => new OpticalHttpSource({ ...base, accept: "xml" as unknown as "csv" }),
    TypeError,
  );
  assert.throws(() => new OpticalHttpSource({ ...base, url: "not a url" }), TypeError);
});
