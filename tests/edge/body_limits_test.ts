/**
 * The edge worker's two cut-offs, in process: the body-size limit
 * (`maxBodyBytes`) and the run of dead letters after which a body is not a
 * feed at all (SPEC §3, §13). Both must give the same answer whatever the
 * chunking of the body.
 */

import assert from "node:assert/strict";
import { DEAD_LETTERS_IN_A_ROW } from "../../sources/dead_letters_in_a_row.ts";
import { createWorker, type EdgeWorker } from "../../edge/create_worker.ts";
import { islBody, opticalBody, radarBody } from "./_bodies.ts";
import { crc16 } from "../../sources/isl/crc16.ts";

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

Deno.test("createWorker() stops decoding a radar body after 1,000 dead letters in a row and no observation, as SPEC §3 closes such a connection, and reads the rest so the sender gets the answer", async () => {
  const worker = createWorker();
  const bytes = enc.encode("x\n".repeat(100_000));
  const whole = await post(worker, "radar", "text/plain", bytes, 4096);
  const last = whole.records.pop()!;
  assert.equal(last.stage, "transport");
  assert.equal(
    last.reason,
    "Not a TDM stream: 1000 dead letters in a row and no observation; the rest was not decoded",
  );
  // The old worker answered ~100 dead letters per 100 bytes of body, to its end.
  assert.equal(whole.records.length, 1000);
  assert.ok(whole.records.every((r) => "stage" in r && r.stage !== "transport"));
  // Read to its end, not decoded: a body cancelled under a sender still
  // writing it broke the sender's pipe before it could read the answer.
  assert.equal(whole.read, bytes.length, `${whole.read} bytes read`);
  for (const chunk of [7, 1000, 64 * 1024]) {
    const cut = await post(worker, "radar", "text/plain", bytes, chunk);
    assert.deepEqual(cut.records, [...whole.records, last], `in ${chunk}`);
  }
});

Deno.test("createWorker() reads an archive page or a packet stream on however many records fail validation first: the next good record is still ingested (SPEC §3)", async () => {
  const worker = createWorker();
  const page = new TextDecoder().decode(await bytesOf(opticalBody({ count: 2 }).stream));
  const [header, ...rows] = page.split("\n");
  // 1,500 well-formed records whose values fail validation (ra out of range), then two good ones.
  const bad = rows[0].replace(/^GEN-0,/, "BAD,").split(",");
  bad[5] = "999";
  const csv = enc.encode(
    [header, ...Array.from({ length: 1500 }, () => bad.join(",")), ...rows].join("\n"),
  );
  // 1,500 sound beacons with a value that is no number, then two good ones.
  const good = await bytesOf(islBody({ count: 2 }).stream);
  const invalid = good.slice(0, 96);
  new DataView(invalid.buffer).setFloat64(53, NaN);
  new DataView(invalid.buffer).setUint16(94, crc16(invalid, 0, 94));
  const isl = new Uint8Array(1500 * 96 + good.length);
  for (let i = 0; i < 1500; i++) isl.set(invalid, i * 96);
  isl.set(good, 1500 * 96);
  for (
    const [route, type, bytes] of [
      ["optical", "text/csv", csv],
      ["isl", "application/octet-stream", isl],
    ] as const
  ) {
    for (const chunk of [4096, 64 * 1024]) {
      const { records, read } = await post(worker, route, type, bytes, chunk);
      assert.equal(read, bytes.length);
      assert.equal(records.length, 1502, `${route} in ${chunk}`);
      assert.ok(records.slice(0, 1500).every((r) => r.stage === "validation"));
      assert.deepEqual(
        records.slice(1500).map((r) => r.kind),
        [route, route],
        `${route} in ${chunk}`,
      );
    }
  }
});

