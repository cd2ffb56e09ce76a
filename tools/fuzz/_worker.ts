/**
 * The fuzz worker: generates inputs and runs a target's decoder and oracle
 * on them, away from the watchdog on the main thread, which can terminate
 * it when one input takes longer than the deadline — the only way to stop
 * a synchronous decoder that loops forever.
 *
 * Progress goes through a shared counter (one atomic store per input, no
 * message); findings and the end of a run are posted.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { describe } from "./_describe.ts";
import { inputSeed, Prng } from "./_prng.ts";
import type { FuzzInput, Target } from "./_target.ts";

/** Main → worker: generate and check inputs `from … from + count − 1`, or check `inputs`. */
export interface WorkRequest {
  /** URL of the module exporting `TARGETS`. */
  module: string;
  /** Target name. */
  target: string;
  /** Run seed. */
  seed: number;
  /** First input index. */
  from: number;
  /** Most inputs to check. */
  count: number;
  /**
   * Start no input after this long, ms, counted from when the worker is
   * ready: its start-up (seconds on a loaded machine) must not eat a small
   * budget whole.
   */
  budgetMs: number;
  /** The corpus, seeds included. */
  corpus: Uint8Array[];
  /** Given inputs (replay of saved findings) instead of generated ones. */
  inputs?: FuzzInput[];
  /** Int32 [0]: inputs started so far in this request; [1]: the current input's size, bytes. */
  heartbeat: SharedArrayBuffer;
}

/** Worker → main. */
export type WorkEvent =
  | { type: "finding"; index: number; problems: string[]; input: FuzzInput }
  | { type: "done"; inputs: number; ms: number; slowestMs: number; slowestIndex: number };

self.onmessage = async (event: MessageEvent<WorkRequest>) => {
  const request = event.data;
  const { TARGETS } = await import(request.module) as { TARGETS: Record<string, Target> };
  const target = TARGETS[request.target];
  const beat = new Int32Array(request.heartbeat);
  const started = performance.now();
  let slowestMs = 0;
  let slowestIndex = -1;
  let i = 0;
  for (; i < request.count && performance.now() - started < request.budgetMs; i++) {
    Atomics.store(beat, 1, 0);
    Atomics.store(beat, 0, i + 1);
    const index = request.from + i;
    const t0 = performance.now();
    let input: FuzzInput = { bytes: new Uint8Array(0), options: {} };
    let problems: string[];
    try {
      input = request.inputs?.[index] ??
        target.generate(new Prng(inputSeed(request.seed, target.name, index)), request.corpus);
      Atomics.store(beat, 1, input.bytes.length);
      problems = await target.check(input);
    } catch (error) {
      // The decoders' exceptions are caught by the targets: this is the fuzzer's own.
      problems = [`The fuzzer failed (generator or oracle): ${describe(error)}`];
    }
    const ms = performance.now() - t0;
    if (ms > slowestMs) {
      slowestMs = ms;
      slowestIndex = index;
    }
    if (problems.length > 0) {
      self.postMessage({ type: "finding", index, problems, input } satisfies WorkEvent);
    }
  }
  self.postMessage(
    {
      type: "done",
      inputs: i,
      ms: performance.now() - started,
      slowestMs,
      slowestIndex,
    } satisfies WorkEvent,
  );
};
