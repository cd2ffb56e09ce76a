/**
 * The append-only segmented log behind the event log and the dead-letter log
 * (SPEC §7).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { type DirectoryLock, lockDirectory } from "./dir_lock.ts";

/** When appended records are forced to disk. */
export type FsyncMode = "always" | "interval" | "never";

/** The calls the log makes on its active segment (injectable for tests). */
export interface LogFile {
  /** Writes some bytes; returns how many were written. */
  write(bytes: Uint8Array): Promise<number>;
  /** `fdatasync(2)`. */
  syncData(): Promise<void>;
  /** Cuts the file to `length` bytes: what a failed write left after its last complete line goes. */
  truncate(length: number): Promise<void>;
  /** Closes the file. */
  close(): void;
}

/** A write or sync that fails and is being retried (SPEC §7: disk full). */
export interface LogProblem {
  /** The error, in words (`No space left on device (os error 28)`). */
  error: string;
  /** Since when, ms since the epoch. */
  since: number;
}

/** Options for {@link SegmentLog.open}. */
export interface SegmentLogOptions<T> {
  /** Directory of the segment files; created if missing. */
  dir: string;
  /** One record as one line of text (no newline inside). */
  serialize: (record: T) => string;
  /** A new segment starts when the active one would exceed this (default 64 MiB). */
  segmentBytes?: number;
  /** Durability mode (default `"always"`). */
  fsync?: FsyncMode;
  /** With `fsync: "interval"`, the longest time between syncs (default 100 ms). */
  fsyncIntervalMs?: number;
  /** Opens a segment for appending (default `Deno.open` with `append`). */
  openFile?: (path: string) => Promise<LogFile>;
  /** How long to wait before retrying a write or sync that failed with an I/O error (default 1000 ms). */
  retryMs?: number;
  /** Bytes written (and removed again) at open to see whether the disk has room (default 64 KiB; 0: no probe). */
  probeBytes?: number;
}

/** What {@link SegmentLog.append} reports. */
export interface AppendResult {
  /** Offset of the first appended record. */
  first: number;
  /** Number of records appended. */
  count: number;
  /**
   * Resolves when the records are durable in the sense of the fsync mode:
   * after `fdatasync` for `"always"` (already so when `append` resolves) and
   * `"interval"`, after the write for `"never"`.
   */
  durable: Promise<void>;
}

/** Counters of a {@link SegmentLog}. */
export interface SegmentLogStats {
  /** Records appended since open. */
  records: number;
  /** Bytes appended since open. */
  bytes: number;
  /** `write` calls. */
  writes: number;
  /** `fdatasync` calls. */
  syncs: number;
  /** Segment files opened (including the one opened at start). */
  segments: number;
  /** Writes, syncs, segment opens and space probes that failed with an I/O error and were retried. */
  retries: number;
}

/**
 * Records already serialised and encoded: `count` complete lines, each
 * ending in `\n` (see {@link SegmentLog.appendEncoded}).
 */
export interface EncodedLines {
  /** The lines, UTF-8, back to back. */
  bytes: Uint8Array;
  /** How many lines `bytes` holds. */
  count: number;
}

interface Pending {
  /** Serialised lines: text to encode, or bytes as they are. */
  parts: (string | Uint8Array)[];
  /** Characters of the text plus bytes of the rest (the group limit). */
  size: number;
  count: number;
  resolve: (result: AppendResult) => void;
  reject: (reason: unknown) => void;
}

type Deferred = PromiseWithResolvers<void>;

/** A promise to settle later; a rejection nobody awaits is not unhandled. */
function deferred(): Deferred {
  const d = Promise.withResolvers<void>();
  d.promise.catch(() => {});
  return d;
}

const SEGMENT_NAME = /^(\d{20})\.jsonl$/;
/** The file written and removed at open to see whether the disk has room (not a segment). */
export const SPACE_PROBE_NAME = ".space-probe";

/** What a failing file operation of the log was doing, as its log lines say it. */
type Action = "open" | "write to" | "sync" | "find room in";
/** Largest group written at once, in UTF-16 code units (~16 MB of JSON). */
const GROUP_CHARS = 16 * 1024 * 1024;
const RESOLVED = Promise.resolve();

