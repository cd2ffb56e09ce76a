/**
 * What every decoder needs to know about where its input came from, and the
 * one way all of them build dead letters and receive times.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter, Raw, Stage } from "../envelope/dead_letter.ts";
import type { Format, Transport } from "../envelope/observation.ts";
import { formatTimestamp, nowMicros } from "../envelope/time.ts";

/** Where input comes from: copied into every envelope's provenance. */
export interface DecodeContext {
  /** The configured source name (`provenance.source`). */
  source: string;
  /** How it arrived (`provenance.transport`). */
  transport: Transport;
  /** Remote `host:port`, the URL for HTTP, the fixture path for replay. */
  peer: string;
  /** The receive clock, µs since the Unix epoch (default: the system clock). */
  now?: () => number;
  /**
   * Replay (SPEC §10): `t_rx` equals `t_obs`, and dead letters carry the Unix
   * epoch, so the output is byte-identical on every run.
   */
  deterministic?: boolean;
}

const EPOCH = "1970-01-01T00:00:00.000000Z";

/**
 * The receive time to stamp on input that arrives now, µs since the epoch;
 * 0 in deterministic mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { receiveTime } from "./decode_context.ts";
 *
 * const ctx = { source: "s", transport: "tcp" as const, peer: "p", now: () => 42 };
 * assert.equal(receiveTime(ctx), 42);
 * assert.equal(receiveTime({ ...ctx, deterministic: true }), 0);
 * ```
 */
export function receiveTime(ctx: DecodeContext): number {
  if (ctx.deterministic) return 0;
  return ctx.now ? ctx.now() : nowMicros();
}

/**
 * `t_rx` for an observation received at `receivedAt` (µs) whose `t_obs` is
 * given: the formatted receive time, or `t_obs` itself in deterministic mode.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rxTimestamp } from "./decode_context.ts";
 *
 * const ctx = { source: "s", transport: "replay" as const, peer: "p", deterministic: true };
 * assert.equal(rxTimestamp(ctx, 0, "2026-11-25T12:00:00.000000Z"), "2026-11-25T12:00:00.000000Z");
 * ```
 */
export function rxTimestamp(ctx: DecodeContext, receivedAt: number, tObs: string): string {
  return ctx.deterministic ? tObs : formatTimestamp(receivedAt);
}

/** The fields of a dead letter that a decoder decides. */
export interface DeadLetterFields {
  /** Where it failed. */
  stage: Stage;
  /** Why, specific and readable: `Cannot parse ANGLE_1 value as a number: "12.3.4"`. */
  reason: string;
  /** The raw input: text, or `{ base64 }` for binary (see `textRaw`/`binaryRaw`). */
  raw: Raw;
  /** Locator of the raw record, as in `provenance.ref`, where known. */
  ref?: string;
  /** When the input arrived, µs (default: now, or the epoch in deterministic mode). */
  receivedAt?: number;
}

/**
 * Builds a dead letter (SPEC §3) for input from `ctx` in `format`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeDeadLetter } from "./decode_context.ts";
 *
 * const ctx = { source: "xr1", transport: "tcp" as const, peer: "127.0.0.1:5000", now: () => 0 };
 * const dl = makeDeadLetter(ctx, "ccsds-tdm-kvn", {
 *   stage: "framing",
 *   reason: "Line longer than 4096 bytes",
 *   raw: "ANGLE_1 = …",
 * });
 * assert.equal(dl.t_rx, "1970-01-01T00:00:00.000000Z");
 * assert.equal(dl.peer, "127.0.0.1:5000");
 * assert.equal("ref" in dl, false);
 * ```
 */
export function makeDeadLetter(
  ctx: DecodeContext,
  format: Format,
  fields: DeadLetterFields,
): DeadLetter {
  const t_rx = ctx.deterministic ? EPOCH : formatTimestamp(fields.receivedAt ?? receiveTime(ctx));
  const letter: DeadLetter = {
    v: 1,
    t_rx,
    source: ctx.source,
    format,
    peer: ctx.peer,
    stage: fields.stage,
    reason: fields.reason,
    raw: fields.raw,
  };
  if (fields.ref !== undefined) letter.ref = fields.ref;
  return letter;
}
