/**
 * Waiting that an abort cuts short.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Resolves after `ms` milliseconds, or at once when `signal` aborts (it
 * never rejects: the caller checks `signal.aborted`). Timers and listeners
 * are cleaned up either way, so a stopped source leaves nothing behind.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sleep } from "./sleep.ts";
 *
 * const controller = new AbortController();
 * const t0 = Date.now();
 * const waiting = sleep(60_000, controller.signal);
 * controller.abort();
 * await waiting;
 * assert.ok(Date.now() - t0 < 1000);
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
