/**
 * Replay (SPEC §10): recorded wire traffic through the same decoders,
 * operators and sinks as the live service, deterministically.
 *
 * @module
 */

import type { ObservationKind } from "../envelope/observation.ts";
import { nowMicros } from "../envelope/time.ts";
import { DedupeWindow } from "../operators/dedupe_window.ts";
import type { IngestBatch } from "../operators/ingest_batch.ts";
import { ByteReader } from "../operators/byte_reader.ts";
import { lockDirectory } from "../sinks/dir_lock.ts";
import { openDeadLetterLog, openEventLog } from "../sinks/event_log.ts";
import { readLogLines } from "../sinks/log_reader.ts";
import { listSegments, SPACE_PROBE_NAME } from "../sinks/segment_log.ts";
import { concatBytes } from "../sources/_concat_bytes.ts";
import type { DurableBatch } from "../sinks/ingest_sink.ts";
import type { DecodeContext } from "../sources/decode_context.ts";
import { IslPacketCutter } from "../sources/isl/mod.ts";
import { IslDecodeStream } from "../sources/isl/isl_decode_stream.ts";
import { OpticalDecodeStream } from "../sources/optical/optical_decode_stream.ts";
import { TdmDecodeStream } from "../sources/radar/mod.ts";
import { TdmMessageCutter } from "../sources/radar/tdm_message_cuts.ts";
import { Pipeline, type SourceCounts } from "./pipeline.ts";
import { type PageSpec, wireContext } from "./workers/_protocol.ts";
import { configuredWorkers } from "./workers/configured_workers.ts";
import { type DecodePool, startDecodePool } from "./workers/decode_pool.ts";

/** One recorded input. */
export interface ReplayInput {
  /** Which decoder reads it. */
  kind: ObservationKind;
  /** Its path relative to the fixtures directory: `provenance.peer` of what it yields. */
  name: string;
  /** Its bytes, read on demand. */
  open(): ReadableStream<Uint8Array> | Promise<ReadableStream<Uint8Array>>;
  /** Size in bytes, when known (progress). */
  size?: number;
}

const EXTENSIONS: Record<ObservationKind, RegExp> = {
  radar: /\.kvn$/,
  optical: /\.(csv|json)$/,
  isl: /\.spp$/,
};

/**
 * The fixtures under `dir` in replay order: `radar/*.kvn`, then
 * `optical/*.csv|*.json` (pages in name order), then `isl/*.spp`.
 */
export async function fixtureInputs(dir: string): Promise<ReplayInput[]> {
  const inputs: ReplayInput[] = [];
  for (const kind of ["radar", "optical", "isl"] as const) {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(`${dir}/${kind}`)) {
        if (entry.isFile && EXTENSIONS[kind].test(entry.name)) names.push(entry.name);
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
    for (const name of names.sort()) {
      const path = `${dir}/${kind}/${name}`;
      const { size } = await Deno.stat(path);
      inputs.push({
        kind,
        name: `${kind}/${name}`,
        size,
        open: async () => (await Deno.open(path, { read: true })).readable,
      });
    }
  }
  return inputs;
}

/**
 * What lies in the kind directories under `dir` (`radar/`, `optical/`,
 * `isl/`) that {@link fixtureInputs} does not read — a file with another
 * extension or case, a subdirectory — as paths relative to `dir`, sorted.
 * Hidden files (`.gitattributes`) and whatever lies beside the kind
 * directories (`expected/`, a corpus, notes) are left out.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unreadFixtures } from "./replay.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/radar/old`, { recursive: true });
 * await Deno.writeTextFile(`${dir}/radar/a.kvn`, "");
 * await Deno.writeTextFile(`${dir}/radar/b.KVN`, "");
 * await Deno.writeTextFile(`${dir}/radar/.gitattributes`, "");
 * await Deno.writeTextFile(`${dir}/notes.txt`, "");
 * assert.deepEqual(await unreadFixtures(dir), ["radar/b.KVN", "radar/old/"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function unreadFixtures(dir: string): Promise<string[]> {
  const unread: string[] = [];
  for (const kind of Object.keys(EXTENSIONS) as ObservationKind[]) {
    try {
      for await (const entry of Deno.readDir(`${dir}/${kind}`)) {
        if (entry.name.startsWith(".")) continue;
        if (entry.isFile && EXTENSIONS[kind].test(entry.name)) continue;
        unread.push(`${kind}/${entry.name}${entry.isDirectory ? "/" : ""}`);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return unread.sort();
}

/**
 * The batches one input decodes to, with the context of SPEC §10; `startedAt`
 * (µs, default now) is when the replay started: no `t_obs` may be more than
 * a day after it (SPEC §14).
 */
