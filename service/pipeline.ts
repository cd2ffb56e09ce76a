/**
 * The ingest pipeline: sources → merge → opportunistic batch → dedupe →
 * event log + dead-letter log, with acknowledgements flowing back.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DeadLetter, Stage } from "../envelope/dead_letter.ts";
import { textRaw } from "../envelope/raw.ts";
import type { Format, Observation } from "../envelope/observation.ts";
import { BatchStream } from "../operators/batch_stream.ts";
import type { DedupeWindow } from "../operators/dedupe_window.ts";
import {
  type IngestBatch,
  observationCount,
  type PackedObservations,
} from "../operators/ingest_batch.ts";
import { guardReadable } from "../operators/guard_readable.ts";
import { internalErrorReason, isInternalError } from "../operators/internal_error.ts";
import { MapStream } from "../operators/map_stream.ts";
import { MergeStream } from "../operators/merge_stream.ts";
import { type DurableBatch, IngestSink } from "../sinks/ingest_sink.ts";
import type { SegmentLog } from "../sinks/segment_log.ts";
import { FaultLog } from "./fault_log.ts";

const log = getLogger(["sda-ingest", "pipeline"]);
const decoder = new TextDecoder();
const EPOCH = "1970-01-01T00:00:00.000000Z";

/** A source whose last this many inputs were all dead letters is degraded. */
export const DEGRADED_AFTER_INPUTS = 100;
/** So is one that sent nothing but dead letters (at least a few) for this long, ms. */
export const DEGRADED_AFTER_MS = 30_000;
/** The fewest dead letters in a row that {@link DEGRADED_AFTER_MS} applies to. */
export const DEGRADED_MIN_DEAD_LETTERS = 3;

/** A source's dead letters since its last observation. */
interface DeadLetterRun {
  count: number;
  /** When the first of them arrived, ms. */
  since: number;
  stage: string;
  reason: string;
}

/** Per-source counts of what reached the logs. */
export interface SourceCounts {
  /** Observations durable in the event log. */
  observations: number;
  /** Repeats dropped by dedupe (intended, apart from loss). */
  duplicates: number;
  /** Dead letters durable in the dead-letter log, by stage. */
  deadLetters: Record<Stage, number>;
}

/** Options for {@link Pipeline}. */
export interface PipelineOptions {
  /** The event log. */
  events: SegmentLog<Observation>;
  /** The dead-letter log. */
  deadLetters: SegmentLog<DeadLetter>;
  /** The dedupe window (rebuilt from the log at start-up by the caller). */
  dedupe: DedupeWindow;
  /** Records held between the merge and the log before sources are pushed back (default 4096). */
  highWaterMark?: number;
  /** Called with the batches of each durable write (after counting). */
  onDurable?: (batches: readonly DurableBatch[]) => void;
  /** Called when the log acknowledged a write (see `IngestSinkOptions.onWritten`). */
  onWritten?: (batches: readonly DurableBatch[]) => void;
  /**
   * The sources are still starting: a source that fails before
   * {@link Pipeline.running} is logged only then (default false: at once).
   */
  starting?: boolean;
  /** Wraps the sink, e.g. to fork it to NATS as well. */
  sink?: (log: WritableStream<IngestBatch[]>) => WritableStream<IngestBatch[]>;
  /** Where internal errors (dead letters of the guard, SPEC §3) are logged (default: ERROR, once per source per minute). */
  faults?: FaultLog;
}

