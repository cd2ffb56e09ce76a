/**
 * One archive row (CSV record or JSON object, already split into field
 * slots) → one optical Observation, validated and mapped as SPEC §5 says.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Meta, OpticalMeasurement, OpticalObservation } from "../../envelope/observation.ts";
import { observationId } from "../../envelope/observation_id.ts";
import { textRaw } from "../../envelope/raw.ts";
import { formatTimestamp, NoLeapSecondError, parseTimestamp } from "../../envelope/time.ts";
import { internalErrorReason } from "../../operators/internal_error.ts";
import {
  admissionProblem,
  type DecodeContext,
  makeDeadLetter,
  receiveTime,
} from "../decode_context.ts";
import {
  DATA_MODE,
  DECLINATION,
  DECLINATION_UNC,
  FIELD_COUNT,
  FIELD_NAMES,
  ID,
  ID_SENSOR,
  MAG,
  MAG_UNC,
  numberFailure,
  OB_TIME,
  ORIG_OBJECT_ID,
  plainNumber,
  RA,
  RA_UNC,
  REFERENCE_FRAME,
  RowFailure,
  SAT_NO,
  SENALT,
  SENLAT,
  SENLON,
  show,
  SOURCE,
  toNorad,
  toText,
  UCT,
} from "./_fields.ts";

/** Required by SPEC §5, in the order they are checked. */
const REQUIRED = [ID, OB_TIME, ID_SENSOR, RA, DECLINATION];

/** Number fields (the first two required), in envelope order. */
const NUMBERS = [RA, DECLINATION, RA_UNC, DECLINATION_UNC, MAG, MAG_UNC, SENLAT, SENLON, SENALT];

/**
 * Most characters a row may hold in its values and unknown field names
 * together (numbers counted as 24, booleans as 5): a larger row is a
 * `decoding` dead letter. Every optical record therefore serialises to at
 * most ~400 KiB (6 bytes per character at worst, as `\u0000`), below
 * NATS's default `max_payload` (1 MiB) and the log reader's record limit
 * (16 MiB); a real UDL EO observation holds a few KiB. Without it, one
 * 20 MB cell became one 20 MB record that `tail` could not read past.
 */
export const MAX_ROW_CHARS = 65_536;

/** Format of the wire page. */
export type OpticalFormat = "udl-eo-csv" | "udl-eo-json";

/**
 * Maps the rows of one page. The page's receive time, `t_rx` text and the
 * `provenance.meta` objects are shared by its rows: rows with equal meta
 * values get the very same object, so the serializer's cache formats it
 * once per page.
 */
export class RowMapper {
  /** Observations of the page, in row order. */
  readonly observations: OpticalObservation[] = [];
  /** Dead letters of the page, in row order. */
  readonly deadLetters: DeadLetter[] = [];
  /** Slot values of the current row (undefined = absent). */
  readonly values: unknown[] = new Array(FIELD_COUNT).fill(undefined);
  /** Names of the current row's unknown fields. */
  readonly extraNames: string[] = [];
  /** Values of the current row's unknown fields (strings, numbers, booleans). */
  readonly extraValues: (string | number | boolean)[] = [];

  readonly #ctx: DecodeContext;
  readonly #format: OpticalFormat;
  readonly #receivedAt: number;
  readonly #tRx: string | undefined;
  readonly #metas = new Map<string, Meta>();
  readonly #numbers = new Float64Array(FIELD_COUNT);
  /** Per slot, the last number text seen and its value. */
  readonly #lastText: unknown[] = new Array(FIELD_COUNT).fill(undefined);
  readonly #lastNumber = new Float64Array(FIELD_COUNT);
  #lastMeta: Meta | undefined;
  /** uct, dataMode, source, then name, value of each unknown field, of #lastMeta. */
  readonly #lastValues: unknown[] = [];

  constructor(ctx: DecodeContext, format: OpticalFormat) {
    this.#ctx = ctx;
    this.#format = format;
    this.#receivedAt = receiveTime(ctx);
    this.#tRx = ctx.deterministic ? undefined : formatTimestamp(this.#receivedAt);
  }

