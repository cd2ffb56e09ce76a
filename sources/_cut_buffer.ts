/**
 * The bytes a cutter has collected and not yet handed on.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Bytes collected in one buffer reused from chunk to chunk, handed on in
 * pieces from the front: each byte is copied once on the way in and once
 * into the piece that carries it (a fresh buffer of its own, so it can be
 * transferred to a worker). A chunk may be a view that its reader reuses.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CutBuffer } from "./_cut_buffer.ts";
 *
 * const held = new CutBuffer();
 * held.append(new Uint8Array([1, 2, 3]));
 * held.append(new Uint8Array([4]));
 * assert.deepEqual(held.take(3), new Uint8Array([1, 2, 3]));
 * assert.deepEqual(held.rest(), new Uint8Array([4]));
 * assert.equal(held.length, 0);
 * ```
 */
export class CutBuffer {
  /** The bytes collected; only the first {@link CutBuffer.length} count. */
  bytes = new Uint8Array(0);
  /** Bytes collected and not yet handed on. */
  length = 0;

  /** Adds a copy of `chunk` after what is held. */
  append(chunk: Uint8Array): void {
    if (this.length + chunk.length > this.bytes.length) {
      const larger = new Uint8Array(
        Math.max(2 * this.bytes.length, this.length + chunk.length, 1024),
      );
      larger.set(this.bytes.subarray(0, this.length));
      this.bytes = larger;
    }
    this.bytes.set(chunk, this.length);
    this.length += chunk.length;
  }

  /** Hands on the first `end` bytes held, in a buffer of their own. */
  take(end: number): Uint8Array {
    const piece = this.bytes.slice(0, end);
    this.bytes.copyWithin(0, end, this.length);
    this.length -= end;
    return piece;
  }

  /** Hands on all that is held (possibly nothing), in a buffer of its own. */
  rest(): Uint8Array {
    return this.take(this.length);
  }
}
