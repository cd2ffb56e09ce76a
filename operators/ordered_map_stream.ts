/**
 * Map a stream chunk by chunk, several chunks at a time, in order.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Applies `fn` to every chunk like `MapStream`, but starts it on up to
 * `inFlight` chunks before the first result is taken: for an `fn` that hands
 * its chunk to someone else (a decode worker) and waits, so the next chunks
 * are already on their way. Results come out in the order of the chunks,
 * whichever finishes first. A rejection or exception in `fn` errors both
 * sides of the stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OrderedMapStream } from "./ordered_map_stream.ts";
 *
 * const slow = (n: number) => new Promise<number>((resolve) => setTimeout(() => resolve(n), 30 - 10 * n));
 * const out = await Array.fromAsync(
 *   ReadableStream.from([0, 1, 2]).pipeThrough(new OrderedMapStream(slow, 3)),
 * );
 * assert.deepEqual(out, [0, 1, 2]);
 * ```
 */
export class OrderedMapStream<I, O> implements ReadableWritablePair<O, I> {
  /** The results, in the order of the chunks. */
  readonly readable: ReadableStream<O>;
  /** The chunks. */
  readonly writable: WritableStream<I>;

  /**
   * @param fn maps one chunk
   * @param inFlight chunks `fn` runs on at once, at most (at least 1)
   */
  constructor(fn: (chunk: I) => O | Promise<O>, inFlight: number) {
    if (typeof fn !== "function") {
      throw new TypeError("Cannot create OrderedMapStream: fn is not a function");
    }
    if (!Number.isInteger(inFlight) || inFlight < 1) {
      throw new RangeError(`Cannot create OrderedMapStream with ${inFlight} chunks in flight`);
    }
    // One result is awaited below; the rest wait in the queue between.
    const started = new TransformStream<I, Promise<O>>(
      {
        transform(chunk, controller) {
          const result = (async () => await fn(chunk))();
          // Handled where it is awaited; until then it must not count as
          // an unhandled rejection.
          result.catch(() => {});
          controller.enqueue(result);
        },
      },
      undefined,
      { highWaterMark: inFlight - 1 },
    );
    this.writable = started.writable;
    this.readable = started.readable.pipeThrough(
      new TransformStream<Promise<O>, O>({
        async transform(result, controller) {
          controller.enqueue(await result);
        },
      }),
    );
  }
}
