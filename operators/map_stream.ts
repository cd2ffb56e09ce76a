/**
 * Map a stream chunk by chunk.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Applies `fn` to every chunk. `fn` may be asynchronous; chunks stay in order.
 * An exception in `fn` errors both sides of the stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MapStream } from "./map_stream.ts";
 *
 * const out = await Array.fromAsync(
 *   ReadableStream.from([1, 2, 3]).pipeThrough(new MapStream((n: number) => n * 10)),
 * );
 * assert.deepEqual(out, [10, 20, 30]);
 * ```
 */
export class MapStream<I, O> extends TransformStream<I, O> {
  /** @param fn maps one chunk */
  constructor(fn: (chunk: I) => O | Promise<O>) {
    if (typeof fn !== "function") {
      throw new TypeError("Cannot create MapStream: fn is not a function");
    }
    super({
      transform(chunk, controller) {
        const result = fn(chunk);
        if (result instanceof Promise) {
          return result.then((value) => controller.enqueue(value));
        }
        controller.enqueue(result);
      },
    });
  }
}
