/**
 * Decoding on every core (issue 16): a pool of Web Workers that run the
 * portable decoders and hand the main thread serialised lines and each id's
 * input in shared or transferred memory; the main thread hashes the ids.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Format } from "../../envelope/observation.ts";
import { binaryRaw, textRaw } from "../../envelope/raw.ts";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import { internalErrorReason } from "../../operators/internal_error.ts";
import { fillPackedIds, packedAt } from "../../operators/pack_observations.ts";
import { makeDeadLetter } from "../../sources/decode_context.ts";
import { ringMemory, RingReader } from "./_ring.ts";
import {
  decodeContext,
  type FromWorker,
  type PageSpec,
  type StreamSpec,
  type StreamStats,
  type ToWorker,
  type WireBatch,
} from "./_protocol.ts";

const log = getLogger(["sda-ingest", "workers"]);
const lenient = new TextDecoder();

export type { PageSpec, StreamSpec, StreamStats };

/**
 * The decode workers a configuration asks for: `workers` when set, else one
 * per core but one (the main thread's), at least 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultWorkers } from "./decode_pool.ts";
 *
 * assert.equal(defaultWorkers(4), 3);
 * assert.equal(defaultWorkers(1), 0);
 * ```
 */
export function defaultWorkers(cores: number = navigator.hardwareConcurrency ?? 1): number {
  return Math.max(0, Math.trunc(cores) - 1);
}

/**
 * A pool of `size` decode workers once they all answered, or `undefined`
 * (decode on the main thread) when `size` is 0 or they cannot start — a
 * process without read permission for the worker's module, say — with a
 * warning that says why.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startDecodePool } from "./decode_pool.ts";
 *
 * assert.equal(await startDecodePool(0), undefined);
 * const pool = await startDecodePool(1);
 * assert.equal(pool?.size, 1);
 * pool?.close();
 * ```
 */
export async function startDecodePool(size: number): Promise<DecodePool | undefined> {
  if (size === 0) return undefined;
  const pool = new DecodePool(size);
  try {
    await pool.started;
    return pool;
  } catch (error) {
    pool.close();
    log.warn(
      "Decode workers cannot start, decoding on the main thread instead: {error}",
      { error: error instanceof Error ? error.message : String(error), workers: size },
    );
    return undefined;
  }
}

/** A decoder running in a worker: bytes in, batches out (see {@link DecodePool.stream}). */
export interface DecodeChannel extends ReadableWritablePair<IngestBatch, Uint8Array> {
  /** The decoder's counts as of its last report. */
  readonly stats: Readonly<StreamStats>;
}

/** Options for {@link DecodePool.stream}. */
export interface DecodeStreamOptions {
  /**
   * Chunks posted to the worker and not yet decoded, at most (default 4):
   * with the one batch the readable holds, what bounds the memory between a
   * socket and a stalled pipeline. With 2 the worker waited for the main
   * thread's next read about a fifth of a radar run; with 4, a tenth.
   */
  maxInFlight?: number;
  /**
   * The transport's read state, for the TDM idle rule: call
   * `reading(true)` when a read of the source begins and `reading(false)`
   * when it ended (see `TdmDecodeStreamOptions.waitingSince`).
   */
  tracksReads?: boolean;
}

/** A {@link DecodeChannel} with the read-state hook of {@link DecodeStreamOptions.tracksReads}. */
export interface TrackedDecodeChannel extends DecodeChannel {
  /** Tells the worker whether the transport is waiting on a read now. */
  reading(on: boolean): void;
}

interface Channel {
  id: number;
  slot: Slot;
  spec: StreamSpec;
  source: string;
  readable: ReadableStreamDefaultController<IngestBatch>;
  writable: WritableStreamDefaultController | undefined;
  /** Chunks posted and not yet decoded, oldest first (kept for a crash). */
  pending: Uint8Array[];
  stats: StreamStats;
  room: (() => void) | undefined;
  ended: PromiseWithResolvers<void>;
  failed: unknown;
  closed: boolean;
}

interface Request {
  spec: PageSpec;
  resolve: (batch: IngestBatch) => void;
  reject: (error: unknown) => void;
  source: string;
}

