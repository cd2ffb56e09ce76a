/**
 * DecodePool: decoding in Web Workers hands the main thread exactly what the
 * decoders make on the main thread, packed; a crashed worker loses nothing
 * silently (issue 16).
 */

import assert from "node:assert/strict";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import { serializeObservation } from "../../envelope/serialize.ts";
import type { IngestBatch, PackedObservations } from "../../operators/ingest_batch.ts";
import { packObservations } from "../../operators/pack_observations.ts";
import { decodeOpticalPage } from "../../sources/optical/decode_optical_page.ts";
import { TdmDecodeStream } from "../../sources/radar/tdm_decode_stream.ts";
import { DecodePool } from "../../service/workers/decode_pool.ts";

const decoder = new TextDecoder();
const fixtures = new URL("../../fixtures/", import.meta.url).pathname;

function lines(packed: PackedObservations | undefined): string[] {
  if (packed === undefined) return [];
  const out: string[] = [];
  let start = 0;
  for (let i = 0; i < packed.count; i++) {
    out.push(decoder.decode(packed.lines.subarray(start, packed.ends[i] - 1)));
    start = packed.ends[i];
  }
  return out;
}

function hexIds(packed: PackedObservations | undefined): string[] {
  if (packed === undefined) return [];
  const out: string[] = [];
  for (let i = 0; i < packed.count; i++) {
    out.push(
      Array.from(
        packed.ids.subarray(i * 4, i * 4 + 4),
        (w) => (w >>> 0).toString(16).padStart(8, "0"),
      )
        .join(""),
    );
  }
  return out;
}

/** Feeds `bytes` in `size`-byte chunks. */
function chunks(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; at += size) parts.push(bytes.slice(at, at + size));
  return ReadableStream.from(parts);
}

