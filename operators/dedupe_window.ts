/**
 * A bounded window of recently seen ids.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** Value of a lowercase hex digit by char code, or -1. */
const HEX_VALUE = new Int8Array(128).fill(-1);
for (let i = 0; i < 10; i++) HEX_VALUE[48 + i] = i;
for (let i = 0; i < 6; i++) HEX_VALUE[97 + i] = 10 + i;

/**
 * Remembers the last `capacity` distinct ids, evicting the oldest first
 * (SPEC §8: the dedupe window of the event log).
 *
 * Observation ids (32 lowercase hex digits, 128 bits of SHA-256) are kept as
 * four 32-bit words in an open-addressing hash table in typed arrays: no
 * string per id stays alive, the memory is fixed (~50 MB for a million ids
 * instead of ~110 MB of strings in a `Set`), and the garbage collector has
 * no million strings to mark on every major collection. Any other
 * string works too (kept exactly, in a `Set`); both share one FIFO order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DedupeWindow } from "./dedupe_window.ts";
 *
 * const window = new DedupeWindow(2);
 * assert.equal(window.add("a"), true);
 * assert.equal(window.add("a"), false); // a repeat
 * window.add("b");
 * window.add("c"); // evicts "a"
 * assert.equal(window.has("a"), false);
 * assert.equal(window.add("a"), true);
 * ```
 */
export class DedupeWindow {
  #capacity: number;
  /**
   * Hash table of 128-bit ids, 4 words per slot; an all-zero slot is free
   * (the all-zero id itself, 1 in 2^128, is kept in `#other`).
   */
  #table: Int32Array;
  #mask: number;
  /** Insertion order: 4 words per entry; a non-hex entry has its string in `#ringOther`. */
  #ring: Int32Array;
  #ringOther: (string | undefined)[] | undefined;
  #other = new Set<string>();
  #head = 0;
  #size = 0;
  #key = new Int32Array(4);

  /** @param capacity how many ids to remember */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot create a dedupe window of capacity below 1: ${capacity}`,
      );
    }
    this.#capacity = capacity;
    let slots = 16;
    while (slots < capacity * 2) slots *= 2;
    this.#table = new Int32Array(slots * 4);
    this.#mask = slots - 1;
    this.#ring = new Int32Array(capacity * 4);
  }

  /** How many ids the window remembers at most. */
  get capacity(): number {
    return this.#capacity;
  }

  /** How many ids it remembers now. */
  get size(): number {
    return this.#size;
  }

  /** Whether `id` is in the window. */
  has(id: string): boolean {
    if (!this.#parse(id)) return this.#other.has(id);
    return this.#find(this.#key) >= 0;
  }

  /** Adds `id`; returns false when it was already in the window (a repeat). */
  add(id: string): boolean {
    if (this.#parse(id)) {
      const key = this.#key;
      return this.#addKey(key[0], key[1], key[2], key[3]);
    }
    if (this.#other.has(id)) return false;
    if (this.#size === this.#capacity) this.#evictOldest();
    const at = ((this.#head + this.#size) % this.#capacity) * 4;
    {
      this.#other.add(id);
      this.#ringOther ??= new Array(this.#capacity);
      this.#ringOther[at / 4] = id;
    }
    this.#size++;
    return true;
  }

  /**
   * Adds the id packed as four words at `words[at … at + 3]` (as
   * `PackedObservations.ids` holds them; the same id as its 32 hex digits);
   * returns false when it was already in the window. All four zero is not an
   * id: use {@link DedupeWindow.add} with the id's text for it.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { DedupeWindow } from "./dedupe_window.ts";
   *
   * const window = new DedupeWindow(10);
   * assert.equal(window.add("000000010000000200000003000000ff"), true);
   * assert.equal(window.addWords(new Int32Array([1, 2, 3, 255]), 0), false);
   * ```
   */
  addWords(words: Int32Array, at: number): boolean {
    const k0 = words[at], k1 = words[at + 1], k2 = words[at + 2], k3 = words[at + 3];
    if ((k0 | k1 | k2 | k3) === 0) {
      throw new RangeError("Cannot add the all-zero id as words: add its text");
    }
    return this.#addKey(k0, k1, k2, k3);
  }