interface Slot {
  index: number;
  ready: Promise<void>;
  worker: Worker;
  ring: RingReader;
  channels: Map<number, Channel>;
  requests: Map<number, Request>;
  dead: boolean;
}

/** Bytes of shared memory each worker packs batches into (then buffers of their own). */
const RING_BYTES = 16 * 1024 * 1024;

/** The batch a worker's {@link WireBatch} stands for. */
function ingestBatch(wire: WireBatch, source: string, ring: RingReader): IngestBatch {
  const batch: IngestBatch = {
    observations: [],
    deadLetters: wire.deadLetters,
    acks: [],
    source,
  };
  if (wire.packed !== undefined) batch.packed = wire.packed;
  const shared = wire.ring;
  if (shared !== undefined) {
    const packed = packedAt(
      ring.data,
      shared.region.start,
      shared.count,
      shared.linesBytes,
      shared.keys,
      shared.inputsBytes,
    );
    packed.release = ring.received(shared.region);
    batch.packed = packed;
  }
  // The worker left the hashing to this thread, which has time to spare.
  if (batch.packed !== undefined) fillPackedIds(batch.packed);
  if (wire.deadLetterAt !== undefined) batch.deadLetterAt = wire.deadLetterAt;
  if (wire.receivedAt !== undefined) batch.receivedAt = wire.receivedAt;
  return batch;
}

const FORMATS: Record<StreamSpec["kind"], Format> = {
  tdm: "ccsds-tdm-kvn",
  "isl-packets": "isl-spp",
};

/**
 * A pool of decode workers (`_decode_worker.ts`, issue 16). A source opens a
 * {@link DecodePool.stream} per input stream (a radar connection, a replayed
 * file) or sends whole inputs with {@link DecodePool.page} (an archive page);
 * each goes to the worker with the least work, and stays there, so a
 * stream's batches keep their order. Observations come back as
 * `IngestBatch.packed` — lines, ids and times in shared or transferred
 * memory, the ids hashed here on arrival (`fillPackedIds`) — and dead
 * letters as they are.
 *
 * Backpressure: a stream posts a chunk only while fewer than `maxInFlight`
 * are being decoded and its one-batch readable has room, so a stalled
 * pipeline stops the reads of its source.
 *
 * A worker that crashes is replaced. What it held is not lost silently: each
 * chunk of a stream that it had not decoded yet becomes a `decoding` dead
 * letter (an internal error, with the bytes as raw), the stream then ends
 * (its connection is closed: radar has no acknowledgement, the peer
 * reconnects), and a page being decoded fails like a failed request (it is
 * fetched again: its cursor had not moved).
 *
 * @example Decode TDM bytes in a worker
 * ```ts
 * import assert from "node:assert/strict";
 * import { DecodePool } from "./decode_pool.ts";
 *
 * const pool = new DecodePool(1);
 * const tdm = "CCSDS_TDM_VERS = 2.0\nMESSAGE_ID = M1\nMETA_START\nTIME_SYSTEM = UTC\n" +
 *   "PARTICIPANT_1 = XR1\nMETA_STOP\nDATA_START\nRCS = 2026-11-25T12:00:00 1.5\nDATA_STOP\n";
 * const channel = pool.stream({ kind: "tdm", ctx: { source: "xr1", transport: "tcp", peer: "p" } });
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([new TextEncoder().encode(tdm)]).pipeThrough(channel),
 * );
 * const packed = batches.find((b) => b.packed)!.packed!;
 * const line = new TextDecoder().decode(packed.lines.subarray(0, packed.ends[0]));
 * assert.equal(JSON.parse(line).measurement.rcs_m2, 1.5);
 * pool.close();
 * ```
 */
export class DecodePool {
  #size: number;
  #slots: (Slot | undefined)[];
  #next = 0;
  #ids = 0;
  #closed = false;
  #crashes = 0;

  /** @param size how many workers (at least 1); they start now (see {@link DecodePool.started}) */
  constructor(size: number) {
    if (!Number.isInteger(size) || size < 1) {
      throw new RangeError(`A decode pool needs at least one worker: ${size}`);
    }
    this.#size = size;
    this.#slots = Array.from({ length: size }, (_, index) => this.#start(index, true));
  }

