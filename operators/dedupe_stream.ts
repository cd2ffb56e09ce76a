/**
 * Drop repeats within a bounded window.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { DedupeWindow } from "./dedupe_window.ts";

/** Options for {@link DedupeStream}. */
export interface DedupeStreamOptions<T> {
  /** The id of a chunk. */
  key: (chunk: T) => string;
  /** Ids remembered (default 1,000,000); ignored when `window` is given. */
  capacity?: number;
  /** A window to share, e.g. one rebuilt from the log at start-up. */
  window?: DedupeWindow;
}

/**
 * Passes on each chunk whose key was not seen within the window; counts the
 * repeats it drops in `duplicates` (an intended drop, apart from any loss).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DedupeStream } from "./dedupe_stream.ts";
 *
 * const dedupe = new DedupeStream({ key: (o: { id: string }) => o.id });
 * const out = await Array.fromAsync(
 *   ReadableStream.from([{ id: "a" }, { id: "b" }, { id: "a" }]).pipeThrough(dedupe),
 * );
 * assert.deepEqual(out.map((o) => o.id), ["a", "b"]);
 * assert.equal(dedupe.duplicates, 1);
 * ```
 */
export class DedupeStream<T> extends TransformStream<T, T> {
  #counts: { duplicates: number };

  /** Creates a dedupe stage. */
  constructor(options: DedupeStreamOptions<T>) {
    const { key } = options;
    if (typeof key !== "function") {
      throw new TypeError("Cannot create DedupeStream: key is not a function");
    }
    const window = options.window ?? new DedupeWindow(options.capacity ?? 1_000_000);
    const counts = { duplicates: 0 };
    super({
      transform(chunk, controller) {
        if (window.add(key(chunk))) controller.enqueue(chunk);
        else counts.duplicates++;
      },
    });
    this.#counts = counts;
  }

  /** Repeats dropped so far. */
  get duplicates(): number {
    return this.#counts.duplicates;
  }
}
