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

function hasIdPrefix(bytes: Uint8Array, at: number): boolean {
  for (let i = 0; i < ID_PREFIX.length; i++) {
    if (bytes[at + i] !== ID_PREFIX[i]) return false;
  }
  return true;
}

/**
 * The ids of the last `count` observations of the event log in `dir`, oldest
 * first: what the dedupe window is rebuilt from at start-up (SPEC §8). Reads
 * segments from the newest backwards and stops as soon as it has enough.
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
  const chunks: string[][] = [];
  let total = 0;
  for (let s = segments.length - 1; s >= 0 && total < count; s--) {
    const bytes = await Deno.readFile(segments[s][1]);
    const ids: string[] = [];
    let start = 0;
    while (start < bytes.length) {
      const end = bytes.indexOf(10, start);
      if (end < 0) break; // a torn last line is not a record
      // The serializer writes the id right after "v", at a fixed position.
      // String.fromCharCode makes a small string of its own; a slice of a
      // decoded segment would keep the whole segment alive in the window.
      if (hasIdPrefix(bytes, start)) {
        ids.push(String.fromCharCode(...bytes.subarray(start + 13, start + 45)));
      } else {
        const line = decoder.decode(bytes.subarray(start, end));
        ids.push((JSON.parse(line) as Observation).id);
      }
      start = end + 1;
    }
    const keep = Math.min(ids.length, count - total);
    chunks.push(ids.slice(ids.length - keep));
    total += keep;
  }
  return chunks.reverse().flat();
}
