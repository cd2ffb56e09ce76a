/**
 * Reading one archive page into memory with a hard bound on its size after
 * decompression (SPEC §15: `maxPageBytes`).
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** What {@link PageReader.read} got: the page, or why there is none. */
export type BodyResult =
  | { ok: true; bytes: Uint8Array; encoding: string }
  | { ok: false; problem: "too-large" | "encoding"; reason: string };

/** Bytes of page buffer kept between pages; a larger page's memory is given back after it. */
const KEEP_BYTES = 4 << 20;
/** Size of the buffer each read lands in before it is copied into the page. */
const READ_BYTES = 64 << 10;

/**
 * Reads archive pages into memory with a hard bound on their size after
 * decompression, one page at a time, reusing its buffers.
 *
 * * `gzip` and `br` are inflated by the runtime's `fetch` itself (it asks
 *   for them); `x-gzip` (RFC 9110 §8.4.1.3) and `deflate` are inflated here
 *   with `DecompressionStream`, fed 1 KiB at a time because it inflates
 *   each input chunk whole (measured on Deno 2.9: one 1.4 MB chunk came out
 *   as one 258 MB chunk). Either way the bytes are counted as they come out
 *   of the decompressor, so a small body that would inflate to gigabytes (a
 *   "gzip bomb") is cut off at `limit`, having cost about `limit` bytes.
 *   Other encodings are refused.
 * * The body is read with a BYOB reader into one reused 64 KiB buffer
 *   where the stream allows it (`fetch` bodies are byte streams), and
 *   copied into one resizable `ArrayBuffer` reserved at `limit` bytes and
 *   grown in place. A default reader allocates a 64 KiB buffer per read
 *   even when the read yields 4 KiB, as inflated reads do: keeping those
 *   chunks held 1 GiB for a 64 MiB page, and collecting them left the
 *   process at that size (measured on Deno 2.9 with a gzip response).
 * * Both buffers are reused from page to page: fresh memory for every page
 *   cost ~8 ms per 200 KB page in page faults and zeroing (measured on this
 *   2-core VM), ten times the read itself. After a page over 4 MiB, and at
 *   once for a page refused as too large, the page buffer is shrunk back,
 *   which gives its memory back to the system rather than at the next
 *   garbage collection.
 *
 * The bytes a successful {@link PageReader.read} returns are valid until the
 * next `read()` or {@link PageReader.release}: decode them first.
 *
 * @example A page over the limit is cut off while inflating
 * ```ts
 * import assert from "node:assert/strict";
 * import { PageReader } from "./_page_reader.ts";
 *
 * const csv = new TextEncoder().encode("x,".repeat(500_000)); // 1 MB
 * const gzip = new Blob([csv]).stream().pipeThrough(new CompressionStream("gzip"));
 * const response = new Response(gzip, { headers: { "content-encoding": "x-gzip" } });
 * const result = await new PageReader(100_000).read(response);
 * assert.equal(result.ok, false);
 * assert.equal(
 *   result.ok || result.reason,
 *   "Page exceeds maxPageBytes (100000 bytes) after x-gzip decompression",
 * );
 * ```
 */
export class PageReader {
  /** The largest page, bytes after decompression. */
  readonly limit: number;
  readonly #page: ArrayBuffer;
  #scratch = new Uint8Array(READ_BYTES);

  /** A reader of pages up to `limit` bytes (address space is reserved for that much, not memory). */
  constructor(limit: number) {
    this.limit = limit;
    this.#page = new ArrayBuffer(0, { maxByteLength: limit });
  }

