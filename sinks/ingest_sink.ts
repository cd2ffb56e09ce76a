/**
 * The sink at the end of the pipeline: observations to the event log, dead
 * letters to the dead-letter log, then acknowledgements back to the sources.
 *
 * @module
 */

import type { DeadLetter, Stage } from "../envelope/dead_letter.ts";
import type { Observation } from "../envelope/observation.ts";
import { parseTimestamp } from "../envelope/time.ts";
import {
  type IngestBatch,
  observationCount,
  type PackedObservations,
} from "../operators/ingest_batch.ts";
import { observedRuns } from "./_observed_runs.ts";
import type { AppendResult, EncodedLines, SegmentLog } from "./segment_log.ts";

/** Options for {@link IngestSink}. */
export interface IngestSinkOptions {
  /** The event log. */
  events: SegmentLog<Observation>;
  /** The dead-letter log. */
  deadLetters: SegmentLog<DeadLetter>;
  /**
   * Called once the batches of one write are durable, before their acks are
   * released (metrics: counts, receive → durable latency).
   */
  onDurable?: (batches: readonly DurableBatch[]) => void;
  /**
   * Called as soon as the log acknowledged the write: after `fdatasync` with
   * `fsync: "always"`, after the write itself with `"interval"` and `"never"`
   * — what those modes promise (the receive → log latency metric).
   */
  onWritten?: (batches: readonly DurableBatch[]) => void;
}

/**
 * What is left of a batch once it is written: counts, not records. The sink
 * keeps only this while it waits for an interval fsync, so the records
 * themselves die young instead of surviving into the old generation.
 */
export interface DurableBatch {
  /** The source it came from. */
  source: string;
  /** Observations appended. */
  observations: number;
  /** Stage of each dead letter appended. */
  deadLetters: Stage[];
  /** Receive time of its first input, µs. */
  receivedAt?: number;
  /**
   * Receive times of its observations as runs `[µs, count, µs, count, …]`
   * (from each observation's `t_rx`; consecutive ones mostly share it), for
   * the latency histogram. Empty when the batch has no receive time (replay).
   */
  received: number[];
  /**
   * Observation times (`t_obs`) of its observations as runs `[µs, count, …]`
   * (see `observedRuns`), for the freshness histogram. Empty when the batch
   * has no receive time (replay).
   */
  observed: number[];
  /** Its last few dead letters (at most 3), for the status page's recent reasons. */
  lastDeadLetters: DeadLetter[];
}

/** Runs of equal receive times of a batch's observations (see {@link DurableBatch.received}). */
function receiveRuns(batch: IngestBatch): number[] {
  const runs: number[] = [];
  if (batch.receivedAt === undefined) return runs;
  const packed = batch.packed;
  if (packed !== undefined) {
    const received = packed.received;
    let last = NaN;
    for (let i = 0; i < packed.count; i++) {
      const micros = received[i];
      if (micros === last) {
        runs[runs.length - 1]++;
        continue;
      }
      last = micros;
      runs.push(Number.isNaN(micros) ? batch.receivedAt : micros, 1);
    }
    return runs;
  }
  let last = "";
  for (const o of batch.observations) {
    if (o.t_rx === last) {
      runs[runs.length - 1]++;
      continue;
    }
    last = o.t_rx;
    let micros: number;
    try {
      micros = parseTimestamp(o.t_rx);
    } catch {
      micros = batch.receivedAt;
    }
    runs.push(micros, 1);
  }
  return runs;
}

/** Counters of an {@link IngestSink}. */
export interface IngestSinkStats {
  /** Batches received. */
  batches: number;
  /** Observations appended to the event log. */
  observations: number;
  /** Dead letters appended to the dead-letter log. */
  deadLetters: number;
}

/**
 * Runs of a packed batch's observation times, as `observedRuns` makes them
 * from the observations' `t_obs`: equal or within 1 ms after a run's start
 * join it; a time that could not be read is left out.
 */
function packedObservedRuns(packed: PackedObservations): number[] {
  const runs: number[] = [];
  const observed = packed.observed;
  let last = NaN;
  let runStart = -Infinity;
  for (let i = 0; i < packed.count; i++) {
    const micros = observed[i];
    if (micros === last) {
      runs[runs.length - 1]++;
      continue;
    }
    if (Number.isNaN(micros)) continue;
    last = micros;
    if (micros >= runStart && micros - runStart < 1000) runs[runs.length - 1]++;
    else {
      runs.push(micros, 1);
      runStart = micros;
    }
  }
  return runs;
}

