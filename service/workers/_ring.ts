/**
 * Shared memory between a decode worker and the main thread, so that a
 * batch's packed observations need neither a fresh buffer nor a transfer:
 * on this kind of machine both cost more than decoding the batch (a fresh
 * page is a fault; a transfer is tens of µs per buffer).
 *
 * @module
 */

/** A region of a {@link RingWriter}'s memory. */
export interface RingRegion {
  /** Offset of its first byte. */
  start: number;
  /** Its bytes (a multiple of 8). */
  size: number;
  /** Bytes skipped before it at the end of the memory (freed with it). */
  skipped: number;
}

/** The shared memory of one ring: the bytes and the count of bytes in use. */
export interface RingMemory {
  data: SharedArrayBuffer;
  /** `Int32Array` word 0: bytes in use (allocated and not yet freed). */
  control: SharedArrayBuffer;
}

/** New ring memory of `bytes` (a multiple of 8). */
export function ringMemory(bytes: number): RingMemory {
  return { data: new SharedArrayBuffer(bytes), control: new SharedArrayBuffer(4) };
}

/**
 * The worker's side: allocates regions one after another, wrapping around;
 * never more than is free. The main thread frees them in the same order.
 */
export class RingWriter {
  readonly data: SharedArrayBuffer;
  #used: Int32Array;
  #head = 0;

  constructor(memory: RingMemory) {
    this.data = memory.data;
    this.#used = new Int32Array(memory.control);
  }

  /** A region of at least `bytes`, or undefined while the ring has no room for it. */
  allocate(bytes: number): RingRegion | undefined {
    const capacity = this.data.byteLength;
    const size = (bytes + 7) & ~7;
    const used = Atomics.load(this.#used, 0);
    if (used === 0) this.#head = 0;
    const head = this.#head;
    // What is in use runs from `tail` to `head`, wrapping around.
    const tail = (head - used + capacity) % capacity;
    let start = head;
    let skipped = 0;
    if (used === 0 || head > tail) {
      if (capacity - head < size) {
        if (used !== 0 && tail < size) return undefined;
        if (used === 0 && capacity < size) return undefined;
        skipped = capacity - head;
        start = 0;
      }
    } else if (tail - head < size) {
      return undefined;
    }
    Atomics.add(this.#used, 0, size + skipped);
    this.#head = (start + size) % capacity;
    return { start, size, skipped };
  }
}

/** The main thread's side: frees regions, in any order, as their batches are written. */
export class RingReader {
  readonly data: SharedArrayBuffer;
  #used: Int32Array;
  /** Regions not freed yet, in allocation order, with whether they may be. */
  #regions: { bytes: number; freed: boolean }[] = [];
  #first = 0;

  constructor(memory: RingMemory) {
    this.data = memory.data;
    this.#used = new Int32Array(memory.control);
  }

  /** Registers the next region the worker allocated (messages arrive in allocation order); returns its free(). */
  received(region: RingRegion): () => void {
    const entry = { bytes: region.size + region.skipped, freed: false };
    this.#regions.push(entry);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      entry.freed = true;
      // Only the oldest regions go back: the worker allocates in order.
      let bytes = 0;
      while (this.#first < this.#regions.length && this.#regions[this.#first].freed) {
        bytes += this.#regions[this.#first].bytes;
        this.#first++;
      }
      if (this.#first > 1024 && this.#first * 2 > this.#regions.length) {
        this.#regions = this.#regions.slice(this.#first);
        this.#first = 0;
      }
      if (bytes > 0) Atomics.sub(this.#used, 0, bytes);
    };
  }
}
