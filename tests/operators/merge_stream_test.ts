import assert from "node:assert/strict";
import { mergeReadables, MergeStream } from "../../operators/merge_stream.ts";
import { countingSource, settle } from "./_helpers.ts";

Deno.test("MergeStream() cancelling the output cancels every input", async () => {
  const a = countingSource();
  const b = countingSource();
  const c = countingSource();
  const merged = mergeReadables([a.readable, b.readable, c.readable]);
  const reader = merged.getReader();
  await reader.read();
  await reader.cancel("enough");
  assert.equal(a.cancelled(), "enough");
  assert.equal(b.cancelled(), "enough");
  assert.equal(c.cancelled(), "enough");
});

Deno.test("MergeStream() surfaces an input's error and cancels the other inputs", async () => {
  const good = countingSource();
  const boom = new Error("socket reset");
  const bad = new ReadableStream({
    pull() {
      throw boom;
    },
  });
  const reader = mergeReadables([good.readable, bad]).getReader();
  await assert.rejects(
    (async () => {
      while (!(await reader.read()).done);
    })(),
    (e) => e === boom,
  );
  assert.equal(good.cancelled(), boom);
});

Deno.test("MergeStream() is fair: an endless input does not starve another", async () => {
  const endless = countingSource();
  const letters = ReadableStream.from(["a", "b", "c"]);
  const merge = new MergeStream<number | string>();
  merge.add(endless.readable);
  merge.add(letters);
  const reader = merge.readable.getReader();
  const seen: (number | string)[] = [];
  for (let i = 0; i < 16; i++) seen.push((await reader.read()).value!);
  await reader.cancel();
  // Each letter is delivered as soon as it is ready, interleaved with the
  // endless input rather than after it.
  const letterPositions = seen.flatMap((v, i) => (typeof v === "string" ? [i] : []));
  assert.equal(letterPositions.length, 3, JSON.stringify(seen));
  assert.ok(letterPositions[2] < 15, JSON.stringify(seen));
  assert.ok(endless.cancelled() !== undefined);
});

Deno.test("MergeStream() stops reading its inputs when the consumer stalls", async () => {
  const a = countingSource();
  const b = countingSource();
  const merged = mergeReadables([a.readable, b.readable]);
  const reader = merged.getReader();
  await reader.read();
  await settle();
  const pulls = a.pulls() + b.pulls();
  await settle(50);
  assert.equal(a.pulls() + b.pulls(), pulls);
  // Each input: one chunk ready in the merge, one in its own queue, one pulled into it.
  assert.ok(pulls <= 7, `pulled ${pulls} times`);
  await reader.cancel();
});

Deno.test("MergeStream() accepts inputs while running and closes after close() once inputs end", async () => {
  const merge = new MergeStream<number>();
  const reader = merge.readable.getReader();
  const first = reader.read();
  merge.add(ReadableStream.from([1]));
  assert.deepEqual(await first, { done: false, value: 1 });
  merge.add(ReadableStream.from([2]));
  assert.deepEqual(await reader.read(), { done: false, value: 2 });
  merge.close();
  assert.deepEqual(await reader.read(), { done: true, value: undefined });
  // Added after the end: cancelled at once.
  const late = countingSource();
  merge.add(late.readable);
  assert.ok(late.cancelled() !== undefined);
});
