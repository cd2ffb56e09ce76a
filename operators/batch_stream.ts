/**
 * Opportunistic batching.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** Options for {@link BatchStream}. */
export interface BatchStreamOptions<T = unknown> {
  /** Largest batch handed on (default 4096). */
  maxBatch?: number;
  /**
   * How much may be held before `write()` pushes back (default `maxBatch`),
   * in the units of `size`. This bounds the memory between producer and
   * consumer.
   */
  highWaterMark?: number;
  /**
   * The size of one chunk for `highWaterMark` (default 1 per chunk), as in a
   * `QueuingStrategy`: e.g. the number of records in a chunk that is itself
   * a batch.
   */
  size?: (chunk: T) => number;
}

/**
 * Groups whatever is already queued into one array; it never waits to fill
 * a batch. When the consumer is waiting, a lone chunk is handed on at once as
 * a batch of one; while the consumer is busy (a log fsync, say), chunks
 * accumulate and the next read takes them all — group commit for free.
 *
 * A readable/writable pair for `pipeThrough`, like a `TransformStream`, but
 * with a writable side that accepts chunks while the readable side has no
 * demand, which a `TransformStream` cannot do.
 *
 * @example A lone item is not delayed
 * ```ts
 * import assert from "node:assert/strict";
 * import { BatchStream } from "./batch_stream.ts";
 *
 * const batches = new BatchStream<number>();
 * const reader = batches.readable.getReader();
 * const writer = batches.writable.getWriter();
 * const read = reader.read();
 * await writer.write(1);
 * assert.deepEqual(await read, { done: false, value: [1] });
 * await writer.write(2);
 * await writer.write(3);
 * assert.deepEqual(await reader.read(), { done: false, value: [2, 3] });
 * ```
 */
export class BatchStream<T> implements ReadableWritablePair<T[], T> {
  /** Batches, in order. */
  readonly readable: ReadableStream<T[]>;
  /** Chunks to batch. */
  readonly writable: WritableStream<T>;
  #buffer: T[] = [];
  #bufferedSize = 0;
  #size: (chunk: T) => number;
  #maxBatch: number;
  #highWaterMark: number;
  #wakeReader: (() => void) | undefined;
  #wakeWriter: (() => void) | undefined;
  #closed = false;

  /** Creates a batcher. */
  constructor(options: BatchStreamOptions<T> = {}) {
    this.#maxBatch = options.maxBatch ?? 4096;
    this.#highWaterMark = options.highWaterMark ?? this.#maxBatch;
    this.#size = options.size ?? (() => 1);
    if (!(this.#maxBatch >= 1)) {
      throw new RangeError(`Cannot batch with maxBatch below 1: ${this.#maxBatch}`);
    }
    if (!(this.#highWaterMark >= 1)) {
      throw new RangeError(
        `Cannot batch with highWaterMark below 1: ${this.#highWaterMark}`,
      );
    }
    let writableController: WritableStreamDefaultController;
    let readableController: ReadableStreamDefaultController<T[]>;
    this.readable = new ReadableStream<T[]>({
      start: (controller) => {
        readableController = controller;
      },
      pull: (controller) => {
        if (this.#take(controller)) return;
        return new Promise<void>((resolve) => {
          this.#wakeReader = resolve;
        }).then(() => {
          this.#take(controller);
        });
      },
      cancel: (reason) => {
        this.#buffer.length = 0;
        this.#bufferedSize = 0;
        writableController.error(reason);
        this.#wakeWriter?.();
      },
    }, { highWaterMark: 0 });
    this.writable = new WritableStream<T>({
      start: (controller) => {
        writableController = controller;
      },
      write: (chunk) => {
        this.#buffer.push(chunk);
        this.#bufferedSize += this.#size(chunk);
        this.#wake();
        if (this.#bufferedSize >= this.#highWaterMark) {
          return new Promise<void>((resolve) => {
            this.#wakeWriter = resolve;
          });
        }
      },
      close: () => {
        this.#closed = true;
        this.#wake();
      },
      abort: (reason) => {
        this.#buffer.length = 0;
        this.#bufferedSize = 0;
        readableController.error(reason);
      },
    }, { highWaterMark: 1 });
  }

  /** Chunks waiting to be read. */
  get buffered(): number {
    return this.#buffer.length;
  }

  /** Their total size (see {@link BatchStreamOptions.size}). */
  get bufferedSize(): number {
    return this.#bufferedSize;
  }

  #wake(): void {
    const wake = this.#wakeReader;
    this.#wakeReader = undefined;
    wake?.();
  }

  #take(controller: ReadableStreamDefaultController<T[]>): boolean {
    const buffer = this.#buffer;
    if (buffer.length > 0) {
      let batch: T[];
      if (buffer.length <= this.#maxBatch) {
        batch = buffer;
        this.#buffer = [];
        this.#bufferedSize = 0;
      } else {
        batch = buffer.splice(0, this.#maxBatch);
        for (const chunk of batch) this.#bufferedSize -= this.#size(chunk);
      }
      controller.enqueue(batch);
      if (this.#bufferedSize < this.#highWaterMark) {
        const wake = this.#wakeWriter;
        this.#wakeWriter = undefined;
        wake?.();
      }
      return true;
    }
    if (this.#closed) {
      controller.close();
      return true;
    }
    return false;
  }
}