export function decodeInput(
  input: ReplayInput,
  startedAt: number = nowMicros(),
  workers?: DecodePool,
): ReadableStream<IngestBatch> {
  // An empty page file is a recorded empty answer, which the live source
  // takes as an empty page before decoding (nothing newer), not as a body
  // that is not a JSON array.
  if (input.kind === "optical" && input.size === 0) return ReadableStream.from([]);
  const ctx: DecodeContext = {
    source: input.kind,
    transport: "replay",
    peer: input.name,
    deterministic: true,
    startedAt,
  };
  const bytes = () => Promise.resolve(input.open());
  if (workers !== undefined) return decodeInWorker(input, ctx, bytes, workers);
  switch (input.kind) {
    case "radar":
      // No idle flush: grouping must not depend on how fast the file is read.
      return streamFrom(async () =>
        (await bytes()).pipeThrough(new TdmDecodeStream({ ctx, groupIdleMs: Infinity }))
      );
    case "optical":
      // Record by record as the bytes come: a page file of any size.
      return streamFrom(async () =>
        (await bytes()).pipeThrough(
          new OpticalDecodeStream({ ctx, contentType: opticalType(input.name) }),
        )
      );
    case "isl":
      return streamFrom(async () => (await bytes()).pipeThrough(new IslDecodeStream({ ctx })));
  }
}

/** {@link decodeInput} in a decode worker: the same batches, their observations packed. */
function decodeInWorker(
  input: ReplayInput,
  ctx: DecodeContext,
  bytes: () => Promise<ReadableStream<Uint8Array>>,
  workers: DecodePool,
): ReadableStream<IngestBatch> {
  const wire = wireContext(ctx);
  switch (input.kind) {
    case "radar":
      return ReadableStream.from(
        inPieces(
          bytes,
          new TdmMessageCutter(TDM_PIECE_BYTES, MAX_PIECE_BYTES),
          { kind: "tdm", ctx: wire },
          (rest) =>
            rest.pipeThrough(workers.stream({ kind: "tdm", ctx: wire, groupIdleMs: Infinity })),
          workers,
        ),
      );
    case "optical": {
      const contentType = opticalType(input.name);
      return streamFrom(async (cancelled) => {
        const reader = new ByteReader(await bytes());
        const { page, ended } = await readUpTo(
          reader,
          PAGE_IN_WORKER_BYTES,
          cancelled,
          input.size,
        );
        if (cancelled.aborted) {
          await reader.cancel(cancelled.reason);
          return ReadableStream.from([]);
        }
        if (ended) {
          const batch = await workers.page({ kind: "optical", ctx: wire, contentType }, page, true);
          return ReadableStream.from([batch]);
        }
        // Too large to hold as one page: record by record on this thread,
        // from the bytes read so far on (SPEC §10: memory does not grow
        // with the input).
        return restOf(page, reader).pipeThrough(new OpticalDecodeStream({ ctx, contentType }));
      });
    }
    case "isl":
      return ReadableStream.from(
        inPieces(
          bytes,
          new IslPacketCutter(ISL_PIECE_BYTES, MAX_PIECE_BYTES),
          { kind: "isl-packets", ctx: wire },
          // A capture of junk (rare): on this thread.
          (rest) => rest.pipeThrough(new IslDecodeStream({ ctx })),
          workers,
        ),
      );
  }
}

