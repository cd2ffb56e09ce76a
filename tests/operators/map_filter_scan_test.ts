import assert from "node:assert/strict";
import { FilterStream } from "../../operators/filter_stream.ts";
import { MapStream } from "../../operators/map_stream.ts";
import { ScanStream } from "../../operators/scan_stream.ts";
import { countingSource, settle } from "./_helpers.ts";

Deno.test("MapStream() stops pulling from a stalled consumer's producer after the high-water marks", async () => {
  const source = countingSource();
  const mapped = source.readable.pipeThrough(new MapStream((n: number) => n * 2));
  const reader = mapped.getReader();
  assert.deepEqual(await reader.read(), { done: false, value: 0 });
  await settle();
  const stalledAt = source.pulls();
  await settle(50);
  // Nobody reads: the producer is not pulled again.
  assert.equal(source.pulls(), stalledAt);
  // Bounded by the queues between source and reader (source hwm 1, map's
  // writable hwm 1, readable hwm 0, pipe's one chunk in flight, + the read).
  assert.ok(stalledAt <= 6, `pulled ${stalledAt} times`);
  await reader.read();
  await settle();
  assert.ok(source.pulls() > stalledAt);
  await reader.cancel();
});

Deno.test("MapStream() error in fn rejects both writer.write() and reader.read()", async () => {
  const boom = new Error("boom");
  const stream = new MapStream((n: number) => {
    if (n === 2) throw boom;
    return n;
  });
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader();
  await Promise.all([writer.write(1), reader.read()]);
  // A TransformStream calls transform only when its readable side has demand.
  const read = reader.read();
  const write = writer.write(2);
  await assert.rejects(write, (e) => e === boom);
  await assert.rejects(read, (e) => e === boom);
  await assert.rejects(reader.read(), (e) => e === boom);
  await assert.rejects(writer.write(3), (e) => e === boom);
});

Deno.test("MapStream() keeps order with an async fn", async () => {
  const out = await Array.fromAsync(
    ReadableStream.from([30, 10, 20]).pipeThrough(
      new MapStream(async (ms: number) => {
        await settle(ms);
        return ms;
      }),
    ),
  );
  assert.deepEqual(out, [30, 10, 20]);
});

Deno.test("FilterStream() counts what it drops; ScanStream() emits running values", async () => {
  const filter = new FilterStream((n: number) => n > 2);
  const sums = await Array.fromAsync(
    ReadableStream.from([1, 2, 3, 4]).pipeThrough(filter).pipeThrough(
      new ScanStream((acc: number[], n: number) => [...acc, n], [] as number[]),
    ),
  );
  assert.deepEqual(sums, [[3], [3, 4]]);
  assert.equal(filter.dropped, 2);
});

Deno.test("operators reject bad arguments in the constructor", () => {
  // deno-lint-ignore no-explicit-any
  const notAFunction = 42 as any;
  assert.throws(() => new MapStream(notAFunction), TypeError);
  assert.throws(() => new FilterStream(notAFunction), TypeError);
  assert.throws(() => new ScanStream(notAFunction, 0), TypeError);
});
