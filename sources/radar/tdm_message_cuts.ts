/**
 * Cutting a recorded TDM stream between messages, so that its pieces can be
 * decoded apart (on several threads) to what the stream gives decoded whole.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { CutBuffer } from "../_cut_buffer.ts";

const VERSION_KEY = new TextEncoder().encode("CCSDS_TDM_VERS");
const DATA_STOP = new TextEncoder().encode("DATA_STOP");
const LF = 0x0a;
const CR = 0x0d;
const C = VERSION_KEY[0];

/**
 * The offset of the last clean cut in `bytes[0 … end)`, at `start` or
 * later, or -1: the start of
 * a line that begins with `CCSDS_TDM_VERS` (a new message) right after a
 * line that is exactly `DATA_STOP` (the end of a segment), LF or CRLF. A
 * decoder starts afresh at every message (its line numbers and refs count
 * from the message's first line) and a segment ended by `DATA_STOP` leaves
 * nothing open, so the bytes before and after such a cut decode apart to
 * the same observations and dead letters as together. Anything else (a
 * comment or blank line between, an unterminated segment) is no cut.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lastMessageCut } from "./tdm_message_cuts.ts";
 *
 * const bytes = new TextEncoder().encode("DATA_STOP\nCCSDS_TDM_VERS = 2.0\nX\n");
 * assert.equal(lastMessageCut(bytes), 10);
 * assert.equal(lastMessageCut(bytes, 10), -1);
 * ```
 */
export function lastMessageCut(
  bytes: Uint8Array,
  end: number = bytes.length,
  start = 1,
): number {
  let from = end - VERSION_KEY.length;
  while (from >= start) {
    const at = bytes.lastIndexOf(C, from);
    if (at < Math.max(start, 1)) return -1;
    from = at - 1;
    if (bytes[at - 1] !== LF || !startsWith(bytes, at, VERSION_KEY)) continue;
    // The line before: exactly DATA_STOP, with or without a CR.
    let lineEnd = at - 1;
    if (lineEnd > 0 && bytes[lineEnd - 1] === CR) lineEnd--;
    const lineStart = lineEnd - DATA_STOP.length;
    if (lineStart < 0 || !startsWith(bytes, lineStart, DATA_STOP)) continue;
    if (lineStart === 0 || bytes[lineStart - 1] === LF) return at;
  }
  return -1;
}

function startsWith(bytes: Uint8Array, at: number, prefix: Uint8Array): boolean {
  if (at + prefix.length > bytes.length) return false;
  for (let k = 0; k < prefix.length; k++) {
    if (bytes[at + k] !== prefix[k]) return false;
  }
  return true;
}

/**
 * Collects a TDM stream's bytes and hands them on in pieces that end at a
 * {@link lastMessageCut}: each piece holds whole messages (the last piece,
 * whatever is left), about `pieceBytes` or more. When more than
 * `maxPieceBytes` came without a cut, the cutter is {@link stuck}: what it
 * holds and all that follows must be decoded as one stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TdmMessageCutter } from "./tdm_message_cuts.ts";
 *
 * const message = "CCSDS_TDM_VERS = 2.0\nMETA_START\nMETA_STOP\nDATA_START\nDATA_STOP\n";
 * const cutter = new TdmMessageCutter(10, 1000);
 * const bytes = new TextEncoder().encode(message.repeat(3));
 * const pieces = [...cutter.push(bytes), ...cutter.end()];
 * assert.deepEqual(pieces.map((p) => p.length), [2 * message.length, message.length]);
 * ```
 */
export class TdmMessageCutter {
  #held: CutBuffer;
  /** No cut lies before this offset (searched already). */
  #noCutBefore = 1;

  /**
   * @param pieceBytes bytes collected before a piece is cut
   * @param maxPieceBytes bytes collected without a cut before the cutter is stuck
   */
  constructor(pieceBytes: number, maxPieceBytes: number) {
    this.#held = new CutBuffer("TDM", pieceBytes, maxPieceBytes);
  }

  /** Whether more than `maxPieceBytes` came without a cut. */
  get stuck(): boolean {
    return this.#held.stuck;
  }

  /**
   * Takes a copy of `chunk` (which its reader may reuse); returns the
   * pieces now complete (none once stuck).
   */
  push(chunk: Uint8Array): Uint8Array[] {
    const held = this.#held;
    held.append(chunk);
    if (held.length < held.pieceBytes || held.stuck) return [];
    const cut = lastMessageCut(held.bytes, held.length, this.#noCutBefore);
    // Every offset up to here that can be judged was: none is a cut.
    if (cut < 0) {
      this.#noCutBefore = Math.max(1, held.length - VERSION_KEY.length + 1);
      return [];
    }
    const piece = held.take(cut);
    this.#noCutBefore = Math.max(1, held.length - VERSION_KEY.length + 1);
    return [piece];
  }

  /** What is left (a last piece, unless empty). */
  end(): Uint8Array[] {
    const rest = this.#held.rest();
    this.#noCutBefore = 1;
    return rest.length > 0 ? [rest] : [];
  }
}
