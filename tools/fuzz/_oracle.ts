/**
 * What every decoder's output must satisfy, whatever the input: checked
 * from the contract (SPEC §2, §3, §14) and the zod schemas, not from the
 * decoders' internals. Each check appends a readable problem; an empty list
 * means the output is sound.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { DeadLetterSchema } from "../../envelope/dead_letter.ts";
import { ObservationSchema } from "../../envelope/observation.ts";
import { serializeDeadLetter, serializeObservation } from "../../envelope/serialize.ts";
import type { DecodeContext } from "../../sources/decode_context.ts";
import { describe } from "./_describe.ts";

export { describe };

/** SPEC §3: `raw` keeps at most 1 KiB, followed by `…(N bytes)` when cut. */
export const RAW_CAP = 1024;
/** How a cut raw ends: `…(N bytes)`, N the size of the whole input. */
const CUT_SUFFIX = /…\((\d+) bytes\)$/;

const EARLIEST = "1957-10-04T00:00:00.000000Z";
const EPOCH = "1970-01-01T00:00:00.000000Z";
const DAY_US = 86_400_000_000;

/** Envelope key order (SPEC §2). */
const TOP_KEYS = [
  "v",
  "id",
  "kind",
  "t_obs",
  "t_rx",
  "sensor",
  "target",
  "measurement",
  "provenance",
];
const PROVENANCE_KEYS = [
  "source",
  "format",
  "transport",
  "peer",
  "client",
  "ref",
  "time_system",
  "meta",
];
const DEAD_LETTER_KEYS = ["v", "t_rx", "source", "format", "peer", "stage", "reason", "ref", "raw"];
/** Measurement key order per kind (SPEC §4, §5, §6). */
const MEASUREMENT_KEYS: Record<string, readonly string[]> = {
  radar: [
    "range_km",
    "range_s",
    "range_ru",
    "range_rate_km_s",
    "doppler_integrated_km_s",
    "az_deg",
    "el_deg",
    "ra_deg",
    "dec_deg",
    "frame",
    "angle_1_deg",
    "angle_2_deg",
    "angle_type",
    "rcs_m2",
    "mag",
    "other",
  ],
  optical: ["ra_deg", "dec_deg", "frame", "ra_unc_deg", "dec_unc_deg", "mag", "mag_unc", "site"],
  isl: ["range_km", "range_rate_km_s", "range_sigma_km", "observer"],
};
const NESTED_KEYS: Record<string, readonly string[]> = {
  site: ["lat_deg", "lon_deg", "alt_km"],
  observer: ["norad", "frame", "r_km", "v_km_s"],
};

/** `micros` since the epoch as the envelope writes it (no leap seconds needed here). */
function iso(micros: number): string {
  const ms = Math.floor(micros / 1000);
  const text = new Date(ms).toISOString(); // YYYY-MM-DDThh:mm:ss.mmmZ for years 0–9999
  return text.slice(0, 23) + String(micros - ms * 1000).padStart(3, "0") + "Z";
}

/** A copy of `value` with object keys in the given order (others after, as found). */
function ordered(value: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (Object.hasOwn(value, k)) out[k] = value[k];
  for (const k of Object.keys(value)) if (!Object.hasOwn(out, k)) out[k] = value[k];
  return out;
}

/** The measurement in envelope key order, nested objects too. */
function canonical(kind: string, measurement: Record<string, unknown>): Record<string, unknown> {
  const out = ordered(measurement, MEASUREMENT_KEYS[kind] ?? []);
  for (const [k, keys] of Object.entries(NESTED_KEYS)) {
    const v = out[k];
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      out[k] = ordered(v as Record<string, unknown>, keys);
    }
  }
  return out;
}

/**
 * The id of SPEC §2, computed here with node's SHA-256 from the formula:
 * `kind|sensor|(norad ?? id ?? "")|t_obs|JSON(measurement in envelope order)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { specId } from "./_oracle.ts";
 * import { observationId } from "../../envelope/observation_id.ts";
 *
 * const o = {
 *   kind: "optical" as const, sensor: "S", target: { norad: 1, id: "1" },
 *   t_obs: "2026-11-25T12:00:00.000000Z", measurement: { dec_deg: 2, ra_deg: 1, frame: "J2000" },
 * };
 * assert.equal(specId(o), observationId(o));
 * ```
 */
export function specId(o: {
  kind: string;
  sensor: string;
  target: { norad: number | null; id: string | null };
  t_obs: string;
  measurement: object;
}): string {
  const target = o.target.norad ?? o.target.id ?? "";
  const text = o.kind + "|" + o.sensor + "|" + target + "|" + o.t_obs + "|" +
    JSON.stringify(canonical(o.kind, o.measurement as Record<string, unknown>));
  return createHash("sha256").update(text, "utf8").digest("hex").slice(0, 32);
}

