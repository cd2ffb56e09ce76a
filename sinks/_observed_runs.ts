/**
 * Observation times of a batch as compact runs, for the freshness histogram.
 *
 * @module
 */

import { parseTimestamp } from "../envelope/time.ts";

/**
 * The `t_obs` of `observations` as runs `[µs, count, µs, count, …]`: an
 * observation whose `t_obs` equals the previous one's is not parsed again,
 * and one within 1 ms of the current run's first joins that run (ages are
 * bucketed in tens of milliseconds and more, so this loses nothing and keeps
 * the histogram work per run). This is on the write path of every
 * observation: `parseTimestamp` is a char-code parser (~70 ns); a cheaper
 * same-minute path was measured no faster (`bench/observed_runs_bench.ts`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { observedRuns } from "./_observed_runs.ts";
 * import { parseTimestamp } from "../envelope/time.ts";
 *
 * const runs = observedRuns([
 *   { t_obs: "2026-11-25T12:00:00.000000Z" },
 *   { t_obs: "2026-11-25T12:00:00.000400Z" },
 *   { t_obs: "2026-11-25T12:00:01.500000Z" },
 *   { t_obs: "2026-11-25T12:00:01.500000Z" },
 * ]);
 * const t0 = parseTimestamp("2026-11-25T12:00:00.000000Z");
 * assert.deepEqual(runs, [t0, 2, t0 + 1_500_000, 2]);
 * ```
 */
export function observedRuns(observations: readonly { t_obs: string }[]): number[] {
  const runs: number[] = [];
  let last = "";
  let runStart = -Infinity;
  for (let i = 0; i < observations.length; i++) {
    const t = observations[i].t_obs;
    if (t === last) {
      runs[runs.length - 1]++;
      continue;
    }
    let micros: number;
    try {
      micros = parseTimestamp(t);
    } catch {
      continue; // Not a timestamp an envelope could carry: no age to report.
    }
    last = t;
    if (micros >= runStart && micros - runStart < 1000) runs[runs.length - 1]++;
    else {
      runs.push(micros, 1);
      runStart = micros;
    }
  }
  return runs;
}
