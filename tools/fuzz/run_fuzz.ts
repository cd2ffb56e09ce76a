/**
 * The fuzz runner behind `deno task fuzz` and the bounded run of
 * `deno task test`: for each target, a worker generates mutated inputs from
 * the fixtures and checks the decoder's output with the oracle, while this
 * thread watches the time each input takes and terminates the worker when
 * one exceeds the deadline (a hang is a finding like any other).
 *
 * Inputs are numbered per target and generated from (seed, target, index)
 * alone, so a run with the same seed and at least as many inputs meets the
 * same inputs again.
 *
 * @module
 */

import { inputSeed, Prng } from "./_prng.ts";
import type { FuzzInput, Target } from "./_target.ts";
import type { WorkEvent, WorkRequest } from "./_worker.ts";

/** Options of {@link runFuzz}. */
export interface FuzzOptions {
  /** The run seed (any 32-bit integer). */
  seed: number;
  /** Target names (default: all). */
  targets?: readonly string[];
  /** Inputs per target at most (default: unbounded; then `seconds` bounds the run). */
  inputs?: number;
  /** Seconds per target at most (default: unbounded; then `inputs` bounds the run). */
  seconds?: number;
  /**
   * One input taking longer than this plus {@link FuzzOptions.msPerKiB} per
   * KiB of it is a hang (default 3000 ms): large inputs may take their time,
   * small ones may not.
   */
  deadlineMs?: number;
  /** Time allowed per KiB of input on top of `deadlineMs` (default 50 ms). */
  msPerKiB?: number;
  /** The fixtures directory whose files are the corpus (default: this project's `fixtures/`). */
  fixtures?: URL;
  /** Module exporting `TARGETS` (default: `_targets.ts`; tests pass broken ones). */
  module?: URL;
  /** Called for each finding as it is made. */
  onFinding?: (finding: Finding) => void;
}

/** An input that broke an invariant. */
export interface Finding {
  /** Target name. */
  target: string;
  /** Run seed and input index: `generate` makes it again from them. */
  seed: number;
  /** Input index within the target. */
  index: number;
  /** What is wrong (a hang: one problem saying so). */
  problems: string[];
  /** The input. */
  input: FuzzInput;
}

/** What a run did with one target. */
export interface TargetReport {
  /** Target name. */
  target: string;
  /** Inputs checked (a hung input counts). */
  inputs: number;
  /** Wall time, ms. */
  ms: number;
  /** The slowest input and its time, ms. */
  slowest: { index: number; ms: number };
  /** Findings, in input order. */
  findings: Finding[];
}

const DEFAULT_FIXTURES = new URL("../../fixtures/", import.meta.url);
const DEFAULT_MODULE = new URL("./_targets.ts", import.meta.url);
const WORKER = new URL("./_worker.ts", import.meta.url);

/** The corpus of a target: its fixture files in name order, plus derived seeds. */
export async function loadCorpus(
  target: Target,
  fixtures: URL = DEFAULT_FIXTURES,
): Promise<Uint8Array[]> {
  const dir = new URL(`${target.corpus.dir}/`, fixtures);
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && target.corpus.ext.some((ext) => entry.name.endsWith(ext))) {
      names.push(entry.name);
    }
  }
  names.sort();
  const files = await Promise.all(names.map((name) => Deno.readFile(new URL(name, dir))));
  return target.seeds ? target.seeds(files) : files;
}

/** Loads the `TARGETS` of a module. */
async function targetsOf(module: URL): Promise<Record<string, Target>> {
  return ((await import(module.href)) as { TARGETS: Record<string, Target> }).TARGETS;
}

/**
 * Runs inputs `from …` of one target in workers under a watchdog until
 * `count` inputs or `budgetMs` are used up; given `inputs`, checks those.
 */
