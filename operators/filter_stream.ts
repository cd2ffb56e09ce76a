/**
 * Keep the chunks that pass a predicate.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Passes on the chunks for which `predicate` returns true and counts the
 * ones it drops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { FilterStream } from "./filter_stream.ts";
 *
 * const filter = new FilterStream((n: number) => n % 2 === 0);
 * const out = await Array.fromAsync(ReadableStream.from([1, 2, 3, 4]).pipeThrough(filter));
 * assert.deepEqual(out, [2, 4]);
 * assert.equal(filter.dropped, 2);
 * ```
 */
export class FilterStream<T> extends TransformStream<T, T> {
  #counts: { dropped: number };

  /** @param predicate true keeps the chunk */
  constructor(predicate: (chunk: T) => boolean) {
    if (typeof predicate !== "function") {
      throw new TypeError("Cannot create FilterStream: predicate is not a function");
    }
    const counts = { dropped: 0 };
    super({
      transform(chunk, controller) {
        if (predicate(chunk)) controller.enqueue(chunk);
        else counts.dropped++;
      },
    });
    this.#counts = counts;
  }

  /** Chunks dropped so far. */
  get dropped(): number {
    return this.#counts.dropped;
  }
}
