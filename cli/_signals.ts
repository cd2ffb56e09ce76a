/**
 * Telling a second stop signal from the first one delivered twice.
 *
 * Ctrl-C in a terminal sends SIGINT to the whole foreground process group,
 * and `deno task` forwards the SIGINT it gets to its child as well: the
 * service then sees two signals within a millisecond or so. A second signal
 * means "exit at once, do not drain" only when it comes later than that.
 *
 * @module
 */

/** A signal this soon after the first (ms) is the same one, delivered twice. */
export const SIGNAL_ECHO_MS = 250;

/** What one more signal means. */
export type SignalMeaning = "first" | "echo" | "again";

/**
 * Counts stop signals: the first, its one echo (the next signal, within
 * {@link SIGNAL_ECHO_MS}), or a signal sent again — any later one, however
 * soon: pressing Ctrl-C twice quickly still exits at once.
 *
 * @example One Ctrl-C under `deno task`, then a second one
 * ```ts
 * import assert from "node:assert/strict";
 * import { StopSignals } from "./_signals.ts";
 *
 * let now = 0;
 * const signals = new StopSignals(() => now);
 * assert.equal(signals.next(), "first");
 * now = 2;
 * assert.equal(signals.next(), "echo");
 * now = 100;
 * assert.equal(signals.next(), "again");
 * ```
 */
export class StopSignals {
  readonly #now: () => number;
  #firstAt: number | undefined;
  #echoed = false;

  /** @param now the clock, ms (default `performance.now`) */
  constructor(now: () => number = () => performance.now()) {
    this.#now = now;
  }

  /** What the signal that just arrived means. */
  next(): SignalMeaning {
    const now = this.#now();
    if (this.#firstAt === undefined) {
      this.#firstAt = now;
      return "first";
    }
    if (!this.#echoed && now - this.#firstAt < SIGNAL_ECHO_MS) {
      this.#echoed = true;
      return "echo";
    }
    return "again";
  }
}
