import assert from "node:assert/strict";
import { mulberry32 } from "../../../sim/_random.ts";
import type { DecodeContext } from "../../../sources/decode_context.ts";
import { decodeOpticalPage } from "../../../sources/optical/decode_optical_page.ts";
import {
  OpticalDecodeStream,
  type OpticalDecodeStreamOptions,
} from "../../../sources/optical/optical_decode_stream.ts";

const ctx: DecodeContext = {
  source: "archive",
  transport: "http",
  peer: "http://127.0.0.1:7002/udl/eoobservation",
  now: () => Date.parse("2026-11-25T12:00:05Z") * 1000,
};

const HEADER = "id,obTime,idSensor,satNo,ra,declination";
const ROW = (n: number) => `EO-${n},2026-11-25T12:00:0${n % 10}Z,S,1,${n},1`;
const RECORD = (n: number) =>
  `{"id":"EO-${n}","obTime":"2026-11-25T12:00:0${
    n % 10
  }Z","idSensor":"S","ra":${n},"declination":1}`;

/** What `OpticalDecodeStream` gives for `bytes` cut at `cuts`, in input order. */
async function streamed(
  bytes: Uint8Array,
  cuts: number[],
  contentType: string,
  options: Partial<OpticalDecodeStreamOptions> = {},
): Promise<{ observations: unknown[]; deadLetters: unknown[]; order: string[] }> {
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    pieces.push(bytes.subarray(from, at));
    from = at;
  }
  const batches = await Array.fromAsync(
    ReadableStream.from(pieces).pipeThrough(
      new OpticalDecodeStream({ ctx, contentType, ...options }),
    ),
  );
  const order: string[] = [];
  for (const b of batches) {
    let o = 0;
    b.deadLetters.forEach((d, k) => {
      for (; o < b.deadLetterAt![k]; o++) order.push(`o:${b.observations[o].provenance.ref}`);
      order.push(`d:${d.reason}`);
    });
    for (; o < b.observations.length; o++) order.push(`o:${b.observations[o].provenance.ref}`);
  }
  return {
    observations: batches.flatMap((b) => b.observations),
    deadLetters: batches.flatMap((b) => b.deadLetters),
    order,
  };
}

/** Random sorted cut positions in `[0, length]`. */
function randomCuts(random: () => number, length: number, count: number): number[] {
  return [...Array(count)].map(() => Math.floor(random() * (length + 1))).sort((a, b) => a - b);
}

/** Pages where the stream once differed from the page decoder (deno task fuzz), and their kin. */
const PAGES: [string, string][] = [
  ["text/csv", `${HEADER}\r${ROW(1)}\n${ROW(2)}\r\n${ROW(3)}\r`],
  ["text/csv", `${HEADER}\r\r\n${ROW(1)}\r\r\n`],
  ["text/csv", `"unterminated,2026-11-25T12:00:00Z,S1,1,2\n${HEADER}\n${ROW(1)}\n`],
  ["text/csv", `id,"obTime",idSensor,satNo"x",ra,declination\n${ROW(1)}\n${ROW(2)}\n`],
  ["text/csv", `\n\r\n${HEADER},remarks\n${ROW(1)},"two\r\nlines, ""quoted"""\n${ROW(2)},\r\n`],
  ["text/csv", `${HEADER}\n${ROW(1)}\n"broken,row\n${ROW(2)}\n`],
  ["application/json", `[${RECORD(1)},\n ${RECORD(2)} ,{"id":"EO-3","ra":"a\\"b\\\\"}]`],
  ["application/json", `[${RECORD(1)},{"id":x},${RECORD(3)}`],
  ["application/json", `[{"id": "EO-0501", "obTime": "2026-11-25T12:05:00Z",\n`],
  ["application/json", ` [${RECORD(1)}] [`],
  ["application/json", `{"id":"EO-1"}`],
  ["application/json", `[]`],
  ["application/json", ``],
];

Deno.test("decodeOpticalPage() gives what OpticalDecodeStream gives, however the page is cut", async () => {
  const random = mulberry32(5);
  for (const [type, text] of PAGES) {
    const bytes = new TextEncoder().encode(text);
    const page = decodeOpticalPage(bytes, type, ctx);
    assert.ok(page.observations.length + page.deadLetters.length > 0 || text.length <= 2, text);
    const cuttings = [[], ...[...Array(bytes.length + 1).keys()].map((at) => [at])];
    for (let k = 0; k < 30; k++) cuttings.push(randomCuts(random, bytes.length, 1 + (k % 9)));
    for (const cuts of cuttings) {
      const { observations, deadLetters } = await streamed(bytes, cuts, type);
      assert.deepEqual(
        { observations, deadLetters },
        page,
        `${JSON.stringify(text)} cut at ${cuts}`,
      );
    }
  }
});

