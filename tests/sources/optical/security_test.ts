/**
 * The optical source against hostile or broken archives (SPEC §15): bounded
 * pages, compressed pages, redirects, cursors, private CAs, redaction.
 */

import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { IngestBatch } from "../../../operators/ingest_batch.ts";
import { ArchiveSim } from "../../../sim/archive.ts";
import { OpticalHttpSource } from "../../../sources/optical/http_adapter.ts";
import { parseConfig } from "../../../service/config.ts";
import { createSource } from "../../../service/source_factory.ts";
import { StateStore } from "../../../service/state_store.ts";
import { removeDir } from "../../_observations.ts";
import { makeCertificate } from "../../ops/_service.ts";
import { csvPage, gzipBomb, memoryCheckpoint, scriptedArchive } from "./_helpers.ts";
import { freePort } from "../../../bench/_processes.ts";
import { testWorkers } from "../../_workers.ts";

/** The `provenance.ref` of a batch's observations, in order, packed (from a worker) or not. */
function refs(batch: IngestBatch): (string | undefined)[] {
  if (batch.packed === undefined) return batch.observations.map((o) => o.provenance.ref);
  const lines = new TextDecoder().decode(batch.packed.lines);
  return [...lines.matchAll(/"ref":"(EO-\d+)"/g)].map((m) => m[1]);
}

/** Reads one batch and releases its acks, as the pipeline's sink would. */
async function take(reader: ReadableStreamDefaultReader<IngestBatch>): Promise<IngestBatch> {
  const { value, done } = await reader.read();
  assert.equal(done, false);
  for (const ack of value!.acks) ack.release();
  return value!;
}

/** Options that retry at once, so a test sees the next request without waiting. */
const FAST = { backoffBaseMs: 1, maxBackoffMs: 2, pollIntervalMs: 1 };

Deno.test("OpticalHttpSource() follows a redirect within the configured origin and names where the page came from in provenance.peer", async () => {
  const archive = scriptedArchive((request) => {
    const url = new URL(request.url);
    if (url.pathname === "/udl/eoobservation") {
      return new Response(null, { status: 301, headers: { location: `/v2/eo${url.search}` } });
    }
    return csvPage(0, 2, "c1");
  });
  try {
    const { checkpoint, saves } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      token: "tok-same-origin",
      checkpoint,
    });
    const reader = source.readable.getReader();
    const batch = await take(reader);
    const origin = new URL(archive.url).origin;
    assert.deepEqual(
      [...new Set(batch.observations.map((o) => o.provenance.peer))],
      [`${origin}/v2/eo`],
    );
    assert.deepEqual(archive.seen.map((s) => s.url.pathname), ["/udl/eoobservation", "/v2/eo"]);
    // Same origin: the token goes along.
    assert.ok(
      archive.seen.every((s) => s.headers.get("authorization") === "Bearer tok-same-origin"),
    );
    assert.equal(archive.seen[1].url.searchParams.get("maxResults"), "1000");
    assert.equal(source.status().counters.redirects, 1);
    await source.checkpointed();
    assert.deepEqual(saves, ["c1"]);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() refuses a redirect to another origin, never sends it the token, and keeps its cursor", async () => {
  const token = "tok-never-elsewhere-5c1e";
  const elsewhere = scriptedArchive(() => csvPage(0, 2, "stolen"));
  const otherPort = new URL(elsewhere.url).port;
  // Another port, another host name for the same address, another scheme:
  // each is another origin (RFC 6454).
  const targets = (port: string) => [
    elsewhere.url,
    `http://user:pw@127.0.0.1:${otherPort}/x?token=leak`,
    // The archive's own port under another name is another origin too.
    `http://localhost:${port}/udl/eoobservation`,
  ];
  const archive = scriptedArchive((request, n) =>
    n <= 3
      ? new Response("moved", {
        status: n === 2 ? 307 : 302,
        statusText: n === 2 ? "Temporary Redirect" : "Found",
        headers: { location: targets(new URL(request.url).port)[n - 1] },
      })
      : csvPage(0, 2, "c2")
  );
  try {
    const { checkpoint, saves } = memoryCheckpoint("c1");
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      token,
      checkpoint,
      ...FAST,
    });
    const reader = source.readable.getReader();
    for (let i = 0; i < 3; i++) {
      const batch = await take(reader);
      assert.equal(batch.observations.length, 0);
      const [letter] = batch.deadLetters;
      assert.equal(letter.stage, "transport");
      assert.match(letter.reason, /^HTTP 30[27] \w.*: refused a redirect to another origin \(/);
      assert.match(letter.reason, /requests and the token go only to http:\/\/127\.0\.0\.1:/);
      assert.equal(letter.ref, "c1");
      assert.equal(source.cursor, "c1", "the cursor stays");
      assert.equal(source.status().state, "degraded");
      assert.ok(
        !JSON.stringify(letter).includes("leak") && !JSON.stringify(letter).includes(":pw@"),
      );
    }
    assert.equal((await take(reader)).observations.length, 2);
    assert.equal(source.status().state, "up");
    assert.equal(elsewhere.seen.length, 0, "the other origin was never asked anything");
    assert.deepEqual(archive.seen.map((s) => s.url.searchParams.get("cursor")), [
      "c1",
      "c1",
      "c1",
      "c1",
    ]);
    assert.equal(source.status().counters.redirects_refused, 3);
    await source.checkpointed();
    assert.deepEqual(saves, ["c2"]);
    reader.releaseLock();
    await source.stop();
  } finally {
    await Promise.all([archive.close(), elsewhere.close()]);
  }
});

