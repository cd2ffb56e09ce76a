/**
 * Compressed request bodies at the edge: `Content-Encoding: gzip` and
 * `deflate` are decompressed as they stream, with the body limit counting
 * decompressed bytes; another encoding is refused with 415.
 */

import assert from "node:assert/strict";
import { createWorker, type EdgeWorker } from "../../edge/create_worker.ts";
import { islBody, radarBody } from "./_bodies.ts";

async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function compress(bytes: Uint8Array<ArrayBuffer>, format: CompressionFormat) {
  return bytesOf(new Blob([bytes]).stream().pipeThrough(new CompressionStream(format)));
}

/** The answer's records, `t_rx` masked (it is when a gathering was decoded). */
async function post(
  worker: EdgeWorker,
  route: string,
  body: Uint8Array<ArrayBuffer>,
  headers: Record<string, string>,
): Promise<{ status: number; records: Record<string, unknown>[] }> {
  const response = worker.fetch(
    new Request(`http://edge/ingest/${route}`, { method: "POST", body, headers }),
  );
  const text = await response.text();
  if (response.status !== 200) return { status: response.status, records: [JSON.parse(text)] };
  const records = text.split("\n").filter((line) => line !== "").map((line) => {
    const record = JSON.parse(line);
    record.t_rx = "T";
    return record;
  });
  return { status: response.status, records };
}

Deno.test("createWorker() decompresses a gzip or deflate body as it streams: the same answer as the plain body", async () => {
  const worker = createWorker();
  for (
    const [route, body] of [
      ["radar", await bytesOf(radarBody({ count: 300 }).stream)],
      ["isl", await bytesOf(islBody({ count: 300 }).stream)],
    ] as const
  ) {
    const plain = await post(worker, route, body, {});
    assert.equal(plain.records.length, 300);
    for (const [encoding, format] of [["gzip", "gzip"], ["deflate", "deflate"]] as const) {
      const compressed = await compress(body, format);
      assert.ok(compressed.length < body.length);
      const answer = await post(worker, route, compressed, { "content-encoding": encoding });
      assert.equal(answer.status, 200);
      assert.deepEqual(answer.records, plain.records, `${route} ${encoding}`);
    }
  }
});

Deno.test("createWorker() counts the body limit after decompression, and dead-letters a gzip stream cut short", async () => {
  const body = await bytesOf(radarBody({ count: 2000 }).stream);
  const gzip = await compress(body, "gzip");
  // A bomb in small: ~500 KB of radar in a few KB, against a 100 KB limit.
  const bomb = await post(createWorker({ maxBodyBytes: 100_000 }), "radar", gzip, {
    "content-encoding": "gzip",
  });
  const last = bomb.records.at(-1)!;
  assert.equal(last.stage, "transport");
  assert.equal(last.reason, "Body larger than 100000 bytes: the rest was not read");
  assert.ok(bomb.records.length > 100 && bomb.records.length < 2000, `${bomb.records.length}`);
  // Cut short in transit: what was decompressed is answered, then why it stops.
  const cut = await post(createWorker(), "radar", gzip.slice(0, gzip.length >> 1), {
    "content-encoding": "gzip",
  });
  const end = cut.records.at(-1)!;
  assert.equal(end.stage, "transport");
  assert.match(String(end.reason), /^Cannot read the rest of the body: /);
  assert.ok(cut.records.slice(0, -1).every((r) => r.kind === "radar"));
  assert.ok(cut.records.length > 1);
});

Deno.test("createWorker() refuses a Content-Encoding it cannot decode with 415", async () => {
  const answer = await post(createWorker(), "radar", new Uint8Array(10), {
    "content-encoding": "br",
  });
  assert.equal(answer.status, 415);
  assert.deepEqual(answer.records, [{
    error: 'Unsupported Content-Encoding: "br" (send gzip, deflate or none)',
  }]);
});

Deno.test("createWorker() answers what a small gzip body held before its stream broke, then why it stops", async () => {
  const body = await bytesOf(radarBody({ count: 100 }).stream);
  const gzip = await compress(body, "gzip");
  // Every data byte there, the 8-byte trailer (CRC, length) missing.
  const cut = await post(createWorker(), "radar", gzip.slice(0, gzip.length - 8), {
    "content-encoding": "gzip",
  });
  assert.equal(cut.records.length, 101);
  assert.ok(cut.records.slice(0, 100).every((r) => r.kind === "radar"));
  assert.match(String(cut.records[100].reason), /^Cannot read the rest of the body: /);
});

Deno.test("createWorker() answers an empty optical body with nothing, as the live source takes an empty page", async () => {
  for (const type of ["application/json", "text/csv"]) {
    const answer = await post(createWorker(), "optical", new Uint8Array(0), {
      "content-type": type,
    });
    assert.deepEqual(answer, { status: 200, records: [] }, type);
  }
});