/**
 * Pieces of a recording (ISL packet chunks, TDM messages) handed to the
 * workers before the first one's batch was taken: pages rather than one
 * stream, so every worker can take a share of one recording, in order.
 */
const PAGES_IN_FLIGHT = 4;

/**
 * Bytes of TDM collected before they are cut between messages into a piece
 * (about one message of the bench's recordings, ~1,000 observations).
 */
const TDM_PIECE_BYTES = 256 * 1024;
/**
 * Bytes of ISL packets collected before they are cut between two beacons
 * into a piece (~1,300 beacons).
 */
const ISL_PIECE_BYTES = 128 * 1024;
/** Bytes of a recording without a cut after which the rest is one stream. */
const MAX_PIECE_BYTES = 8 * 1024 * 1024;

/** Cuts a recording into pieces that decode apart: `TdmMessageCutter`, `IslPacketCutter`. */
interface Cutter {
  /** Takes a copy of a chunk; returns the pieces now complete. */
  push(chunk: Uint8Array): Uint8Array[];
  /** What is left, as a last piece. */
  end(): Uint8Array[];
  /** Whether no cut came for so long that the rest must be decoded as one stream. */
  readonly stuck: boolean;
}

/**
 * A recording decoded in the pieces `cutter` cuts it into (TDM messages,
 * ISL packets between two beacons) by the workers, several at once and in
 * order: one recording is no longer one worker's stream while others
 * idle. The file is read into one reused buffer (`ByteReader`), so the
 * main thread's only buffers per piece are the pieces, which go to the
 * workers. Where the cutter gets stuck (no cut for `MAX_PIECE_BYTES`),
 * the rest from the last cut on is decoded as one stream by `decodeRest`:
 * memory stays bounded whatever the input.
 */
async function* inPieces(
  bytes: () => Promise<ReadableStream<Uint8Array>>,
  cutter: Cutter,
  page: PageSpec,
  decodeRest: (rest: ReadableStream<Uint8Array>) => ReadableStream<IngestBatch>,
  workers: DecodePool,
): AsyncGenerator<IngestBatch> {
  const reader = new ByteReader(await bytes());
  const decoding: Promise<IngestBatch>[] = [];
  try {
    while (true) {
      const chunk = await reader.read();
      for (const piece of chunk === undefined ? cutter.end() : cutter.push(chunk)) {
        const batch = workers.page(page, piece, true);
        // Handled when its turn comes; until then no unhandled rejection.
        batch.catch(() => {});
        decoding.push(batch);
        while (decoding.length >= PAGES_IN_FLIGHT) yield await decoding.shift()!;
      }
      if (chunk === undefined) break;
      if (cutter.stuck) {
        while (decoding.length > 0) yield await decoding.shift()!;
        const [held = new Uint8Array(0)] = cutter.end();
        yield* decodeRest(restOf(held, reader));
        return;
      }
    }
    while (decoding.length > 0) yield await decoding.shift()!;
  } finally {
    // Read to the end, or given up (cancelled, failed): the file is closed.
    await reader.cancel().catch(() => {});
  }
}

/**
 * The bytes `held` back (in slices of at most 64 KiB, as a file is read),
 * then the rest of what `reader` reads, read as pulled.
 */
function restOf(held: Uint8Array, reader: ByteReader): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(controller) {
      for (let at = 0; at < held.length; at += 65_536) {
        controller.enqueue(held.subarray(at, at + 65_536));
      }
    },
    async pull(controller) {
      const chunk = await reader.read();
      // A copy: the reader reuses its buffer for the next chunk.
      if (chunk === undefined) controller.close();
      else controller.enqueue(chunk.slice());
    },
    cancel: (reason) => reader.cancel(reason),
  }, { highWaterMark: 0 });
}

/**
 * A readable that opens `make()` on its first pull; a cancel reaches what
 * it opens, also while it is still opening (an optical page read ahead).
 */
