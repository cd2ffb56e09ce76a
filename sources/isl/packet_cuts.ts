/**
 * Cutting a capture of ISL packets laid back to back into pieces that
 * decode apart (on several threads) to what the capture gives decoded whole.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { CutBuffer } from "../_cut_buffer.ts";
import { declaredLength, soundBeaconAt, soundPacketAt } from "./_frame.ts";
import { HEADER_BYTES, STATUS_BYTES } from "./_layout.ts";

/**
 * Collects a capture's bytes (CCSDS Space Packets back to back, as
 * `decodeIslPackets` reads them) and hands them on in pieces of about
 * `pieceBytes` or more. It walks the packets as the decoder does — by the
 * length each header declares, and past a header that cannot start a
 * packet byte by byte to the next sound one — and cuts only between two
 * sound beacons: there the decoder holds nothing (no packet cut short, no
 * malformed packet waiting for the next beacon to tell its index), so the
 * pieces decode to the same observations and dead letters as the whole
 * capture, refs included. The cuts depend only on the bytes, not on how
 * they were read. When more than `maxPieceBytes` came without such a cut
 * (a capture of junk), the cutter is {@link stuck}: what it holds and all
 * that follows must be decoded as one stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBeacon } from "./beacon.ts";
 * import { IslPacketCutter } from "./packet_cuts.ts";
 *
 * const bytes = new Uint8Array(5 * 96);
 * for (let i = 0; i < 5; i++) {
 *   encodeBeacon({
 *     apid: 1, seq: i, coarse: 2_174_299_237, fine: 0, index: i + 1, observer: 60001,
 *     target: 60002, range_km: 370, range_rate_km_s: 0, range_sigma_km: 0.5,
 *     r_km: [7000, 0, 0], v_km_s: [0, 7.5, 0], flags: 7,
 *   }, bytes, i * 96);
 * }
 * const cutter = new IslPacketCutter(150, 1 << 20);
 * const pieces = [
 *   ...cutter.push(bytes.subarray(0, 250)),
 *   ...cutter.push(bytes.subarray(250)),
 *   ...cutter.end(),
 * ];
 * // Cut at the first packet start 150 bytes or more in, between two beacons.
 * assert.deepEqual(pieces.map((p) => p.length), [192, 192, 96]);
 * ```
 */
export class IslPacketCutter {
  #held: CutBuffer;
  /** Where the walk is: the next packet's start, or the next byte to scan. */
  #next = 0;
  /** Skipping bytes that cannot start a packet, up to a sound one. */
  #scanning = false;
  /** Where the packet before `#next` starts; -1 after skipped bytes or a cut. */
  #previous = -1;

  /**
   * @param pieceBytes bytes collected before a piece is cut
   * @param maxPieceBytes bytes collected without a cut before the cutter is stuck
   */
  constructor(pieceBytes: number, maxPieceBytes: number) {
    this.#held = new CutBuffer("ISL packets", pieceBytes, maxPieceBytes);
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
    if (this.stuck) return [];
    const pieces: Uint8Array[] = [];
    let p = this.#next;
    while (p + HEADER_BYTES <= held.length) {
      const bytes = held.bytes;
      if (this.#scanning) {
        const sound = soundPacketAt(bytes, p, held.length);
        if (sound === undefined) break;
        if (sound) this.#scanning = false;
        else p++;
        continue;
      }
      const total = declaredLength(bytes, p);
      if (bytes[p] >> 5 !== 0 || total < STATUS_BYTES) {
        // The decoder skips from here to the next sound packet.
        this.#scanning = true;
        this.#previous = -1;
        p++;
        continue;
      }
      if (p + total > held.length) break;
      // Soundness (a CRC each) is only asked of the packets around a candidate cut.
      const previous = this.#previous;
      if (
        p >= held.pieceBytes && previous >= 0 && soundBeaconAt(bytes, p, total) &&
        soundBeaconAt(bytes, previous, p - previous)
      ) {
        pieces.push(held.take(p));
        p = 0;
      }
      this.#previous = p;
      p += total;
    }
    this.#next = p;
    return pieces;
  }

  /** What is left (a last piece, unless empty). */
  end(): Uint8Array[] {
    const rest = this.#held.rest();
    this.#next = 0;
    this.#scanning = false;
    this.#previous = -1;
    return rest.length > 0 ? [rest] : [];
  }
}