/** A junk body that is no feed at all, per route: each line or element a dead letter many times its size. */
const JUNK = [
  { route: "radar", type: "text/plain", bytes: enc.encode("x\n".repeat(100_000)) },
  {
    route: "optical",
    type: "application/json",
    bytes: enc.encode(`[${Array.from({ length: 100_000 }, (_, i) => i).join(",")}]`),
  },
  // Elements that parse but hold nothing: validation dead letters ~90 times their size.
  {
    route: "optical",
    type: "application/json",
    bytes: enc.encode(`[${Array(100_000).fill("{}").join(",")}]`),
  },
  // 18-byte packets of a version-0 header with a bad CRC: each a framing dead letter.
  {
    route: "isl",
    type: "application/octet-stream",
    bytes: (() => {
      const bytes = new Uint8Array(18 * 20_000);
      for (let at = 0; at < bytes.length; at += 18) {
        bytes.set([0x0f, 0xfe, 0xc0, 0x00, 0x00, 0x0b], at);
      }
      return bytes;
    })(),
  },
] as const;

Deno.test("createWorker() cuts a body of junk off after 1,000 dead letters in a row on every route, so no answer is ~100 times its body", async () => {
  const worker = createWorker();
  const reasons: Record<string, string> = {
    "text/plain": "Not a TDM stream",
    "application/json": "Not a UDL EO JSON page",
    "application/octet-stream": "Not an ISL packet stream",
  };
  for (const { route, type, bytes } of JUNK) {
    const whole = await post(worker, route, type, bytes, 4096);
    const last = whole.records.pop()!;
    assert.equal(
      last.reason,
      `${reasons[type]}: 1000 dead letters in a row and no observation; the rest was not decoded`,
    );
    assert.equal(whole.records.length, 1000, `${route} ${type}`);
    assert.equal(whole.read, bytes.length);
    const cut = await post(worker, route, type, bytes, 7);
    assert.deepEqual(cut.records, [...whole.records, last], `${route} ${type} in 7`);
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

Deno.test("createWorker() ends the radar measurement a body completed before maxBodyBytes, and never decodes a line the limit cut short", async () => {
  const t = new Date(Date.now() - 3_600_000).toISOString().slice(0, 19);
  const head = "CCSDS_TDM_VERS = 2.0\nCREATION_DATE = 2026-11-25T12:00:00\nORIGINATOR = XR1-OPS\n" +
    "META_START\nTIME_SYSTEM = UTC\nPARTICIPANT_1 = XR1\nPARTICIPANT_2 = 49863\n" +
    "MODE = SEQUENTIAL\nPATH = 2,1,2\nANGLE_TYPE = AZEL\nRANGE_UNITS = km\nMETA_STOP\nDATA_START\n";
  const lines = `RANGE = ${t}.000 1.0\nRANGE = ${t}.500 2.0\nANGLE_1 = ${t}.500 10.0\n`;
  const body = enc.encode(head + lines + "COMMENT padding\n".repeat(20) + "DATA_STOP\n");
  const limit = enc.encode(head + lines).length + 5;
  const values = (records: Record<string, unknown>[]) =>
    records.map((r) => r.kind === undefined ? r.stage : JSON.stringify(r.measurement));
  for (const chunk of [4096, 64, 7]) {
    const { records } = await post(
      createWorker({ maxBodyBytes: limit }),
      "radar",
      "text/plain",
      body,
      chunk,
    );
    // The second measurement's lines all came: it is not lost with the rest.
    assert.deepEqual(values(records), [
      JSON.stringify({ range_km: 1 }),
      JSON.stringify({ range_km: 2, az_deg: 10 }),
      "transport",
    ], `in ${chunk}`);
  }
  // Cut inside a value: `RANGE = … 1234.5` of `1234.567` is no measurement of 1234.5.
  const cutInside = enc.encode(head + `RANGE = ${t}.000 1.0\nRANGE = ${t}.500 1234.567\n`);
  const at = enc.encode(head + `RANGE = ${t}.000 1.0\nRANGE = ${t}.500 1234.5`).length;
  const { records } = await post(
    createWorker({ maxBodyBytes: at }),
    "radar",
    "text/plain",
    cutInside,
    4096,
  );
  assert.deepEqual(values(records), [JSON.stringify({ range_km: 1 }), "transport"]);
});
