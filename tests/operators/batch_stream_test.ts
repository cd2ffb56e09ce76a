import assert from "node:assert/strict";
import { BatchStream } from "../../operators/batch_stream.ts";
import { countingSource, settle } from "./_helpers.ts";

Deno.test("BatchStream() never delays a lone item", async () => {
  const batches = new BatchStream<string>({ maxBatch: 100 });
  const reader = batches.readable.getReader();
  const writer = batches.writable.getWriter();
  const pending = reader.read();
  const t0 = performance.now();
  await writer.write("only");
  // The read resolves without any further write or timer.
  assert.deepEqual(await pending, { done: false, value: ["only"] });
  assert.ok(performance.now() - t0 < 1000);
  await writer.close();
  assert.equal((await reader.read()).done, true);
});

Deno.test("BatchStream() groups what queued while the consumer was busy, up to maxBatch", async () => {
  const batches = new BatchStream<number>({ maxBatch: 3, highWaterMark: 10 });
  const writer = batches.writable.getWriter();
  for (let i = 0; i < 5; i++) await writer.write(i);
  await writer.close();
  assert.deepEqual(await Array.fromAsync(batches.readable), [[0, 1, 2], [3, 4]]);
});

Deno.test("BatchStream() pushes back on the producer at the high-water mark", async () => {
  const source = countingSource();
  const batches = new BatchStream<number>({ highWaterMark: 8 });
  const out = source.readable.pipeThrough(batches);
  const reader = out.getReader();
  await settle(50);
  // Nobody read yet: 8 buffered, plus at most a couple in flight in the pipe.
  const pulls = source.pulls();
  assert.ok(pulls >= 8 && pulls <= 11, `pulled ${pulls}`);
  assert.equal(batches.buffered, 8);
  const { value } = await reader.read();
  assert.equal(value!.length, 8);
  assert.deepEqual(value, [0, 1, 2, 3, 4, 5, 6, 7]);
  await settle(50);
  assert.ok(source.pulls() > pulls);
  // Cancelling the batches reaches the producer through the pipe.
  await reader.cancel("stop");
  await settle();
  assert.equal(source.cancelled(), "stop");
});

Deno.test("BatchStream() rejects a maxBatch below 1", () => {
  assert.throws(() => new BatchStream({ maxBatch: 0 }), RangeError);
});
