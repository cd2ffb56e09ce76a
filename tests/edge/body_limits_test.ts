/**
 * The edge worker's two cut-offs, in process: the body-size limit
 * (`maxBodyBytes`) and the run of dead letters after which a body is not a
 * feed at all (SPEC §3, §13). Both must give the same answer whatever the
 * chunking of the body.
 */

import assert from "node:assert/strict";
import { DEAD_LETTERS_IN_A_ROW } from "../../sources/dead_letters_in_a_row.ts";
import { createWorker, type EdgeWorker } from "../../edge/create_worker.ts";
import { opticalBody, radarBody } from "./_bodies.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url).pathname;
const enc = new TextEncoder();

/** All of a generated body, as bytes (small bodies only). */
async function bytesOf(stream: ReadableStream<Uint8Array>): Promise<Uint8Array> {
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

interface Answer {
  /** The answer's records, `t_rx` masked (it is when a gathering was decoded). */
  records: Record<string, unknown>[];
  /** Bytes of the body the worker read. */
  read: number;
}

/** Posts `bytes` to `route` in chunks of `chunk` bytes, each pulled on demand. */
async function post(
  worker: EdgeWorker,
  route: string,
  type: string,
  bytes: Uint8Array,
  chunk: number,
): Promise<Answer> {
  let read = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (read >= bytes.length) return controller.close();
      controller.enqueue(bytes.slice(read, read + chunk));
      read = Math.min(read + chunk, bytes.length);
    },
  }, { highWaterMark: 0 });
  const response = worker.fetch(
    new Request(`http://edge/ingest/${route}`, {
      method: "POST",
      body,
      headers: { "content-type": type },
    }),
  );
  assert.equal(response.status, 200);
  const text = await response.text();
  const records = text.split("\n").filter((line) => line !== "").map((line) => {
    const record = JSON.parse(line);
    record.t_rx = "T";
    return record;
  });
  return { records, read };
}

const observations = (answer: Answer) => answer.records.filter((r) => "kind" in r).length;

Deno.test("createWorker() answers a body past maxBodyBytes the same whatever its chunking, decoding it up to the limit", async () => {
  const cases = [
    // 50 observations in ~13 KB: the limit falls in the middle of them.
    {
      route: "radar",
      type: "text/plain",
      bytes: await bytesOf(radarBody({ count: 50 }).stream),
      limit: 6000,
    },
    {
      route: "optical",
      type: "text/csv",
      bytes: await bytesOf(opticalBody({ count: 50 }).stream),
      limit: 6000,
    },
    // Three beacons and half a fourth below the limit.
    {
      route: "isl",
      type: "application/octet-stream",
      bytes: await Deno.readFile(`${FIXTURES}isl/capture.spp`),
      limit: 3 * 96 + 50,
    },
  ];
  for (const { route, type, bytes, limit } of cases) {
    const worker = createWorker({ maxBodyBytes: limit });
    const whole = await post(worker, route, type, bytes, bytes.length);
    const last = whole.records.at(-1)!;
    assert.equal(last.stage, "transport", route);
    assert.equal(last.reason, `Body larger than ${limit} bytes: the rest was not read`, route);
    // Everything completed below the limit is answered: the old worker
    // dropped the chunk that crossed it whole, here the only chunk.
    assert.ok(observations(whole) > 0, `${route}: no observation below the limit`);
    for (const chunk of [1, 7, 96, 100, 1000, limit - 1, limit, limit + 1, 4096, 64 * 1024]) {
      const cut = await post(worker, route, type, bytes, chunk);
      assert.deepEqual(cut.records, whole.records, `${route} in chunks of ${chunk} bytes`);
      // The chunk that crossed the limit was read, nothing after it.
      assert.ok(cut.read < limit + chunk + 1, `${route}: ${cut.read} bytes read`);
    }
  }
});

Deno.test("createWorker() answers the observations that a body completes within maxBodyBytes", async () => {
  const bytes = await Deno.readFile(`${FIXTURES}isl/capture.spp`);
  const worker = createWorker({ maxBodyBytes: 3 * 96 + 50 });
  const { records } = await post(worker, "isl", "application/octet-stream", bytes, 4096);
  assert.deepEqual(records.map((r) => r.kind ?? r.stage), ["isl", "isl", "isl", "transport"]);
});

/** A junk body that is no feed at all, per route, each line or element a dead letter. */
const JUNK = [
  { route: "radar", type: "text/plain", bytes: enc.encode("x\n".repeat(100_000)) },
  {
    route: "optical",
    type: "text/csv",
    bytes: enc.encode("id,obTime,idSensor,satNo,ra,declination\n" + "junk\n".repeat(100_000)),
  },
  {
    route: "optical",
    type: "application/json",
    bytes: enc.encode(`[${Array.from({ length: 100_000 }, (_, i) => i).join(",")}]`),
  },
  // Six zero bytes are a version-0 header declaring a 7-byte packet: all faults.
  { route: "isl", type: "application/octet-stream", bytes: new Uint8Array(200_000) },
] as const;

const JUNK_REASONS: Record<string, string> = {
  "text/plain": "Not a TDM stream",
  "text/csv": "Not a UDL EO CSV page",
  "application/json": "Not a UDL EO JSON page",
  "application/octet-stream": "Not an ISL packet stream",
};

Deno.test("createWorker() stops decoding a body after 1,000 dead letters in a row and no observation, on every route, and reads the rest so the sender gets the answer", async () => {
  const worker = createWorker();
  for (const { route, type, bytes } of JUNK) {
    const whole = await post(worker, route, type, bytes, 4096);
    const last = whole.records.pop()!;
    assert.equal(last.stage, "transport", `${route} ${type}`);
    assert.equal(
      last.reason,
      `${
        JUNK_REASONS[type]
      }: 1000 dead letters in a row and no observation; the rest was not decoded`,
    );
    // The old worker answered ~100 dead letters per 100 bytes of body, to its end.
    assert.equal(whole.records.length, 1000, `${route} ${type}`);
    assert.ok(whole.records.every((r) => "stage" in r && r.stage !== "transport"));
    // Read to its end, not decoded: a body cancelled under a sender still
    // writing it broke the sender's pipe before it could read the answer.
    assert.equal(whole.read, bytes.length, `${route} ${type}: ${whole.read} bytes read`);
    for (const chunk of [7, 1000, 64 * 1024]) {
      const cut = await post(worker, route, type, bytes, chunk);
      assert.deepEqual(cut.records, [...whole.records, last], `${route} ${type} in ${chunk}`);
    }
  }
});

Deno.test("createWorker() reads on while an observation comes within every 1,000 dead letters", async () => {
  const worker = createWorker();
  const message = new TextDecoder().decode(await bytesOf(radarBody({ count: 1 }).stream));
  // 999 junk lines, a message with one observation, 999 more, another message…
  const junk = "x\n".repeat(DEAD_LETTERS_IN_A_ROW - 1);
  const body = enc.encode((junk + message).repeat(5) + junk);
  const { records, read } = await post(worker, "radar", "text/plain", body, 4096);
  assert.equal(read, body.length);
  assert.equal(observations({ records, read }), 5);
  assert.equal(records.length, 5 + 6 * (DEAD_LETTERS_IN_A_ROW - 1));
  assert.ok(records.every((r) => r.stage !== "transport"));
});
