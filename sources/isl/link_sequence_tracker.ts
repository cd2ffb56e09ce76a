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
 * full wrap of 16383 lost counts; so is a beacon the link delivered late —
 * a count behind the last one (by mod 2^14 more than half the way round)
 * whose observation time is before the last one's: read mod 2^14 it
 * skipped ~16,383 counts, though none is missing. It counts nothing and
 * the last count stays the reference. (A count that an earlier gap already
 * counted lost and that arrives late stays counted: a counter only grows.) Call {@link LinkSequenceTracker.reset}
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
 * assert.equal(links.observe(9, 2, 20), 1); // 1 is missing…
 * assert.equal(links.observe(9, 1, 19), 0); // …and came late: no 16,382 lost
 * assert.equal(links.observe(9, 3, 21), 0);
 * ```
 */
export class LinkSequenceTracker {
  #last = new Int32Array(2048).fill(UNKNOWN);
  /** Observation time of the last count per link (NaN: not known). */
  #time = new Float64Array(2048).fill(NaN);
  #active: number[] = [];

  /**
   * Records the beacon `seq` of link `apid`, observed at `time` (any
   * increasing measure, e.g. its CUC time; without it a count behind is
   * read as a jump, as SPEC §6 states it); returns the counts it skipped.
   */
  observe(apid: number, seq: number, time = NaN): number {
    const last = this.#last[apid];
    if (last === UNKNOWN) {
      this.#last[apid] = seq;
      this.#time[apid] = time;
      this.#active.push(apid);
      return 0;
    }
    if (seq === last) return 0;
    const step = (seq - last + SEQUENCE_MODULUS) % SEQUENCE_MODULUS;
    // Behind the last count and observed earlier: delivered late. (An equal
    // time is no evidence: a link whose clock stands still would otherwise
    // keep its last count for ever.)
    if (step > SEQUENCE_MODULUS / 2 && time < this.#time[apid]) return 0;
    this.#last[apid] = seq;
    this.#time[apid] = time;
    return step - 1;
  }

  /** Forgets every link's last count. */
  reset(): void {
    for (const apid of this.#active) {
      this.#last[apid] = UNKNOWN;
      this.#time[apid] = NaN;
    }
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