Deno.test("DecodePool.stream() hands over the lines, ids and dead letters TdmDecodeStream makes, in order", async () => {
  const pool = new DecodePool(2);
  try {
    for (const name of Deno.readDirSync(`${fixtures}radar`)) {
      const bytes = await Deno.readFile(`${fixtures}radar/${name.name}`);
      const ctx = {
        source: "xr1",
        transport: "replay" as const,
        peer: name.name,
        deterministic: true,
      };
      const local: IngestBatch[] = await Array.fromAsync(
        chunks(bytes, 97).pipeThrough(new TdmDecodeStream({ ctx, groupIdleMs: Infinity })),
      );
      const remote = await Array.fromAsync(
        chunks(bytes, 97).pipeThrough(pool.stream({ kind: "tdm", ctx, groupIdleMs: Infinity })),
      );
      const observations: Observation[] = local.flatMap((b) => b.observations);
      const deadLetters: DeadLetter[] = local.flatMap((b) => b.deadLetters);
      assert.ok(remote.every((b) => b.observations.length === 0), name.name);
      assert.deepEqual(
        remote.flatMap((b) => lines(b.packed)),
        observations.map(serializeObservation),
      );
      assert.deepEqual(remote.flatMap((b) => hexIds(b.packed)), observations.map((o) => o.id));
      assert.deepEqual(remote.flatMap((b) => b.deadLetters), deadLetters, name.name);
      assert.ok(remote.every((b) => b.source === "xr1"));
    }
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool.page() decodes an archive page as decodeOpticalPage does, times included, and leaves the caller its bytes", async () => {
  const pool = new DecodePool(1);
  try {
    for (const name of ["page-001.csv", "page-003.json"]) {
      const file = await Deno.readFile(`${fixtures}optical/${name}`);
      // As a page reader holds a page: in a resizable buffer it reuses.
      const body = new Uint8Array(new ArrayBuffer(file.length, { maxByteLength: 1 << 24 }));
      body.set(file);
      const type = name.endsWith(".json") ? "application/json" : "text/csv";
      const receivedAt = Date.parse("2026-11-26T00:00:00Z") * 1000;
      const ctx = {
        source: "archive",
        transport: "http" as const,
        peer: "http://x",
        now: () => receivedAt,
      };
      const page = decodeOpticalPage(body, type, ctx);
      const batch = await pool.page(
        {
          kind: "optical",
          ctx: { source: "archive", transport: "http", peer: "http://x", receivedAt },
          contentType: type,
        },
        body,
      );
      const expected = packObservations(page.observations);
      assert.deepEqual(lines(batch.packed), lines(expected));
      assert.deepEqual(batch.packed?.ids, expected.ids);
      assert.deepEqual(batch.packed?.received, expected.received);
      assert.deepEqual(batch.packed?.observed, expected.observed);
      assert.deepEqual(batch.packed?.keys, expected.keys);
      assert.deepEqual(batch.deadLetters, page.deadLetters);
      assert.deepEqual(body, file, "the caller's bytes are neither moved nor changed");
    }
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool.page() handed over transfers a whole fixed-length buffer and copies anything else, decoding both alike", async () => {
  const pool = new DecodePool(1);
  try {
    const file = await Deno.readFile(`${fixtures}optical/page-001.csv`);
    const spec = {
      kind: "optical" as const,
      ctx: { source: "archive", transport: "replay" as const, peer: "p", deterministic: true },
      contentType: "text/csv",
    };
    const expected = lines((await pool.page(spec, file.slice())).packed);
    assert.ok(expected.length > 0);
    // The whole buffer: transferred, detached here.
    const whole = file.slice();
    assert.deepEqual(lines((await pool.page(spec, whole, true)).packed), expected);
    assert.equal(whole.buffer.byteLength, 0, "not transferred");
    // A view of part of a buffer, and a resizable buffer: copied, left as they were.
    const larger = new Uint8Array(file.length + 8);
    larger.set(file, 8);
    const view = larger.subarray(8);
    assert.deepEqual(lines((await pool.page(spec, view, true)).packed), expected);
    assert.deepEqual(view, file);
    const resizable = new Uint8Array(new ArrayBuffer(file.length, { maxByteLength: 1 << 20 }));
    resizable.set(file);
    assert.deepEqual(lines((await pool.page(spec, resizable, true)).packed), expected);
    assert.deepEqual(resizable, file);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool: a crashed worker's undecoded chunks become dead letters, its stream ends, a new worker takes over", async () => {
  const pool = new DecodePool(1);
  try {
    const ctx = { source: "xr1", transport: "tcp" as const, peer: "127.0.0.1:1" };
    const tdm = "CCSDS_TDM_VERS = 2.0\nMESSAGE_ID = M1\nMETA_START\nTIME_SYSTEM = UTC\n" +
      "PARTICIPANT_1 = XR1\nMETA_STOP\nDATA_START\nRCS = 2026-11-25T12:00:00 1.5\n";
    const channel = pool.stream({ kind: "tdm", ctx });
    const reader = channel.readable.getReader();
    const writer = channel.writable.getWriter();
    // Messages to a worker keep their order: it dies before it sees the chunk.
    pool.crash(0);
    writer.write(new TextEncoder().encode(tdm)).catch(() => {});
    const batches: IngestBatch[] = [];
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      batches.push(value);
    }
    const letters = batches.flatMap((b) => b.deadLetters);
    assert.equal(letters.length, 1);
    assert.equal(letters[0].stage, "decoding");
    assert.match(letters[0].reason, /^Internal error while decoding in a worker that crashed: /);
    assert.equal(letters[0].raw, tdm);
    assert.equal(letters[0].source, "xr1");
    await assert.rejects(writer.closed, /crashed/);
    assert.equal(pool.crashes, 1);
    // The next stream goes to the replacement.
    const again = await Array.fromAsync(
      ReadableStream.from([new TextEncoder().encode(tdm + "DATA_STOP\n")]).pipeThrough(
        pool.stream({ kind: "tdm", ctx }),
      ),
    );
    assert.equal(again.reduce((n, b) => n + (b.packed?.count ?? 0), 0), 1);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool.page() fails when its worker crashes, and the pool goes on", async () => {
  const pool = new DecodePool(1);
  try {
    const spec = {
      kind: "optical" as const,
      ctx: {
        source: "archive",
        transport: "http" as const,
        peer: "http://x",
        receivedAt: Date.parse("2026-11-26T00:00:00Z") * 1000,
      },
      contentType: "text/csv",
    };
    // Starts the worker, then crashes it before it sees the page.
    await pool.page(spec, new Uint8Array());
    pool.crash(0);
    await assert.rejects(
      pool.page(spec, await Deno.readFile(`${fixtures}optical/page-001.csv`)),
      /crashed/,
    );
    const batch = await pool.page(spec, await Deno.readFile(`${fixtures}optical/page-001.csv`));
    assert.ok((batch.packed?.count ?? 0) > 0);
  } finally {
    pool.close();
  }
});

Deno.test("DecodePool: a decode worker does not load zod (the schemas cost every worker ~10 MiB)", async () => {
  // The project's import map without zod: a worker whose modules import it
  // at run time (not just its types) fails to start.
  const dir = await Deno.makeTempDir({ prefix: "sda-no-zod-" });
  try {
    const root = new URL("../../", import.meta.url);
    const { imports } = JSON.parse(await Deno.readTextFile(new URL("deno.json", root)));
    assert.ok("zod" in imports);
    delete imports.zod;
    await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ imports }));
    await Deno.writeTextFile(
      `${dir}/start.ts`,
      `import { DecodePool } from "${new URL("service/workers/decode_pool.ts", root)}";
const pool = new DecodePool(1);
await pool.started;
const body = await Deno.readFile("${fixtures}optical/page-003.json");
const batch = await pool.page({
  kind: "optical",
  ctx: { source: "archive", transport: "http", peer: "http://x", receivedAt: Date.now() * 1000 },
  contentType: "application/json",
}, body);
console.log(batch.packed?.count ?? 0);
pool.close();
`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-read", "--config", `${dir}/deno.json`, `${dir}/start.ts`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.ok(Number(new TextDecoder().decode(output.stdout)) > 0, stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
