/**
 * What the service needs from every source, whatever its kind.
 *
 * Portable: web APIs only (types only).
 *
 * @module
 */

import type { ObservationKind } from "../envelope/observation.ts";
import type { IngestBatch } from "../operators/ingest_batch.ts";

/** Life cycle of a source as `/health` reports it. */
export type SourceState = "starting" | "up" | "degraded" | "down" | "stopped";

/** A snapshot of a source for `/health` and `/metrics`. */
export interface SourceStatus {
  /** `up` when it receives or can receive data; `degraded` when retrying. */
  state: SourceState;
  /** Last time data arrived, µs since the Unix epoch. */
  lastReceive?: number;
  /** The last error, in words (never a secret). */
  lastError?: string;
  /** When {@link lastError} happened, µs since the Unix epoch. */
  lastErrorAt?: number;
  /** Source-specific counters (connections, requests, polls, …), monotonic. */
  counters: Record<string, number>;
  /** ISL only: observations counted lost, by cause (SPEC §6). */
  lost?: { gateway: number; link: number; corrupt: number };
  /**
   * Cluster mode, leased sources only: the instance that holds the source's
   * lease and drives it (SPEC §12); absent while nobody holds it.
   */
  owner?: string;
}

/**
 * A running source: a readable of batches plus the controls the service
 * needs. The readable respects backpressure: the source reads its socket,
 * fetches its next page or polls only when the pipeline pulls.
 */
export interface Source {
  /** The configured source name (unique). */
  readonly name: string;
  /** What it produces. */
  readonly kind: ObservationKind;
  /** Batches of observations and dead letters, with acks where the source needs them. */
  readonly readable: ReadableStream<IngestBatch>;
  /** Resolves once the source is listening / ready to poll (for `/ready`). */
  readonly started: Promise<void>;
  /**
   * Graceful stop: stop accepting and reading, flush what is complete (e.g.
   * open radar groups), then close the readable.
   */
  stop(): Promise<void>;
  /** The current status. */
  status(): SourceStatus;
  /**
   * Resolves once everything the source emitted is durable and its resume
   * point saved (sources that checkpoint). The service awaits it after the
   * pipeline has drained, before the process exits.
   */
  settled?(): Promise<void>;
}

/**
 * Where a source keeps its resume point (an optical cursor, an ISL `after`
 * index). The service backs it with a state file written atomically; tests
 * may use memory.
 */
export interface Checkpoint<T> {
  /** The saved value, or undefined at first start. */
  load(): Promise<T | undefined>;
  /** Saves durably; resolves only once the value would survive a crash. */
  save(value: T): Promise<void>;
  /**
   * Where the value is kept, for an operator reading an error about it
   * (`state file /var/lib/sda-ingest/state/optical.archive.json`).
   */
  where?: string;
  /**
   * After a failed save, try again this much later (ms) with the newest
   * value (a state file on a disk full for a moment). Undefined: a failed
   * save stops the checkpoints until a restart — for a store that retries
   * by itself or whose failure means another instance owns the source now
   * (JetStream KV, SPEC §12).
   */
  retryMs?: number;
}
