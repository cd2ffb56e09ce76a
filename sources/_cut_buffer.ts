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
 * It knows the cutter's bounds: pieces of `pieceBytes` or more, and
 * {@link CutBuffer.stuck} once more than `maxPieceBytes` are held.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { CutBuffer } from "./_cut_buffer.ts";
 *
 * const held = new CutBuffer("bytes", 2, 3);
 * held.append(new Uint8Array([1, 2, 3]));
 * held.append(new Uint8Array([4]));
 * assert.equal(held.stuck, true);
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
  /** Bytes collected before a piece is cut. */
  readonly pieceBytes: number;
  readonly #maxPieceBytes: number;

  /**
   * @param what what is cut, for the error (`TDM`, `ISL packets`)
   * @param pieceBytes bytes collected before a piece is cut
   * @param maxPieceBytes bytes collected without a cut before the cutter is stuck
   */
  constructor(what: string, pieceBytes: number, maxPieceBytes: number) {
    if (!(pieceBytes >= 1 && maxPieceBytes >= pieceBytes)) {
      throw new RangeError(
        `Cannot cut ${what} in pieces of ${pieceBytes} bytes, at most ${maxPieceBytes}`,
      );
    }
    this.pieceBytes = pieceBytes;
    this.#maxPieceBytes = maxPieceBytes;
  }

  /** Whether more than `maxPieceBytes` are held: no cut came for that long. */
  get stuck(): boolean {
    return this.length > this.#maxPieceBytes;
  }

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
