/**
 * The event log and the dead-letter log: segmented logs of Observations and
 * of DeadLetters (SPEC §3, §7).
 *
 * @module
 */

import type { DeadLetter } from "../envelope/dead_letter.ts";
import type { Observation } from "../envelope/observation.ts";
import { serializeDeadLetter, serializeObservation } from "../envelope/serialize.ts";
import { MapStream } from "../operators/map_stream.ts";
import { type LogReaderOptions, readLogLines } from "./log_reader.ts";
import { listSegments, SegmentLog, type SegmentLogOptions } from "./segment_log.ts";

/** Options for {@link openEventLog} and {@link openDeadLetterLog}. */
export type LogOptions = Omit<SegmentLogOptions<unknown>, "serialize">;

/**
 * Opens the event log: one Observation per line, in envelope key order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openEventLog } from "./event_log.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const log = await openEventLog({ dir, fsync: "never" });
 * assert.equal(log.nextOffset, 0);
 * await log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function openEventLog(options: LogOptions): Promise<SegmentLog<Observation>> {
  return SegmentLog.open({ ...options, serialize: serializeObservation });
}

/**
 * Opens the dead-letter log: one DeadLetter per line, same format as the
 * event log, in its own directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openDeadLetterLog } from "./event_log.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const log = await openDeadLetterLog({ dir, fsync: "never" });
 * assert.equal(log.nextOffset, 0);
 * await log.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function openDeadLetterLog(options: LogOptions): Promise<SegmentLog<DeadLetter>> {
  return SegmentLog.open({ ...options, serialize: serializeDeadLetter });
}

/** One record of the event log. */
export interface EventLogRecord {
  /** Position in the log. */
  offset: number;
  /** The observation. */
  observation: Observation;
}

/** One record of the dead-letter log. */
export interface DeadLetterLogRecord {
  /** Position in the log. */
  offset: number;
  /** The dead letter. */
  deadLetter: DeadLetter;
}

/**
 * The observations of the event log in `dir`, from any offset, optionally
 * following it as it grows. Usable while the writer runs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readEventLog } from "./event_log.ts";
 *
 * const dir = await Deno.makeTempDir();
 * assert.deepEqual(await Array.fromAsync(readEventLog(dir)), []);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function readEventLog(
  dir: string,
  options: LogReaderOptions = {},
): ReadableStream<EventLogRecord> {
  return readLogLines(dir, options).pipeThrough(
    new MapStream(({ offset, line }) => ({
      offset,
      observation: JSON.parse(line) as Observation,
    })),
  );
}

/**
 * The dead letters of the dead-letter log in `dir`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readDeadLetterLog } from "./event_log.ts";
 *
 * const dir = await Deno.makeTempDir();
 * assert.deepEqual(await Array.fromAsync(readDeadLetterLog(dir)), []);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function readDeadLetterLog(
  dir: string,
  options: LogReaderOptions = {},
): ReadableStream<DeadLetterLogRecord> {
  return readLogLines(dir, options).pipeThrough(
    new MapStream(({ offset, line }) => ({
      offset,
      deadLetter: JSON.parse(line) as DeadLetter,
    })),
  );
}

const ID_PREFIX = new TextEncoder().encode('{"v":1,"id":"');
const decoder = new TextDecoder();

/** The id of the log line `bytes[start, end)`. */
function idOfLine(bytes: Uint8Array, start: number, end: number): string {
  let prefixed = end - start > ID_PREFIX.length + 32;
  for (let i = 0; prefixed && i < ID_PREFIX.length; i++) {
    prefixed = bytes[start + i] === ID_PREFIX[i];
  }
  // The serializer writes the id right after "v", at a fixed position.
  // Decoding just those 32 bytes makes a small string of its own (a slice
  // of a decoded segment would keep the whole segment alive in the window)
  // and is ~5× faster than String.fromCharCode(...bytes).
  if (prefixed) {
    return decoder.decode(bytes.subarray(start + ID_PREFIX.length, start + ID_PREFIX.length + 32));
  }
  return (JSON.parse(decoder.decode(bytes.subarray(start, end))) as Observation).id;
}

/**
 * The ids of the last `count` observations of the event log in `dir`, oldest
 * first: what the dedupe window is rebuilt from at start-up (SPEC §8). Reads
 * segments from the newest backwards, each line from its end, and stops as
 * soon as it has enough. Every segment is read into one reused buffer:
 * `Deno.readFile` allocates a fresh buffer per segment, which made reading
 * a million ids' worth of 64 MiB segments ~4× slower.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readRecentIds } from "./event_log.ts";
 *
 * const dir = await Deno.makeTempDir();
 * assert.deepEqual(await readRecentIds(dir, 10), []);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function readRecentIds(dir: string, count: number): Promise<string[]> {
  const segments = await listSegments(dir);
  const newestFirst: string[] = [];
  let buffer = new Uint8Array(0);
  for (let s = segments.length - 1; s >= 0 && newestFirst.length < count; s--) {
    using file = await Deno.open(segments[s][1], { read: true });
    const { size } = await file.stat();
    if (buffer.length < size) buffer = new Uint8Array(size);
    let length = 0;
    while (length < size) {
      const n = await file.read(buffer.subarray(length, size));
      if (n === null) break;
      length += n;
    }
    const bytes = buffer.subarray(0, length);
    // A torn last line (no newline yet) is not a record.
    let end = bytes.lastIndexOf(10);
    while (end >= 0 && newestFirst.length < count) {
      // lastIndexOf(10, -1) would search from the end again.
      const start = end === 0 ? 0 : bytes.lastIndexOf(10, end - 1) + 1;
      if (end > start) newestFirst.push(idOfLine(bytes, start, end));
      end = start - 1;
    }
  }
  return newestFirst.reverse();
}