/** Equal as JSON values: key order ignored, -0 equal to 0. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of ka) {
    if (!Object.hasOwn(b, k)) return false;
    if (!sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) {
      return false;
    }
  }
  return true;
}

/** Whether `keys` appear in the order `order` gives them. */
function inOrder(keys: readonly string[], order: readonly string[]): boolean {
  let last = -1;
  for (const k of keys) {
    const at = order.indexOf(k);
    if (at < 0) continue;
    if (at < last) return false;
    last = at;
  }
  return true;
}

function firstIssue(error: { issues: { path: PropertyKey[]; message: string }[] }): string {
  const issue = error.issues[0];
  return `${issue.path.map(String).join(".")}: ${issue.message}`;
}

/** What the oracle needs to know about the decoding it judges. */
export interface Judged {
  /** The context the decoder was given. */
  ctx: DecodeContext;
  /** The receive time the context's clock gives, µs (non-deterministic contexts). */
  now: number;
}

/** Problems with one observation. */
export function checkObservation(o: unknown, judged: Judged, problems: string[]): void {
  const parsed = ObservationSchema.safeParse(o);
  if (!parsed.success) {
    problems.push(
      `Observation fails ObservationSchema (${firstIssue(parsed.error)}): ${preview(o)}`,
    );
    return;
  }
  const obs = parsed.data;
  const { ctx } = judged;
  const id = specId(obs);
  if (obs.id !== id) {
    problems.push(`Observation id ${obs.id} does not recompute (expected ${id}): ${preview(o)}`);
  }
  // Key order matters only on the wire: checked on the serialized line below.
  const keys = MEASUREMENT_KEYS[obs.kind];
  const p = obs.provenance;
  if (p.source !== ctx.source || p.transport !== ctx.transport || p.peer !== ctx.peer) {
    problems.push(`Observation provenance does not name its context: ${preview(p)}`);
  }
  if ((p.client ?? undefined) !== ctx.client) {
    problems.push(`Observation provenance.client is ${p.client}, the context's is ${ctx.client}`);
  }
  // SPEC §14: t_obs between 1957-10-04 and one day after receipt (replay: its start).
  if (obs.t_obs < EARLIEST) problems.push(`Observation t_obs ${obs.t_obs} is before 1957-10-04`);
  const reference = ctx.deterministic ? ctx.startedAt : judged.now;
  if (reference !== undefined && obs.t_obs > iso(reference + DAY_US)) {
    problems.push(`Observation t_obs ${obs.t_obs} is more than one day after ${iso(reference)}`);
  }
  if (ctx.deterministic ? obs.t_rx !== obs.t_obs : obs.t_rx !== iso(judged.now)) {
    problems.push(`Observation t_rx ${obs.t_rx} is not the receive time`);
  }
  let line: string;
  try {
    line = serializeObservation(obs);
  } catch (error) {
    problems.push(`serializeObservation() threw: ${describe(error)}`);
    return;
  }
  let back: Record<string, unknown>;
  try {
    back = JSON.parse(line);
  } catch (error) {
    problems.push(
      `serializeObservation() wrote invalid JSON (${describe(error)}): ${line.slice(0, 200)}`,
    );
    return;
  }
  if (line.includes("\n")) problems.push("serializeObservation() wrote a line break");
  if (!sameJson(back, obs)) {
    problems.push(`serializeObservation() changed the observation: ${line.slice(0, 300)}`);
  }
  const m = back.measurement as Record<string, unknown>;
  const prov = back.provenance as Record<string, unknown>;
  if (
    !inOrder(Object.keys(back), TOP_KEYS) || !inOrder(Object.keys(m), keys) ||
    !inOrder(Object.keys(prov), PROVENANCE_KEYS)
  ) {
    problems.push(`Serialized keys are not in envelope order: ${line.slice(0, 300)}`);
  }
}

/** A raw taken apart: what it kept, and whether (and from how much) it was cut. */
export interface RawParts {
  /** The text kept (text raws). */
  text?: string;
  /** The bytes kept (binary raws). */
  bytes?: Uint8Array;
  /** Bytes kept (UTF-8 for text). */
  kept: number;
  /** Whether it ends in `…(N bytes)`. */
  cut: boolean;
  /** N of the suffix: the size of the whole input it stands for (else `kept`). */
  size: number;
}

const utf8 = new TextEncoder();

/**
 * Takes a raw apart (SPEC §3): text, or `{ base64 }`, either followed by
 * `…(N bytes)` when cut. Throws a `SyntaxError` for base64 that is not.
 */