/**
 * A running pipeline. Add sources with {@link Pipeline.add}; call
 * {@link Pipeline.close} when no more will come; {@link Pipeline.done}
 * resolves when every source has ended and everything is written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DedupeWindow } from "../operators/dedupe_window.ts";
 * import { ingestBatch } from "../operators/ingest_batch.ts";
 * import { openDeadLetterLog, openEventLog } from "../sinks/event_log.ts";
 * import { Pipeline } from "./pipeline.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const pipeline = new Pipeline({
 *   events: await openEventLog({ dir: `${dir}/events` }),
 *   deadLetters: await openDeadLetterLog({ dir: `${dir}/dead` }),
 *   dedupe: new DedupeWindow(100),
 * });
 * pipeline.add(ReadableStream.from([ingestBatch("xr1")]));
 * pipeline.close();
 * await pipeline.done;
 * assert.equal(pipeline.counts("xr1").observations, 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class Pipeline {
  #merge = new MergeStream<IngestBatch>();
  #counts = new Map<string, SourceCounts>();
  #failed = new Map<string, string>();
  /** Whether every source has started (see {@link Pipeline.running}). */
  #running = false;
  /** Sources that failed before that: logged once it is known the service goes on. */
  #failedEarly: [string, string][] = [];
  #runs = new Map<string, DeadLetterRun>();
  #sink: IngestSink;
  #faults: FaultLog;
  /** Resolves when the pipeline has drained and both logs are closed. */
  readonly done: Promise<void>;

  /** Starts the pipeline (it waits for sources). */
  constructor(options: PipelineOptions) {
    this.#running = !options.starting;
    const { events, deadLetters, dedupe } = options;
    const faults = this.#faults = options.faults ?? new FaultLog();
    this.#sink = new IngestSink({
      events,
      deadLetters,
      onDurable: (batches) => {
        for (const batch of batches) {
          const counts = this.counts(batch.source);
          counts.observations += batch.observations;
          for (const stage of batch.deadLetters) counts.deadLetters[stage]++;
        }
        options.onDurable?.(batches);
      },
      onWritten: options.onWritten,
    });
    // Held between the merge and the log: whatever arrives while the log
    // writes becomes the next group. Counted in records, not batches, since a
    // batch may hold one observation or thousands.
    const batcher = new BatchStream<IngestBatch>({
      maxBatch: 1024,
      highWaterMark: options.highWaterMark ?? 4096,
      size: (batch) => Math.max(1, observationCount(batch) + batch.deadLetters.length),
    });
    const sink = options.sink ? options.sink(this.#sink) : this.#sink;
    this.done = this.#merge.readable
      .pipeThrough(batcher)
      .pipeThrough(
        new MapStream((batches: IngestBatch[]) => {
          for (const batch of batches) {
            // Before dedupe: a repeat is a good input too.
            this.#track(batch);
            try {
              this.#dedupe(batch, dedupe);
            } catch (error) {
              this.#undeduplicated(batch, error);
            }
            if (batch.deadLetters.length > 0) this.#report(batch);
          }
          return batches;
        }),
      )
      .pipeTo(sink)
      .finally(() => {
        faults.close();
        return Promise.all([events.close(), deadLetters.close()]);
      })
      .then(() => {});
  }

  /**
   * Adds a source's readable. Should it error, it ends alone: the error is
   * logged and kept for `/health` ({@link Pipeline.failure}), and the other
   * sources go on (SPEC §3).
   */
  add(readable: ReadableStream<IngestBatch>, name = "(unnamed)"): void {
    this.#merge.add(guardReadable(readable, (error) => {
      const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.#failed.set(name, text);
      if (this.#running) logFailure(name, text);
      else this.#failedEarly.push([name, text]);
    }));
  }

  /**
   * Every source has started: a source that fails from now on is logged as
   * stopping alone. One that failed before is logged now — had the start
   * failed instead, the service would have said why and exited, and "the
   * other sources go on" would not have been true.
   */
  running(): void {
    if (this.#running) return;
    this.#running = true;
    for (const [name, text] of this.#failedEarly) logFailure(name, text);
    this.#failedEarly = [];
  }

  /** Why the source `name` failed and stopped, or undefined while it has not. */
  failure(name: string): string | undefined {
    return this.#failed.get(name);
  }

  /** The log of internal errors (its total counts every one). */
  get faults(): FaultLog {
    return this.#faults;
  }

  /** No more sources: the pipeline ends when the current ones have. */
  close(): void {
    this.#merge.close();
  }

  /** Counts for one source (created at zero on first use). */
  counts(source: string): SourceCounts {
    let counts = this.#counts.get(source);
    if (counts === undefined) {
      counts = {
        observations: 0,
        duplicates: 0,
        deadLetters: { framing: 0, decoding: 0, validation: 0, transport: 0 },
      };
      this.#counts.set(source, counts);
    }
    return counts;
  }

  /** Every source seen so far with its counts. */
  allCounts(): ReadonlyMap<string, SourceCounts> {
    return this.#counts;
  }

  /**
   * Why the source `name` counts as degraded by what it sends, or undefined
   * when it does not: its last {@link DEGRADED_AFTER_INPUTS} inputs were all
   * dead letters, or it has sent nothing but dead letters (at least
   * {@link DEGRADED_MIN_DEAD_LETTERS}) for {@link DEGRADED_AFTER_MS} or more —
   * the page after page of an archive that answers the wrong content type
   * (`/health`, issue 11).
   */
  degradation(name: string, now: number = Date.now()): string | undefined {
    const run = this.#runs.get(name);
    if (run === undefined || run.count === 0) return undefined;
    const seconds = Math.round((now - run.since) / 1000);
    if (
      run.count >= DEGRADED_AFTER_INPUTS ||
      (run.count >= DEGRADED_MIN_DEAD_LETTERS && now - run.since >= DEGRADED_AFTER_MS)
    ) {
      return `Every input for ${seconds} s was a dead letter (${run.count} in a row, no observation); last: ${run.stage}: ${run.reason}`;
    }
    return undefined;
  }

  /** Follows each source's run of dead letters since its last observation. */
  #track(batch: IngestBatch): void {
    const inputs = observationCount(batch);
    const letters = batch.deadLetters;
    if (inputs === 0 && letters.length === 0) return;
    let run = this.#runs.get(batch.source);
    if (run === undefined) {
      run = { count: 0, since: 0, stage: "", reason: "" };
      this.#runs.set(batch.source, run);
    }
    let trailing = letters.length;
    if (inputs > 0) {
      // Only the dead letters after the batch's last observation continue a
      // run; without positions, the observations are taken to come last.
      const at = batch.deadLetterAt;
      trailing = 0;
      if (at !== undefined) {
        for (let k = 0; k < at.length; k++) if (at[k] >= inputs) trailing++;
      }
      run.count = 0;
    }
    if (trailing === 0) return;
    if (run.count === 0) run.since = Date.now();
    run.count += trailing;
    const last = letters[letters.length - 1];
    run.stage = last.stage;
    run.reason = last.reason.length > 200 ? last.reason.slice(0, 197) + "..." : last.reason;
  }

  /** Sends the batch's internal-error dead letters to the fault log. */
  #report(batch: IngestBatch): void {
    const letters = batch.deadLetters;
    for (let i = 0; i < letters.length; i++) {
      const letter = letters[i];
      if (isInternalError(letter.reason)) {
        this.#faults.record(batch.source, letter.stage, letter.reason);
      }
    }
  }

  /**
   * The guard of the dedupe step (SPEC §3): should it throw on a batch, that
   * batch's observations become dead letters rather than end the pipeline.
   */
  #undeduplicated(batch: IngestBatch, error: unknown): void {
    const reason = internalErrorReason("deduplicating an observation", error);
    const packed = batch.packed;
    if (packed !== undefined) {
      batch.packed = undefined;
      let start = 0;
      for (let i = 0; i < packed.count; i++) {
        const line = decoder.decode(packed.lines.subarray(start, packed.ends[i] - 1));
        start = packed.ends[i];
        let o: Partial<Observation> = {};
        try {
          o = JSON.parse(line);
        } catch {
          // The line is the raw record all the same.
        }
        batch.deadLetters.push({
          v: 1,
          t_rx: o.t_rx ?? EPOCH,
          source: o.provenance?.source ?? batch.source,
          format: o.provenance?.format ?? ("" as Format),
          peer: o.provenance?.peer ?? "",
          stage: "validation",
          reason,
          ref: o.provenance?.ref ?? "",
          raw: textRaw(line),
        });
      }
      packed.release?.();
    }
    for (const o of batch.observations) {
      let raw: string;
      try {
        raw = JSON.stringify(o);
      } catch {
        raw = String(o.id);
      }
      batch.deadLetters.push({
        v: 1,
        t_rx: o.t_rx,
        source: o.provenance.source,
        format: o.provenance.format,
        peer: o.provenance.peer,
        stage: "validation",
        reason,
        ref: o.provenance.ref,
        raw: textRaw(raw),
      });
    }
    batch.observations = [];
    batch.deadLetterAt = undefined;
  }

  #dedupe(batch: IngestBatch, window: DedupeWindow): void {
    if (batch.packed !== undefined) {
      const repeats = dedupePacked(batch.packed, window);
      if (repeats.length > 0) {
        this.counts(batch.source).duplicates += repeats.length;
        dropPacked(batch.packed, repeats);
      }
      return;
    }
    const observations = batch.observations;
    let kept = 0;
    for (let i = 0; i < observations.length; i++) {
      const o = observations[i];
      if (window.add(o.id)) observations[kept++] = o;
    }
    if (kept < observations.length) {
      this.counts(batch.source).duplicates += observations.length - kept;
      observations.length = kept;
    }
  }
}