Deno.test("OpticalHttpSource() gives up after maxRedirects redirects within the origin", async () => {
  const archive = scriptedArchive((request) =>
    new Response(null, { status: 302, headers: { location: new URL(request.url).pathname } })
  );
  try {
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      maxRedirects: 3,
      checkpoint,
    });
    const reader = source.readable.getReader();
    const batch = await take(reader);
    assert.equal(batch.deadLetters[0].reason, "HTTP 302 Found: more than 3 redirects");
    assert.equal(batch.deadLetters[0].raw, "HTTP 302 Found");
    assert.equal(archive.seen.length, 4);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() refuses a page over maxPageBytes as a transport error: the cursor stays, the source backs off degraded, then recovers", async () => {
  const big = () => csvPage(0, 100, "c-big"); // ~6 KB with Content-Length
  const archive = scriptedArchive(async (_request, n) => {
    if (n === 1) return big();
    if (n === 2) {
      // The same page without Content-Length (chunked): cut off while reading.
      const text = await big().text();
      const lines = text.split("\n").map((line) => new TextEncoder().encode(`${line}\n`));
      return new Response(ReadableStream.from(lines), {
        headers: { "content-type": "text/csv", "x-next-cursor": "c-big" },
      });
    }
    return csvPage(0, 10, "c-small");
  });
  try {
    const { checkpoint, saves } = memoryCheckpoint("c0");
    const waits: number[] = [];
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      maxPageBytes: 2048,
      pageSize: 10,
      checkpoint,
      backoffBaseMs: 100,
      random: () => 0,
      now: () => Date.parse("2026-11-25T12:00:00Z") * 1000,
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    });
    const reader = source.readable.getReader();
    const first = await take(reader);
    assert.equal(first.deadLetters[0].stage, "transport");
    assert.match(
      first.deadLetters[0].reason,
      /^Page of \d+ bytes exceeds maxPageBytes \(2048 bytes\)$/,
    );
    assert.equal(first.deadLetters[0].raw, "HTTP 200 OK");
    assert.equal(first.deadLetters[0].ref, "c0");
    assert.equal(source.status().state, "degraded");
    assert.match(source.status().lastError!, /exceeds maxPageBytes/);
    const second = await take(reader);
    assert.equal(second.deadLetters[0].reason, "Page exceeds maxPageBytes (2048 bytes)");
    assert.equal(source.cursor, "c0");
    assert.equal((await take(reader)).observations.length, 10);
    assert.equal(source.status().state, "up");
    // Backed off (100 ms, then 200 ms, at the low end of the jitter) before each retry.
    assert.deepEqual(waits, [50, 100]);
    assert.deepEqual(archive.seen.map((s) => s.url.searchParams.get("cursor")), ["c0", "c0", "c0"]);
    const counters = source.status().counters;
    assert.equal(counters.too_large, 2);
    assert.equal(counters.errors, 2);
    await source.checkpointed();
    assert.deepEqual(saves, ["c-small"], "nothing skipped: the big page's cursor was never saved");
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() cuts a gzip bomb off at maxPageBytes while inflating and keeps its cursor", async () => {
  const bomb = gzipBomb(512 * 1024 * 1024); // 512 MiB of CSV in ~1.5 MB
  let bombs = 0;
  const archive = scriptedArchive((_request, n) => {
    if (n <= 2) {
      bombs++;
      return new Response(bomb, {
        headers: {
          "content-type": "text/csv",
          "content-encoding": "gzip",
          "x-next-cursor": "boom",
        },
      });
    }
    return csvPage(0, 3, "c-after");
  });
  try {
    const { checkpoint, saves } = memoryCheckpoint("c0");
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      maxPageBytes: 4 * 1024 * 1024,
      checkpoint,
      ...FAST,
    });
    const reader = source.readable.getReader();
    for (let i = 0; i < 2; i++) {
      const batch = await take(reader);
      assert.deepEqual(batch.deadLetters.map((d) => [d.stage, d.reason, d.ref]), [
        ["transport", "Page exceeds maxPageBytes (4194304 bytes) after gzip decompression", "c0"],
      ]);
      assert.equal(source.cursor, "c0");
    }
    const good = await take(reader);
    assert.equal(good.observations.length, 3);
    const counters = source.status().counters;
    assert.equal(counters.too_large, 2);
    // Only the good page's bytes were taken in.
    assert.ok(counters.bytes < 1000, `${counters.bytes} bytes`);
    await source.checkpointed();
    assert.deepEqual(saves, ["c-after"]);
    assert.equal(bombs, 2);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() accepts compressed pages: gzip from the archive simulator, deflate and x-gzip inflated itself", async () => {
  const sim = new ArchiveSim({ count: 2500, gzip: true });
  try {
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: sim.url,
      pageSize: 1000,
      checkpoint,
      maxPageBytes: 1024 * 1024,
    });
    const reader = source.readable.getReader();
    let observations = 0;
    while (observations < 2500) observations += (await take(reader)).observations.length;
    assert.equal(observations, 2500);
    assert.equal(sim.counters.compressed, 3);
    assert.equal(source.status().counters.compressed_pages, 3);
    reader.releaseLock();
    await source.stop();
  } finally {
    await sim.stop();
  }

  const compress = async (format: CompressionFormat, response: Response) =>
    new Uint8Array(
      await new Response(response.body!.pipeThrough(new CompressionStream(format))).arrayBuffer(),
    );
  const deflated = await compress("deflate", csvPage(0, 4, "x"));
  const gzipped = await compress("gzip", csvPage(4, 4, "x"));
  const archive = scriptedArchive((_request, n) =>
    new Response(n === 1 ? deflated : n === 2 ? gzipped : new Uint8Array([1, 2, 3]), {
      headers: {
        "content-type": "text/csv",
        "content-encoding": ["deflate", "x-gzip", "zstd"][n - 1] ?? "identity",
        "x-next-cursor": `c${n}`,
      },
    })
  );
  try {
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 4,
      checkpoint,
      ...FAST,
    });
    const reader = source.readable.getReader();
    assert.deepEqual((await take(reader)).observations.map((o) => o.provenance.ref), [
      "EO-0",
      "EO-1",
      "EO-2",
      "EO-3",
    ]);
    assert.equal((await take(reader)).observations[3].provenance.ref, "EO-7");
    const refused = await take(reader);
    assert.equal(refused.deadLetters[0].reason, 'Unsupported Content-Encoding: "zstd"');
    assert.equal(refused.deadLetters[0].stage, "transport");
    assert.equal(source.cursor, "c2");
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() refuses an over-long or malformed X-Next-Cursor with a reason that says so, and keeps its cursor", async () => {
  const cursors = ["v".repeat(5000), "caf\u00e9", ""];
  const archive = scriptedArchive((_request, n) => {
    if (n <= cursors.length) {
      const response = csvPage(0, 2, "placeholder");
      response.headers.set("x-next-cursor", cursors[n - 1]);
      return response;
    }
    if (n === cursors.length + 1) {
      // Over what the HTTP client accepts in a response head at all.
      return new Response("x", { headers: { "x-next-cursor": "w".repeat(4_000_000) } });
    }
    return csvPage(0, 2, "c-good");
  });
  try {
    const { checkpoint, saves } = memoryCheckpoint("c0");
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 2,
      checkpoint,
      ...FAST,
    });
    const reader = source.readable.getReader();
    const reasons: string[] = [];
    for (let i = 0; i < cursors.length + 1; i++) {
      const batch = await take(reader);
      assert.equal(batch.observations.length, 0);
      assert.equal(batch.deadLetters[0].stage, "transport");
      reasons.push(batch.deadLetters[0].reason);
      assert.equal(source.cursor, "c0");
    }
    assert.equal(reasons[0], "X-Next-Cursor is 5000 characters long, more than 4096");
    assert.equal(reasons[1], 'X-Next-Cursor is not printable ASCII: "caf\u00e9"');
    assert.equal(reasons[2], "X-Next-Cursor is empty");
    assert.match(
      reasons[3],
      /^Cannot fetch from the archive: the response headers are larger than the HTTP client accepts \(an over-long X-Next-Cursor\?\): .*message head is too large/,
    );
    assert.equal((await take(reader)).observations.length, 2);
    assert.equal(source.status().counters.bad_cursors, 3);
    await source.checkpointed();
    assert.deepEqual(saves, ["c-good"]);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() is degraded, with the reason, while every page is dead letters, and up again after a good page", async () => {
  const archive = scriptedArchive((_request, n) => {
    const headers = { "x-next-cursor": `c${n}` };
    if (n === 1) {
      return new Response("<html>maintenance</html>", {
        headers: { ...headers, "content-type": "text/html" },
      });
    }
    if (n === 2) {
      return new Response('{"error": "no"}', {
        headers: { ...headers, "content-type": "application/json" },
      });
    }
    if (n === 3) {
      return new Response(
        "id,obTime,idSensor,ra,declination\nEO-1,2026-11-25T12:00:00Z,S,400,1\n" +
          "EO-2,2026-11-25T12:00:01Z,S,1,100\n",
        { headers: { ...headers, "content-type": "text/csv" } },
      );
    }
    if (n === 4) {
      return new Response("[]", { headers: { ...headers, "content-type": "application/json" } });
    }
    return csvPage(0, 1, `c${n}`);
  });
  try {
    const { checkpoint } = memoryCheckpoint();
    // The state at each wait before a request, i.e. after each short or empty page.
    const states: string[] = [];
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 2,
      checkpoint,
      sleep: () => {
        states.push(source.status().state);
        return Promise.resolve();
      },
    });
    const reader = source.readable.getReader();
    await take(reader);
    assert.equal(source.status().state, "degraded");
    // No page at all: a transport failure (asked for again), degraded too.
    assert.equal(
      source.status().lastError,
      'Unsupported Content-Type: "text/html" (not a CSV or JSON page): asking for the same cursor again',
    );
    await take(reader);
    assert.equal(source.status().state, "degraded");
    assert.match(
      source.status().lastError!,
      /^The last page from the archive was a dead letter: .*array/,
    );
    await take(reader);
    assert.equal(
      source.status().lastError,
      "All 2 records of the last page from the archive were dead letters (first: ra value out of range [0, 360): 400)",
    );
    const fifth = await take(reader);
    assert.equal(archive.seen.length, 5);
    // Waits after the failed request 1, page 2 and the empty page 4 (page
    // 3 was full): an empty page is no news, the source stayed degraded.
    assert.deepEqual(states, ["degraded", "degraded", "degraded"]);
    assert.equal(source.status().state, "up");
    assert.equal(fifth.observations.length, 1);
    // Pages 2 and 3; the first was none (wrong_type_pages).
    assert.equal(source.status().counters.dead_pages, 2);
    assert.equal(source.status().counters.wrong_type_pages, 1);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() trusts a private CA for an https archive only with caCerts (caFile through the config)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-optical-tls-" });
  const tls = await makeCertificate(dir);
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: tls.cert,
    key: await Deno.readTextFile(tls.keyFile),
    onListen() {},
  }, () => csvPage(0, 2, "c1"));
  const url = `https://127.0.0.1:${server.addr.port}/udl/eoobservation`;
  try {
    // Without the CA: the certificate is unknown, a transport error.
    const { checkpoint } = memoryCheckpoint();
    const untrusting = new OpticalHttpSource({ name: "archive", url, checkpoint, ...FAST });
    let reader = untrusting.readable.getReader();
    const refused = await take(reader);
    assert.equal(refused.deadLetters[0].stage, "transport");
    assert.match(refused.deadLetters[0].reason, /^Cannot fetch from the archive: .*certificate/i);
    reader.releaseLock();
    await untrusting.stop();

    // With it, through the config and the source factory, as `serve` does.
    const config = parseConfig({
      sources: [{
        name: "archive",
        kind: "optical",
        url,
        caFile: tls.caFile,
        sensors: ["MAUI-EO-1"],
      }],
    });
    const source = await createSource(config.sources[0], new StateStore(`${dir}/state`));
    reader = source.readable.getReader();
    const batch = await take(reader);
    assert.equal(batch.observations.length, 2);
    assert.equal(batch.observations[0].provenance.peer, url);
    reader.releaseLock();
    await source.stop();
  } finally {
    await server.shutdown();
    await removeDir(dir);
  }
});

