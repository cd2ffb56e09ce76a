/**
 * Reading a byte stream into one reused buffer.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Reads a byte stream chunk by chunk into one buffer it reuses, when the
 * stream is a byte stream (a file's `readable`: a BYOB reader), so that
 * reading allocates nothing per chunk; any other stream is read as it is.
 * Each chunk {@link ByteReader.read} gives is valid until the next read:
 * a caller that keeps bytes copies them.
 *
 * Why: replay reads gigabytes of recordings on the main thread. With a
 * fresh 64 KiB buffer per chunk, dead chunks piled up as external memory
 * between garbage collections (tens of MB in the 10 M replay).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ByteReader } from "./byte_reader.ts";
 *
 * const stream = new ReadableStream({
 *   type: "bytes",
 *   start(controller) {
 *     controller.enqueue(new Uint8Array([1, 2, 3]));
 *     controller.close();
 *   },
 * });
 * const reader = new ByteReader(stream, 2);
 * assert.deepEqual(await reader.read(), new Uint8Array([1, 2]));
 * assert.deepEqual(await reader.read(), new Uint8Array([3]));
 * assert.equal(await reader.read(), undefined);
 * ```
 */
export class ByteReader {
  #byob: ReadableStreamBYOBReader | undefined;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #buffer: ArrayBuffer;

  /**
   * @param stream what to read (locked to this reader)
   * @param chunkBytes at most this many bytes per chunk of a byte stream
   */
  constructor(stream: ReadableStream<Uint8Array>, chunkBytes = 64 * 1024) {
    try {
      this.#byob = stream.getReader({ mode: "byob" });
    } catch (error) {
      // Not a byte stream.
      if (!(error instanceof TypeError)) throw error;
      this.#reader = stream.getReader();
    }
    this.#buffer = new ArrayBuffer(chunkBytes);
  }

  /** The next chunk, or undefined at the end: a view the next read may overwrite. */
  async read(): Promise<Uint8Array | undefined> {
    if (this.#byob === undefined) {
      const { done, value } = await this.#reader!.read();
      return done ? undefined : value;
    }
    // The read takes the buffer over and gives it back with the chunk.
    const { done, value } = await this.#byob.read(new Uint8Array(this.#buffer));
    if (value !== undefined) this.#buffer = value.buffer;
    return done ? undefined : value;
  }

  /** Stops reading; the stream is cancelled (a file is closed). */
  cancel(reason?: unknown): Promise<void> {
    return (this.#byob ?? this.#reader!).cancel(reason);
  }
}
