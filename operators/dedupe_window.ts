/**
 * A bounded window of recently seen ids.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Remembers the last `capacity` distinct ids, evicting the oldest first
 * (SPEC §8: the dedupe window of the event log).
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
  #set = new Set<string>();
  #ring: string[] = [];
  #next = 0;

  /** @param capacity how many ids to remember */
  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(
        `Cannot create a dedupe window of capacity below 1: ${capacity}`,
      );
    }
    this.#capacity = capacity;
  }

  /** How many ids the window remembers at most. */
  get capacity(): number {
    return this.#capacity;
  }

  /** How many ids it remembers now. */
  get size(): number {
    return this.#set.size;
  }

  /** Whether `id` is in the window. */
  has(id: string): boolean {
    return this.#set.has(id);
  }

  /** Adds `id`; returns false when it was already in the window (a repeat). */
  add(id: string): boolean {
    const set = this.#set;
    if (set.has(id)) return false;
    set.add(id);
    const ring = this.#ring;
    if (ring.length < this.#capacity) {
      ring.push(id);
    } else {
      set.delete(ring[this.#next]);
      ring[this.#next] = id;
      this.#next = (this.#next + 1) % this.#capacity;
    }
    return true;
  }
}
