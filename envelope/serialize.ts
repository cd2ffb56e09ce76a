/**
 * The one serializer of the project: every sink writes observations and dead
 * letters through these functions, so the key order on the wire is always the
 * envelope order of SPEC §2 and §3, whatever order the object was built in.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "./dead_letter.ts";
import type { Observation, ObservationKind } from "./observation.ts";

const str = JSON.stringify;

/**
 * Key order of each measurement (SPEC §4–§6) and of its nested objects: the
 * one table both the canonical copy and the JSON writer follow.
 */
const MEASUREMENT_KEYS: Record<ObservationKind, readonly string[]> = {
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
/** `"key":` for every key above, made once. */
const KEY_JSON = new Map<string, string>();
for (const keys of [...Object.values(MEASUREMENT_KEYS), ...Object.values(NESTED_KEYS)]) {
  for (const key of keys) KEY_JSON.set(key, str(key) + ":");
}

/**
 * JSON of provenance, by its `meta` object: one entry per TDM segment or
 * archive page, which share one meta object. Observations are treated as
 * immutable once built (no stage changes a record after its id was
 * computed), which is what makes caching by object identity sound.
 */
const provenanceJson = new WeakMap<object, {
  source: string;
  format: string;
  transport: string;
  peer: string;
  time_system: string;
  head: string;
  tail: string;
}>();

/** JSON of one value of a measurement: numbers (finite by schema), strings, vectors, maps. */
function valueJson(key: string, value: unknown): string {
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "null";
  if (typeof value === "string" || value === null || typeof value === "boolean") {
    return str(value);
  }
  if (Array.isArray(value)) {
    let out = "[";
    for (let i = 0; i < value.length; i++) out += (i ? "," : "") + valueJson("", value[i]);
    return out + "]";
  }
  const nested = NESTED_KEYS[key];
  return nested ? objectJson(value as Record<string, unknown>, nested) : str(value);
}

/** `{...}` with `keys` in order, absent (undefined) ones left out. */
function objectJson(value: Record<string, unknown>, keys: readonly string[]): string {
  let out = "{";
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    const v = value[key];
    if (v === undefined) continue;
    out += (out.length > 1 ? "," : "") + KEY_JSON.get(key) + valueJson(key, v);
  }
  return out + "}";
}

/**
 * The canonical JSON of a measurement (keys in envelope order), written
 * directly from the key table. It is made twice per observation (for its id,
 * then for the log line): caching it in a WeakMap by measurement object was
 * measured slower end to end — every entry is an ephemeron the garbage
 * collector must process (radar: 103k vs 130k obs/s, scavenges 2–3× longer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { measurementJson } from "./serialize.ts";
 *
 * assert.equal(measurementJson("isl", { observer: { frame: "GCRF", norad: 7 } }),
 *   '{"observer":{"norad":7,"frame":"GCRF"}}');
 * ```
 */
export function measurementJson(
  kind: ObservationKind,
  measurement: Observation["measurement"],
): string {
  const keys = MEASUREMENT_KEYS[kind];
  if (keys === undefined) throw new TypeError(`Unknown observation kind: "${kind}"`);
  return objectJson(measurement as Record<string, unknown>, keys);
}

function ordered(value: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of keys) {
    const v = value[key];
    if (v === undefined) continue;
    const nested = NESTED_KEYS[key];
    out[key] = nested && v !== null && typeof v === "object" && !Array.isArray(v)
      ? ordered(v as Record<string, unknown>, nested)
      : v;
  }
  return out;
}

/**
 * A copy of a measurement with its keys in envelope order (SPEC §4–§6).
 * Absent keys stay absent; the free-form `other` map keeps its own (arrival)
 * order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canonicalMeasurement } from "./serialize.ts";
 *
 * const m = canonicalMeasurement("optical", { frame: "J2000", dec_deg: 1, ra_deg: 2 });
 * assert.equal(JSON.stringify(m), '{"ra_deg":2,"dec_deg":1,"frame":"J2000"}');
 * ```
 */
export function canonicalMeasurement<K extends ObservationKind>(
  kind: K,
  measurement: Extract<Observation, { kind: K }>["measurement"],
): Extract<Observation, { kind: K }>["measurement"];
export function canonicalMeasurement(
  kind: ObservationKind,
  measurement: Observation["measurement"],
): Observation["measurement"] {
  const keys = MEASUREMENT_KEYS[kind];
  if (keys === undefined) throw new TypeError(`Unknown observation kind: "${kind}"`);
  return ordered(measurement as Record<string, unknown>, keys) as Observation["measurement"];
}

