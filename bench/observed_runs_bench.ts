/**
 * Micro-benchmark of the freshness histogram's cost on the write path:
 * `observedRuns()` over a 1,000-observation batch (radar-like t_obs 0.5 ms
 * apart), against a full `parseTimestamp()` of every t_obs.
 *
 * Run: deno task bench:micro --filter t_obs   (ns per observation = time per
 * iteration / 1000)
 */

import { formatTimestamp, parseTimestamp } from "../envelope/time.ts";
import { observedRuns } from "../sinks/_observed_runs.ts";

const BATCH = 1000;
const T0 = Date.parse("2026-11-25T12:00:00Z") * 1000;
const batch = Array.from({ length: BATCH }, (_, i) => ({
  t_obs: formatTimestamp(T0 + i * 537),
}));

Deno.bench("t_obs runs of a 1,000-observation batch (observedRuns)", { group: "t_obs" }, () => {
  observedRuns(batch);
});

Deno.bench("t_obs parsed one by one (parseTimestamp)", {
  group: "t_obs",
  baseline: true,
}, () => {
  let sum = 0;
  for (const o of batch) sum += parseTimestamp(o.t_obs);
  if (sum === 0) throw new Error("unreachable");
});