  /** Clears the current row. */
  reset(): void {
    // A plain loop: measurably faster than fill() on this generic array.
    const values = this.values;
    for (let i = 0; i < FIELD_COUNT; i++) values[i] = undefined;
    this.extraNames.length = 0;
    this.extraValues.length = 0;
  }

  /**
   * Maps the current row to an observation; returns why it failed instead,
   * so the caller extracts the row's raw text only for a bad row.
   */
  map(): RowFailure | undefined {
    let result: OpticalObservation | RowFailure;
    try {
      const size = this.#size();
      result = size > MAX_ROW_CHARS
        ? new RowFailure(
          "decoding",
          `Record too large: its values and unknown field names hold ${size} characters, more than ${MAX_ROW_CHARS}`,
        )
        : this.#build();
    } catch (error) {
      // The guard (SPEC §3): a bug, not a bad row; the row's dead letter
      // says so, and the next row starts afresh (reset() clears the slots).
      return new RowFailure("decoding", internalErrorReason("mapping a row", error));
    }
    if (result instanceof RowFailure) return result;
    this.observations.push(result);
  }

  /** The dead letter of the current row, which failed for `failure`. */
  reject(failure: RowFailure, raw: string): void {
    const id = this.values[ID];
    this.fail(
      failure.stage,
      failure.reason,
      raw,
      typeof id === "string" ? id : typeof id === "number" ? String(id) : undefined,
    );
  }

