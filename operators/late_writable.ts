/**
 * A writable whose destination is chosen after the pipe to it is set up.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Forwards to the stream that {@link LateWritable.use} makes, once it is
 * called; until then writes wait. Closed or aborted before that, it closes
 * or aborts `fallback`. Cluster mode pipes the pipeline into one so that the
 * service can serve HTTP while it waits for NATS, and only then put
 * JetStream in front of the log.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LateWritable } from "./late_writable.ts";
 *
 * const seen: string[] = [];
 * const log = new WritableStream<string>({ write: (s) => void seen.push(`log ${s}`) });
 * const late = new LateWritable(log);
 * const piped = ReadableStream.from(["a", "b"]).pipeTo(late.writable);
 * late.use((next) =>
 *   new WritableStream<string>({
 *     write: async (s) => {
 *       seen.push(`nats ${s}`);
 *       const writer = next.getWriter();
 *       await writer.write(s);
 *       writer.releaseLock();
 *     },
 *     close: () => next.close(),
 *   })
 * );
 * await piped;
 * assert.deepEqual(seen, ["nats a", "log a", "nats b", "log b"]);
 * ```
 */
export class LateWritable<T> {
  /** What to pipe into. */
  readonly writable: WritableStream<T>;
  readonly #fallback: WritableStream<T>;
  readonly #target = Promise.withResolvers<WritableStreamDefaultWriter<T>>();
  #chosen = false;

  /** @param fallback closed or aborted in its place when nothing was chosen */
  constructor(fallback: WritableStream<T>) {
    this.#fallback = fallback;
    this.writable = new WritableStream<T>({
      write: async (chunk) => {
        const writer = await this.#target.promise;
        // Its own backpressure, not each write's completion: the destination
        // may take the next chunk while it still works on this one. A failed
        // write errors it, and the next ready (or close) says so.
        await writer.ready;
        writer.write(chunk).catch(() => {});
      },
      close: async () => {
        if (this.#chosen) await (await this.#target.promise).close();
        else await this.#fallback.close();
      },
      abort: async (reason) => {
        if (this.#chosen) await (await this.#target.promise).abort(reason);
        else await this.#fallback.abort(reason);
      },
    });
  }

  /** Chooses the destination: `make` gets the fallback to put behind it. Once. */
  use(make: (fallback: WritableStream<T>) => WritableStream<T>): void {
    if (this.#chosen) throw new TypeError("The destination was chosen already");
    this.#chosen = true;
    this.#target.resolve(make(this.#fallback).getWriter());
  }
}