/** The file name of the segment whose first record has offset `base`. */
export function segmentName(base: number): string {
  return String(base).padStart(20, "0") + ".jsonl";
}

/**
 * The segments of a log directory, oldest first, as `[base, path]` pairs.
 * A missing directory has none.
 */
export async function listSegments(dir: string): Promise<[number, string][]> {
  const segments: [number, string][] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      const match = entry.isFile ? SEGMENT_NAME.exec(entry.name) : null;
      if (match) segments.push([Number(match[1]), `${dir}/${entry.name}`]);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return segments;
    throw error;
  }
  return segments.sort((a, b) => a[0] - b[0]);
}

const encoder = new TextEncoder();
const log = getLogger(["sda-ingest", "log"]);

/**
 * An append-only log of records, one compact JSON line each, in segment files
 * named by the offset of their first record (SPEC §7).
 *
 * * Single writer; appends are queued and written in order. Whatever is
 *   queued while a write or `fdatasync` is in progress goes into the next
 *   write as one group, so `fsync: "always"` costs one sync per group, not
 *   per record (group commit), and never waits for more records to arrive.
 * * `"interval"` syncs at most every `fsyncIntervalMs`; `"never"` leaves it
 *   to the OS.
 * * On open, a last segment that ends in a partial line (a torn write) is
 *   truncated to its last complete line; complete lines are never rewritten.
 *
 * @example Append and read back
 * ```ts
 * import assert from "node:assert/strict";
 * import { SegmentLog } from "./segment_log.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const log = await SegmentLog.open({ dir, serialize: (n: number) => JSON.stringify({ n }) });
 * const { first, count } = await log.append([1, 2, 3]);
 * assert.deepEqual([first, count, log.nextOffset], [0, 3, 3]);
 * await log.close();
 * assert.equal(
 *   await Deno.readTextFile(`${dir}/00000000000000000000.jsonl`),
 *   '{"n":1}\n{"n":2}\n{"n":3}\n',
 * );
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class SegmentLog<T> {
  #dir: string;
  #serialize: (record: T) => string;
  #segmentBytes: number;
  #fsync: FsyncMode;
  #intervalMs: number;
  #openFile: (path: string) => Promise<LogFile>;
  #file!: LogFile;
  #lock!: DirectoryLock;
  #segmentBase = 0;
  #segmentSize = 0;
  #next = 0;
  #queue: Pending[] = [];
  #queuedRecords = 0;
  #writing: Promise<void> | undefined;
  #failure: unknown;
  #closed = false;
  #recovered = 0;
  #buffer = new Uint8Array(1 << 20);
  #unsynced: Deferred | undefined;
  #syncTimer: ReturnType<typeof setTimeout> | undefined;
  #syncDue = false;
  #syncing: Promise<void> | undefined;
  #lastSync = 0;
  /** Records below this offset were on disk at the last sync (or at open). */
  #synced = 0;
  #retryMs: number;
  #probeBytes: number;
  #problem: LogProblem | undefined;
  #probing = false;
  #stats: SegmentLogStats = {
    records: 0,
    bytes: 0,
    writes: 0,
    syncs: 0,
    segments: 0,
    retries: 0,
  };

  private constructor(options: SegmentLogOptions<T>) {
    this.#dir = options.dir;
    this.#serialize = options.serialize;
    this.#segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.#fsync = options.fsync ?? "always";
    this.#intervalMs = options.fsyncIntervalMs ?? 100;
    this.#openFile = options.openFile ??
      ((path) => Deno.open(path, { create: true, append: true }));
    this.#retryMs = options.retryMs ?? 1000;
    this.#probeBytes = options.probeBytes ?? 64 * 1024;
    if (!(this.#retryMs >= 0)) {
      throw new RangeError(`retryMs must not be negative: ${this.#retryMs}`);
    }
    if (!(this.#segmentBytes >= 1)) {
      throw new RangeError(`segmentBytes must be at least 1: ${this.#segmentBytes}`);
    }
    if (!["always", "interval", "never"].includes(this.#fsync)) {
      throw new TypeError(`Unknown fsync mode: "${this.#fsync}"`);
    }
    if (!(this.#intervalMs >= 0)) {
      throw new RangeError(`fsyncIntervalMs must not be negative: ${this.#intervalMs}`);
    }
  }

  /** Opens (creating or recovering) the log in `options.dir`. */
  static async open<T>(options: SegmentLogOptions<T>): Promise<SegmentLog<T>> {
    const segmentLog = new SegmentLog(options);
    // Before anything is read or truncated: a second writer would
    // interleave segments with the first (SPEC §7: one log, one writer).
    segmentLog.#lock = await lockDirectory(segmentLog.#dir);
    try {
      await segmentLog.#recover();
      if (segmentLog.#probeBytes > 0) await segmentLog.#probe();
    } catch (error) {
      segmentLog.#file?.close();
      segmentLog.#lock.release();
      throw error;
    }
    return segmentLog;
  }

  /**
   * The write or sync that is failing and being retried, if any (SPEC §7):
   * while it lasts nothing more is acknowledged, the pipeline stops pulling
   * and the service is not ready. Also set from open while a disk without
   * room for {@link SegmentLogOptions.probeBytes} stays so.
   */
  get problem(): LogProblem | undefined {
    return this.#problem;
  }

  /** Offset the next appended record will get. */
  get nextOffset(): number {
    return this.#next + this.#queuedRecords;
  }

  /** Offset of the next record to reach the file. */
  get writtenOffset(): number {
    return this.#next;
  }

  /**
   * Records below this offset survive a crash of the machine: synced by
   * the last sync (with fsync `"never"`, those written: nothing is synced,
   * and nothing is promised).
   */
  get durableOffset(): number {
    return this.#fsync === "never" ? this.#next : this.#synced;
  }

  /** Bytes removed from a torn last line when the log was opened. */
  get recoveredBytes(): number {
    return this.#recovered;
  }

  /** The log's directory. */
  get dir(): string {
    return this.#dir;
  }

  /** The durability mode. */
  get fsync(): FsyncMode {
    return this.#fsync;
  }

  /** Counters: records and bytes appended, write and sync calls, segments opened. */
  get stats(): Readonly<SegmentLogStats> {
    return this.#stats;
  }

  /**
   * Appends records. Resolves once they are written (and, with
   * `fsync: "always"`, synced); `durable` tells when they are durable.
   */
  append(records: readonly T[]): Promise<AppendResult> {
    if (this.#closed) {
      return Promise.reject(new TypeError("Cannot append to a closed log"));
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (records.length === 0) {
      return this.#flushed().then(() => ({
        first: this.#next,
        count: 0,
        durable: this.#unsynced?.promise ?? RESOLVED,
      }));
    }
    return this.appendEncoded([records]);
  }

  /**
   * Appends, in order, pieces that are either records or lines already
   * serialised and encoded (a decode worker's, SPEC §1), as one group of the
   * log: the same as {@link SegmentLog.append} of all their records, minus
   * the serialising of the encoded ones. An encoded piece must hold exactly
   * `count` complete lines.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SegmentLog } from "./segment_log.ts";
   *
   * const dir = await Deno.makeTempDir();
   * const log = await SegmentLog.open({ dir, serialize: (n: number) => JSON.stringify({ n }) });
   * const bytes = new TextEncoder().encode('{"n":2}\n{"n":3}\n');
   * const { first, count } = await log.appendEncoded([[1], { bytes, count: 2 }, [4]]);
   * assert.deepEqual([first, count], [0, 4]);
   * await log.close();
   * assert.equal(
   *   await Deno.readTextFile(`${dir}/00000000000000000000.jsonl`),
   *   '{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n',
   * );
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  appendEncoded(pieces: readonly (readonly T[] | EncodedLines)[]): Promise<AppendResult> {
    if (this.#closed) {
      return Promise.reject(new TypeError("Cannot append to a closed log"));
    }
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    // Queued in pieces of at most GROUP_CHARS: a string has a maximum
    // length, and a huge append must not need a buffer of its whole size.
    const parts: Promise<AppendResult>[] = [];
    let pending: (string | Uint8Array)[] = [];
    let size = 0;
    let count = 0;
    let total = 0;
    let text = "";
    const queue = () => {
      if (text.length > 0) pending.push(text);
      text = "";
      if (count === 0) return;
      const piece = { parts: pending, size, count };
      parts.push(
        new Promise<AppendResult>((resolve, reject) => {
          this.#queue.push({ ...piece, resolve, reject });
          this.#queuedRecords += piece.count;
          this.#writing ??= this.#drain();
        }),
      );
      pending = [];
      size = 0;
      count = 0;
    };
    for (const piece of pieces) {
      if (isEncoded(piece)) {
        if (piece.count === 0) continue;
        if (text.length > 0) pending.push(text);
        text = "";
        pending.push(piece.bytes);
        size += piece.bytes.length;
        count += piece.count;
        total += piece.count;
        if (size >= GROUP_CHARS) queue();
        continue;
      }
      for (let i = 0; i < piece.length; i++) {
        const line = this.#serialize(piece[i]) + "\n";
        text += line;
        size += line.length;
        count++;
        total++;
        if (size >= GROUP_CHARS) queue();
      }
    }
    queue();
    if (parts.length === 0) {
      return this.#flushed().then(() => ({
        first: this.#next,
        count: 0,
        durable: this.#unsynced?.promise ?? RESOLVED,
      }));
    }
    if (parts.length === 1) return parts[0];
    return Promise.all(parts).then((results) => ({
      first: results[0].first,
      count: total,
      durable: results[results.length - 1].durable,
    }));
  }

  /** Forces everything appended so far to disk (any mode). */
  async sync(): Promise<void> {
    await this.#flushed();
    await this.#syncCovered();
  }

  /** Writes what is queued, syncs (unless `"never"`) and closes the file. */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.#flushed();
    } catch (error) {
      // A failed log still lets go of its file.
      this.#closed = true;
      this.#probing = false;
      clearTimeout(this.#syncTimer);
      this.#file.close();
      this.#lock.release();
      throw error;
    }
    this.#closed = true;
    this.#probing = false;
    try {
      if (this.#failure === undefined && this.#fsync !== "never") await this.#syncCovered();
      else this.#unsynced?.resolve();
    } finally {
      clearTimeout(this.#syncTimer);
      this.#file.close();
      this.#lock.release();
    }
  }

  async #flushed(): Promise<void> {
    while (this.#writing) await this.#writing;
    while (this.#syncing) await this.#syncing;
    if (this.#failure !== undefined) throw this.#failure;
  }

  async #recover(): Promise<void> {
    await Deno.mkdir(this.#dir, { recursive: true });
    const segments = await listSegments(this.#dir);
    if (segments.length === 0) {
      await this.#openSegment(0, 0);
      return;
    }
    const [base, path] = segments[segments.length - 1];
    if (segments.length >= 2) {
      // The segment before must end where this one starts: a gap or an
      // overlap (a segment lost, cut short, or made by hand) would have
      // this writer give out offsets that are missing or taken — readers
      // stop there. Checked on the last two only: the whole log can be
      // gigabytes (`tail` checks all of them as it reads).
      const [previousBase, previousPath] = segments[segments.length - 2];
      const previous = await scanSegment(previousPath);
      const end = previousBase + previous.lines;
      const damage = previous.validBytes < previous.size
        ? `${previousPath} ends inside record ${end} (no line end), and ${path} follows it`
        : end < base
        ? `records ${end}…${
          base - 1
        } are missing: ${previousPath} ends at record ${end}, ${path} starts at ${base}`
        : end > base
        ? `${path} starts at record ${base}, inside ${previousPath} (which ends at record ${end})`
        : undefined;
      if (damage !== undefined) {
        throw new Error(
          `Damaged log: ${damage}. Not writing over it: restore or move the segments aside (tail --dir shows where the damage is)`,
        );
      }
    }
    const { lines, validBytes, size } = await scanSegment(path);
    if (validBytes < size) {
      // A torn write: the process died between writing and finishing a line.
      await Deno.truncate(path, validBytes);
      this.#recovered = size - validBytes;
      log.warn(
        "Truncated a torn last line of {path}: removed {bytes} bytes after offset {offset}",
        { path, bytes: this.#recovered, offset: base + lines },
      );
    }
    this.#next = base + lines;
    this.#synced = this.#next;
    await this.#openSegment(base, validBytes);
  }

  async #openSegment(base: number, size: number): Promise<void> {
    const path = `${this.#dir}/${segmentName(base)}`;
    this.#file = await this.#retrying("open", path, () => this.#openFile(path));
    this.#segmentBase = base;
    this.#segmentSize = size;
    this.#stats.segments++;
    if (size === 0 && this.#fsync !== "never") await syncDirectory(this.#dir);
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        // Everything queued goes as one group, up to GROUP_CHARS.
        let take = 0;
        let size = 0;
        let count = 0;
        const parts: (string | Uint8Array)[] = [];
        while (take < this.#queue.length && (take === 0 || size < GROUP_CHARS)) {
          const pending = this.#queue[take];
          for (const part of pending.parts) parts.push(part);
          size += pending.size;
          count += pending.count;
          take++;
        }
        const batch = this.#queue.splice(0, take);
        try {
          await this.#write(parts, size, count);
        } catch (error) {
          this.#failure = error;
          for (const pending of [...batch, ...this.#queue]) pending.reject(error);
          this.#queue = [];
          this.#queuedRecords = 0;
          this.#unsynced?.reject(error);
          return;
        }
        const durable = this.#fsync === "interval" ? this.#scheduleSync() : RESOLVED;
        let first = this.#next - count;
        for (const pending of batch) {
          pending.resolve({ first, count: pending.count, durable });
          first += pending.count;
        }
        if (this.#syncDue) {
          try {
            await this.#syncCovered();
          } catch (error) {
            this.#queue.forEach((pending) => pending.reject(error));
            this.#queue = [];
            this.#queuedRecords = 0;
            return;
          }
        }
      }
    } finally {
      this.#writing = undefined;
    }
  }

  /**
   * Writes `count` records (`parts`: text to encode and bytes, `size`
   * characters and bytes in all, one line per record) and syncs per mode.
   */
  async #write(parts: (string | Uint8Array)[], size: number, count: number): Promise<void> {
    let bytes: Uint8Array;
    if (parts.length === 1 && typeof parts[0] !== "string") {
      bytes = parts[0];
    } else {
      // JSON is nearly all ASCII: size the buffer for one byte per character
      // and grow only when the text turns out not to be.
      if (this.#buffer.length < size) {
        this.#buffer = new Uint8Array(Math.max(size, this.#buffer.length * 2));
      }
      let length = 0;
      for (const part of parts) {
        if (typeof part !== "string") {
          if (this.#buffer.length < length + part.length) this.#grow(length, part.length);
          this.#buffer.set(part, length);
          length += part.length;
          continue;
        }
        let { read, written } = encoder.encodeInto(part, this.#buffer.subarray(length));
        if (read < part.length) {
          this.#grow(length, part.length * 3);
          ({ read, written } = encoder.encodeInto(part, this.#buffer.subarray(length)));
        }
        length += written;
      }
      bytes = this.#buffer.subarray(0, length);
    }
    const length = bytes.length;
    if (this.#segmentSize + length <= this.#segmentBytes) {
      await this.#writeAll(bytes, count);
    } else {
      await this.#writeRotating(bytes, count);
    }
    if (this.#fsync === "always") await this.#syncFile();
  }

  /** Makes room in the write buffer for `more` bytes after its first `length`. */
  #grow(length: number, more: number): void {
    const grown = new Uint8Array(Math.max(length + more, this.#buffer.length * 2));
    grown.set(this.#buffer.subarray(0, length));
    this.#buffer = grown;
  }

  /** Slow path: the group crosses a segment boundary; split it by lines. */
  async #writeRotating(bytes: Uint8Array, count: number): Promise<void> {
    let start = 0;
    let records = 0;
    let end = 0;
    let lines = 0;
    while (end < bytes.length) {
      const lineEnd = bytes.indexOf(10, end) + 1;
      const fits = this.#segmentSize + (lineEnd - start) <= this.#segmentBytes;
      if (!fits && (this.#segmentSize > 0 || lines > 0)) {
        if (lines > 0) await this.#writeAll(bytes.subarray(start, end), lines);
        records += lines;
        start = end;
        lines = 0;
        await this.#rotate();
      }
      end = lineEnd;
      lines++;
    }
    if (lines > 0) await this.#writeAll(bytes.subarray(start, end), lines);
    records += lines;
    if (records !== count) {
      throw new Error(`Log writer split ${records} records where ${count} were given`);
    }
  }

  async #rotate(): Promise<void> {
    // The old segment is complete: make it durable before moving on, so a
    // reader that sees the next segment never needs to revisit this one.
    if (this.#fsync !== "never") await this.#syncFile();
    this.#file.close();
    await this.#openSegment(this.#next, 0);
  }

  /**
   * Writes whole lines. A write that fails with an I/O error (the disk is
   * full) may have left part of them: the segment is cut back to its last
   * complete line and the same lines are written again a second later,
   * until it works — never a torn line, never a line twice.
   */
  async #writeAll(bytes: Uint8Array, count: number): Promise<void> {
    let dirty = false;
    await this.#retrying("write to", this.#dir, async () => {
      if (dirty) await this.#file.truncate(this.#segmentSize);
      dirty = true;
      let written = 0;
      while (written < bytes.length) {
        written += await this.#file.write(bytes.subarray(written));
        this.#stats.writes++;
      }
    });
    this.#segmentSize += bytes.length;
    this.#next += count;
    this.#queuedRecords -= count;
    this.#stats.records += count;
    this.#stats.bytes += bytes.length;
  }

  async #syncFile(): Promise<void> {
    // What reached the file before the sync is what it makes durable.
    const upTo = this.#next;
    await this.#retrying("sync", this.#dir, () => this.#file.syncData());
    this.#synced = Math.max(this.#synced, upTo);
    this.#stats.syncs++;
    this.#lastSync = Date.now();
  }

  /**
   * Runs `attempt` until it does not fail with an I/O error (SPEC §7): the
   * first failure sets {@link SegmentLog.problem} and is logged, then the
   * attempt is repeated every `retryMs`; success clears the problem and says
   * so. Anything else (a bug, a closed log) is thrown.
   */
  async #retrying<R>(action: Action, path: string, attempt: () => Promise<R>): Promise<R> {
    for (;;) {
      try {
        const result = await attempt();
        if (this.#problem !== undefined) this.#resumed(action, path);
        return result;
      } catch (error) {
        if (!isIoError(error)) throw error;
        this.#stats.retries++;
        this.#failed(action, path, error);
        await new Promise((resolve) => setTimeout(resolve, this.#retryMs));
      }
    }
  }

  #failed(action: Action, path: string, error: unknown): void {
    if (this.#problem !== undefined) return;
    const text = error instanceof Error ? error.message : String(error);
    this.#problem = { error: text, since: Date.now() };
    // The action is one of a few fixed words: part of the template, so it
    // prints bare (a placeholder's multi-word value is quoted).
    log.error(
      `Cannot ${action} {path}: {error}; nothing more is acknowledged and ingestion is paused, retrying every {ms} ms`,
      { action, path, error: text, ms: this.#retryMs, dir: this.#dir },
    );
  }

  #resumed(action: Action, path: string): void {
    const problem = this.#problem!;
    this.#problem = undefined;
    log.info(`Can ${action} {path} again after {seconds} s: ingestion resumes`, {
      action,
      path,
      seconds: Math.round((Date.now() - problem.since) / 1000),
      dir: this.#dir,
      error: problem.error,
    });
  }

  /**
   * Start-up (SPEC §7): a disk without room is reported now, not at the
   * first write. Writes `probeBytes` to a file beside the segments, syncs and
   * removes it; if that fails with an I/O error, {@link SegmentLog.problem}
   * stays set, and the probe is repeated in the background every `retryMs`
   * until it succeeds (or a write does).
   */
  async #probe(): Promise<void> {
    const path = `${this.#dir}/${SPACE_PROBE_NAME}`;
    const found = await Deno.lstat(path).catch(() => undefined);
    if (found !== undefined && !found.isFile) {
      // Not a left-over probe file (that one is overwritten): something
      // else by that name, which would read as a full disk for ever.
      const what = found.isDirectory
        ? "a directory"
        : found.isSymlink
        ? "a symbolic link"
        : "not a file";
      throw new Deno.errors.AlreadyExists(
        `${path} is ${what}: the log writes and removes a file of that name at start to see that the disk has room; move it away`,
      );
    }
    const once = async () => {
      try {
        // A file left by a crash mid-probe goes first; then only a new one
        // is written: a link put there meanwhile is not followed.
        await Deno.remove(path).catch(() => {});
        using file = await Deno.open(path, { createNew: true, write: true });
        const bytes = new Uint8Array(this.#probeBytes);
        let written = 0;
        while (written < bytes.length) written += await file.write(bytes.subarray(written));
        await file.syncData();
      } finally {
        await Deno.remove(path).catch(() => {});
      }
    };
    try {
      await once();
      return;
    } catch (error) {
      if (!isIoError(error)) throw error;
      this.#stats.retries++;
      this.#failed("find room in", this.#dir, error);
    }
    this.#probing = true;
    (async () => {
      while (this.#probing && this.#problem !== undefined) {
        await new Promise((resolve) => setTimeout(resolve, this.#retryMs));
        if (!this.#probing || this.#problem === undefined) break;
        try {
          await once();
          if (this.#problem !== undefined) this.#resumed("find room in", this.#dir);
        } catch {
          this.#stats.retries++;
        }
      }
      this.#probing = false;
    })();
  }

  /** Interval mode: the promise of the next sync, scheduling it if needed. */
  #scheduleSync(): Promise<void> {
    if (this.#unsynced === undefined) {
      this.#unsynced = deferred();
      const delay = Math.max(0, this.#lastSync + this.#intervalMs - Date.now());
      this.#syncTimer = setTimeout(() => {
        this.#syncTimer = undefined;
        if (this.#writing) {
          // Under steady load the writer is never idle: it syncs between groups.
          this.#syncDue = true;
        } else {
          this.#syncing ??= this.#syncCovered().catch(() => {}).finally(() => {
            this.#syncing = undefined;
          });
        }
      }, delay);
    }
    return this.#unsynced.promise;
  }

  /** Syncs the active segment and resolves what the sync covers. */
  async #syncCovered(): Promise<void> {
    this.#syncDue = false;
    clearTimeout(this.#syncTimer);
    this.#syncTimer = undefined;
    const covered = this.#unsynced;
    this.#unsynced = undefined;
    try {
      await this.#syncFile();
      covered?.resolve();
    } catch (error) {
      this.#failure ??= error;
      covered?.reject(error);
      throw error;
    }
  }
}

function isEncoded<T>(piece: readonly T[] | EncodedLines): piece is EncodedLines {
  return !Array.isArray(piece);
}

/** Counts complete lines of a segment and where the last one ends. */
export async function scanSegment(
  path: string,
): Promise<{ lines: number; validBytes: number; size: number }> {
  using file = await Deno.open(path, { read: true });
  const buffer = new Uint8Array(1 << 20);
  let lines = 0;
  let position = 0;
  let validBytes = 0;
  while (true) {
    const n = await file.read(buffer);
    if (n === null) break;
    let i = buffer.indexOf(10, 0);
    while (i >= 0 && i < n) {
      lines++;
      validBytes = position + i + 1;
      i = buffer.indexOf(10, i + 1);
    }
    position += n;
  }
  return { lines, validBytes, size: position };
}

/**
 * Whether `error` is an I/O error that may pass (no space, quota, EIO, …),
 * worth retrying, rather than a bug: the OS errors Deno reports carry an
 * errno `code`, are one of `Deno.errors`, or — for an errno Deno has no
 * name for (EFBIG, EDQUOT, ESTALE: a plain `Error`) — end their message
 * with `(os error N)`; except a closed resource.
 */
function isIoError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  if (error instanceof Deno.errors.BadResource || error instanceof Deno.errors.Interrupted) {
    return false;
  }
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && code.startsWith("E")) return true;
  if (/\(os error \d+\)$/.test(error.message)) return true;
  return Object.values(Deno.errors).some((type) => error instanceof type);
}

/** Makes a new directory entry durable; a no-op where that is not possible. */
async function syncDirectory(dir: string): Promise<void> {
  try {
    using handle = await Deno.open(dir, { read: true });
    await handle.syncData();
  } catch {
    // Some platforms cannot open or sync a directory; the data syncs still hold.
  }
}
