/**
 * The simulators' seeded pseudo-random numbers: the same seed gives the same
 * data, losses and faults, so a failing test or a benchmark can be re-run.
 *
 * @module
 */

/**
 * mulberry32: a small, fast 32-bit PRNG, uniform in [0, 1). Not for
 * cryptography; good enough for measurement noise and fault injection.
 *
 * @example Same seed, same numbers
 * ```ts
 * import assert from "node:assert/strict";
 * import { mulberry32 } from "./_random.ts";
 *
 * const a = mulberry32(7);
 * const b = mulberry32(7);
 * assert.equal(a(), b());
 * assert.ok(a() >= 0 && a() < 1);
 * ```
 */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