Deno.test("OpticalHttpSource() prints no credential of its URL in logs, dead letters, provenance or status", async () => {
  const password = "pw-S3NTINEL-77";
  const apiKey = "key-S3NTINEL-88";
  const archive = scriptedArchive((request, n) => {
    const url = new URL(request.url);
    if (n === 1) return new Response("oops", { status: 500 });
    if (n === 2) {
      return new Response("<html/>", {
        headers: { "content-type": "text/html", "x-next-cursor": "c2" },
      });
    }
    if (url.pathname !== "/moved") {
      return new Response(null, { status: 302, headers: { location: `/moved${url.search}` } });
    }
    return csvPage(0, 2, "c3");
  });
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
    const port = new URL(archive.url).port;
    const url = `http://ops:${password}@127.0.0.1:${port}/udl/eoobservation?api_key=${apiKey}`;
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({ name: "archive", url, checkpoint, ...FAST });
    const reader = source.readable.getReader();
    const batches = [await take(reader), await take(reader), await take(reader)];
    // The credentials still reach the archive, including after the redirect.
    assert.equal(archive.seen.at(-1)!.url.pathname, "/moved");
    assert.equal(archive.seen.at(-1)!.url.searchParams.get("api_key"), apiKey);
    assert.equal(
      archive.seen.at(-1)!.headers.get("authorization"),
      `Basic ${btoa(`ops:${password}`)}`,
    );
    assert.equal(
      batches[0].deadLetters[0].peer,
      `http://ops:***@127.0.0.1:${port}/udl/eoobservation?api_key=***`,
    );
    assert.equal(
      batches[2].observations[0].provenance.peer,
      `http://ops:***@127.0.0.1:${port}/moved?api_key=***`,
    );
    reader.releaseLock();
    await source.stop();

    // A connection error's message names the URL: redacted too.
    const closed = `http://ops:${password}@127.0.0.1:${freePort()}/eo?api_key=${apiKey}`;
    const dead = new OpticalHttpSource({ name: "dead", url: closed, checkpoint, ...FAST });
    const deadReader = dead.readable.getReader();
    batches.push(await take(deadReader));
    deadReader.releaseLock();
    await dead.stop();

    const everything = JSON.stringify([
      records.map((r) => [r.message, r.properties]),
      batches,
      source.status(),
      dead.status(),
    ]);
    assert.ok(records.some((r) => JSON.stringify(r.properties).includes("api_key=***")));
    assert.ok(!everything.includes(password), "the password is printed somewhere");
    assert.ok(!everything.includes(apiKey), "the api_key is printed somewhere");
  } finally {
    await reset();
    await archive.close();
  }
});
Deno.test("OpticalHttpSource() with sensors dead-letters records of other sensors", async () => {
  const archive = scriptedArchive(() =>
    new Response(
      "id,obTime,idSensor,ra,declination\nEO-1,2026-11-25T12:00:00Z,SBO-2,1,1\n" +
        "EO-2,2026-11-25T12:00:01Z,SBO-9,1,1\n",
      { headers: { "content-type": "text/csv", "x-next-cursor": "c1" } },
    )
  );
  try {
    const { checkpoint } = memoryCheckpoint();
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      sensors: ["SBO-2"],
      checkpoint,
    });
    const reader = source.readable.getReader();
    const batch = await take(reader);
    assert.deepEqual(batch.observations.map((o) => o.sensor), ["SBO-2"]);
    assert.deepEqual(batch.deadLetters.map((d) => [d.stage, d.reason, d.ref]), [
      ["validation", "sensor SBO-9 is not permitted for source archive", "EO-2"],
    ]);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() waits at most an hour for a Retry-After and keeps the header short in its reason", async () => {
  const archive = scriptedArchive((_request, n) =>
    n === 1
      ? new Response("busy", {
        status: 503,
        headers: { "retry-after": "9".repeat(300) },
      })
      : csvPage(0, 1, "c1")
  );
  try {
    const { checkpoint } = memoryCheckpoint();
    const waits: number[] = [];
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      checkpoint,
      now: () => Date.parse("2026-11-25T12:00:00Z") * 1000,
      sleep: (ms) => {
        waits.push(ms);
        return Promise.resolve();
      },
    });
    const reader = source.readable.getReader();
    const [letter] = (await take(reader)).deadLetters;
    assert.equal(
      letter.reason,
      `HTTP 503 Service Unavailable (Retry-After: ${"9".repeat(64)}…)`,
    );
    assert.equal((await take(reader)).observations.length, 1);
    assert.deepEqual(waits, [3_600_000]);
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() asks again for a CSV page cut short (inside a record or a quoted field), with workers and without", async () => {
  const header = "id,obTime,idSensor,satNo,ra,declination\n";
  const rows = Array.from(
    { length: 10 },
    (_, i) => `EO-${i},2026-11-25T12:00:0${i}Z,"MAUI-EO-1, dome ""A""",25544,${10 + i},5\n`,
  );
  const page = header + rows.join("");
  const cuts = [
    // Mid-record: 7 rows whole, the 8th without its last three fields.
    page.slice(0, page.indexOf(",25544,17,5")),
    // Inside the quoted sensor name of the 4th row.
    page.slice(0, page.indexOf("dome", page.indexOf("EO-3"))),
  ];
  const headers = { "content-type": "text/csv", "x-next-cursor": "c1" };
  for (const workers of [undefined, await testWorkers(1)]) {
    const archive = scriptedArchive((_request, n) =>
      new Response(cuts[n - 1] ?? page, { headers })
    );
    try {
      const { checkpoint } = memoryCheckpoint("c0");
      const source = new OpticalHttpSource({
        name: "archive",
        url: archive.url,
        pageSize: 10,
        checkpoint,
        workers,
        now: () => Date.parse("2026-11-25T13:00:00Z") * 1000,
        sleep: () => Promise.resolve(),
      });
      const reader = source.readable.getReader();
      const reasons = [];
      for (const _ of cuts) {
        const cut = await take(reader);
        assert.equal(cut.observations.length + (cut.packed?.count ?? 0), 0);
        assert.deepEqual(cut.deadLetters.map((d) => [d.stage, d.ref]), [["transport", "c0"]]);
        reasons.push(cut.deadLetters[0].reason);
      }
      assert.match(reasons[0], /^The CSV page's last record has 3 of its 6 fields and no line end/);
      assert.match(reasons[1], /^The CSV page ends inside a quoted field/);
      assert.equal(source.status().counters.cut_pages, 2);
      const whole = await take(reader);
      const ids = refs(whole);
      assert.deepEqual(ids, rows.map((_, i) => `EO-${i}`));
      assert.deepEqual(whole.deadLetters, []);
      assert.deepEqual(archive.seen.map((s) => s.url.searchParams.get("cursor")), [
        "c0",
        "c0",
        "c0",
      ]);
      reader.releaseLock();
      await source.stop();
    } finally {
      workers?.close();
      await archive.close();
    }
  }
});

