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
import type {
  IslMeasurement,
  Observation,
  ObservationKind,
  OpticalMeasurement,
  RadarMeasurement,
} from "./observation.ts";

const str = JSON.stringify;

/** The provenance JSON around `ref`, for one meta object. */
interface ProvenanceJson {
  meta: object | undefined;
  source: string;
  format: string;
  transport: string;
  peer: string;
  client: string | undefined;
  time_system: string;
  head: string;
  tail: string;
}

/**
 * A few recently used provenance JSONs, by meta object identity, reused
 * round-robin. Observations of one TDM segment or archive page share one meta
 * object and arrive together, so a handful of slots catches nearly every
 * repeat. Not a WeakMap: when every observation has its own meta (ISL beacons
 * carry their sequence count), a WeakMap entry per record was measured to
 * grow the heap to over 1 GB in a 10-million replay — each entry is an
 * ephemeron the garbage collector must trace.
 */
const PROVENANCE_SLOTS = 4;
const provenanceSlots: ProvenanceJson[] = Array.from({ length: PROVENANCE_SLOTS }, () => ({
  meta: undefined,
  source: "",
  format: "",
  transport: "",
  peer: "",
  client: undefined,
  time_system: "",
  head: "",
  tail: "",
}));
let nextSlot = 0;
/** The slot filled last. */
let lastSlot: ProvenanceJson | undefined;

function provenanceJson(p: Observation["provenance"]): ProvenanceJson {
  for (let i = 0; i < PROVENANCE_SLOTS; i++) {
    const slot = provenanceSlots[i];
    if (
      slot.meta === p.meta && slot.source === p.source && slot.peer === p.peer &&
      slot.client === p.client && slot.format === p.format && slot.transport === p.transport &&
      slot.time_system === p.time_system
    ) return slot;
  }
  const slot = provenanceSlots[nextSlot];
  nextSlot = (nextSlot + 1) % PROVENANCE_SLOTS;
  // A miss is mostly a new meta object of the same input (each ISL beacon
  // has its own): the head then is the last slot's.
  const last = lastSlot;
  slot.head = last !== undefined && last.source === p.source && last.format === p.format &&
      last.transport === p.transport && last.peer === p.peer && last.client === p.client
    ? last.head
    : ',"provenance":{"source":' + str(p.source) + ',"format":' + str(p.format) +
      ',"transport":' + str(p.transport) + ',"peer":' + str(p.peer) +
      (p.client === undefined ? "" : ',"client":' + str(p.client)) + ',"ref":';
  slot.meta = p.meta;
  slot.source = p.source;
  slot.format = p.format;
  slot.transport = p.transport;
  slot.peer = p.peer;
  slot.client = p.client;
  slot.time_system = p.time_system;
  slot.tail = ',"time_system":' + TIME_SYSTEM.of(p.time_system) + ',"meta":' + str(p.meta) + "}}";
  lastSlot = slot;
  return slot;
}

// One fixed-shape copy per kind, keys in envelope order (SPEC §4–§6): V8's
// JSON.stringify is fastest on object literals of a single shape and skips
// the undefined (absent) keys — measured ~250 ns per radar measurement
// against ~450 ns for a generic walk over a key table.
function radar(m: RadarMeasurement): RadarMeasurement {
  return {
    range_km: m.range_km,
    range_s: m.range_s,
    range_ru: m.range_ru,
    range_rate_km_s: m.range_rate_km_s,
    doppler_integrated_km_s: m.doppler_integrated_km_s,
    az_deg: m.az_deg,
    el_deg: m.el_deg,
    ra_deg: m.ra_deg,
    dec_deg: m.dec_deg,
    frame: m.frame,
    angle_1_deg: m.angle_1_deg,
    angle_2_deg: m.angle_2_deg,
    angle_type: m.angle_type,
    rcs_m2: m.rcs_m2,
    mag: m.mag,
    other: m.other,
  };
}

function optical(m: OpticalMeasurement): OpticalMeasurement {
  const site = m.site;
  return {
    ra_deg: m.ra_deg,
    dec_deg: m.dec_deg,
    frame: m.frame,
    ra_unc_deg: m.ra_unc_deg,
    dec_unc_deg: m.dec_unc_deg,
    mag: m.mag,
    mag_unc: m.mag_unc,
    site: site === undefined
      ? undefined
      : { lat_deg: site.lat_deg, lon_deg: site.lon_deg, alt_km: site.alt_km },
  };
}

function isl(m: IslMeasurement): IslMeasurement {
  const o = m.observer;
  return {
    range_km: m.range_km,
    range_rate_km_s: m.range_rate_km_s,
    range_sigma_km: m.range_sigma_km,
    observer: { norad: o.norad, frame: o.frame, r_km: o.r_km, v_km_s: o.v_km_s },
  };
}

