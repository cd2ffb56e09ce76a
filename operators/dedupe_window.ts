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
const textDecoder = new TextDecoder();

/** Mixes one 32-bit word into a running hash (a murmur3 block). */
function mixWord(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e2d51);
  k = Math.imul((k << 15) | (k >>> 17), 0x1b873593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/**
 * Remembers the last `capacity` distinct ids, evicting the oldest first
 * (SPEC §8: the dedupe window of the event log).
 *
 * Observation ids (32 lowercase hex digits, 128 bits of SHA-256) are kept as
 * four 32-bit words in a ring in insertion order, found through an
 * open-addressing hash table of one word per slot, all in typed arrays: no
 * string per id stays alive, the memory is fixed (24 MiB for a million ids,
 * instead of ~110 MB of strings in a `Set`), and the
 * garbage collector has no million strings to mark on every major
 * collection. Any other string works too (kept exactly, in a `Set`); both
 * share one FIFO order.
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
   * Hash table, one word per slot: the id's ring position + 1 in the low
   * `#posMask` bits (0: a free slot) and the high bits of its second word
   * above them, which tell most ids apart without reading the ring. The
   * home slot (linear probing) is {@link DedupeWindow.#home} of all four
   * words. At most half full.
   */
  #table: Int32Array;
  #mask: number;
  #posMask: number;
  /** Insertion order: 4 words per entry; a non-hex entry has its string in `#ringOther`. */
  #ring: Int32Array;
  #ringOther: (string | undefined)[] | undefined;
  #other = new Set<string>();
  #head = 0;
  #size = 0;
  #key = new Int32Array(4);
  /**
   * Mixed into every home slot, drawn per window: ids are SHA-256, but
   * whoever sends observations chooses their content, and ids ground to
   * share their first word's low bits would all probe one run (20,000 such
   * ids took 0.8 s to add instead of 0.04 s; it grows as their square).
   * Every word counts too: ids that differ in their last word only once all
   * shared one run, and a log of 3 million of them took hours to load.
   */
  #seed = crypto.getRandomValues(new Int32Array(2));

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
    this.#table = new Int32Array(slots);
    this.#mask = slots - 1;
    this.#posMask = 2 ** (32 - Math.clz32(capacity)) - 1;
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

  /**
   * The longest run of occupied slots in the hash table: how many slots the
   * slowest lookup reads. Stays short (tens) for any choice of ids; a long
   * one means the ids crowd one home slot. Reads the whole table: for
   * diagnostics and tests, not the hot path.
   */
  longestProbeRun(): number {
    const table = this.#table;
    let longest = 0;
    let run = 0;
    // Twice round, so a run that wraps past the end is counted whole.
    for (let i = 0; i < table.length * 2; i++) {
      run = table[i & this.#mask] === 0 ? 0 : run + 1;
      if (run > longest) longest = run;
    }
    return Math.min(longest, table.length);
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

  /**
   * Adds the id whose text is the 32 bytes `bytes[at … at + 31]` (as in a
   * log line), without making a string of it when it is lowercase hex;
   * returns false when it was already in the window.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { DedupeWindow } from "./dedupe_window.ts";
   *
   * const window = new DedupeWindow(10);
   * const line = new TextEncoder().encode('{"id":"000000010000000200000003000000ff"}');
   * assert.equal(window.addHex(line, 7), true);
   * assert.equal(window.add("000000010000000200000003000000ff"), false);
   * ```
   */
  addHex(bytes: Uint8Array, at: number): boolean {
    const key = this.#key;
    let hex = at >= 0 && at + 32 <= bytes.length;
    for (let w = 0; hex && w < 4; w++) {
      let word = 0;
      for (let i = at + w * 8; i < at + w * 8 + 8; i++) {
        const c = bytes[i];
        const v = c < 128 ? HEX_VALUE[c] : -1;
        if (v < 0) {
          hex = false;
          break;
        }
        word = (word << 4) | v;
      }
      key[w] = word;
    }
    if (hex && (key[0] | key[1] | key[2] | key[3]) !== 0) {
      return this.#addKey(key[0], key[1], key[2], key[3]);
    }
    return this.add(textDecoder.decode(bytes.subarray(at, at + 32)));
  }

  #addKey(k0: number, k1: number, k2: number, k3: number): boolean {
    // One probe run finds a repeat or the free slot to take.
    const table = this.#table;
    const mask = this.#mask;
    const posMask = this.#posMask;
    const home = this.#home(k0, k1, k2, k3);
    let slot = home;
    for (let entry = table[slot]; entry !== 0; entry = table[slot]) {
      if (
        ((entry ^ k1) & ~posMask) === 0 && this.#ringHolds((entry & posMask) - 1, k0, k1, k2, k3)
      ) {
        return false;
      }
      slot = (slot + 1) & mask;
    }
    if (this.#size === this.#capacity) {
      // Eviction may shift entries back into the run: probe again after it.
      this.#evictOldest();
      slot = home;
      while (table[slot] !== 0) slot = (slot + 1) & mask;
    }
    const index = (this.#head + this.#size) % this.#capacity;
    table[slot] = (k1 & ~posMask) | (index + 1);
    const at = index * 4;
    const ring = this.#ring;
    ring[at] = k0;
    ring[at + 1] = k1;
    ring[at + 2] = k2;
    ring[at + 3] = k3;
    if (this.#ringOther) this.#ringOther[index] = undefined;
    this.#size++;
    return true;
  }

  /**
   * The home slot of an id from its four words and the window's seed
   * (murmur3's block mixing and finaliser): not predictable without the
   * seed, so no choice of ids crowds one probe run.
   */
  #home(k0: number, k1: number, k2: number, k3: number): number {
    let h = this.#seed[0];
    h = mixWord(h, k0);
    h = mixWord(h, k1);
    h = mixWord(h, k2);
    h = mixWord(h, k3 ^ this.#seed[1]);
    h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    return (h ^ (h >>> 16)) & this.#mask;
  }

  /** Whether ring entry `index` holds the key. */
  #ringHolds(index: number, k0: number, k1: number, k2: number, k3: number): boolean {
    const ring = this.#ring;
    const at = index * 4;
    return ring[at] === k0 && ring[at + 1] === k1 && ring[at + 2] === k2 && ring[at + 3] === k3;
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
    const posMask = this.#posMask;
    const k0 = key[0], k1 = key[1];
    let slot = this.#home(k0, k1, key[2], key[3]);
    for (let entry = table[slot]; entry !== 0; entry = table[slot]) {
      if (
        ((entry ^ k1) & ~posMask) === 0 &&
        this.#ringHolds((entry & posMask) - 1, k0, k1, key[2], key[3])
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
    // The slot that points at this ring entry, in its home slot's run.
    const table = this.#table;
    const mask = this.#mask;
    const posMask = this.#posMask;
    const ring = this.#ring;
    const at = index * 4;
    let slot = this.#home(ring[at], ring[at + 1], ring[at + 2], ring[at + 3]);
    while (table[slot] !== 0) {
      if ((table[slot] & posMask) === index + 1) {
        this.#remove(slot);
        return;
      }
      slot = (slot + 1) & mask;
    }
  }

  /**
   * Deletes a slot without tombstones (Knuth's algorithm R for linear
   * probing): later entries of the probe run move back into the gap.
   */
  #remove(slot: number): void {
    const table = this.#table;
    const mask = this.#mask;
    const posMask = this.#posMask;
    const ring = this.#ring;
    let gap = slot;
    let next = (gap + 1) & mask;
    while (table[next] !== 0) {
      const at = ((table[next] & posMask) - 1) * 4;
      const home = this.#home(ring[at], ring[at + 1], ring[at + 2], ring[at + 3]);
      // Move `next` into the gap unless its home lies cyclically in (gap, next].
      const between = gap <= next ? gap < home && home <= next : gap < home || home <= next;
      if (!between) {
        table[gap] = table[next];
        gap = next;
      }
      next = (next + 1) & mask;
    }
    table[gap] = 0;
  }
}
