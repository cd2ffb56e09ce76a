/**
 * Driving a decoder stream the way a socket or a body would, for the
 * oracles: random chunkings of an input, the outputs in input order (each
 * batch's `deadLetterAt` places its dead letters among its observations),
 * and comparison of two runs.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import { describe } from "./_describe.ts";
import { preview } from "./_oracle.ts";
import { Prng } from "./_prng.ts";

/** Chunks of `bytes` as a socket might deliver them, drawn from `seed`. */
export function chunking(bytes: Uint8Array, seed: number): Uint8Array[] {
  const rng = new Prng(seed);
  const chunks: Uint8Array[] = [];
  const mode = bytes.length > 4096 ? rng.range(1, 4) : rng.int(5);
  // At most ~500 chunks: per-chunk stream overhead dominates past that, a
  // large input split finely finds nothing a small one would not, and a
  // decoder that joins a long record's pieces may rightly take time
  // quadratic in their number (the edge gathers reads to 64 KiB).
  const least = Math.ceil(bytes.length / 500);
  // Next CR and LF at or after `at`, found once per position (no rescans).
  const nextOf = (byte: number, from: number) => {
    const p = bytes.indexOf(byte, from);
    return p < 0 ? Infinity : p;
  };
  let cr = -1;
  let lf = -1;
  let at = 0;
  while (at < bytes.length) {
    let size: number;
    switch (mode) {
      case 0:
        size = 1;
        break;
      case 1:
        size = 1 + rng.size(64);
        break;
      case 2:
        size = 1 + rng.size(8192);
        break;
      case 3: {
        // Cut right after a CR, or right before an LF: CRLF split across reads.
        if (cr < at) cr = nextOf(13, at);
        if (lf < at) lf = nextOf(10, at);
        const next = [cr + 1, lf].filter((p) => p > at && p < Infinity);
        size = next.length > 0 && rng.chance(0.7) ? Math.min(...next) - at : 1 + rng.size(512);
        break;
      }
      default:
        size = 1 + rng.size(1024);
    }
    size = Math.max(size, least);
    chunks.push(bytes.subarray(at, Math.min(bytes.length, at + size)));
    if (rng.chance(0.05)) chunks.push(new Uint8Array(0));
    at += size;
  }
  return chunks;
}

/** An output, in input order. */
export type Item = { o: Observation } | { d: DeadLetter };

/** Decodes with the stream; the items in input order, or the error. */
export async function streamItems(
  name: string,
  decoder: () => TransformStream<Uint8Array, IngestBatch>,
  chunks: Uint8Array[],
  problems: string[],
): Promise<Item[] | undefined> {
  const items: Item[] = [];
  try {
    const decoded = ReadableStream.from(chunks).pipeThrough(decoder());
    for await (const batch of decoded) {
      const at = batch.deadLetterAt;
      if (at === undefined || at.length !== batch.deadLetters.length) {
        problems.push(
          `${name} batch without a deadLetterAt for each dead letter: ${preview(at)}`,
        );
        return undefined;
      }
      let o = 0;
      for (let k = 0; k < at.length; k++) {
        if (at[k] < o || at[k] > batch.observations.length) {
          problems.push(
            `${name} deadLetterAt is not ordered within its batch: ${preview(at)}`,
          );
          return undefined;
        }
        while (o < at[k]) items.push({ o: batch.observations[o++] });
        items.push({ d: batch.deadLetters[k] });
      }
      while (o < batch.observations.length) items.push({ o: batch.observations[o++] });
    }
  } catch (error) {
    problems.push(`${name} errored: ${describe(error)}`);
    return undefined;
  }
  return items;
}

/** Equal values, keys in the same order (what would serialise identically). */
export function identical(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (let i = 0; i < ka.length; i++) {
    if (ka[i] !== kb[i]) return false;
    if (!identical((a as Record<string, unknown>)[ka[i]], (b as Record<string, unknown>)[kb[i]])) {
      return false;
    }
  }
  return true;
}

/** The first position where two lists differ, or −1. */
export function same(a: unknown[], b: unknown[]): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (!identical(a[i], b[i])) return i;
  return a.length === b.length ? -1 : n;
}
