import assert from "node:assert/strict";
import { createWorker } from "../../edge/create_worker.ts";
import { mulberry32 } from "../../sim/_random.ts";

const CAPTURE = new URL("../../fixtures/isl/capture.spp", import.meta.url).pathname;

async function answer(body: Uint8Array, chunk = body.length) {
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= body.length) return c.close();
      c.enqueue(body.slice(at, at + chunk));
      at += chunk;
    },
  }, { highWaterMark: 0 });
  const response = createWorker().fetch(
    new Request("http://edge/ingest/isl", { method: "POST", body: stream }),
  );
  return (await response.text()).trim().split("\n").map((l) => ({ ...JSON.parse(l), t_rx: "T" }));
}

Deno.test("edge worker ingests the good packets after one of an unknown version, whatever the chunking", async () => {
  const bytes = await Deno.readFile(CAPTURE);
  const body = bytes.slice();
  body[3 * 96] = (body[3 * 96] & 0x1f) | (2 << 5); // packet 4 claims version 2
  const records = await answer(body);
  assert.deepEqual(
    records.map((r) => r.kind ?? r.stage),
    [...Array(3).fill("isl"), "framing", ...Array(bytes.length / 96 - 4).fill("isl")],
  );
  const letter = records[3];
  assert.equal(
    letter.reason,
    "Unknown packet version 2 (expected 0): 96 bytes skipped to the next sound packet",
  );
  assert.equal(letter.ref, String(Number(records[2].provenance.ref) + 1));
  for (const chunk of [1, 5, 6, 7, 95, 96, 97, 100, 4096]) {
    assert.deepEqual(await answer(body, chunk), records, `chunks of ${chunk}`);
  }
});

Deno.test("edge worker skips junk between packets to the next sound one, whatever the chunking (seeded)", async () => {
  const bytes = await Deno.readFile(CAPTURE);
  const random = mulberry32(4);
  for (let run = 0; run < 50; run++) {
    // Junk of 1–300 random bytes, starting with an unknown version, after packet 5.
    const junk = Uint8Array.from(
      { length: 1 + Math.floor(random() * 300) },
      () => Math.floor(random() * 256),
    );
    junk[0] |= 0x20;
    const body = new Uint8Array(bytes.length + junk.length);
    body.set(bytes.subarray(0, 5 * 96));
    body.set(junk, 5 * 96);
    body.set(bytes.subarray(5 * 96), 5 * 96 + junk.length);
    const records = await answer(body);
    assert.equal(records.filter((r) => r.kind === "isl").length, bytes.length / 96, `run ${run}`);
    assert.equal(records.filter((r) => r.stage).length, 1);
    assert.equal(
      records[5].reason,
      `Unknown packet version ${
        junk[0] >> 5
      } (expected 0): ${junk.length} bytes skipped to the next sound packet`,
    );
    for (const chunk of [1 + Math.floor(random() * 200), 7]) {
      assert.deepEqual(await answer(body, chunk), records, `run ${run} in chunks of ${chunk}`);
    }
  }
});

Deno.test("edge worker makes trailing junk after an unknown version one dead letter", async () => {
  const bytes = await Deno.readFile(CAPTURE);
  const body = new Uint8Array(bytes.length + 500).fill(0xff);
  body.set(bytes);
  for (const chunk of [body.length, 1, 64]) {
    const records = await answer(body, chunk);
    assert.equal(records.length, bytes.length / 96 + 1);
    assert.equal(
      records.at(-1).reason,
      "Unknown packet version 7 (expected 0): 500 bytes skipped to the end, no sound packet among them",
    );
  }
});