/**
 * A copy of a measurement with its keys in envelope order (SPEC §4–§6).
 * Absent keys stay absent (`JSON.stringify` omits `undefined`); the free-form
 * `other` map keeps its own (arrival) order.
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
  switch (kind) {
    case "radar":
      return radar(measurement as RadarMeasurement);
    case "optical":
      return optical(measurement as OpticalMeasurement);
    case "isl":
      return isl(measurement as IslMeasurement);
    default:
      throw new TypeError(`Unknown observation kind: "${kind}"`);
  }
}

/**
 * The canonical JSON of a measurement (keys in envelope order). It is made
 * twice per observation (for its id, then for the log line): caching it in a
 * WeakMap by measurement object was measured slower end to end — every entry
 * is an ephemeron the garbage collector must process (radar: 103k vs 130k
 * obs/s, scavenges 2–3× longer).
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
  return str(canonicalMeasurement(kind, measurement));
}

/**
 * The JSONs {@link idMeasurementJson} made last, in order, for
 * {@link serializeObservation} to take again: a decoder computes each
 * observation's id as it makes it, and the batch is serialised right after
 * in the same order (a decode worker does so at once), so the one it looks
 * for is nearly always the oldest one not taken. A plain ring, not a
 * WeakMap (see {@link measurementJson}); a miss only costs the JSON again.
 */
const MEMO_SLOTS = 4096;
const memoMeasurements: (object | undefined)[] = new Array(MEMO_SLOTS).fill(undefined);
const memoJsons: string[] = new Array(MEMO_SLOTS).fill("");
let memoWrite = 0;
let memoRead = 0;
let memoMisses = 0;
/** How far past the oldest not-taken entry a lookup searches. */
const MEMO_LOOKAHEAD = 4;

/**
 * {@link measurementJson}, remembered for the next
 * {@link serializeObservation} of the same measurement object: what
 * `observationId` uses, so the JSON is made once per observation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { idMeasurementJson } from "./serialize.ts";
 *
 * assert.equal(idMeasurementJson("radar", { rcs_m2: 1.5 }), '{"rcs_m2":1.5}');
 * ```
 */
export function idMeasurementJson(
  kind: ObservationKind,
  measurement: Observation["measurement"],
): string {
  const json = measurementJson(kind, measurement);
  memoMeasurements[memoWrite] = measurement;
  memoJsons[memoWrite] = json;
  memoWrite = (memoWrite + 1) & (MEMO_SLOTS - 1);
  return json;
}

/** The remembered JSON of `measurement`, taken (see {@link idMeasurementJson}), or undefined. */
function takeMeasurementJson(measurement: object): string | undefined {
  for (let k = 0; k < MEMO_LOOKAHEAD; k++) {
    const i = (memoRead + k) & (MEMO_SLOTS - 1);
    if (memoMeasurements[i] === measurement) {
      memoMeasurements[i] = undefined;
      memoRead = (i + 1) & (MEMO_SLOTS - 1);
      memoMisses = 0;
      return memoJsons[i];
    }
  }
  // Out of step (observations dropped between id and line, or serialised
  // long after): look from the newest entries on.
  if (++memoMisses >= 16) {
    memoRead = memoWrite;
    memoMisses = 0;
  }
  return undefined;
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
  // segment or archive page, which share one meta object.
  const cached = provenanceJson(p);
  return '{"v":' + VERSION.of(o.v) + ',"id":' + str(o.id) + ',"kind":' + KIND.of(o.kind) +
    ',"t_obs":' + str(o.t_obs) + ',"t_rx":' + RECEIVED.of(o.t_rx) + ',"sensor":' +
    SENSOR.of(o.sensor) + ',"target":{"norad":' + NORAD.of(t.norad) + ',"id":' +
    TARGET_ID.of(t.id) + '},"measurement":' +
    (takeMeasurementJson(o.measurement) ?? measurementJson(o.kind, o.measurement)) + cached.head +
    str(p.ref) + cached.tail;
}

/**
 * The JSON of the value a field had last: consecutive observations of a
 * batch repeat their version, kind, receive time, sensor and target, and
 * `JSON.stringify` of each again took a fifth of a line's time.
 */
class LastJson {
  #value: unknown = undefined;
  #json: string | undefined = undefined;

  of(value: unknown): string {
    if (value !== this.#value || this.#json === undefined) {
      this.#value = value;
      this.#json = str(value);
    }
    return this.#json!;
  }
}

const VERSION = new LastJson();
const KIND = new LastJson();
const RECEIVED = new LastJson();
const SENSOR = new LastJson();
const NORAD = new LastJson();
const TARGET_ID = new LastJson();
const TIME_SYSTEM = new LastJson();

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