  #addKey(k0: number, k1: number, k2: number, k3: number): boolean {
    // One probe run finds a repeat or the free slot to take.
    const table = this.#table;
    let slot = k0 & this.#mask;
    while (true) {
      const at = slot * 4;
      const t0 = table[at], t1 = table[at + 1], t2 = table[at + 2], t3 = table[at + 3];
      if (t0 === k0 && t1 === k1 && t2 === k2 && t3 === k3) return false;
      if ((t0 | t1 | t2 | t3) === 0) break;
      slot = (slot + 1) & this.#mask;
    }
    if (this.#size === this.#capacity) {
      // Eviction may shift entries back into the run: probe again after it.
      this.#evictOldest();
      slot = k0 & this.#mask;
      while (!this.#free(slot)) slot = (slot + 1) & this.#mask;
    }
    table[slot * 4] = k0;
    table[slot * 4 + 1] = k1;
    table[slot * 4 + 2] = k2;
    table[slot * 4 + 3] = k3;
    const at = ((this.#head + this.#size) % this.#capacity) * 4;
    const ring = this.#ring;
    ring[at] = k0;
    ring[at + 1] = k1;
    ring[at + 2] = k2;
    ring[at + 3] = k3;
    if (this.#ringOther) this.#ringOther[at / 4] = undefined;
    this.#size++;
    return true;
  }

  #free(slot: number): boolean {
    const t = this.#table;
    const at = slot * 4;
    return (t[at] | t[at + 1] | t[at + 2] | t[at + 3]) === 0;
  }

  /**
   * Parses a 32-digit lowercase hex id into `#key`; false for any other
   * string (and for the all-zero id, which marks a free slot).
   */
  #parse(id: string): boolean {
    if (id.length !== 32) return false;
    const key = this.#key;
    for (let w = 0; w < 4; w++) {
      let word = 0;
      for (let i = w * 8; i < w * 8 + 8; i++) {
        const c = id.charCodeAt(i);
        const v = c < 128 ? HEX_VALUE[c] : -1;
        if (v < 0) return false;
        word = (word << 4) | v;
      }
      key[w] = word;
    }
    return (key[0] | key[1] | key[2] | key[3]) !== 0;
  }

  #find(key: Int32Array): number {
    const table = this.#table;
    let slot = key[0] & this.#mask;
    while (!this.#free(slot)) {
      const at = slot * 4;
      if (
        table[at] === key[0] && table[at + 1] === key[1] && table[at + 2] === key[2] &&
        table[at + 3] === key[3]
      ) return slot;
      slot = (slot + 1) & this.#mask;
    }
    return -1;
  }

  #evictOldest(): void {
    const index = this.#head;
    this.#head = (this.#head + 1) % this.#capacity;
    this.#size--;
    const other = this.#ringOther?.[index];
    if (other !== undefined) {
      this.#other.delete(other);
      this.#ringOther![index] = undefined;
      return;
    }
    const key = this.#ring.subarray(index * 4, index * 4 + 4);
    const slot = this.#find(key);
    if (slot >= 0) this.#remove(slot);
  }

  /**
   * Deletes a slot without tombstones (Knuth's algorithm R for linear
   * probing): later entries of the probe run move back into the gap.
   */
  #remove(slot: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let gap = slot;
    let next = (gap + 1) & mask;
    while (!this.#free(next)) {
      const home = table[next * 4] & mask;
      // Move `next` into the gap unless its home lies cyclically in (gap, next].
      const between = gap <= next ? gap < home && home <= next : gap < home || home <= next;
      if (!between) {
        table.copyWithin(gap * 4, next * 4, next * 4 + 4);
        gap = next;
      }
      next = (next + 1) & mask;
    }
    table.fill(0, gap * 4, gap * 4 + 4);
  }
}
