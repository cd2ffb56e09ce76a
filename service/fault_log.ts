/**
 * The ERROR log of the guard (SPEC §3): inputs that a decoder or operator
 * could not handle (an exception, which is a bug) become dead letters, and
 * each source's are logged at most once a minute, with how many there were.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

const log = getLogger(["sda-ingest", "pipeline"]);

/** What one ERROR line says. */
export interface FaultReport {
  /** The source whose inputs failed. */
  source: string;
  /** Inputs that failed since the previous line for this source (this one included). */
  count: number;
  /** The reason of the last of them (stage and error text). */
  reason: string;
  /** Its stage. */
  stage: string;
}

/** Options for {@link FaultLog}. */
export interface FaultLogOptions {
  /** At most one line per source per this many ms (default 60,000). */
  intervalMs?: number;
  /** Writes one line (default: LogTape `error` on `sda-ingest.pipeline`). */
  write?: (report: FaultReport) => void;
  /** The clock, ms (default `Date.now`). */
  now?: () => number;
}

interface PerSource {
  /** When the last line was written, ms. */
  lastLine: number;
  /** Failures not yet in a line. */
  pending: number;
  lastReason: string;
  lastStage: string;
  timer: ReturnType<typeof setTimeout> | undefined;
}

/**
 * Rate-limited ERROR lines for internal errors, per source: the first is
 * written at once; later ones within the interval are counted, and written
 * as one line (with the count) when the interval has passed — by the next
 * failure or, if none comes, by a timer — so no failure goes uncounted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type FaultReport, FaultLog } from "./fault_log.ts";
 *
 * let now = 0;
 * const lines: FaultReport[] = [];
 * const faults = new FaultLog({ write: (r) => lines.push(r), now: () => now });
 * faults.record("xr1", "decoding", "Internal error while decoding line 3: Error: x");
 * faults.record("xr1", "decoding", "Internal error while decoding line 4: Error: x");
 * now = 60_000;
 * faults.record("xr1", "decoding", "Internal error while decoding line 9: Error: y");
 * assert.deepEqual(lines.map((l) => l.count), [1, 2]);
 * faults.close();
 * ```
 */
export class FaultLog {
  #intervalMs: number;
  #write: (report: FaultReport) => void;
  #now: () => number;
  #sources = new Map<string, PerSource>();
  #total = 0;

  constructor(options: FaultLogOptions = {}) {
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#write = options.write ?? ((report) =>
      log.error(
        "Source {source}: {count} input(s) failed with an internal error and became dead letters; last ({stage}): {reason}",
        { ...report },
      ));
    this.#now = options.now ?? Date.now;
    if (!(this.#intervalMs > 0)) {
      throw new RangeError(`intervalMs must be positive: ${this.#intervalMs}`);
    }
  }

  /** Internal errors recorded since the start, over all sources. */
  get total(): number {
    return this.#total;
  }

  /** Records one input of `source` that failed with an internal error. */
  record(source: string, stage: string, reason: string): void {
    this.#total++;
    let s = this.#sources.get(source);
    if (s === undefined) {
      s = { lastLine: -Infinity, pending: 0, lastReason: "", lastStage: "", timer: undefined };
      this.#sources.set(source, s);
    }
    s.pending++;
    s.lastReason = reason;
    s.lastStage = stage;
    const wait = s.lastLine + this.#intervalMs - this.#now();
    if (wait <= 0) {
      this.#flush(source, s);
    } else if (s.timer === undefined) {
      const timer = setTimeout(() => {
        s.timer = undefined;
        this.#flush(source, s);
      }, wait);
      // A pending line must not keep the process alive on its own.
      Deno.unrefTimer(timer);
      s.timer = timer;
    }
  }

  /** Writes what is pending and stops the timers. */
  close(): void {
    for (const [source, s] of this.#sources) this.#flush(source, s);
  }

  #flush(source: string, s: PerSource): void {
    clearTimeout(s.timer);
    s.timer = undefined;
    if (s.pending === 0) return;
    const report = { source, count: s.pending, reason: s.lastReason, stage: s.lastStage };
    s.pending = 0;
    s.lastLine = this.#now();
    this.#write(report);
  }
}