Deno.test("OpticalHttpSource() takes an empty answer of any type as an empty page, and a UTF-16 page as it is", async () => {
  const utf16 = (text: string) => {
    const bytes = new Uint8Array(text.length * 2);
    for (let i = 0; i < text.length; i++) bytes[2 * i] = text.charCodeAt(i);
    return bytes;
  };
  const csv = "id,obTime,idSensor,satNo,ra,declination\n" +
    "EO-1,2026-11-25T12:00:01Z,MAUI-EO-1,25544,10,5\n";
  const json =
    '[{"id":"EO-2","obTime":"2026-11-25T12:00:02Z","idSensor":"S","ra":1,"declination":2}]';
  const archive = scriptedArchive((_request, n) => {
    const next = { "x-next-cursor": `c${n}` };
    switch (n) {
      case 1: // "nothing newer", whatever a proxy put in its Content-Type
        return new Response(null, { status: 204, headers: { "content-type": "text/html" } });
      case 2:
        return new Response("", { headers: { ...next, "content-type": "text/plain" } });
      case 3:
        return new Response(utf16(csv), {
          headers: { ...next, "content-type": "text/csv; charset=utf-16le" },
        });
      default:
        return new Response(utf16(json), {
          headers: { ...next, "content-type": "application/json; charset=UTF-16LE" },
        });
    }
  });
  try {
    const { checkpoint } = memoryCheckpoint("c0");
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 10,
      checkpoint,
      sleep: () => Promise.resolve(),
    });
    const reader = source.readable.getReader();
    const first = await take(reader);
    assert.deepEqual(first.deadLetters, []);
    assert.deepEqual(first.observations.map((o) => o.provenance.ref), ["EO-1"]);
    const second = await take(reader);
    assert.deepEqual(second.deadLetters, []);
    assert.deepEqual(second.observations.map((o) => o.provenance.ref), ["EO-2"]);
    const counters = source.status().counters;
    assert.equal(counters.empty_pages, 2);
    assert.equal(counters.cut_pages + counters.wrong_type_pages + counters.errors, 0);
    assert.equal(source.status().state, "up");
    reader.releaseLock();
    await source.stop();
  } finally {
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() takes a page that reads cut short 5 times in a row as it came, the broken record a dead letter", async () => {
  const page = "id,obTime,idSensor,satNo,ra,declination\n" +
    "EO-0,2026-11-25T12:00:00Z,MAUI-EO-1,25544,10,5\n" +
    "EO-1,2026-11-25T12:00:01Z,MAUI-EO-1";
  const archive = scriptedArchive((_request, n) =>
    n <= 6
      ? new Response(page, { headers: { "content-type": "text/csv", "x-next-cursor": "c1" } })
      : csvPage(2, 1, "c2")
  );
  const records: LogRecord[] = [];
  await configure({
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["sda-ingest"], lowestLevel: "warning", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["memory"] },
    ],
    reset: true,
  });
  try {
    const { checkpoint, saves } = memoryCheckpoint("c0");
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      pageSize: 10,
      checkpoint,
      now: () => Date.parse("2026-11-25T13:00:00Z") * 1000,
      sleep: () => Promise.resolve(),
    });
    const reader = source.readable.getReader();
    for (let read = 1; read <= 5; read++) {
      const cut = await take(reader);
      assert.deepEqual(cut.deadLetters.map((d) => d.stage), ["transport"], `read ${read}`);
    }
    const taken = await take(reader);
    assert.deepEqual(taken.observations.map((o) => o.provenance.ref), ["EO-0"]);
    assert.deepEqual(taken.deadLetters.map((d) => d.stage), ["decoding"]);
    assert.equal(source.status().counters.cut_pages, 5);
    const warning = records.find((r) => String(r.rawMessage).includes("read cut short"));
    assert.ok(warning, "a warning says the page was taken as it came");
    assert.equal(warning.properties.reads, 6);
    // Then on as usual, from the cursor that page gave.
    const next = await take(reader);
    assert.deepEqual(next.observations.map((o) => o.provenance.ref), ["EO-2"]);
    assert.deepEqual(archive.seen.map((s) => s.url.searchParams.get("cursor")), [
      ...Array(6).fill("c0"),
      "c1",
    ]);
    assert.ok(saves.includes("c1"));
    reader.releaseLock();
    await source.stop();
  } finally {
    await reset();
    await archive.close();
  }
});

