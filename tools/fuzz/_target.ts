/**
 * What a fuzz target is: a decoder entry point with its corpus, its input
 * generator and its oracle.
 *
 * @module
 */

import type { Mutator } from "./_mutate_bytes.ts";
import type { Prng } from "./_prng.ts";

/** How an input is fed to the decoder, besides its bytes (kept with a saved finding). */
export interface CaseOptions {
  /** Optical: the response Content-Type. */
  contentType?: string;
  /** Optical: hand the body over as a string instead of bytes. */
  asString?: boolean;
  /** TDM: the line bound. */
  maxLineBytes?: number;
  /** TDM: seeds the random chunking of the stream. */
  chunkSeed?: number;
  /** A replay context (deterministic, with `startedAt`) instead of a live one. */
  deterministic?: boolean;
}

/** One generated input. */
export interface FuzzInput {
  /** The bytes. */
  bytes: Uint8Array;
  /** How they are fed. */
  options: CaseOptions;
}

/** A decoder under fuzz. */
export interface Target {
  /** Short name: `tdm`, `optical-csv`, … (file names of findings start with it). */
  readonly name: string;
  /** File extension of its inputs (`kvn`, `csv`, `json`, `spp`). */
  readonly ext: string;
  /** Corpus files, relative to `fixtures/`: directory and extensions. */
  readonly corpus: { dir: string; ext: readonly string[] };
  /** Seeds derived from the corpus files (e.g. datagrams cut out of captures). */
  seeds?(files: readonly Uint8Array[]): Uint8Array[];
  /** A new input from the corpus. */
  generate(rng: Prng, corpus: readonly Uint8Array[]): FuzzInput;
  /** Decodes the input and returns what is wrong with the result (empty: nothing). */
  check(input: FuzzInput): Promise<string[]>;
}

/**
 * A corpus entry with 0–6 stacked mutations drawn from `mutators`, bounded
 * in size. 5 % of inputs are left unmutated, so that the corpus itself is
 * always part of a run.
 */
export function mutate(
  rng: Prng,
  corpus: readonly Uint8Array[],
  mutators: readonly Mutator[],
): Uint8Array {
  let bytes = corpus.length > 0 ? rng.pick(corpus) : new Uint8Array(0);
  if (rng.chance(0.05)) return bytes;
  const rounds = 1 + Math.min(5, Math.floor(-Math.log2(1 - rng.float())));
  for (let k = 0; k < rounds; k++) bytes = rng.pick(mutators)(bytes, rng, corpus);
  return bytes;
}

/** Receive time of every live fuzz context: 2026-11-25T12:00:00.250000Z (the fixtures' day). */
export const NOW_MICROS = Date.UTC(2026, 10, 25, 12, 0, 0, 250) * 1000;
