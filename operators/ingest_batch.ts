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
  /** Valid observations, in arrival order (empty when they come {@link IngestBatch.packed}). */
  observations: Observation[];
  /**
   * The batch's observations already serialised, when a decode worker made
   * them (then `observations` is empty): lines, ids and times in
   * transferable buffers instead of objects, which would cost a structured
   * clone each.
   */
  packed?: PackedObservations;
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
 * Observations as a decode worker hands them to the main thread: nothing but
 * typed arrays and a few strings, so a batch crosses threads by transfer,
 * not by copying objects. Observation `i` is the line
 * `lines[i === 0 ? 0 : ends[i - 1], ends[i])` (its `\n` included), its id
 * the words `ids[4i … 4i + 3]`.
 */
export interface PackedObservations {
  /** How many observations. */
  count: number;
  /** Their canonical JSON lines (SPEC §2), each ending in `\n`, back to back (UTF-8). */
  lines: Uint8Array;
  /** Where each line ends in `lines` (after its `\n`). */
  ends: Uint32Array;
  /** Their 128-bit ids as four 32-bit words each, most significant first (the hex digits' order). */
  ids: Int32Array;
  /** Receive time (`t_rx`) of each, µs since the epoch. */
  received: Float64Array;
  /** Observation time (`t_obs`) of each, µs since the epoch; NaN if it cannot be read as one. */
  observed: Float64Array;
  /** `kind + "\u0000" + sensor` of each (for NATS subjects), as indexes into {@link PackedObservations.keys}. */
  keyAt: Uint16Array;
  /** The distinct `kind + "\u0000" + sensor` of the batch. */
  keys: string[];
  /**
   * Set while the ids are not computed yet (a decode worker's batch, see
   * `packObservations`' `deferIds`): each id's input (`idInput`), UTF-8, back
   * to back; `ids` are zeros and each line's id is a placeholder until
   * `fillPackedIds` hashes them.
   */
  idInputs?: Uint8Array;
  /** Where each id input ends in {@link PackedObservations.idInputs}. */
  idInputEnds?: Uint32Array;
  /**
   * Gives the memory of these arrays back to the worker that wrote them
   * (shared memory): called once the lines are written, after which they
   * must not be read. Absent for memory of their own.
   */
  release?: () => void;
}

/**
 * How many observations a batch holds, packed or not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ingestBatch, observationCount } from "./ingest_batch.ts";
 *
 * assert.equal(observationCount(ingestBatch("xr1")), 0);
 * ```
 */
export function observationCount(batch: IngestBatch): number {
  return batch.packed === undefined ? batch.observations.length : batch.packed.count;
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
