/**
 * Split one readable into keyed readables.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** Options for {@link partitionReadable}. */
export interface PartitionOptions {
  /** Chunks each output may hold before it pushes back (default 1). */
  highWaterMark?: number;
}

/**
 * Routes every chunk of `source` to the output named by `keyOf(chunk)`.
 *
 * Each output has its own queue of `highWaterMark` chunks. The source is read
 * only while some output wants data, and after a chunk fills its output's
 * queue, reading pauses until that output's consumer takes from it: one slow
 * consumer holds back the source (a single source cannot skip ahead) but never
 * makes a queue grow past its bound. A chunk whose key has no output errors
 * every output. Cancelling every output cancels the source; chunks for an
 * output that alone was cancelled are discarded and counted in `discarded`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { partitionReadable } from "./partition.ts";
 *
 * const { even, odd } = partitionReadable(
 *   ReadableStream.from([1, 2, 3, 4]),
 *   (n: number) => (n % 2 === 0 ? "even" : "odd"),
 *   ["even", "odd"],
 *   { highWaterMark: 4 },
 * );
 * const [evens, odds] = await Promise.all([Array.fromAsync(even), Array.fromAsync(odd)]);
 * assert.deepEqual(evens, [2, 4]);
 * assert.deepEqual(odds, [1, 3]);
 * ```
 */
export function partitionReadable<T, K extends string>(
  source: ReadableStream<T>,
  keyOf: (chunk: T) => K,
  keys: readonly K[],
  options: PartitionOptions = {},
): Record<K, ReadableStream<T>> & { readonly discarded: number } {
  const highWaterMark = options.highWaterMark ?? 1;
  if (!(highWaterMark >= 1)) {
    throw new RangeError(
      `Cannot partition with highWaterMark below 1: ${highWaterMark}`,
    );
  }
  const reader = source.getReader();
  interface Output {
    controller: ReadableStreamDefaultController<T>;
    cancelled: boolean;
  }
  const outputs = new Map<K, Output>();
  let reading = false;
  let blockedOn: Output | undefined;
  let finished = false;
  let discarded = 0;

  const demand = () => {
    for (const out of outputs.values()) {
      if (!out.cancelled && (out.controller.desiredSize ?? 0) > 0) return true;
    }
    return false;
  };
  const fail = (error: unknown) => {
    finished = true;
    for (const out of outputs.values()) {
      if (!out.cancelled) out.controller.error(error);
    }
  };
  const pump = async () => {
    if (reading || finished) return;
    reading = true;
    try {
      while (!finished) {
        if (blockedOn) {
          if (!blockedOn.cancelled && (blockedOn.controller.desiredSize ?? 0) <= 0) {
            break;
          }
          blockedOn = undefined;
        }
        if (!demand()) break;
        const { done, value } = await reader.read();
        if (done) {
          finished = true;
          for (const out of outputs.values()) {
            if (!out.cancelled) out.controller.close();
          }
          break;
        }
        const key = keyOf(value);
        const out = outputs.get(key);
        if (out === undefined) {
          const error = new TypeError(`Cannot route chunk: no partition "${key}"`);
          fail(error);
          await reader.cancel(error);
          break;
        }
        if (out.cancelled) {
          discarded++;
          continue;
        }
        out.controller.enqueue(value);
        if ((out.controller.desiredSize ?? 0) <= 0) blockedOn = out;
      }
    } catch (error) {
      fail(error);
    } finally {
      reading = false;
    }
  };

  const result = {} as Record<K, ReadableStream<T>>;
  for (const key of keys) {
    const out = { cancelled: false } as Output;
    outputs.set(key, out);
    result[key] = new ReadableStream<T>({
      start(controller) {
        out.controller = controller;
      },
      pull() {
        pump();
      },
      async cancel(reason) {
        out.cancelled = true;
        if ([...outputs.values()].every((o) => o.cancelled)) {
          finished = true;
          await reader.cancel(reason);
        } else {
          pump();
        }
      },
    }, { highWaterMark });
  }
  return Object.defineProperty(result, "discarded", { get: () => discarded }) as
    & Record<K, ReadableStream<T>>
    & { readonly discarded: number };
}
