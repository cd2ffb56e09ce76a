/**
 * Reading a segmented log from any offset, optionally following it as it
 * grows (SPEC §7).
 *
 * @module
 */

import { LineSplitter } from "../operators/line_split_stream.ts";
import { sleep } from "../operators/sleep.ts";
import { listSegments, segmentName } from "./segment_log.ts";

/** Options for {@link readLogLines}. */
export interface LogReaderOptions {
  /** Offset of the first record to read (default 0). */
  from?: number;
  /** Keep waiting for new records at the end instead of closing (`tail -f`). */
  follow?: boolean;
  /** How often a follower looks for new data (default 50 ms). */
  pollIntervalMs?: number;
  /** Aborting closes the stream (a follower's way to stop). */
  signal?: AbortSignal;
}

/** One line of the log with its offset. */
export interface LogLine {
  /** The record's 0-based position across the whole log. */
  offset: number;
  /** The record as stored (compact JSON). */
  line: string;
}

const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/**
 * The records of the log in `dir` from `options.from` on. Lines are read in
 * 1 MiB pieces only when the consumer wants more. A partial last line (the
 * writer is in the middle of it) is never emitted: without `follow` the stream
 * closes before it; with `follow` it waits for the rest. A follower moves to
 * the next segment once the writer has created it — the writer finishes a
 * segment before it creates the next, so nothing is skipped.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SegmentLog } from "./segment_log.ts";
 * import { readLogLines } from "./log_reader.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const log = await SegmentLog.open({ dir, serialize: String, segmentBytes: 4 });
 * await log.append([10, 11, 12, 13]); // one record per segment
 * await log.close();
 * const lines = await Array.fromAsync(readLogLines(dir, { from: 2 }));
 * assert.deepEqual(lines, [{ offset: 2, line: "12" }, { offset: 3, line: "13" }]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function readLogLines(
  dir: string,
  options: LogReaderOptions = {},
): ReadableStream<LogLine> {
  const from = options.from ?? 0;
  if (!Number.isSafeInteger(from) || from < 0) {
    throw new RangeError(`Cannot read a log from a negative offset: ${from}`);
  }
  const follow = options.follow ?? false;
  const pollIntervalMs = options.pollIntervalMs ?? 50;
  const signal = options.signal;
  const buffer = new Uint8Array(1 << 20);
  let file: Deno.FsFile | undefined;
  let base = 0;
  let lineInSegment = 0;
  let skip = 0;
  let splitter = new LineSplitter(MAX_RECORD_BYTES);
  let nextSeen = false;
  /** A later segment than the one expected next exists: the segment is re-read once more before that is damage. */
  let laterSeen = false;
  /** When a follower last listed the directory for a later segment (ms). */
  let listedAt = -Infinity;

  const close = () => {
    file?.close();
    file = undefined;
  };
  const wait = () => sleep(pollIntervalMs, signal);
  const exists = async (path: string) => {
    try {
      await Deno.lstat(path);
      return true;
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return false;
      throw error;
    }
  };
  /** Opens the segment holding `from`; false when there is none yet. */
  const openFirst = async (): Promise<boolean> => {
    const segments = await listSegments(dir);
    if (segments.length === 0) return false;
    // Records before the first segment (if any were ever removed) are gone:
    // start at the oldest one kept.
    let chosen = segments[0];
    for (const segment of segments) {
      if (segment[0] <= from) chosen = segment;
    }
    file = await Deno.open(chosen[1], { read: true });
    base = chosen[0];
    lineInSegment = 0;
    skip = Math.max(0, from - base);
    return true;
  };

  return new ReadableStream<LogLine>({
    async pull(controller) {
      while (true) {
        if (signal?.aborted) {
          close();
          controller.close();
          return;
        }
        if (file === undefined) {
          if (!(await openFirst())) {
            if (!follow) {
              controller.close();
              return;
            }
            await wait();
            continue;
          }
        }
        const n = await file!.read(buffer);
        if (n !== null) {
          laterSeen = false;
          let emitted = 0;
          for (const line of splitter.push(buffer.subarray(0, n))) {
            const offset = base + lineInSegment++;
            if (typeof line !== "string") {
              close();
              controller.error(
                new SyntaxError(
                  `Damaged log: record ${offset} in ${dir}/${segmentName(base)} is ${
                    line.fault === "too-long"
                      ? `longer than ${MAX_RECORD_BYTES} bytes`
                      : "not valid UTF-8"
                  }`,
                ),
              );
              return;
            }
            if (skip > 0) {
              skip--;
              continue;
            }
            controller.enqueue({ offset, line });
            emitted++;
          }
          if (emitted > 0) return;
          continue;
        }
        const nextBase = base + lineInSegment;
        const next = `${dir}/${segmentName(nextBase)}`;
        if (nextBase > base && await exists(next)) {
          if (!nextSeen) {
            // Read the old segment to its end once more: bytes written just
            // before the writer rotated are there, not in the new segment.
            nextSeen = true;
            continue;
          }
          close();
          file = await Deno.open(next, { read: true });
          base = nextBase;
          lineInSegment = 0;
          splitter = new LineSplitter(MAX_RECORD_BYTES);
          nextSeen = false;
          laterSeen = false;
          continue;
        }
        // Not the segment that follows this one: if another comes later,
        // records are missing or this segment is damaged (the writer fills
        // a segment before it creates the next one): say so, rather than
        // end here as if the log ended or wait for ever.
        // A follower at the end of a healthy log gets here every poll:
        // listing the directory each time cost ~15 % of a core with 2,000
        // segments, so it looks once a second.
        const now = performance.now();
        const look = !follow || laterSeen || now - listedAt >= 1000;
        if (look) listedAt = now;
        const later = look ? (await listSegments(dir)).find(([b]) => b > base) : undefined;
        if (later !== undefined) {
          if (!laterSeen) {
            laterSeen = true;
            continue;
          }
          close();
          const segment = `${dir}/${segmentName(base)}`;
          controller.error(
            new Error(
              splitter.buffered > 0
                ? `Damaged log: ${segment} ends inside record ${nextBase} (no line end), and ${
                  later[1]
                } follows it`
                : later[0] > nextBase
                ? `Damaged log: records ${nextBase}…${
                  later[0] - 1
                } are missing (${segment} ends at ${nextBase}, the next segment is ${later[1]})`
                : `Damaged log: ${later[1]} starts at record ${
                  later[0]
                }, inside ${segment} (records ${base}…${nextBase - 1})`,
            ),
          );
          return;
        }
        if (!follow) {
          close();
          controller.close();
          return;
        }
        await wait();
      }
    },
    cancel() {
      close();
    },
  }, { highWaterMark: 0 });
}
