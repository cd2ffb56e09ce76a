/**
 * The event log and the dead-letter log: segmented logs of Observations and
 * of DeadLetters (SPEC §3, §7).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DeadLetter } from "../envelope/dead_letter.ts";
import type { Observation } from "../envelope/observation.ts";
import { serializeDeadLetter, serializeObservation } from "../envelope/serialize.ts";
import type { DedupeWindow } from "../operators/dedupe_window.ts";
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
      observation: parseRecord(dir, offset, line) as Observation,
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
      deadLetter: parseRecord(dir, offset, line) as DeadLetter,
    })),
  );
}

/**
 * One record of a log, parsed; a line that is not a JSON object is damage,
 * said with where it is (a bare SyntaxError named neither log nor record).
 */
function parseRecord(dir: string, offset: number, line: string): unknown {
  let record: unknown;
  try {
    record = JSON.parse(line);
  } catch (error) {
    throw new SyntaxError(
      `Damaged log: record ${offset} in ${dir} is not JSON (${
        error instanceof Error ? error.message : error
      }): ${JSON.stringify(line.slice(0, 80))}`,
      { cause: error },
    );
  }
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new SyntaxError(
      `Damaged log: record ${offset} in ${dir} is not a JSON object: ${
        JSON.stringify(line.slice(0, 80))
      }`,
    );
  }
  return record;
}

const log = getLogger(["sda-ingest", "log"]);
const ID_PREFIX = new TextEncoder().encode('{"v":1,"id":"');
const decoder = new TextDecoder();

/** Whether the log line `bytes[start, end)` starts as the serializer writes it, id first. */
function hasIdPrefix(bytes: Uint8Array, start: number, end: number): boolean {
  let prefixed = end - start > ID_PREFIX.length + 32;
  for (let i = 0; prefixed && i < ID_PREFIX.length; i++) {
    prefixed = bytes[start + i] === ID_PREFIX[i];
  }
  return prefixed;
}

/**
 * The id of the log line `bytes[start, end)`; undefined for a line that is
 * not an observation (a damaged log: the service must still start).
 */
function idOfLine(bytes: Uint8Array, start: number, end: number): string | undefined {
  const prefixed = hasIdPrefix(bytes, start, end);
  // The serializer writes the id right after "v", at a fixed position.
  // Decoding just those 32 bytes makes a small string of its own (a slice
  // of a decoded segment would keep the whole segment alive in the window)
  // and is ~5× faster than String.fromCharCode(...bytes).
  if (prefixed) {
    return decoder.decode(bytes.subarray(start + ID_PREFIX.length, start + ID_PREFIX.length + 32));
  }
  try {
    const id = (JSON.parse(decoder.decode(bytes.subarray(start, end))) as Observation | null)?.id;
    return typeof id === "string" ? id : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The ids of the last `count` observations of the event log in `dir`, oldest
 * first: what the dedupe window is rebuilt from at start-up (SPEC §8; the
 * service uses {@link fillDedupeWindow}, which gives the same ids).
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
  const newestFirst: string[] = [];
  await scanRecentLines(dir, count, undefined, (bytes, start, end) => {
    const id = idOfLine(bytes, start, end);
    if (id !== undefined) newestFirst.push(id);
  });
  return newestFirst.reverse();
}

/**
 * Fills `window` with the ids of the last `window.capacity` observations of
 * the event log in `dir`, oldest first: {@link readRecentIds} without a
 * string per id (the ids' bytes are copied and added as hex), which made
 * the rebuild of a million ids at start-up faster. Returns how many ids it
 * read. A line that is not an observation (a damaged log) is left out and
 * counted in a warning.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DedupeWindow } from "../operators/dedupe_window.ts";
 * import { fillDedupeWindow, openEventLog } from "./event_log.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const log = await openEventLog({ dir, fsync: "never" });
 * await log.close();
 * const window = new DedupeWindow(10);
 * assert.equal(await fillDedupeWindow(dir, window), 0);
 * assert.equal(window.size, 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function fillDedupeWindow(
  dir: string,
  window: DedupeWindow,
  options: { signal?: AbortSignal } = {},
): Promise<number> {
  const count = window.capacity;
  // Newest first: the 32 id bytes of each prefixed line, or its id as text.
  let ids = new Uint8Array(32 * Math.min(count, 65536));
  const others = new Map<number, string>();
  let n = 0;
  let skipped = 0;
  await scanRecentLines(dir, count, options.signal, (bytes, start, end) => {
    if (32 * (n + 1) > ids.length) {
      const grown = new Uint8Array(Math.min(32 * count, ids.length * 2));
      grown.set(ids);
      ids = grown;
    }
    if (hasIdPrefix(bytes, start, end)) {
      const at = start + ID_PREFIX.length;
      ids.set(bytes.subarray(at, at + 32), 32 * n);
    } else {
      const id = idOfLine(bytes, start, end);
      if (id === undefined) {
        skipped++;
        return;
      }
      others.set(n, id);
    }
    n++;
  });
  if (skipped > 0) {
    log.warn(
      "{skipped} lines of the event log in {dir} are not observations: left out of the dedupe window",
      { skipped, dir },
    );
  }
  for (let k = n - 1; k >= 0; k--) {
    const other = others.get(k);
    if (other === undefined) window.addHex(ids, 32 * k);
    else window.add(other);
  }
  return n;
}

/**
 * Calls `onLine` with each of the last `count` lines of the event log in
 * `dir`, newest first. Reads segments from the newest backwards, each line
 * from its end, and stops as soon as it has enough. Every segment is read
 * into one reused buffer: `Deno.readFile` allocates a fresh buffer per
 * segment, which made reading a million ids' worth of 64 MiB segments ~4×
 * slower.
 */
async function scanRecentLines(
  dir: string,
  count: number,
  signal: AbortSignal | undefined,
  onLine: (bytes: Uint8Array, start: number, end: number) => void,
): Promise<void> {
  const segments = await listSegments(dir);
  let lines = 0;
  let buffer = new Uint8Array(0);
  for (let s = segments.length - 1; s >= 0 && lines < count; s--) {
    // Seconds for a big log: a stop signal ends it between segments, and
    // every LINES_BETWEEN_CHECKS lines within one (below).
    signal?.throwIfAborted();
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
    while (end >= 0 && lines < count) {
      // lastIndexOf(10, -1) would search from the end again.
      const start = end === 0 ? 0 : bytes.lastIndexOf(10, end - 1) + 1;
      if (end > start) {
        onLine(bytes, start, end);
        if (++lines % LINES_BETWEEN_CHECKS === 0 && signal !== undefined) {
          // Let a signal handler run (the loop is synchronous), then look.
          await new Promise((resolve) => setTimeout(resolve, 0));
          signal.throwIfAborted();
        }
      }
      end = start - 1;
    }
  }
  // A signal that came during the last segment: stopped, not rebuilt.
  if (signal !== undefined) {
    await new Promise((resolve) => setTimeout(resolve, 0));
    signal.throwIfAborted();
  }
}

/** Lines scanned between two looks for a stop signal (~80 ms here; each look costs a timer turn, ~2 ms). */
const LINES_BETWEEN_CHECKS = 262_144;
