/**
 * Format-blind mutators: what a noisy link, a buggy sender or an attacker
 * does to bytes. Each takes an input and returns a new one (never mutating
 * its argument, which may be a corpus entry).
 *
 * @module
 */

import { concatBytes } from "../../sources/_concat_bytes.ts";
import type { Prng } from "./_prng.ts";

/** A mutation: input bytes → new bytes; `corpus` is there for splicing. */
export type Mutator = (input: Uint8Array, rng: Prng, corpus: readonly Uint8Array[]) => Uint8Array;

/** The largest input a mutation may produce: keeps a run's memory bounded. */
export const MAX_INPUT_BYTES = 1 << 20;

/** Bytes that sit at the edges of parsers: delimiters, line ends, UTF-8 lead bytes. */
const INTERESTING_BYTES = [
  0x00,
  0x01,
  0x09,
  0x0a,
  0x0d,
  0x20,
  0x22,
  0x23,
  0x2b,
  0x2c,
  0x2d,
  0x2e,
  0x30,
  0x31,
  0x39,
  0x3a,
  0x3d,
  0x45,
  0x54,
  0x5a,
  0x5b,
  0x5c,
  0x5d,
  0x65,
  0x7b,
  0x7d,
  0x7f,
  0x80,
  0xbf,
  0xc0,
  0xc3,
  0xe2,
  0xed,
  0xef,
  0xf0,
  0xf4,
  0xf8,
  0xfe,
  0xff,
];

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  return concatBytes(parts);
}

/** Cuts a result back to {@link MAX_INPUT_BYTES}. */
export function bounded(bytes: Uint8Array): Uint8Array {
  return bytes.length > MAX_INPUT_BYTES ? bytes.slice(0, MAX_INPUT_BYTES) : bytes;
}

/** A random range [start, end) of an input of length n (possibly empty). */
function span(rng: Prng, n: number, maxLength = n): [number, number] {
  const start = rng.int(n + 1);
  const end = Math.min(n, start + rng.size(Math.min(maxLength, n - start)));
  return [start, end];
}

/** Flips 1–8 random bits. */
export function flipBits(input: Uint8Array, rng: Prng): Uint8Array {
  if (input.length === 0) return input;
  const out = input.slice();
  const flips = rng.range(1, 8);
  for (let i = 0; i < flips; i++) out[rng.int(out.length)] ^= 1 << rng.int(8);
  return out;
}

/** Replaces 1–4 bytes with interesting or random values. */
export function replaceBytes(input: Uint8Array, rng: Prng): Uint8Array {
  if (input.length === 0) return input;
  const out = input.slice();
  const n = rng.range(1, 4);
  for (let i = 0; i < n; i++) {
    out[rng.int(out.length)] = rng.chance(0.7) ? rng.pick(INTERESTING_BYTES) : rng.next() & 0xff;
  }
  return out;
}

/** Keeps a prefix, a suffix or a middle part. */
export function truncate(input: Uint8Array, rng: Prng): Uint8Array {
  const n = input.length;
  const cut = rng.int(n + 1);
  switch (rng.int(3)) {
    case 0:
      return input.slice(0, cut);
    case 1:
      return input.slice(cut);
    default: {
      const [start, end] = span(rng, n);
      return input.slice(start, end);
    }
  }
}

/** The start of this input joined to the end of another (or of itself). */
export function splice(input: Uint8Array, rng: Prng, corpus: readonly Uint8Array[]): Uint8Array {
  const other = corpus.length > 0 && rng.chance(0.8) ? rng.pick(corpus) : input;
  return bounded(
    concat(input.subarray(0, rng.int(input.length + 1)), other.subarray(rng.int(other.length + 1))),
  );
}

/** Copies a random range elsewhere: a retransmitted or replayed stretch. */
export function duplicateChunk(input: Uint8Array, rng: Prng): Uint8Array {
  const [start, end] = span(rng, input.length);
  const at = rng.chance(0.5) ? end : rng.int(input.length + 1);
  const copies = rng.chance(0.9) ? 1 : rng.range(2, 64);
  const parts = [input.subarray(0, at)];
  for (let i = 0; i < copies; i++) parts.push(input.subarray(start, end));
  parts.push(input.subarray(at));
  return bounded(concat(...parts));
}

/** Cuts the input into 2–8 pieces at random points and shuffles them. */
export function reorderChunks(input: Uint8Array, rng: Prng): Uint8Array {
  const cuts = [0, input.length];
  const k = rng.range(1, 7);
  for (let i = 0; i < k; i++) cuts.push(rng.int(input.length + 1));
  cuts.sort((a, b) => a - b);
  const pieces: Uint8Array[] = [];
  for (let i = 0; i + 1 < cuts.length; i++) pieces.push(input.subarray(cuts[i], cuts[i + 1]));
  for (let i = pieces.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [pieces[i], pieces[j]] = [pieces[j], pieces[i]];
  }
  return concat(...pieces);
}

/** Inserts random bytes of a random (heavy-tailed) length. */
export function insertRandom(input: Uint8Array, rng: Prng): Uint8Array {
  const at = rng.int(input.length + 1);
  const junk = rng.bytes(rng.size(rng.chance(0.9) ? 64 : 70_000));
  return bounded(concat(input.subarray(0, at), junk, input.subarray(at)));
}

/** Deletes a random range. */
export function deleteRange(input: Uint8Array, rng: Prng): Uint8Array {
  const [start, end] = span(rng, input.length);
  return concat(input.subarray(0, start), input.subarray(end));
}

/** Repeats one byte or a short range many times: very long lines, fields, packets. */
export function stretch(input: Uint8Array, rng: Prng): Uint8Array {
  const at = rng.int(input.length + 1);
  const [start, end] = span(rng, input.length, 16);
  const unit = end > start ? input.subarray(start, end) : new Uint8Array([0x41]);
  const total = rng.pick([1000, 1025, 4095, 4096, 4097, 8192, 65_536, 70_000, 200_000]);
  const repeated = new Uint8Array(Math.ceil(total / unit.length) * unit.length);
  for (let n = 0; n < repeated.length; n += unit.length) repeated.set(unit, n);
  return bounded(concat(input.subarray(0, at), repeated, input.subarray(at)));
}

/** A random byte string, unrelated to any fixture. */
export function randomInput(_input: Uint8Array, rng: Prng): Uint8Array {
  return rng.bytes(rng.size(rng.chance(0.95) ? 2048 : 100_000));
}

/** Every format-blind mutator, for a target to draw from. */
export const BYTE_MUTATORS: readonly Mutator[] = [
  flipBits,
  replaceBytes,
  truncate,
  splice,
  duplicateChunk,
  reorderChunks,
  insertRandom,
  deleteRange,
  stretch,
];