Deno.test("OpticalHttpSource() asks again for a JSON page cut short instead of moving its cursor past the records it lost, with workers and without", async () => {
  const records = Array.from({ length: 10 }, (_, i) => ({
    id: `EO-${i}`,
    obTime: `2026-11-25T12:00:0${i}Z`,
    idSensor: "MAUI-EO-1",
    satNo: 25544,
    ra: 10 + i,
    declination: 5,
  }));
  const page = JSON.stringify(records);
  const headers = { "content-type": "application/json", "x-next-cursor": "c1" };
  for (const workers of [undefined, await testWorkers(1)]) {
    // A 200 whose body broke off mid-array, then the whole page. The cut
    // page was one dead letter (the record under way) and the cursor went
    // on to c1: the records after the cut were in neither log.
    const archive = scriptedArchive((_request, n) =>
      new Response(n === 1 ? page.slice(0, Math.floor(page.length * 0.55)) : page, { headers })
    );
    try {
      const { checkpoint } = memoryCheckpoint("c0");
      const source = new OpticalHttpSource({
        name: "archive",
        url: archive.url,
        accept: "json",
        pageSize: 10,
        checkpoint,
        workers,
        now: () => Date.parse("2026-11-25T13:00:00Z") * 1000,
        sleep: () => Promise.resolve(),
      });
      const reader = source.readable.getReader();
      const first = await take(reader);
      assert.equal(first.observations.length, 0);
      assert.deepEqual(first.deadLetters.map((d) => [d.stage, d.ref]), [["transport", "c0"]]);
      assert.match(first.deadLetters[0].reason, /^The JSON page ends before its array is closed/);
      assert.equal(source.status().counters.cut_pages, 1);
      const second = await take(reader);
      const ids = refs(second);
      assert.deepEqual(ids, records.map((r) => r.id));
      assert.deepEqual(archive.seen.map((s) => s.url.searchParams.get("cursor")), ["c0", "c0"]);
      reader.releaseLock();
      await source.stop();
    } finally {
      workers?.close();
      await archive.close();
    }
  }
});