/** The log's piece for a batch's observations. */
function piece(batch: IngestBatch): readonly Observation[] | EncodedLines {
  const packed = batch.packed;
  if (packed === undefined) return batch.observations;
  const end = packed.count === 0 ? 0 : packed.ends[packed.count - 1];
  return { bytes: packed.lines.subarray(0, end), count: packed.count };
}

const EMPTY: Promise<AppendResult | undefined> = Promise.resolve(undefined);

/**
 * A `WritableStream` of batches (or arrays of batches, as a `BatchStream`
 * hands them on). Each write appends all observations of the chunk to the
 * event log and all dead letters to the dead-letter log — one group each —
 * and resolves once they are written. When both are durable (per the logs'
 * fsync mode), every ack of the chunk is released, in order; if either log
 * fails, the acks fail and the stream errors.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Ack } from "../operators/ack.ts";
 * import { ingestBatch } from "../operators/ingest_batch.ts";
 * import { openDeadLetterLog, openEventLog } from "./event_log.ts";
 * import { IngestSink } from "./ingest_sink.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const events = await openEventLog({ dir: `${dir}/events` });
 * const deadLetters = await openDeadLetterLog({ dir: `${dir}/dead` });
 * const ack = new Ack();
 * await ReadableStream.from([ingestBatch("xr1", [], [], [ack])])
 *   .pipeTo(new IngestSink({ events, deadLetters }));
 * await ack.done;
 * await Promise.all([events.close(), deadLetters.close()]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class IngestSink extends WritableStream<IngestBatch | IngestBatch[]> {
  #stats: IngestSinkStats;

  /** Creates the sink over two open logs. */
  constructor(options: IngestSinkOptions) {
    const { events, deadLetters, onDurable, onWritten } = options;
    const stats: IngestSinkStats = { batches: 0, observations: 0, deadLetters: 0 };
    let failure: unknown;
    super({
      async write(chunk) {
        if (failure !== undefined) throw failure;
        const batches = Array.isArray(chunk) ? chunk : [chunk];
        const pieces: (readonly Observation[] | EncodedLines)[] = [];
        let observations = 0;
        let letters: DeadLetter[] = [];
        if (batches.length === 1) {
          pieces.push(piece(batches[0]));
          observations = observationCount(batches[0]);
          letters = batches[0].deadLetters;
        } else {
          // Consecutive object batches become one piece.
          let objects: Observation[] | undefined;
          for (const batch of batches) {
            const count = observationCount(batch);
            observations += count;
            if (batch.packed !== undefined) {
              objects = undefined;
              pieces.push(piece(batch));
            } else if (count > 0) {
              if (objects === undefined) pieces.push(objects = []);
              for (const o of batch.observations) objects.push(o);
            }
            for (const d of batch.deadLetters) letters.push(d);
          }
        }
        stats.batches += batches.length;
        let results: (AppendResult | undefined)[];
        try {
          results = await Promise.all([
            observations > 0 ? events.appendEncoded(pieces) : EMPTY,
            letters.length > 0 ? deadLetters.append(letters) : EMPTY,
          ]);
        } catch (error) {
          failure = error;
          failAll(batches, error);
          throw error;
        }
        stats.observations += observations;
        stats.deadLetters += letters.length;
        const durable = batches.map((batch): DurableBatch => ({
          source: batch.source,
          observations: observationCount(batch),
          deadLetters: batch.deadLetters.map((d) => d.stage),
          receivedAt: batch.receivedAt,
          received: receiveRuns(batch),
          observed: batch.receivedAt === undefined
            ? []
            : batch.packed === undefined
            ? observedRuns(batch.observations)
            : packedObservedRuns(batch.packed),
          lastDeadLetters: batch.deadLetters.length === 0 ? [] : batch.deadLetters.slice(-3),
        }));
        // Written: a decode worker may reuse the memory of the lines.
        for (const batch of batches) batch.packed?.release?.();
        const acks = batches.flatMap((batch) => batch.acks);
        onWritten?.(durable);
        Promise.all(results.map((r) => r?.durable)).then(() => {
          onDurable?.(durable);
          for (const ack of acks) ack.release();
        }, (error) => {
          failure ??= error;
          for (const ack of acks) ack.fail(error);
        });
      },
    });
    this.#stats = stats;
  }

  /** What the sink has written so far. */
  get stats(): Readonly<IngestSinkStats> {
    return this.#stats;
  }
}

function failAll(batches: readonly IngestBatch[], error: unknown): void {
  for (const batch of batches) {
    for (const ack of batch.acks) ack.fail(error);
  }
}
