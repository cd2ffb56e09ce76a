import assert from "node:assert/strict";
import { islBody, opticalBody, radarBody } from "../../edge/_body_decoders.ts";
import { ndjsonLines } from "../../edge/_ndjson_answer.ts";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import type { DecodeContext } from "../../sources/decode_context.ts";
import { IslDecodeStream } from "../../sources/isl/isl_decode_stream.ts";
import { OpticalDecodeStream } from "../../sources/optical/optical_decode_stream.ts";
import { TdmDecodeStream } from "../../sources/radar/tdm_decode_stream.ts";
import { mulberry32 } from "../../sim/_random.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url).pathname;
// A fixed receive clock: t_rx is the same whatever the chunking.
const ctx: DecodeContext = {
  source: "edge",
  transport: "worker",
  peer: "http://edge/ingest",
  now: () => Date.UTC(2026, 10, 25, 13) * 1000,
};

interface Fixture {
  name: string;
  bytes: Uint8Array;
  decoder: () => ReturnType<typeof radarBody>;
  stream: () => TransformStream<Uint8Array, IngestBatch>;
}

function fixtures(): Fixture[] {
  const out: Fixture[] = [];
  for (const dir of ["radar", "optical", "isl"]) {
    for (const { name } of Deno.readDirSync(`${FIXTURES}${dir}`)) {
      const bytes = Deno.readFileSync(`${FIXTURES}${dir}/${name}`);
      const type = name.endsWith(".json") ? "application/json" : "text/csv";
      out.push({
        name: `${dir}/${name}`,
        bytes,
        decoder: dir === "radar"
          ? () => radarBody(ctx)
          : dir === "optical"
          ? () => opticalBody(ctx, type)
          : () => islBody(ctx),
        stream: dir === "radar"
          ? () => new TdmDecodeStream({ ctx, groupIdleMs: Infinity })
          : dir === "optical"
          ? () => new OpticalDecodeStream({ ctx, contentType: type })
          : () => new IslDecodeStream({ ctx }),
      });
    }
  }
  return out.sort((a, b) => a.name < b.name ? -1 : 1);
}

/** The worker's answer to `pieces`, fed to the body decoder one by one. */
function answer(fixture: Fixture, pieces: Uint8Array[]): string {
  const decoder = fixture.decoder();
  let text = "";
  const take = () => {
    const out = decoder.take();
    if (out !== undefined) ndjsonLines(out, (piece) => text += piece);
  };
  for (const piece of pieces) {
    decoder.push(piece);
    take();
  }
  decoder.end();
  take();
  return text;
}

/** Cuts `bytes` at the sorted positions `cuts`. */
function cut(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const pieces = [];
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    pieces.push(bytes.subarray(from, at));
    from = at;
  }
  return pieces;
}

Deno.test("edge worker answers every fixture the same, cut in two at every byte", () => {
  for (const fixture of fixtures()) {
    const whole = answer(fixture, [fixture.bytes]);
    for (let at = 0; at <= fixture.bytes.length; at++) {
      const text = answer(fixture, cut(fixture.bytes, [at]));
      if (text !== whole) assert.equal(text, whole, `${fixture.name} cut at ${at}`);
    }
  }
});

Deno.test("edge worker answers every fixture the same, cut at 300 random sets of places (seeded)", () => {
  const random = mulberry32(14);
  for (const fixture of fixtures()) {
    const whole = answer(fixture, [fixture.bytes]);
    for (let run = 0; run < 300; run++) {
      const count = 1 + Math.floor(random() * 12);
      const cuts = Array.from({ length: count }, () => Math.floor(random() * fixture.bytes.length))
        .sort((a, b) => a - b);
      const text = answer(fixture, cut(fixture.bytes, cuts));
      if (text !== whole) assert.equal(text, whole, `${fixture.name} cut at ${cuts}`);
    }
  }
});

/** The same NDJSON from the decoder streams' batches (observations and dead letters interleaved by `deadLetterAt`). */
async function streamed(fixture: Fixture, pieces: Uint8Array[]): Promise<string> {
  const batches = await Array.fromAsync(ReadableStream.from(pieces).pipeThrough(fixture.stream()));
  let text = "";
  for (const batch of batches) {
    assert.equal(batch.deadLetterAt?.length, batch.deadLetters.length);
    ndjsonLines(
      {
        observations: batch.observations,
        deadLetters: batch.deadLetters,
        deadLetterAt: batch.deadLetterAt!,
      },
      (piece) => text += piece,
    );
  }
  return text;
}

Deno.test("TdmDecodeStream, OpticalDecodeStream and IslDecodeStream give the worker's answer in order, however cut", async () => {
  const random = mulberry32(1314);
  for (const fixture of fixtures()) {
    const whole = answer(fixture, [fixture.bytes]);
    for (let run = 0; run < 40; run++) {
      const count = Math.floor(random() * 8);
      const cuts = Array.from({ length: count }, () => Math.floor(random() * fixture.bytes.length))
        .sort((a, b) => a - b);
      assert.equal(
        await streamed(fixture, cut(fixture.bytes, cuts)),
        whole,
        `${fixture.name} cut at ${cuts}`,
      );
    }
  }
});

Deno.test("edge worker answers bad_input.kvn in input order: refs never go back within a message", () => {
  const fixture = fixtures().find((f) => f.name === "radar/bad_input.kvn")!;
  const lines = answer(fixture, [fixture.bytes]).trim().split("\n").map((l) => JSON.parse(l));
  assert.ok(lines.some((l) => "stage" in l) && lines.some((l) => "kind" in l));
  let last: [string, number] = ["", 0];
  for (const line of lines) {
    const ref: string | undefined = line.ref ?? line.provenance?.ref;
    const match = ref === undefined ? null : /^(.*)#\d+@(\d+)$/.exec(ref);
    if (match === null) continue;
    const [message, at] = [match[1], Number(match[2])];
    if (message === last[0]) assert.ok(at >= last[1], `${ref} after line ${last[1]}`);
    last = [message, at];
  }
});
