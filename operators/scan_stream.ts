/**
 * Fold a stream into a running value.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Emits the running accumulation `acc = fn(acc, chunk)` after every chunk
 * (a fold that shows its intermediate values: totals, rates, watermarks).
 *
 * @example Running total
 * ```ts
 * import assert from "node:assert/strict";
 * import { ScanStream } from "./scan_stream.ts";
 *
 * const sums = await Array.fromAsync(
 *   ReadableStream.from([1, 2, 3]).pipeThrough(
 *     new ScanStream((sum: number, n: number) => sum + n, 0),
 *   ),
 * );
 * assert.deepEqual(sums, [1, 3, 6]);
 * ```
 */
export class ScanStream<T, A> extends TransformStream<T, A> {
  /**
   * @param fn combines the accumulator with the next chunk
   * @param initial the accumulator before the first chunk
   */
  constructor(fn: (acc: A, chunk: T) => A, initial: A) {
    if (typeof fn !== "function") {
      throw new TypeError("Cannot create ScanStream: fn is not a function");
    }
    let acc = initial;
    super({
      transform(chunk, controller) {
        acc = fn(acc, chunk);
        controller.enqueue(acc);
      },
    });
  }
}
