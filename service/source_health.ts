/**
 * What a source's state is, all things considered — the one reading that
 * `/health`, the status page and `sda_ingest_source_up` share.
 *
 * @module
 */

import type { SourceState, SourceStatus } from "../sources/source.ts";
import type { Pipeline } from "./pipeline.ts";

/** A source's state with the pipeline's view of it. */
export interface SourceHealth {
  /** `down` when it failed in the pipeline, `degraded` when its recent inputs were all dead letters, else its own. */
  state: SourceState;
  /** Why it failed and stopped, if it did. */
  failure?: string;
  /** Why its recent inputs count against it, if they do. */
  degradedBy?: string;
}

/**
 * A source that failed and stopped, or whose recent inputs were all dead
 * letters, is not up whatever its own state says (issue 11).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sourceHealth } from "./source_health.ts";
 *
 * const status = { state: "up" as const, counters: {} };
 * assert.deepEqual(sourceHealth("xr1", status, undefined), { state: "up" });
 * ```
 */
export function sourceHealth(
  name: string,
  status: SourceStatus,
  pipeline: Pick<Pipeline, "failure" | "degradation"> | undefined,
): SourceHealth {
  const failure = pipeline?.failure(name);
  if (failure !== undefined) return { state: "down", failure };
  const degradedBy = pipeline?.degradation(name);
  if (degradedBy !== undefined && status.state === "up") {
    return { state: "degraded", degradedBy };
  }
  return degradedBy === undefined ? { state: status.state } : { state: status.state, degradedBy };
}