  /**
   * Resolves once every worker has loaded its modules and answered: a
   * worker starts in a second or more on a busy machine, which a service
   * should spend before it reports ready, not on its first connection.
   * Rejects when a worker failed before it answered (see
   * {@link startDecodePool}).
   */
  get started(): Promise<void> {
    return Promise.all(this.#slots.map((slot) => slot?.ready)).then(() => {});
  }

  /** How many workers. */
  get size(): number {
    return this.#size;
  }

  /**
   * Chunks and pages posted to the least busy worker and not decoded yet:
   * 0 while a worker is idle. Work that the main thread can do as well
   * (ISL beacons) goes to a worker only then, since with one core per
   * thread a busy worker is the bottleneck and the main thread has time to
   * spare.
   */
  get backlog(): number {
    let least = Infinity;
    for (const slot of this.#slots) {
      // A crashed worker's slot is refilled when next needed: idle.
      if (slot === undefined) return 0;
      let queued = slot.requests.size;
      for (const channel of slot.channels.values()) queued += channel.pending.length;
      if (queued < least) least = queued;
    }
    return least;
  }

  /** Workers that crashed and were replaced so far. */
  get crashes(): number {
    return this.#crashes;
  }

  /** A decoder of one input stream in a worker. */
  stream(spec: StreamSpec, options?: DecodeStreamOptions & { tracksReads?: false }): DecodeChannel;
  /** The same, with the read-state hook (TDM over a socket). */
  stream(
    spec: StreamSpec,
    options: DecodeStreamOptions & { tracksReads: true },
  ): TrackedDecodeChannel;
  stream(spec: StreamSpec, options: DecodeStreamOptions = {}): TrackedDecodeChannel {
    const maxInFlight = options.maxInFlight ?? 4;
    const slot = this.#pick();
    const id = ++this.#ids;
    let shared: SharedArrayBuffer | undefined;
    let since: Float64Array | undefined;
    let posted: Int32Array | undefined;
    if (options.tracksReads && spec.kind === "tdm") {
      shared = new SharedArrayBuffer(16);
      since = new Float64Array(shared, 0, 1);
      since[0] = NaN;
      posted = new Int32Array(shared, 8, 1);
      spec = { ...spec, shared };
    }
    const channel = {
      id,
      slot,
      spec,
      source: spec.ctx.source,
      pending: [],
      stats: { lines: 0, observations: 0, deadLetters: 0, deadLettersInARow: 0 },
      room: undefined,
      ended: Promise.withResolvers<void>(),
      failed: undefined,
      closed: false,
    } as unknown as Channel;
    channel.ended.promise.catch(() => {});
    const hasRoom = () =>
      channel.pending.length < maxInFlight && (channel.readable.desiredSize ?? 1) > 0;
    const readable = new ReadableStream<IngestBatch>({
      start: (controller) => {
        channel.readable = controller;
      },
      pull: () => {
        if (channel.room !== undefined && hasRoom()) channel.room();
      },
      cancel: (reason) => {
        this.#forget(channel);
        this.#post(slot, { op: "cancel", stream: id });
        channel.writable?.error(reason);
        channel.room?.();
      },
    }, { highWaterMark: 1 });
    const writable = new WritableStream<Uint8Array>({
      start: (controller) => {
        channel.writable = controller;
      },
      write: async (chunk) => {
        if (channel.failed !== undefined) throw channel.failed;
        if (posted !== undefined) Atomics.add(posted, 0, 1);
        channel.pending.push(chunk);
        // Posted as a copy: the original stays here until the worker has
        // decoded it, for the dead letter should the worker crash.
        this.#post(slot, { op: "chunk", stream: id, bytes: chunk });
        while (!hasRoom() && channel.failed === undefined && !channel.closed) {
          await new Promise<void>((resolve) => (channel.room = resolve));
          channel.room = undefined;
        }
        if (channel.failed !== undefined) throw channel.failed;
      },
      close: async () => {
        this.#post(slot, { op: "end", stream: id });
        await channel.ended.promise;
      },
      abort: (reason) => {
        this.#forget(channel);
        this.#post(slot, { op: "cancel", stream: id });
        try {
          channel.readable.error(reason);
        } catch {
          // Closed already.
        }
      },
    });
    slot.channels.set(id, channel);
    // Open before the first chunk: messages to a worker keep their order.
    this.#post(slot, { op: "open", stream: id, spec });
    return {
      readable,
      writable,
      get stats() {
        return channel.stats;
      },
      reading(on: boolean) {
        if (since !== undefined) since[0] = on ? performance.timeOrigin + performance.now() : NaN;
      },
    };
  }

  /**
   * Decodes one whole input (an archive page, ISL packets, TDM messages) in
   * a worker. With `handOver`, `bytes` is the caller's to give away: when
   * it is the whole of a fixed-length buffer, that buffer is transferred
   * (and detached here) instead of copied.
   */
  page(spec: PageSpec, bytes: Uint8Array, handOver = false): Promise<IngestBatch> {
    const slot = this.#pick();
    const request = ++this.#ids;
    return new Promise<IngestBatch>((resolve, reject) => {
      slot.requests.set(request, { spec, resolve, reject, source: spec.ctx.source });
      // Otherwise a copy of its own, transferred: a structured clone would
      // copy the whole buffer under the view, and a page reader's buffer is
      // resizable (the worker then reserved its maximum, ~1 ms a page).
      const buffer = bytes.buffer;
      const whole = handOver && buffer instanceof ArrayBuffer && !buffer.resizable &&
        bytes.byteOffset === 0 && bytes.byteLength === buffer.byteLength;
      const own = whole ? bytes : bytes.slice();
      this.#post(slot, { op: "page", request, spec, bytes: own }, [own.buffer as ArrayBuffer]);
    });
  }

  /** Tests: makes worker `index` crash (an uncaught error in it). */
  crash(index: number): void {
    const slot = this.#slots[index];
    if (slot !== undefined) this.#post(slot, { op: "crash" });
  }

  /** Stops every worker; streams and pages still open fail. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const slot of this.#slots) {
      if (slot === undefined) continue;
      slot.dead = true;
      slot.worker.terminate();
      const error = new TypeError("The decode pool was closed");
      for (const channel of slot.channels.values()) this.#fail(channel, error);
      for (const request of slot.requests.values()) request.reject(error);
    }
  }

  #pick(): Slot {
    if (this.#closed) throw new TypeError("Cannot decode in a closed decode pool");
    let best: Slot | undefined;
    let bestLoad = Infinity;
    for (let k = 0; k < this.#size; k++) {
      const index = (this.#next + k) % this.#size;
      const slot = this.#slots[index] ?? (this.#slots[index] = this.#start(index));
      const load = slot.channels.size + slot.requests.size;
      if (load < bestLoad) {
        best = slot;
        bestLoad = load;
      }
    }
    this.#next = (best!.index + 1) % this.#size;
    return best!;
  }

  /** A worker in slot `index`; an `initial` one that cannot load is reported by `started`, not logged. */
  #start(index: number, initial = false): Slot {
    const worker = new Worker(new URL("./_decode_worker.ts", import.meta.url).href, {
      type: "module",
    });
    const memory = ringMemory(RING_BYTES);
    const ready = Promise.withResolvers<void>();
    const slot: Slot = {
      index,
      ready: ready.promise,
      worker,
      ring: new RingReader(memory),
      channels: new Map(),
      requests: new Map(),
      dead: false,
    };
    worker.postMessage({ op: "init", ring: memory } satisfies ToWorker);
    let started = false;
    ready.promise.catch(() => {});
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      if (event.data.op === "ready") {
        started = true;
        ready.resolve();
      } else this.#receive(slot, event.data);
    };
    worker.onerror = (event) => {
      // Handled here: unhandled, a worker's error would end the process.
      event.preventDefault();
      const error = event.error ?? new Error(event.message);
      // A worker that cannot even load (no read permission for its module,
      // say) fails `started`; one that ran and died is replaced.
      if (!started) ready.reject(error);
      this.#crashed(slot, error, started || !initial);
    };
    worker.onmessageerror = () => this.#crashed(slot, new Error("A message could not be read"));
    return slot;
  }

  #post(slot: Slot, message: ToWorker, transfer: Transferable[] = []): void {
    if (!slot.dead) slot.worker.postMessage(message, transfer);
  }

  #receive(slot: Slot, message: FromWorker): void {
    switch (message.op) {
      case "batch": {
        const channel = slot.channels.get(message.stream);
        if (channel === undefined) return;
        channel.stats = message.stats;
        try {
          channel.readable.enqueue(ingestBatch(message.batch, channel.source, slot.ring));
        } catch {
          // Cancelled meanwhile.
        }
        return;
      }
      case "took": {
        const channel = slot.channels.get(message.stream);
        if (channel === undefined) return;
        channel.stats = message.stats;
        channel.pending.shift();
        channel.room?.();
        return;
      }
      case "ended": {
        const channel = slot.channels.get(message.stream);
        if (channel === undefined) return;
        channel.stats = message.stats;
        this.#forget(channel);
        try {
          channel.readable.close();
        } catch {
          // Cancelled meanwhile.
        }
        channel.ended.resolve();
        return;
      }
      case "failed": {
        const channel = slot.channels.get(message.stream);
        if (channel !== undefined) this.#fail(channel, new Error(message.error));
        return;
      }
      case "page": {
        const request = slot.requests.get(message.request);
        if (request === undefined) return;
        slot.requests.delete(message.request);
        request.resolve(ingestBatch(message.batch, request.source, slot.ring));
        return;
      }
      case "ready":
        return;
      case "page-failed": {
        const request = slot.requests.get(message.request);
        if (request === undefined) return;
        slot.requests.delete(message.request);
        request.reject(new Error(message.error));
        return;
      }
    }
  }

  #forget(channel: Channel): void {
    channel.closed = true;
    channel.slot.channels.delete(channel.id);
  }

  #fail(channel: Channel, error: unknown): void {
    this.#forget(channel);
    channel.failed = error;
    try {
      channel.readable.error(error);
    } catch {
      // Closed already.
    }
    channel.writable?.error(error);
    channel.ended.reject(error);
    channel.room?.();
  }

  /**
   * A worker died: a new one takes its place for what comes next; the
   * chunks it had not decoded become dead letters and its streams end; its
   * pages fail (their sources fetch them again).
   */
  #crashed(slot: Slot, error: unknown, logged = true): void {
    if (slot.dead) return;
    slot.dead = true;
    this.#crashes++;
    try {
      slot.worker.terminate();
    } catch {
      // Gone already.
    }
    // Replaced when next needed (see #pick), not now: a worker that dies as
    // it starts must not be restarted in a tight loop.
    this.#slots[slot.index] = undefined;
    const text = error instanceof Error ? error.message : String(error);
    if (logged) {
      log.error(
        "Decode worker {index} crashed and is replaced when next needed: {error}; {streams} streams end, {pages} pages are fetched again",
        {
          index: slot.index,
          error: text,
          streams: slot.channels.size,
          pages: slot.requests.size,
        },
      );
    }
    const reason = internalErrorReason("decoding in a worker that crashed", error);
    for (const channel of [...slot.channels.values()]) {
      const letters: DeadLetter[] = channel.pending.map((chunk) =>
        makeDeadLetter(decodeContext(channel.spec.ctx), FORMATS[channel.spec.kind], {
          stage: "decoding",
          reason,
          raw: channel.spec.kind === "tdm"
            ? textRaw(lenient.decode(chunk), chunk.length)
            : binaryRaw(chunk),
        })
      );
      channel.pending = [];
      if (letters.length > 0) {
        try {
          channel.readable.enqueue({
            observations: [],
            deadLetters: letters,
            acks: [],
            source: channel.source,
          });
        } catch {
          // Cancelled meanwhile.
        }
      }
      channel.stats = {
        ...channel.stats,
        deadLetters: channel.stats.deadLetters + letters.length,
      };
      this.#forget(channel);
      try {
        channel.readable.close();
      } catch {
        // Closed already.
      }
      const failure = new Error(`Decode worker crashed: ${text}`);
      channel.failed = failure;
      channel.writable?.error(failure);
      channel.ended.resolve();
      channel.room?.();
    }
    for (const request of slot.requests.values()) {
      request.reject(new Error(`Decode worker crashed: ${text}`));
    }
    slot.requests.clear();
  }
}
