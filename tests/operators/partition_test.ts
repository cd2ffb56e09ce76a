import assert from "node:assert/strict";
import { partitionReadable } from "../../operators/partition.ts";
import { countingSource, settle } from "./_helpers.ts";

Deno.test("partitionReadable() stops reading when an output's queue is full and resumes on its read", async () => {
  const source = countingSource();
  const parts = partitionReadable(
    source.readable,
    (n: number) => (n < 100 ? "low" : "high"),
    ["low", "high"],
    { highWaterMark: 4 },
  );
  await settle(50);
  // "low" gets everything; its queue holds 4, then reading stops.
  const pulls = source.pulls();
  assert.ok(pulls >= 4 && pulls <= 6, `pulled ${pulls}`);
  const low = parts.low.getReader();
  assert.deepEqual(await low.read(), { done: false, value: 0 });
  await settle(20);
  assert.ok(source.pulls() > pulls);
  const after = source.pulls();
  await settle(50);
  assert.equal(source.pulls(), after);
  await low.cancel();
  await parts.high.cancel();
  assert.ok(source.cancelled() !== undefined);
});

Deno.test("partitionReadable() routes by key and closes every output at the end", async () => {
  const { radar, optical } = partitionReadable(
    ReadableStream.from(["radar:1", "optical:1", "radar:2"]),
    (s: string) => s.split(":")[0] as "radar" | "optical",
    ["radar", "optical"],
  );
  const [r, o] = await Promise.all([Array.fromAsync(radar), Array.fromAsync(optical)]);
  assert.deepEqual(r, ["radar:1", "radar:2"]);
  assert.deepEqual(o, ["optical:1"]);
});

Deno.test("partitionReadable() errors every output on a key without a partition", async () => {
  const { a, b } = partitionReadable(
    ReadableStream.from(["a", "zzz"]),
    (s: string) => s as "a" | "b",
    ["a", "b"],
    { highWaterMark: 2 },
  );
  await assert.rejects(Array.fromAsync(b), TypeError);
  await assert.rejects(Array.fromAsync(a), TypeError);
});

Deno.test("partitionReadable() discards and counts chunks of a cancelled output", async () => {
  const parts = partitionReadable(
    ReadableStream.from([1, 2, 3, 4]),
    (n: number) => (n % 2 === 0 ? "even" : "odd"),
    ["even", "odd"],
  );
  await parts.odd.cancel();
  assert.deepEqual(await Array.fromAsync(parts.even), [2, 4]);
  assert.equal(parts.discarded, 2);
});