Deno.test("decodeOpticalPage() keeps the JSON records before where an array breaks off, and those after a record that does not parse", async () => {
  const text = `[${RECORD(1)},{"id":"EO-2",},${RECORD(3)},${RECORD(4)}`;
  const page = decodeOpticalPage(text, "application/json", ctx);
  assert.deepEqual(page.observations.map((o) => o.provenance.ref), ["EO-1", "EO-3"]);
  assert.deepEqual(page.deadLetters.map((d) => [d.reason, d.raw]), [
    [
      `Cannot parse JSON record: Expected double-quoted property name in JSON at position 13 (line 1 column 14)`,
      '{"id":"EO-2",}',
    ],
    ["Cannot parse JSON page: the array is not closed (unexpected end of input)", RECORD(4)],
  ]);
  const { order } = await streamed(new TextEncoder().encode(text), [40, 90], "application/json");
  assert.deepEqual(order, [
    "o:EO-1",
    `d:${page.deadLetters[0].reason}`,
    "o:EO-3",
    `d:${page.deadLetters[1].reason}`,
  ]);
  // Broken before its first record is complete: one dead letter for the page, as ever.
  const cut = `[{"id": "EO-0501", "obTime": "2026-11-25T12:05:00Z",\n`;
  assert.deepEqual(
    decodeOpticalPage(cut, "application/json", ctx).deadLetters.map((d) => d.reason),
    [
      "Cannot parse JSON page: Expected double-quoted property name in JSON at position 53 (line 2 column 1)",
    ],
  );
});

Deno.test("OpticalDecodeStream reads a long JSON record cut into small pieces, escapes across the cuts", async () => {
  // Backslash runs and escaped quotes land on every side of the cuts.
  const remarks = 'a\\"b"c\\\\"d\\'.repeat(2_000);
  const long = `{"id":"EO-2","obTime":"2026-11-25T12:00:02Z","idSensor":"S","ra":2,` +
    `"declination":1,"remarks":${JSON.stringify(remarks)}}`;
  const text = `[${RECORD(1)},${long},${RECORD(3)}]`;
  const bytes = new TextEncoder().encode(text);
  const page = decodeOpticalPage(bytes, "application/json", ctx);
  assert.deepEqual(page.observations.map((o) => o.provenance.ref), ["EO-1", "EO-2", "EO-3"]);
  assert.equal(page.observations[1].provenance.meta.remarks, remarks);
  for (const size of [1, 2, 3, 7, 300]) {
    const cuts = [...Array(Math.ceil(bytes.length / size) - 1).keys()].map((k) => (k + 1) * size);
    const { observations, deadLetters } = await streamed(bytes, cuts, "application/json");
    assert.deepEqual({ observations, deadLetters }, page, `pieces of ${size}`);
  }
});

Deno.test("OpticalDecodeStream reads a long CSV record with quoted line ends cut into small pieces", async () => {
  const cell = '"' + 'line\r\nwith ""quotes"", and commas\n'.repeat(2_000) + '"';
  const text = `${HEADER},remarks\n${ROW(1)},\n${ROW(2)},${cell}\r\n${ROW(3)},x\n`;
  const bytes = new TextEncoder().encode(text);
  const page = decodeOpticalPage(bytes, "text/csv", ctx);
  assert.deepEqual(page.observations.map((o) => o.provenance.ref), ["EO-1", "EO-2", "EO-3"]);
  for (const size of [5, 300, 4096]) {
    const cuts = [...Array(Math.ceil(bytes.length / size) - 1).keys()].map((k) => (k + 1) * size);
    const { observations, deadLetters } = await streamed(bytes, cuts, "text/csv");
    assert.deepEqual({ observations, deadLetters }, page, `pieces of ${size}`);
  }
});

Deno.test("OpticalDecodeStream skips a record when more than maxRecordChars of it would be kept between chunks", async () => {
  const text = `${HEADER},remarks\n${ROW(1)},${"x".repeat(5000)}\n${ROW(2)},y\n`;
  const bytes = new TextEncoder().encode(text);
  const skipped = [
    "d:CSV record longer than 1000 characters: skipped to its line end",
    "o:EO-2",
  ];
  for (const cuts of [[100, 2000, 4000], [...Array(50).keys()].map((k) => 100 * k + 100)]) {
    const { order } = await streamed(bytes, cuts, "text/csv", { maxRecordChars: 1000 });
    assert.deepEqual(order, skipped, `cut at ${cuts}`);
  }
  // One that completes within a chunk is in memory already, and is read.
  for (const cuts of [[], [100]]) {
    const { order } = await streamed(bytes, cuts, "text/csv", { maxRecordChars: 1000 });
    assert.deepEqual(order, ["o:EO-1", "o:EO-2"], `cut at ${cuts}`);
  }
  const json = new TextEncoder().encode(
    `[${RECORD(1).slice(0, -1)},"r":"${"x".repeat(5000)}"},${RECORD(2)}]`,
  );
  const { order } = await streamed(json, [100, 3000], "application/json", {
    maxRecordChars: 1000,
  });
  assert.deepEqual(order, ["d:JSON record longer than 1000 characters: skipped", "o:EO-2"]);
});

Deno.test("OpticalDecodeStream dead-letters a CSV page whose header has a quoting error with the page's first KiB and size", async () => {
  const text = `id,"obTime,idSensor,ra,declination\n` + `${ROW(1)}\n`.repeat(100);
  const bytes = new TextEncoder().encode(text);
  const { deadLetters, observations } = await streamed(bytes, [10, 500, 2000], "text/csv");
  assert.equal(observations.length, 0);
  assert.deepEqual(deadLetters, decodeOpticalPage(bytes, "text/csv", ctx).deadLetters);
  const raw = (deadLetters[0] as { raw: string }).raw;
  assert.equal(raw, `${text.slice(0, 1024)}…(${bytes.length} bytes)`);
});