function streamFrom<T>(
  make: (cancelled: AbortSignal) => Promise<ReadableStream<T>>,
): ReadableStream<T> {
  const cancelled = new AbortController();
  let reader: Promise<ReadableStreamDefaultReader<T>> | undefined;
  return new ReadableStream<T>({
    async pull(controller) {
      reader ??= make(cancelled.signal).then((stream) => stream.getReader());
      const { done, value } = await (await reader).read();
      if (done) controller.close();
      else controller.enqueue(value);
    },
    async cancel(reason) {
      cancelled.abort(reason);
      await (await reader?.catch(() => undefined))?.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/**
 * An optical page file larger than this is not handed to a decode worker
 * whole but decoded as it is read (the bench's generated pages of 1,000
 * records are ~190 KB).
 */
const PAGE_IN_WORKER_BYTES = 4 * 1024 * 1024;

function opticalType(name: string): string {
  return name.endsWith(".json") ? "application/json" : "text/csv";
}

/**
 * Reads until more than `limit` bytes came, the stream `ended`, or
 * `cancelled`: one buffer, of the input's `size` where known, so that a
 * whole page can be transferred to a worker as it is.
 */
async function readUpTo(
  reader: ByteReader,
  limit: number,
  cancelled: AbortSignal,
  size?: number,
): Promise<{ page: Uint8Array; ended: boolean }> {
  let page = new Uint8Array(Math.min(size ?? 65_536, limit + 1));
  let length = 0;
  while (length <= limit && !cancelled.aborted) {
    const chunk = await reader.read();
    if (chunk === undefined) {
      return { page: length === page.length ? page : page.slice(0, length), ended: true };
    }
    if (length + chunk.length > page.length) {
      const larger = new Uint8Array(Math.max(2 * page.length, length + chunk.length));
      larger.set(page.subarray(0, length));
      page = larger;
    }
    page.set(chunk, length);
    length += chunk.length;
  }
  return { page: page.subarray(0, length), ended: false };
}

/**
 * The inputs one after another as one stream of batches — sequential, so the
 * log's order does not depend on timing.
 */
export function concatInputs(
  inputs: readonly ReplayInput[],
  onInput?: (input: ReplayInput, index: number) => void,
  startedAt: number = nowMicros(),
  workers?: DecodePool,
): ReadableStream<IngestBatch> {
  // With workers, the next inputs are opened (and their first batch asked
  // for) while the current one drains, four per worker: each worker decodes
  // ahead, and the order of the log is still the order of the inputs. With
  // one page ahead, the worker waited for the main thread's next request
  // after each page (~1,000 records).
  const ahead = 4 * (workers?.size ?? 0);
  let opened = 0;
  const open: {
    reader: ReadableStreamDefaultReader<IngestBatch>;
    kind: ReplayInput["kind"];
    first?: Promise<unknown>;
  }[] = [];
  const fill = () => {
    while (opened < inputs.length && open.length <= ahead) {
      // Only behind an archive page: behind a long stream (radar, ISL) the
      // next input's first batch would hold the worker's shared memory for
      // the whole stream, and the stream's batches would all need memory of
      // their own.
      if (open.length > 0 && open[0].kind !== "optical") break;
      const index = opened++;
      onInput?.(inputs[index], index);
      const reader = decodeInput(inputs[index], startedAt, workers).getReader();
      open.push({
        reader,
        kind: inputs[index].kind,
        first: open.length > 0 ? reader.read() : undefined,
      });
    }
  };
  return new ReadableStream<IngestBatch>({
    async pull(controller) {
      while (true) {
        fill();
        const current = open[0];
        if (current === undefined) {
          controller.close();
          return;
        }
        const first = current.first;
        current.first = undefined;
        const { done, value } =
          (await (first ?? current.reader.read())) as ReadableStreamReadResult<
            IngestBatch
          >;
        if (!done) {
          controller.enqueue(value);
          return;
        }
        open.shift();
      }
    },
    async cancel(reason) {
      await Promise.all(open.map(({ reader }) => reader.cancel(reason)));
    },
  }, { highWaterMark: 0 });
}

/** `--out` names a directory replay must not replace: one it did not write. */
export class ReplayOutputError extends Error {
  /** @param message what is wrong */
  constructor(message: string) {
    super(message);
    this.name = "ReplayOutputError";
  }
}

/**
 * Whether the first record of the log in `dir` is replay's: an observation
 * with transport `"replay"`, or a dead letter received at the Unix epoch
 * (SPEC §10) — a live service's records have neither. A log without a
 * record is anybody's.
 */
async function writtenByReplay(dir: string): Promise<boolean> {
  // Read as a log: the first record whole, however long (optical records
  // can be hundreds of KiB).
  const reader = readLogLines(dir).getReader();
  let first;
  try {
    first = await reader.read();
  } catch {
    return false; // not a log that reads as one
  } finally {
    reader.cancel().catch(() => {});
  }
  if (first.done) return true;
  try {
    const record = JSON.parse(first.value.line);
    return record?.provenance?.transport === "replay" ||
      (record?.stage !== undefined && record?.t_rx === "1970-01-01T00:00:00.000000Z");
  } catch {
    return false;
  }
}

/**
 * Removes a log directory an earlier replay wrote. Refuses one that is
 * open for writing (a running service's, another replay's:
 * `DirectoryInUseError`), one holding anything but segments, and a log
 * replay did not write — a service's event log, say, which is never
 * replaced: {@link ReplayOutputError}.
 */
async function removeReplayOutput(dir: string): Promise<void> {
  let names: string[];
  try {
    names = (await Array.fromAsync(Deno.readDir(dir))).map((entry) => entry.name);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  const lock = await lockDirectory(dir);
  try {
    const segments = new Set((await listSegments(dir)).map(([, path]) => path));
    // The space probe is left behind by a writer killed while it opened.
    const others = names.filter((name) =>
      !segments.has(`${dir}/${name}`) && name !== SPACE_PROBE_NAME
    );
    if (others.length > 0) {
      throw new ReplayOutputError(
        `${dir} holds ${others.length} file(s) that are not log segments (${
          others.slice(0, 3).join(", ")
        }); replay replaces only its own output: choose another --out`,
      );
    }
    if (!(await writtenByReplay(dir))) {
      throw new ReplayOutputError(
        `${dir} holds a log that replay did not write (a service's?); replay replaces only its own output: choose another --out, or remove ${dir} yourself`,
      );
    }
    await Deno.remove(dir, { recursive: true });
  } finally {
    lock.release();
  }
}

/** Options for {@link replay}. */
export interface ReplayOptions {
  /** What to replay, in order. */
  inputs: readonly ReplayInput[];
  /**
   * Output directory: `<out>/events` and `<out>/dead-letter`, replaced if an
   * earlier replay wrote them (refused if anything else did, or while a
   * writer has them open).
   */
  out: string;
  /** Called as batches become durable (progress). */
  onDurable?: (batches: readonly DurableBatch[]) => void;
  /** Called when an input starts. */
  onInput?: (input: ReplayInput, index: number) => void;
  /** Dedupe window capacity (default 1,000,000 as the service). */
  dedupeCapacity?: number;
  /** Decode workers (default: as the service, see `configuredWorkers`); 0: the main thread. */
  workers?: number;
}

/** What a replay wrote. */
export interface ReplayResult {
  /** Observations in the event log. */
  observations: number;
  /** Dead letters in the dead-letter log. */
  deadLetters: number;
  /** Counts per kind. */
  counts: Record<ObservationKind, SourceCounts>;
}

/**
 * Replays `inputs` into a fresh log under `out`. Streaming end to end: memory
 * does not grow with the size of the inputs.
 */
export async function replay(options: ReplayOptions): Promise<ReplayResult> {
  const startedAt = nowMicros();
  const eventsDir = `${options.out}/events`;
  const deadDir = `${options.out}/dead-letter`;
  for (const dir of [eventsDir, deadDir]) await removeReplayOutput(dir);
  const workers = await startDecodePool(options.workers ?? configuredWorkers({}));
  let events, deadLetters;
  try {
    events = await openEventLog({ dir: eventsDir, fsync: "never" });
    deadLetters = await openDeadLetterLog({ dir: deadDir, fsync: "never" });
  } catch (error) {
    // Let go of what is open (and its directory's lock) before saying why.
    workers?.close();
    await events?.close().catch(() => {});
    throw error;
  }
  const pipeline = new Pipeline({
    events,
    deadLetters,
    dedupe: new DedupeWindow(options.dedupeCapacity ?? 1_000_000),
    onDurable: options.onDurable,
  });
  try {
    pipeline.add(concatInputs(options.inputs, options.onInput, startedAt, workers));
    pipeline.close();
    await pipeline.done;
  } finally {
    workers?.close();
  }
  // One sync at the end instead of per batch: a replay can be run again.
  for (const dir of [eventsDir, deadDir]) {
    for await (const entry of Deno.readDir(dir)) {
      using file = await Deno.open(`${dir}/${entry.name}`, { read: true, write: true });
      await file.syncData();
    }
  }
  return {
    observations: events.nextOffset,
    deadLetters: deadLetters.nextOffset,
    counts: {
      radar: pipeline.counts("radar"),
      optical: pipeline.counts("optical"),
      isl: pipeline.counts("isl"),
    },
  };
}

/**
 * The first difference between a log directory and an expected `.jsonl`
 * file, byte for byte (SPEC §10): a blank line, a missing or extra line
 * end, a missing expected file are differences too.
 */
export async function compareLog(dir: string, expectedFile: string): Promise<string | undefined> {
  const actual = await logBytes(dir);
  let expected: Uint8Array;
  try {
    expected = await Deno.readFile(expectedFile);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    return `is missing (the replay wrote ${lines(textOf(actual)).length} lines)`;
  }
  if (sameBytes(actual, expected)) return undefined;
  // Different bytes: the first line that differs, in words (text decoded
  // with U+FFFD for what is not UTF-8, shown as JSON where it might hide).
  const a = textOf(actual);
  const e = textOf(expected);
  if (a.replace(/\n$/, "") === e.replace(/\n$/, "")) {
    return a === e
      ? "differs in bytes that are not UTF-8 (the text reads the same)"
      : `the last line ends differently: a line end ${
        a.endsWith("\n") ? "the expected file lacks" : "missing"
      } at the end`;
  }
  const al = lines(a);
  const el = lines(e);
  let i = 0;
  while (i < al.length && i < el.length && al[i] === el[i]) i++;
  const counts = `expected ${el.length} lines, got ${al.length}`;
  if (i >= el.length) {
    return `line ${i + 1}: not expected (${counts})\n  actual:   ${JSON.stringify(al[i])}`;
  }
  if (i >= al.length) {
    return `line ${i + 1}: missing (${counts})\n  expected: ${JSON.stringify(el[i])}`;
  }
  // Quoted when the difference could be invisible (a CR, a control byte).
  const hidden = (line: string) => {
    for (let c = 0; c < line.length; c++) {
      const code = line.charCodeAt(c);
      if (code < 0x20 || code === 0x7f || code === 0xfffd) return true;
    }
    return false;
  };
  const quote = hidden(el[i]) || hidden(al[i]);
  const show = (line: string) => quote ? JSON.stringify(line) : line;
  return `line ${i + 1} differs:\n  expected: ${show(el[i])}\n  actual:   ${show(al[i])}`;
}

/** The lines of a log's text, without their line ends. */
function lines(text: string): string[] {
  const all = text.split("\n");
  if (text.endsWith("\n")) all.pop();
  return all;
}

/** The segments of a log directory, back to back. */
async function logBytes(dir: string): Promise<Uint8Array> {
  const names = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  const parts: Uint8Array[] = [];
  for (const name of names.filter((n) => n.endsWith(".jsonl")).sort()) {
    parts.push(await Deno.readFile(`${dir}/${name}`));
  }
  return concatBytes(parts);
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function textOf(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}
