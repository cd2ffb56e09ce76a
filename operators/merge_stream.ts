/**
 * Merge many readable streams into one.
 *
 * Portable: web APIs only.
 *
 * @module
 */

interface Input<T> {
  reader: ReadableStreamDefaultReader<T>;
  /** A read is in flight. */
  reading: boolean;
  /** Its last chunk waits in the ready queue. */
  ready: boolean;
}

/** Options for {@link MergeStream}. */
export interface MergeStreamOptions {
  /**
   * Close the output as soon as no input is left. With `false` (the default)
   * the output stays open for more {@link MergeStream.add} calls until
   * {@link MergeStream.close}.
   */
  closeWhenEmpty?: boolean;
}

/**
 * A fair merge of a changing set of readable streams (e.g. one per accepted
 * TCP connection) into one readable.
 *
 * * Fair: each input holds at most one chunk ready at a time, and ready
 *   chunks are delivered in the order they arrived, so a busy input cannot
 *   starve a quiet one.
 * * Backpressure: inputs are read only while the consumer waits for a chunk,
 *   at most one read per input at a time, so a stalled consumer stops every
 *   input (a source that polls or fetches in `pull()` sends nothing ahead of
 *   demand beyond that one read).
 * * Cancelling the output cancels every input; an error of any input errors
 *   the output and cancels the others.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MergeStream } from "./merge_stream.ts";
 *
 * const merge = new MergeStream<number>();
 * merge.add(ReadableStream.from([1, 2]));
 * merge.add(ReadableStream.from([3]));
 * merge.close();
 * const out = await Array.fromAsync(merge.readable);
 * assert.deepEqual(out.sort(), [1, 2, 3]);
 * ```
 */
export class MergeStream<T> {
  /** The merged output. */
  readonly readable: ReadableStream<T>;
  #controller!: ReadableStreamDefaultController<T>;
  #inputs = new Set<Input<T>>();
  #ready: { input: Input<T>; value: T }[] = [];
  #wake: (() => void) | undefined;
  #closing: boolean;
  #finished = false;

  /** Creates an empty merge. */
  constructor(options: MergeStreamOptions = {}) {
    this.#closing = options.closeWhenEmpty ?? false;
    this.readable = new ReadableStream<T>({
      start: (controller) => {
        this.#controller = controller;
      },
      pull: () => {
        if (this.#deliver()) return;
        if (this.#finished) return;
        const waiting = new Promise<void>((resolve) => {
          this.#wake = resolve;
        });
        for (const input of this.#inputs) {
          if (!input.reading && !input.ready) this.#read(input);
        }
        return waiting;
      },
      cancel: (reason) => {
        this.#finish();
        return this.#cancelInputs(reason);
      },
    }, { highWaterMark: 0 });
  }

  /** Inputs still open. */
  get size(): number {
    return this.#inputs.size;
  }

  /** Adds an input. After the output finished, the input is cancelled at once. */
  add(stream: ReadableStream<T>): void {
    if (this.#finished) {
      stream.cancel(new TypeError("Cannot add to a finished MergeStream")).catch(
        () => {},
      );
      return;
    }
    const input = { reader: stream.getReader(), reading: false, ready: false };
    this.#inputs.add(input);
    // Read at once only if the consumer is already waiting.
    if (this.#wake) this.#read(input);
  }

  /** No more inputs will be added: the output closes once every input has. */
  close(): void {
    this.#closing = true;
    this.#maybeClose();
  }

  #read(input: Input<T>): void {
    input.reading = true;
    input.reader.read().then(({ done, value }) => {
      input.reading = false;
      if (this.#finished) return;
      if (done) {
        this.#inputs.delete(input);
        this.#maybeClose();
        return;
      }
      input.ready = true;
      this.#ready.push({ input, value });
      if (this.#wake) {
        const wake = this.#wake;
        this.#wake = undefined;
        this.#deliver();
        wake();
      }
    }, (error) => {
      if (this.#finished) return;
      this.#inputs.delete(input);
      this.#controller.error(error);
      this.#finish();
      this.#cancelInputs(error);
    });
  }

  #deliver(): boolean {
    const next = this.#ready.shift();
    if (next === undefined) return false;
    next.input.ready = false;
    this.#controller.enqueue(next.value);
    return true;
  }

  #maybeClose(): void {
    if (
      this.#closing && !this.#finished && this.#inputs.size === 0 &&
      this.#ready.length === 0
    ) {
      this.#controller.close();
      this.#finish();
    }
  }

  #finish(): void {
    this.#finished = true;
    this.#ready.length = 0;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }

  async #cancelInputs(reason: unknown): Promise<void> {
    const inputs = [...this.#inputs];
    this.#inputs.clear();
    await Promise.all(inputs.map((input) => input.reader.cancel(reason).catch(() => {})));
  }
}

/**
 * Merges a fixed list of readables; the output closes when all of them have.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeReadables } from "./merge_stream.ts";
 *
 * const out = await Array.fromAsync(
 *   mergeReadables([ReadableStream.from(["a"]), ReadableStream.from(["b"])]),
 * );
 * assert.deepEqual(out.sort(), ["a", "b"]);
 * ```
 */
export function mergeReadables<T>(
  streams: Iterable<ReadableStream<T>>,
): ReadableStream<T> {
  const merge = new MergeStream<T>();
  for (const stream of streams) merge.add(stream);
  merge.close();
  return merge.readable;
}
