/**
 * The chunk that flows from sources to sinks.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../envelope/dead_letter.ts";
import type { Observation } from "../envelope/observation.ts";
import type { Ack } from "./ack.ts";

/**
 * An opportunistic micro-batch: whatever one read of a socket, one archive
 * page or one ISL answer produced. Per-chunk stream overhead is paid once per
 * batch instead of once per observation (SPEC §1).
 *
 * Dead letters travel with the observations so that one acknowledgement
 * covers both: a page's cursor advances only when its dead letters are
 * durable too.
 */
export interface IngestBatch {
  /** Valid observations, in arrival order. */
  observations: Observation[];
  /** Inputs that could not become observations, in arrival order. */
  deadLetters: DeadLetter[];
  /**
   * Where the dead letters fall among the observations in the input, when
   * the decoder tells (SPEC §13): `deadLetterAt[k]` observations precede
   * dead letter `k`. Only as the decoder emitted the batch; an operator that
   * drops observations drops this too.
   */
  deadLetterAt?: number[];
  /** Released by the sinks once everything in the batch is durable. */
  acks: Ack[];
  /** Name of the configured source the batch came from. */
  source: string;
  /** Receive time of the batch's first input, µs since the Unix epoch (latency metric). */
  receivedAt?: number;
}

/**
 * A batch with the given contents and no acknowledgements.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ingestBatch } from "./ingest_batch.ts";
 *
 * const batch = ingestBatch("xr1");
 * assert.deepEqual(batch.observations, []);
 * assert.deepEqual(batch.acks, []);
 * ```
 */
export function ingestBatch(
  source: string,
  observations: Observation[] = [],
  deadLetters: DeadLetter[] = [],
  acks: Ack[] = [],
): IngestBatch {
  return { observations, deadLetters, acks, source };
}
