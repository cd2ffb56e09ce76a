/**
 * Observation times of a batch as compact runs, for the freshness histogram.
 *
 * @module
 */

import { parseTimestamp } from "../envelope/time.ts";

/** Seconds and microseconds of a canonical `…T12:34:56.789012Z`, as µs. */
function secondsMicros(t: string): number {
  const c = (i: number) => t.charCodeAt(i) - 48;
  return (c(17) * 10 + c(18)) * 1e6 + c(20) * 1e5 + c(21) * 1e4 + c(22) * 1e3 + c(23) * 100 +
    c(24) * 10 + c(25);
}

/**
 * The `t_obs` of `observations` as runs `[µs, count, µs, count, …]`: an
 * observation within 1 ms of the current run's first joins it (ages are
 * bucketed in tens of milliseconds and more, so this loses nothing). This is
 * on the hot path of every durable write: a full parse (~75 ns) happens only
 * when the minute changes — envelopes carry canonical 27-character UTC
 * timestamps, and within a minute only the seconds and fraction are read.
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
 * ]);
 * const t0 = parseTimestamp("2026-11-25T12:00:00.000000Z");
 * assert.deepEqual(runs, [t0, 2, t0 + 1_500_000, 1]);
 * ```
 */
export function observedRuns(observations: readonly { t_obs: string }[]): number[] {
  const runs: number[] = [];
  let minute = "";
  let minuteBase = 0;
  let runStart = -Infinity;
  for (let i = 0; i < observations.length; i++) {
    const t = observations[i].t_obs;
    let micros: number;
    const canonical = t.length === 27 && t.charCodeAt(26) === 90;
    if (canonical && minute !== "" && t.startsWith(minute)) {
      micros = minuteBase + secondsMicros(t);
    } else {
      try {
        micros = parseTimestamp(t);
      } catch {
        continue; // Not a timestamp the envelope could carry: no age to report.
      }
      if (canonical) {
        minute = t.slice(0, 17);
        minuteBase = micros - secondsMicros(t);
      } else {
        minute = "";
      }
    }
    if (micros - runStart < 1000 && micros >= runStart) runs[runs.length - 1]++;
    else {
      runs.push(micros, 1);
      runStart = micros;
    }
  }
  return runs;
}