  /** Reads `response`'s body (see the class). Throws only what reading throws. */
  async read(response: Response): Promise<BodyResult> {
    const limit = this.limit;
    const encoding = (response.headers.get("content-encoding") ?? "").trim().toLowerCase();
    let stream: ReadableStream<Uint8Array> | null = response.body;
    const plain = encoding === "" || encoding === "identity";
    switch (encoding) {
      case "":
      case "identity": {
        const length = Number(response.headers.get("content-length") ?? Number.NaN);
        if (length > limit) {
          await stream?.cancel().catch(() => {});
          return tooLarge(`Page of ${length} bytes exceeds maxPageBytes (${limit} bytes)`);
        }
        break;
      }
      case "gzip":
      case "br":
        // Inflated by fetch; Content-Length, if any, counts compressed bytes.
        break;
      case "x-gzip":
        stream = stream && inflate(stream, "gzip");
        break;
      case "deflate":
        stream = stream && inflate(stream, "deflate");
        break;
      default:
        await stream?.cancel().catch(() => {});
        return {
          ok: false,
          problem: "encoding",
          reason: `Unsupported Content-Encoding: ${JSON.stringify(encoding.slice(0, 64))}`,
        };
    }
    if (stream === null) return { ok: true, bytes: new Uint8Array(0), encoding };
    const buffer = this.#page;
    // Length-tracking: it grows with the buffer.
    const page = new Uint8Array(buffer);
    let length = 0;
    const chunks = this.#chunksOf(stream);
    try {
      for (;;) {
        const chunk = await chunks.next();
        if (chunk === undefined) break;
        const end = length + chunk.length;
        if (end > limit) {
          await chunks.cancel();
          buffer.resize(0);
          return tooLarge(
            plain
              ? `Page exceeds maxPageBytes (${limit} bytes)`
              : `Page exceeds maxPageBytes (${limit} bytes) after ${encoding} decompression`,
          );
        }
        if (end > buffer.byteLength) {
          buffer.resize(Math.min(limit, Math.max(end, 2 * buffer.byteLength, READ_BYTES)));
        }
        page.set(chunk, length);
        length = end;
      }
    } catch (error) {
      this.release();
      throw error;
    } finally {
      chunks.release();
    }
    return { ok: true, bytes: new Uint8Array(buffer, 0, length), encoding };
  }

  /** Done with the last page's bytes: gives back the memory of a large one. */
  release(): void {
    if (this.#page.byteLength > KEEP_BYTES) this.#page.resize(0);
  }

  /** The chunks of a stream, read BYOB into the reused buffer where the stream allows it. */
  #chunksOf(stream: ReadableStream<Uint8Array>): {
    next(): Promise<Uint8Array | undefined>;
    cancel(): Promise<void>;
    release(): void;
  } {
    let byob: ReadableStreamBYOBReader | undefined;
    try {
      byob = stream.getReader({ mode: "byob" });
    } catch {
      // Not a byte stream.
    }
    if (byob !== undefined) {
      const reader = byob;
      return {
        next: async () => {
          // A cancelled or failed read keeps the buffer it was given.
          if (this.#scratch.buffer.detached) this.#scratch = new Uint8Array(READ_BYTES);
          const { done, value } = await reader.read(this.#scratch);
          // The read transferred the buffer: the same memory, under a new object.
          if (value !== undefined) this.#scratch = new Uint8Array(value.buffer);
          return done || value === undefined ? undefined : value;
        },
        cancel: () => reader.cancel().catch(() => {}),
        release: () => reader.releaseLock(),
      };
    }
    const reader = stream.getReader();
    return {
      async next() {
        const { done, value } = await reader.read();
        return done ? undefined : value;
      },
      cancel: () => reader.cancel().catch(() => {}),
      release: () => reader.releaseLock(),
    };
  }
}

function tooLarge(reason: string): BodyResult {
  return { ok: false, problem: "too-large", reason };
}

/** Inflates `stream`, fed in slices small enough that no output chunk is large. */
function inflate(
  stream: ReadableStream<Uint8Array>,
  format: CompressionFormat,
): ReadableStream<Uint8Array> {
  return stream.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array<ArrayBuffer>>({
      transform(chunk, controller) {
        // Deflate inflates at most ~1032:1, so a 1 KiB slice yields ≤ ~1 MiB.
        // (A response body is never a SharedArrayBuffer, as the type allows.)
        const bytes = chunk as Uint8Array<ArrayBuffer>;
        for (let i = 0; i < bytes.length; i += 1024) {
          controller.enqueue(bytes.subarray(i, i + 1024));
        }
      },
    }),
  ).pipeThrough(new DecompressionStream(format));
}
