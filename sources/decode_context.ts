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
  /**
   * The authenticated client identity (a client certificate's CN, SPEC §15),
   * copied to `provenance.client`; absent for unauthenticated input.
   */
  client?: string;
  /** Sensor ids this source accepts (`sensors`, SPEC §15); absent: any. */
  sensors?: ReadonlySet<string>;
  /** Sensor ids the authenticated {@link DecodeContext.client} may send (`clients`); absent: any. */
  clientSensors?: ReadonlySet<string>;
  /**
   * Deterministic mode only: when the replay started, µs since the epoch —
   * the reference for the latest acceptable `t_obs` (SPEC §14).
   */
  startedAt?: number;
  /**
   * Leave each observation's `id` empty: it is computed later from the
   * packed batch (a decode worker packs the id's input and the main thread
   * hashes it, see `packObservations`).
   */
  deferIds?: boolean;
}

const EPOCH = "1970-01-01T00:00:00.000000Z";
/** The first artificial satellite: no orbital observation is older (SPEC §14). */
const EARLIEST_T_OBS = "1957-10-04T00:00:00.000000Z";
const MICROS_PER_DAY = 86_400_000_000;

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
 * Longest `reason` and `ref` a dead letter keeps, in UTF-16 code units.
 * Both may quote what the sender sent (a 200 KB CSV cell, a 70 KB record
 * id); like `raw` (SPEC §3), they must not make a dead letter an amplifier.
 */
const MAX_TEXT = 1024;

/** `text` cut to {@link MAX_TEXT} with a final `…`, never between the halves of a surrogate pair. */
function clip(text: string): string {
  if (text.length <= MAX_TEXT) return text;
  let end = MAX_TEXT - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last < 0xdc00) end--;
  return text.slice(0, end) + "…";
}

/**
 * Builds a dead letter (SPEC §3) for input from `ctx` in `format`. A
 * `reason` or `ref` longer than 1024 characters is cut, ending in `…`.
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
 *
 * const long = makeDeadLetter(ctx, "udl-eo-csv", {
 *   stage: "decoding",
 *   reason: `Cannot parse ra value as a number: "${"9".repeat(200_000)}"`,
 *   raw: "…",
 * });
 * assert.equal(long.reason.length, 1024);
 * assert.ok(long.reason.endsWith("9…"));
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
    reason: clip(fields.reason),
    raw: fields.raw,
  };
  if (fields.ref !== undefined) letter.ref = clip(fields.ref);
  return letter;
}

/** The latest acceptable `t_obs` for a receive time, formatted; the last one is kept. */
let latestFor = Number.NaN;
let latestText = "";

/**
 * Why an observation decoded from `ctx` may not be logged, or undefined when
 * it may (SPEC §14, §15): `t_obs` must lie between 1957-10-04T00:00:00Z and
 * one day after its receipt (replay: after the replay's start), and its
 * sensor must be permitted for the source (`sensors`) and for the
 * authenticated client (`clients`). Every decoder calls it once per
 * observation and turns an answer into a `validation` dead letter.
 *
 * `tObs` is in the envelope's fixed form (`YYYY-MM-DDThh:mm:ss.ffffffZ`, a
 * leap second as `…:60.…`), so comparing the text compares the instants.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { admissionProblem } from "./decode_context.ts";
 *
 * const rx = Date.UTC(2026, 10, 25) * 1000;
 * const ctx = { source: "xr1", transport: "tcp" as const, peer: "p", sensors: new Set(["XR1"]) };
 * assert.equal(admissionProblem(ctx, "XR1", "2026-11-25T00:00:00.000000Z", rx), undefined);
 * assert.equal(
 *   admissionProblem(ctx, "XR2", "2026-11-25T00:00:00.000000Z", rx),
 *   "sensor XR2 is not permitted for source xr1",
 * );
 * assert.match(admissionProblem(ctx, "XR1", "0001-01-01T00:00:00.000000Z", rx)!, /before 1957-10-04/);
 * assert.match(admissionProblem(ctx, "XR1", "2026-11-27T00:00:00.000000Z", rx)!, /one day after/);
 * ```
 */
export function admissionProblem(
  ctx: DecodeContext,
  sensor: string,
  tObs: string,
  receivedAt: number,
): string | undefined {
  if (tObs < EARLIEST_T_OBS) {
    return `t_obs ${tObs} is before 1957-10-04T00:00:00Z, earlier than any orbital observation`;
  }
  const reference = ctx.deterministic ? ctx.startedAt : receivedAt;
  if (reference !== undefined && Number.isSafeInteger(reference)) {
    if (reference !== latestFor) {
      latestFor = reference;
      latestText = formatTimestamp(reference + MICROS_PER_DAY);
    }
    if (tObs > latestText) {
      return ctx.deterministic
        ? `t_obs ${tObs} is more than one day after the replay started`
        : `t_obs ${tObs} is more than one day after it was received`;
    }
  }
  if (ctx.sensors !== undefined && !ctx.sensors.has(sensor)) {
    return `sensor ${sensor} is not permitted for source ${ctx.source}`;
  }
  if (ctx.clientSensors !== undefined && !ctx.clientSensors.has(sensor)) {
    return `sensor ${sensor} is not permitted for client ${ctx.client ?? "(unknown)"}`;
  }
  return undefined;
}
