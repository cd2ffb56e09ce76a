/**
 * Fuzz targets that misbehave on purpose, to show that the runner catches
 * what it claims to: an input that never finishes, an input whose check
 * finds a problem, and a fuzzer that fails.
 */

import type { Target } from "../../tools/fuzz/_target.ts";

function tiny(name: string, check: Target["check"]): Target {
  return {
    name,
    ext: "bin",
    corpus: { dir: "isl", ext: [".spp"] },
    generate: (rng) => ({ bytes: new Uint8Array([rng.int(8)]), options: {} }),
    check,
  };
}

/** Every misbehaving target, by name. */
export const TARGETS: Record<string, Target> = {
  // A synchronous endless loop on one input in eight: only terminating the worker stops it.
  hangs: tiny("hangs", (input) => {
    if (input.bytes[0] === 3) { for (;;) { /* a decoder that never returns */ } }
    return Promise.resolve([]);
  }),
  // A promise that never settles: a stream that never closes.
  stalls: tiny(
    "stalls",
    (input) => input.bytes[0] === 5 ? new Promise(() => {}) : Promise.resolve([]),
  ),
  drops: tiny(
    "drops",
    (input) => Promise.resolve(input.bytes[0] === 1 ? ["Accounting: 1 input, 0 outputs"] : []),
  ),
  fails: tiny("fails", (input) => {
    if (input.bytes[0] === 2) throw new TypeError("Oracle bug");
    return Promise.resolve([]);
  }),
};