Deno.test("OpticalHttpSource() never repeats its token that an archive echoes in a redirect: not in a reason, /health's last error, a log line or provenance.peer", async () => {
  const token = "Echo-tok/3+f9=";
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [{ category: ["sda-ingest"], lowestLevel: "debug", sinks: ["memory"] }],
  });
  const archive = scriptedArchive((request, n) => {
    const echoed = encodeURIComponent(request.headers.get("authorization") ?? "");
    const port = new URL(request.url).port;
    if (n === 1) {
      // Elsewhere (refused), with the header echoed in the path and the query.
      return new Response(null, {
        status: 302,
        headers: { location: `http://localhost:${port}/x/${echoed}?q=${echoed}` },
      });
    }
    if (n === 2) {
      // Within the origin (followed), with our token in the query.
      return new Response(null, {
        status: 302,
        headers: { location: `/page?ref=${encodeURIComponent(token)}&raw=${token}` },
      });
    }
    return csvPage(0, 2, "c2");
  });
  try {
    const { checkpoint } = memoryCheckpoint("c1");
    const source = new OpticalHttpSource({
      name: "archive",
      url: archive.url,
      token,
      checkpoint,
      ...FAST,
    });
    const reader = source.readable.getReader();
    const refused = await take(reader);
    const lastError = source.status().lastError ?? "";
    const logged = await take(reader);
    assert.equal(logged.observations.length, 2);
    const shown = JSON.stringify([refused, logged.observations, lastError]) +
      JSON.stringify(records.map((r) => [r.message, r.properties]));
    assert.match(lastError, /refused a redirect to another origin/);
    for (const form of [token, encodeURIComponent(token)]) {
      assert.ok(!shown.includes(form), `the token (${form}) is shown: ${shown.slice(0, 2000)}`);
    }
    assert.match(logged.observations[0].provenance.peer, /\/page\?ref=\*\*\*&raw=/);
    reader.releaseLock();
    await source.stop();
  } finally {
    await reset();
    await archive.close();
  }
});