  /**
   * A dead letter for input that is not a row at all (bad page, bad record
   * shape); `size`, the bytes of the whole input when `raw` is only its
   * beginning.
   */
  fail(
    stage: "decoding" | "validation",
    reason: string,
    raw: string,
    ref?: string,
    size?: number,
  ): void {
    this.deadLetters.push(
      makeDeadLetter(this.#ctx, this.#format, {
        stage,
        reason,
        raw: textRaw(raw, size),
        ref,
        receivedAt: this.#receivedAt,
      }),
    );
  }

  /** Characters of the current row's values and unknown field names (see {@link MAX_ROW_CHARS}). */
  #size(): number {
    let size = 0;
    const values = this.values;
    for (let i = 0; i < FIELD_COUNT; i++) size += chars(values[i]);
    const names = this.extraNames;
    const extras = this.extraValues;
    for (let k = 0; k < names.length; k++) size += names[k].length + chars(extras[k]);
    return size;
  }

  #build(): OpticalObservation | RowFailure {
    const v = this.values;
    for (let k = 0; k < REQUIRED.length; k++) {
      if (v[REQUIRED[k]] === undefined) {
        return new RowFailure("validation", `Missing required field: ${FIELD_NAMES[REQUIRED[k]]}`);
      }
    }
    const id = toText(v[ID], "id");
    if (id instanceof RowFailure) return id;
    const sensor = toText(v[ID_SENSOR], "idSensor");
    if (sensor instanceof RowFailure) return sensor;

    // Numbers first (decoding), then ranges (validation), so that a row
    // with both kinds of fault reports the more basic one.
    const numbers = this.#numbers;
    for (let k = 0; k < NUMBERS.length; k++) {
      const slot = NUMBERS[k];
      const value = v[slot];
      if (value === undefined) continue;
      const n = this.#number(slot, value);
      if (n !== n) return numberFailure(value, FIELD_NAMES[slot]);
      numbers[slot] = n;
    }
    const ra = numbers[RA];
    const dec = numbers[DECLINATION];
    let norad: number | null = null;
    if (v[SAT_NO] !== undefined) {
      const n = toNorad(v[SAT_NO]);
      if (n instanceof RowFailure) return n;
      norad = n;
    }
    let origId: string | null = null;
    if (v[ORIG_OBJECT_ID] !== undefined) {
      const text = toText(v[ORIG_OBJECT_ID], "origObjectId");
      if (text instanceof RowFailure) return text;
      origId = text;
    }
    let frame = "J2000";
    if (v[REFERENCE_FRAME] !== undefined) {
      const text = toText(v[REFERENCE_FRAME], "referenceFrame");
      if (text instanceof RowFailure) return text;
      frame = text;
    }

    if (!(ra >= 0 && ra < 360)) {
      return new RowFailure("validation", `ra value out of range [0, 360): ${ra}`);
    }
    if (!(dec >= -90 && dec <= 90)) {
      return new RowFailure("validation", `declination value out of range [-90, 90]: ${dec}`);
    }
    const hasLat = v[SENLAT] !== undefined;
    const hasLon = v[SENLON] !== undefined;
    if (hasLat && !(numbers[SENLAT] >= -90 && numbers[SENLAT] <= 90)) {
      return new RowFailure(
        "validation",
        `senlat value out of range [-90, 90]: ${numbers[SENLAT]}`,
      );
    }
    if (hasLon && !(numbers[SENLON] >= -180 && numbers[SENLON] < 360)) {
      return new RowFailure(
        "validation",
        `senlon value out of range [-180, 360): ${numbers[SENLON]}`,
      );
    }
    const obTime = v[OB_TIME];
    let tObs: string;
    if (typeof obTime !== "string") {
      return new RowFailure("validation", `Cannot parse obTime as a UTC instant: ${show(obTime)}`);
    }
    try {
      const micros = parseTimestamp(obTime);
      // The archive's usual form is already the envelope's: skip formatting.
      tObs = isCanonical(obTime) ? obTime : formatTimestamp(micros);
    } catch (error) {
      // Second 60 on a day without a leap second is `decoding` in every
      // feed (SPEC §14); any other bad instant is §5's `validation`.
      return new RowFailure(
        error instanceof NoLeapSecondError ? "decoding" : "validation",
        error instanceof RangeError
          ? `obTime is not a valid instant: ${error.message}`
          : `Cannot parse obTime as a UTC instant: ${show(obTime)}`,
      );
    }

    const measurement: OpticalMeasurement = { ra_deg: ra, dec_deg: dec, frame };
    if (v[RA_UNC] !== undefined) measurement.ra_unc_deg = numbers[RA_UNC];
    if (v[DECLINATION_UNC] !== undefined) measurement.dec_unc_deg = numbers[DECLINATION_UNC];
    if (v[MAG] !== undefined) measurement.mag = numbers[MAG];
    if (v[MAG_UNC] !== undefined) measurement.mag_unc = numbers[MAG_UNC];
    if (hasLat && hasLon && v[SENALT] !== undefined) {
      measurement.site = {
        lat_deg: numbers[SENLAT],
        lon_deg: numbers[SENLON],
        alt_km: numbers[SENALT],
      };
    }

    const meta = this.#meta();
    if (meta instanceof RowFailure) return meta;
    const ctx = this.#ctx;
    const problem = admissionProblem(ctx, sensor, tObs, this.#receivedAt);
    if (problem !== undefined) return new RowFailure("validation", problem);
    const observation: OpticalObservation = {
      v: 1,
      id: "",
      kind: "optical",
      t_obs: tObs,
      t_rx: this.#tRx ?? tObs,
      sensor,
      target: {
        norad,
        id: origId ?? (norad === null ? null : String(norad)),
      },
      measurement,
      // Two literals, so that each keeps one object shape (SPEC §15: client
      // only for authenticated input).
      provenance: ctx.client === undefined
        ? {
          source: ctx.source,
          format: this.#format,
          transport: ctx.transport,
          peer: ctx.peer,
          ref: id,
          time_system: "UTC",
          meta,
        }
        : {
          source: ctx.source,
          format: this.#format,
          transport: ctx.transport,
          peer: ctx.peer,
          client: ctx.client,
          ref: id,
          time_system: "UTC",
          meta,
        },
    };
    observation.id = ctx.deferIds ? "" : observationId(observation);
    return observation;
  }

  /**
   * `provenance.meta`: `uct`, `dataMode`, `source`, then the unknown
   * fields in page order. CSV `uct` cells `true`/`false` become booleans,
   * as UDL's JSON has them; every other CSV cell stays text, because CSV
   * carries no types and turning `"00123"` into `123` would lose data.
   */
  #meta(): Meta | RowFailure {
    const v = this.values;
    let uct = v[UCT];
    if (typeof uct === "string") {
      const lower = uct.toLowerCase();
      if (lower === "true") uct = true;
      else if (lower === "false") uct = false;
    } else if (
      uct !== undefined && typeof uct !== "boolean" &&
      (typeof uct !== "number" || !Number.isFinite(uct))
    ) {
      return new RowFailure("decoding", `Cannot read uct value as a boolean: ${show(uct)}`);
    }
    let dataMode: string | undefined;
    if (v[DATA_MODE] !== undefined) {
      const text = toText(v[DATA_MODE], "dataMode");
      if (text instanceof RowFailure) return text;
      dataMode = text;
    }
    let source: string | undefined;
    if (v[SOURCE] !== undefined) {
      const text = toText(v[SOURCE], "source");
      if (text instanceof RowFailure) return text;
      source = text;
    }
    const names = this.extraNames;
    const values = this.extraValues;
    for (let k = 0; k < values.length; k++) {
      const value = values[k];
      // JSON.parse reads 1e309 as Infinity, which no JSON can carry (SPEC §2).
      if (typeof value === "number" && !Number.isFinite(value)) {
        return new RowFailure(
          "decoding",
          `Cannot read ${names[k]} value as a finite number: ${value}`,
        );
      }
    }
    // Rows of a page nearly always repeat the previous row's meta.
    const last = this.#lastMeta;
    if (last !== undefined && this.#sameAsLast(uct, dataMode, source)) return last;
    let key = "";
    if (uct !== undefined) key += typeof uct + uct;
    key += "\u0001";
    if (dataMode !== undefined) key += dataMode;
    key += "\u0001";
    if (source !== undefined) key += source;
    for (let k = 0; k < names.length; k++) {
      const value = values[k];
      key += "\u0001" + names[k] + "\u0000" + typeof value + value;
    }
    let meta = this.#metas.get(key);
    if (meta === undefined) {
      meta = {};
      if (uct !== undefined) meta.uct = uct as boolean | string | number;
      if (dataMode !== undefined) meta.dataMode = dataMode;
      if (source !== undefined) meta.source = source;
      for (let k = 0; k < names.length; k++) {
        // An own property even for a column called "__proto__".
        Object.defineProperty(meta, names[k], {
          value: values[k],
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      this.#metas.set(key, meta);
    }
    const lastValues = this.#lastValues;
    lastValues.length = 0;
    lastValues.push(uct, dataMode, source);
    for (let k = 0; k < names.length; k++) lastValues.push(names[k], values[k]);
    this.#lastMeta = meta;
    return meta;
  }

  /**
   * A number field's value, NaN when it is not a number. Sensor coordinates
   * and uncertainties repeat from row to row, so the last text of each
   * field is remembered and not converted again.
   */
  #number(slot: number, value: unknown): number {
    // JSON.parse reads 1e309 as Infinity: not a number an envelope may hold.
    if (typeof value === "number") return Number.isFinite(value) ? value : NaN;
    if (typeof value !== "string") return NaN;
    if (value === this.#lastText[slot]) return this.#lastNumber[slot];
    const n = plainNumber(value);
    if (n === n) {
      this.#lastText[slot] = value;
      this.#lastNumber[slot] = n;
    }
    return n;
  }

  #sameAsLast(uct: unknown, dataMode: unknown, source: unknown): boolean {
    const last = this.#lastValues;
    const names = this.extraNames;
    const values = this.extraValues;
    if (last.length !== 3 + 2 * names.length) return false;
    if (last[0] !== uct || last[1] !== dataMode || last[2] !== source) return false;
    for (let k = 0, j = 3; k < names.length; k++, j += 2) {
      if (last[j] !== names[k] || last[j + 1] !== values[k]) return false;
    }
    return true;
  }
}

/** A value's characters as {@link MAX_ROW_CHARS} counts them. */
function chars(value: unknown): number {
  return typeof value === "string"
    ? value.length
    : value === undefined
    ? 0
    : typeof value === "boolean"
    ? 5
    : 24;
}

/** `YYYY-MM-DDThh:mm:ss.ffffffZ`, given that it already parsed. */
function isCanonical(text: string): boolean {
  return text.length === 27 && text.charCodeAt(10) === 84 && text.charCodeAt(19) === 46 &&
    text.charCodeAt(26) === 90;
}