/**
 * One observation as compact JSON, keys in envelope order, without a
 * trailing newline. Written by concatenation rather than by building a
 * canonical copy and stringifying it: this is the log's hot path.
 *
 * @example Keys come out in envelope order
 * ```ts
 * import assert from "node:assert/strict";
 * import { serializeObservation } from "./serialize.ts";
 *
 * const line = serializeObservation({
 *   provenance: {
 *     meta: { apid: 12, seq: 7 }, time_system: "TAI", ref: "42", peer: "127.0.0.1:7003",
 *     transport: "udp", format: "isl-spp", source: "isl",
 *   },
 *   measurement: { observer: { norad: 25544, frame: "GCRF" }, range_km: 812.5 },
 *   target: { id: null, norad: null },
 *   sensor: "isl:25544",
 *   t_rx: "2026-11-25T12:00:01.000000Z",
 *   t_obs: "2026-11-25T12:00:00.000000Z",
 *   kind: "isl",
 *   id: "00112233445566778899aabbccddeeff",
 *   v: 1,
 * });
 * assert.ok(line.startsWith('{"v":1,"id":"00112233445566778899aabbccddeeff","kind":"isl","t_obs"'));
 * assert.ok(line.includes('"measurement":{"range_km":812.5,"observer":{"norad":25544,"frame":"GCRF"}}'));
 * ```
 */
export function serializeObservation(o: Observation): string {
  const p = o.provenance;
  const t = o.target;
  // Everything of the provenance but `ref` is the same for a whole TDM
  // segment or archive page, which share one meta object: its JSON is made
  // once per meta object (and remade if a field differs).
  let cached = provenanceJson.get(p.meta);
  if (
    cached === undefined || cached.source !== p.source || cached.peer !== p.peer ||
    cached.format !== p.format || cached.transport !== p.transport ||
    cached.time_system !== p.time_system
  ) {
    cached = {
      source: p.source,
      format: p.format,
      transport: p.transport,
      peer: p.peer,
      time_system: p.time_system,
      head: ',"provenance":{"source":' + str(p.source) + ',"format":' + str(p.format) +
        ',"transport":' + str(p.transport) + ',"peer":' + str(p.peer) + ',"ref":',
      tail: ',"time_system":' + str(p.time_system) + ',"meta":' + str(p.meta) + "}}",
    };
    provenanceJson.set(p.meta, cached);
  }
  return '{"v":' + str(o.v) + ',"id":' + str(o.id) + ',"kind":' + str(o.kind) +
    ',"t_obs":' + str(o.t_obs) + ',"t_rx":' + str(o.t_rx) + ',"sensor":' + str(o.sensor) +
    ',"target":{"norad":' + (t.norad === null ? "null" : valueJson("", t.norad)) + ',"id":' +
    str(t.id) + '},"measurement":' + measurementJson(o.kind, o.measurement) + cached.head +
    str(p.ref) + cached.tail;
}

/**
 * One dead letter as compact JSON, keys in wire order (SPEC §3).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serializeDeadLetter } from "./serialize.ts";
 *
 * const line = serializeDeadLetter({
 *   raw: { base64: "AAE=" }, reason: "Bad CRC", stage: "framing", peer: "p",
 *   format: "isl-spp", source: "isl", t_rx: "1970-01-01T00:00:00.000000Z", v: 1,
 * });
 * assert.equal(
 *   line,
 *   '{"v":1,"t_rx":"1970-01-01T00:00:00.000000Z","source":"isl","format":"isl-spp","peer":"p","stage":"framing","reason":"Bad CRC","raw":{"base64":"AAE="}}',
 * );
 * ```
 */
export function serializeDeadLetter(d: DeadLetter): string {
  return JSON.stringify({
    v: d.v,
    t_rx: d.t_rx,
    source: d.source,
    format: d.format,
    peer: d.peer,
    stage: d.stage,
    reason: d.reason,
    ref: d.ref,
    raw: typeof d.raw === "string" ? d.raw : { base64: d.raw.base64 },
  });
}
