/**
 * Link loss from the 14-bit sequence counts of each link (SPEC §6).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { SEQUENCE_MODULUS } from "./_layout.ts";

const UNKNOWN = -1;

/**
 * Remembers the last sequence count seen per link (APID) and tells how many
 * counts a new beacon skipped: the beacons that the gateway itself never
 * received. Counts are mod 2^14, so the wrap 16383 → 0 skips nothing.
 *
 * Feed it beacons in gateway-index order, each once (re-sent beacons must not
 * be fed again). A repeat of the last count is taken as a repeat, not as a
 * full wrap of 16383 lost counts. Call {@link LinkSequenceTracker.reset}
 * when indexes were counted lost for another cause (gateway ring overrun, a
 * corrupt packet): the counts skipped across them may be those very beacons,
 * already counted.
 *
 * @example A gap of 3 counts and a wrap that is no gap
 * ```ts
 * import assert from "node:assert/strict";
 * import { LinkSequenceTracker } from "./link_sequence_tracker.ts";
 *
 * const links = new LinkSequenceTracker();
 * assert.equal(links.observe(7, 10), 0); // first beacon of link 7
 * assert.equal(links.observe(7, 14), 3); // 11, 12, 13 never reached the gateway
 * assert.equal(links.observe(9, 16383), 0);
 * assert.equal(links.observe(9, 0), 0); // the 14-bit wrap
 * ```
 */
export class LinkSequenceTracker {
  #last = new Int32Array(2048).fill(UNKNOWN);
  #active: number[] = [];

  /** Records the beacon `seq` of link `apid`; returns the counts it skipped. */
  observe(apid: number, seq: number): number {
    const last = this.#last[apid];
    this.#last[apid] = seq;
    if (last === UNKNOWN) {
      this.#active.push(apid);
      return 0;
    }
    if (seq === last) return 0;
    return (seq - last - 1 + SEQUENCE_MODULUS) % SEQUENCE_MODULUS;
  }

  /** Forgets every link's last count. */
  reset(): void {
    for (const apid of this.#active) this.#last[apid] = UNKNOWN;
    this.#active.length = 0;
  }

  /** The last count per link, for a checkpoint (`{ "7": 14 }`). */
  snapshot(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const apid of this.#active) out[apid] = this.#last[apid];
    return out;
  }

  /** Restores {@link LinkSequenceTracker.snapshot}; ignores entries that are not links. */
  restore(snapshot: Record<string, number> | undefined): void {
    this.reset();
    if (snapshot === undefined || snapshot === null || typeof snapshot !== "object") return;
    for (const [key, seq] of Object.entries(snapshot)) {
      const apid = Number(key);
      if (
        Number.isInteger(apid) && apid >= 1 && apid <= 2046 && Number.isInteger(seq) &&
        seq >= 0 && seq < SEQUENCE_MODULUS
      ) {
        this.#last[apid] = seq;
        this.#active.push(apid);
      }
    }
  }
}