export function rawParts(raw: string | { base64: string }): RawParts {
  const text = typeof raw === "string" ? raw : raw.base64;
  const suffix = CUT_SUFFIX.exec(text);
  const body = suffix ? text.slice(0, suffix.index) : text;
  if (typeof raw === "string") {
    const kept = utf8.encode(body).length;
    return { text: body, kept, cut: suffix !== null, size: suffix ? Number(suffix[1]) : kept };
  }
  let binary: string;
  try {
    binary = atob(body);
  } catch {
    throw new SyntaxError(`Dead letter raw is not base64: ${preview(raw)}`);
  }
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return {
    bytes,
    kept: bytes.length,
    cut: suffix !== null,
    size: suffix ? Number(suffix[1]) : bytes.length,
  };
}

/** Problems with one dead letter of `format`. */
export function checkDeadLetter(
  d: unknown,
  judged: Judged,
  formats: readonly string[],
  problems: string[],
): void {
  const parsed = DeadLetterSchema.safeParse(d);
  if (!parsed.success) {
    problems.push(
      `Dead letter fails DeadLetterSchema (${firstIssue(parsed.error)}): ${preview(d)}`,
    );
    return;
  }
  const dl = parsed.data;
  const { ctx } = judged;
  if (dl.source !== ctx.source || dl.peer !== ctx.peer || !formats.includes(dl.format)) {
    problems.push(`Dead letter does not name its context: ${preview({ ...dl, raw: undefined })}`);
  }
  if (ctx.deterministic ? dl.t_rx !== EPOCH : dl.t_rx !== iso(judged.now)) {
    problems.push(`Dead letter t_rx ${dl.t_rx} is not the receive time`);
  }
  // SPEC §3: at most 1 KiB of raw, then "…(N bytes)" with N the whole size.
  let raw: RawParts;
  try {
    raw = rawParts(dl.raw);
  } catch (error) {
    problems.push((error as Error).message);
    return;
  }
  if (raw.kept > RAW_CAP) {
    problems.push(
      `Dead letter raw holds ${raw.kept} bytes, more than ${RAW_CAP}: ${dl.reason.slice(0, 200)}`,
    );
  }
  if (raw.cut && raw.size <= raw.kept) {
    problems.push(`Dead letter raw says it was cut from ${raw.size} bytes but keeps ${raw.kept}`);
  }
  // Like raw, what the sender controls must not make a dead letter an amplifier.
  if (dl.reason.length > RAW_CAP) {
    problems.push(
      `Dead letter reason is ${dl.reason.length} characters long: ${dl.reason.slice(0, 100)}…`,
    );
  }
  if (dl.ref !== undefined && dl.ref.length > RAW_CAP) {
    problems.push(`Dead letter ref is ${dl.ref.length} characters long: ${dl.ref.slice(0, 100)}…`);
  }
  let line: string;
  try {
    line = serializeDeadLetter(dl);
  } catch (error) {
    problems.push(`serializeDeadLetter() threw: ${describe(error)}`);
    return;
  }
  let back: Record<string, unknown>;
  try {
    back = JSON.parse(line);
  } catch (error) {
    problems.push(`serializeDeadLetter() wrote invalid JSON (${describe(error)})`);
    return;
  }
  if (line.includes("\n")) problems.push("serializeDeadLetter() wrote a line break");
  if (!sameJson(back, dl)) {
    problems.push(`serializeDeadLetter() changed the dead letter: ${line.slice(0, 300)}`);
  }
  if (!inOrder(Object.keys(back), DEAD_LETTER_KEYS)) {
    problems.push("Serialized dead letter keys out of order");
  }
}

/** Every output is checked up to this many of each kind, then one in {@link SAMPLE_EVERY}. */
const CHECK_ALL = 1000;
const SAMPLE_EVERY = 10;
/** Problems kept per input: the first few tell the story. */
const MAX_PROBLEMS = 20;

/**
 * Checks the observations and dead letters of one decoding: all of them up
 * to a thousand of each, then one in ten — an input that makes 30,000 dead
 * letters makes them all alike, and checking each would turn a second of
 * decoding into ten of checking.
 */
export function checkOutputs(
  observations: readonly unknown[],
  deadLetters: readonly unknown[],
  judged: Judged,
  formats: readonly string[],
  problems: string[],
): void {
  for (let i = 0; i < observations.length && problems.length < MAX_PROBLEMS; i++) {
    if (i < CHECK_ALL || i % SAMPLE_EVERY === 0) {
      checkObservation(observations[i], judged, problems);
    }
  }
  for (let i = 0; i < deadLetters.length && problems.length < MAX_PROBLEMS; i++) {
    if (i < CHECK_ALL || i % SAMPLE_EVERY === 0) {
      checkDeadLetter(deadLetters[i], judged, formats, problems);
    }
  }
}

/** A short JSON preview of a value for a problem message. */
export function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 300 ? text.slice(0, 297) + "..." : text;
}
