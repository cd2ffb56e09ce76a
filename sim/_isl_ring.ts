/**
 * The gateway's ring buffer of relayed beacons (SPEC §6): packets stored as
 * bytes, each under a gateway-wide index that starts at 1.
 *
 * @module
 */

import { BEACON_BYTES } from "./_isl_wire.ts";

/** A fixed-size ring of 96-byte beacon packets addressed by gateway index. */
export class BeaconRing {
  /** Slots, `capacity × 96` bytes. */
  readonly bytes: Uint8Array;
  /** How many beacons it holds at most. */
  readonly capacity: number;
  #newest = 0;
  #overwritten = 0;
  #overwrittenUnsent = 0;
  /** Highest index ever sent in an answer. */
  sentUpTo = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1 || capacity > 1 << 24) {
      throw new RangeError(`Ring size must be an integer in 1–16777216: ${capacity}`);
    }
    this.capacity = capacity;
    this.bytes = new Uint8Array(capacity * BEACON_BYTES);
  }

  /** Newest index held, 0 if none. */
  get newest(): number {
    return this.#newest;
  }

  /** Oldest index held, 0 if none. */
  get oldest(): number {
    return this.#newest === 0 ? 0 : Math.max(1, this.#newest - this.capacity + 1);
  }

  /** Beacons overwritten before anyone could be sure to have read them. */
  get overwritten(): number {
    return this.#overwritten;
  }

  /** Beacons overwritten before any answer carried them: loss the service must count. */
  get overwrittenUnsent(): number {
    return this.#overwrittenUnsent;
  }

  /** Takes the next index; returns its byte offset in {@link BeaconRing.bytes}. */
  push(): { index: number; offset: number } {
    const index = ++this.#newest;
    if (index > 0xffffffff) throw new RangeError("Gateway index overflowed u32");
    if (index > this.capacity) {
      this.#overwritten++;
      if (index - this.capacity > this.sentUpTo) this.#overwrittenUnsent++;
    }
    return { index, offset: this.offsetOf(index) };
  }

  /** Byte offset of the slot of `index` (which must be held). */
  offsetOf(index: number): number {
    return ((index - 1) % this.capacity) * BEACON_BYTES;
  }
}