/** The text of packed observation `i`'s line, without its `\n`. */
function packedLine(packed: PackedObservations, i: number): string {
  const start = i === 0 ? 0 : packed.ends[i - 1];
  return decoder.decode(packed.lines.subarray(start, packed.ends[i] - 1));
}

/**
 * Adds the packed observations' ids to the window (SPEC §8); returns the
 * indexes of the repeats, in order. An id that did not pack (not hex) is
 * taken from its line.
 */
function dedupePacked(packed: PackedObservations, window: DedupeWindow): number[] {
  const repeats: number[] = [];
  const ids = packed.ids;
  for (let i = 0, at = 0; i < packed.count; i++, at += 4) {
    const fresh = (ids[at] | ids[at + 1] | ids[at + 2] | ids[at + 3]) === 0
      ? window.add((JSON.parse(packedLine(packed, i)) as Observation).id)
      : window.addWords(ids, at);
    if (!fresh) repeats.push(i);
  }
  return repeats;
}

/** Removes the observations at `drop` (ascending indexes) from `packed`, in place. */
function dropPacked(packed: PackedObservations, drop: readonly number[]): void {
  const { lines, ends, ids, received, observed, keyAt } = packed;
  let kept = 0;
  let byte = 0;
  let d = 0;
  for (let i = 0; i < packed.count; i++) {
    const start = i === 0 ? 0 : ends[i - 1];
    const end = ends[i];
    if (d < drop.length && drop[d] === i) {
      d++;
      continue;
    }
    if (kept !== i) {
      lines.copyWithin(byte, start, end);
      ids.copyWithin(kept * 4, i * 4, i * 4 + 4);
      received[kept] = received[i];
      observed[kept] = observed[i];
      keyAt[kept] = keyAt[i];
    }
    byte += end - start;
    ends[kept] = byte;
    kept++;
  }
  packed.count = kept;
}

function logFailure(source: string, error: string): void {
  log.error("Source {source} failed and stopped; the other sources go on: {error}", {
    source,
    error,
  });
}
