/**
 * Waiting that stopping a simulator cuts short.
 *
 * Independent implementation on purpose: the simulator is a test peer and
 * imports nothing of the service, not even its operators' `sleep`.
 *
 * @module
 */

/**
 * Resolves after `ms` milliseconds, or at once when `signal` aborts (never
 * rejects); the timer and the listener are removed either way.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./_sleep.ts";
 *
 * const stop = new AbortController();
 * const waiting = sleep(60_000, stop.signal);
 * stop.abort();
 * assert.equal(await waiting, undefined);
 * ```
 */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}