async function watch(
  module: URL,
  target: Target,
  seed: number,
  corpus: Uint8Array[],
  count: number,
  budgetMs: number,
  deadline: { ms: number; perKiB: number },
  given: FuzzInput[] | undefined,
  onFinding: (finding: Finding) => void,
  workers: { current?: Worker },
): Promise<TargetReport> {
  const report: TargetReport = {
    target: target.name,
    inputs: 0,
    ms: 0,
    slowest: { index: -1, ms: 0 },
    findings: [],
  };
  const started = performance.now();
  let from = 0;
  while (from < count) {
    const left = budgetMs - (performance.now() - started);
    if (left <= 0) break;
    const heartbeat = new SharedArrayBuffer(8);
    const beat = new Int32Array(heartbeat);
    // One worker serves target after target (its start-up is seconds on a
    // loaded machine); only a hang or a crash costs a new one.
    const worker = workers.current ??= new Worker(WORKER.href, { type: "module" });
    const request: WorkRequest = {
      module: module.href,
      target: target.name,
      seed,
      from,
      count: count - from,
      budgetMs: left,
      corpus,
      inputs: given,
      heartbeat,
    };
    type Outcome = { kind: "done"; inputs: number } | { kind: "hang"; index: number } | {
      kind: "error";
      message: string;
    };
    const outcome = await new Promise<Outcome>((resolve) => {
      let seen = 0;
      let since = performance.now();
      const timer = setInterval(() => {
        const now = performance.now();
        const current = Atomics.load(beat, 0);
        if (current !== seen) {
          seen = current;
          since = now;
        } else if (
          current > 0 && now - since > deadline.ms + deadline.perKiB * Atomics.load(beat, 1) / 1024
        ) {
          clearInterval(timer);
          resolve({ kind: "hang", index: from + current - 1 });
        } else if (current === 0 && now - since > deadline.ms + 30_000) {
          // The worker never started: a broken module, not a hang of an input.
          clearInterval(timer);
          resolve({ kind: "error", message: "the worker did not start" });
        }
      }, Math.min(50, deadline.ms / 4));
      worker.onmessage = (event: MessageEvent<WorkEvent>) => {
        const message = event.data;
        if (message.type === "finding") {
          const finding: Finding = {
            target: target.name,
            seed,
            index: message.index,
            problems: message.problems,
            input: message.input,
          };
          report.findings.push(finding);
          onFinding(finding);
        } else {
          clearInterval(timer);
          if (message.slowestMs > report.slowest.ms) {
            report.slowest = { index: message.slowestIndex, ms: message.slowestMs };
          }
          resolve({ kind: "done", inputs: message.inputs });
        }
      };
      worker.onerror = (event) => {
        event.preventDefault();
        clearInterval(timer);
        resolve({ kind: "error", message: event.message });
      };
      worker.postMessage(request);
    });
    if (outcome.kind !== "done") {
      worker.terminate();
      workers.current = undefined;
    }
    if (outcome.kind === "done") {
      report.inputs = from + outcome.inputs;
      break;
    }
    if (outcome.kind === "error") {
      throw new Error(`Fuzz worker for ${target.name} failed: ${outcome.message}`);
    }
    const index = outcome.index;
    const input = given?.[index] ??
      target.generate(new Prng(inputSeed(seed, target.name, index)), corpus);
    const finding: Finding = {
      target: target.name,
      seed,
      index,
      problems: [
        `No result within ${
          Math.round(deadline.ms + deadline.perKiB * input.bytes.length / 1024)
        } ms: the decoder hangs (or is far too slow) on this input`,
      ],
      input,
    };
    report.findings.push(finding);
    onFinding(finding);
    from = index + 1;
    report.inputs = from;
  }
  report.ms = performance.now() - started;
  report.findings.sort((a, b) => a.index - b.index);
  return report;
}

/**
 * Fuzzes the targets one after the other and reports on each.
 *
 * @example A few inputs of one target
 * ```ts
 * import assert from "node:assert/strict";
 * import { runFuzz } from "./run_fuzz.ts";
 *
 * const [report] = await runFuzz({ seed: 1, targets: ["isl"], inputs: 20, seconds: 30 });
 * assert.equal(report.target, "isl");
 * assert.ok(report.inputs > 0 && report.inputs <= 20);
 * for (const finding of report.findings) assert.ok(finding.problems.length > 0);
 * ```
 */
export async function runFuzz(options: FuzzOptions): Promise<TargetReport[]> {
  const module = options.module ?? DEFAULT_MODULE;
  const targets = await targetsOf(module);
  const names = options.targets ?? Object.keys(targets);
  const count = options.inputs ?? Number.MAX_SAFE_INTEGER;
  const budgetMs = options.seconds === undefined ? Infinity : options.seconds * 1000;
  if (count === Number.MAX_SAFE_INTEGER && budgetMs === Infinity) {
    throw new RangeError("Cannot fuzz without a bound: give inputs or seconds");
  }
  const reports: TargetReport[] = [];
  const workers: { current?: Worker } = {};
  try {
    for (const name of names) {
      const target = targets[name];
      if (target === undefined) throw new RangeError(`Unknown fuzz target: "${name}"`);
      const corpus = await loadCorpus(target, options.fixtures);
      reports.push(
        await watch(
          module,
          target,
          options.seed,
          corpus,
          count,
          budgetMs,
          { ms: options.deadlineMs ?? 3000, perKiB: options.msPerKiB ?? 50 },
          undefined,
          options.onFinding ?? (() => {}),
          workers,
        ),
      );
    }
  } finally {
    workers.current?.terminate();
  }
  return reports;
}

/**
 * Checks given inputs (saved findings) of one target under the same
 * watchdog; returns the findings among them (index = position in `inputs`).
 */
export async function checkInputs(
  targetName: string,
  inputs: FuzzInput[],
  options: { deadlineMs?: number; msPerKiB?: number; module?: URL } = {},
): Promise<Finding[]> {
  const module = options.module ?? DEFAULT_MODULE;
  const target = (await targetsOf(module))[targetName];
  if (target === undefined) throw new RangeError(`Unknown fuzz target: "${targetName}"`);
  const workers: { current?: Worker } = {};
  const report = await watch(
    module,
    target,
    0,
    [],
    inputs.length,
    Infinity,
    { ms: options.deadlineMs ?? 3000, perKiB: options.msPerKiB ?? 50 },
    inputs,
    () => {},
    workers,
  );
  workers.current?.terminate();
  return report.findings;
}
