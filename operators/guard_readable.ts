/**
 * A source that fails stops alone (SPEC §3): its readable's error ends it,
 * not the merge and the pipeline behind it.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * The chunks of `readable`, pulled one at a time (backpressure passes
 * through); if `readable` errors, `onError` is told and the result closes
 * instead of erroring, so that a merge of many sources goes on with the
 * others. Cancelling the result cancels `readable`.
 *
 * @example A failing source ends, and says why
 * ```ts
 * import assert from "node:assert/strict";
 * import { guardReadable } from "./guard_readable.ts";
 *
 * const failing = new ReadableStream<number>({
 *   pull(controller) {
 *     controller.enqueue(1);
 *     controller.error(new Error("socket gone"));
 *   },
 * }, { highWaterMark: 0 });
 * const errors: unknown[] = [];
 * const out = await Array.fromAsync(guardReadable(failing, (error) => errors.push(error)));
 * assert.deepEqual(out, [1]);
 * assert.equal((errors[0] as Error).message, "socket gone");
 * ```
 */
export function guardReadable<T>(
  readable: ReadableStream<T>,
  onError: (error: unknown) => void,
): ReadableStream<T> {
  const reader = readable.getReader();
  return new ReadableStream<T>({
    async pull(controller) {
      let result: ReadableStreamReadResult<T>;
      try {
        result = await reader.read();
      } catch (error) {
        try {
          onError(error);
        } finally {
          controller.close();
        }
        return;
      }
      if (result.done) controller.close();
      else controller.enqueue(result.value);
    },
    async cancel(reason) {
      await reader.cancel(reason).catch(() => {});
    },
  }, { highWaterMark: 0 });
}
