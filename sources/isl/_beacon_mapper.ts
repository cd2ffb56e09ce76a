/**
 * Beacon → Observation envelope (the SPEC §6 mapping table).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { IslMeasurement, IslObservation } from "../../envelope/observation.ts";
import { observationId } from "../../envelope/observation_id.ts";
import type { Stage } from "../../envelope/dead_letter.ts";
import { EPOCH_1958_MICROS, formatTimestamp, taiToUtc } from "../../envelope/time.ts";
import { internalErrorReason } from "../../operators/internal_error.ts";
import { admissionProblem, type DecodeContext } from "../decode_context.ts";
import { type Beacon, BEACON_FLAGS } from "./beacon.ts";

/** One CUC fine-time unit (2^-16 s) is exactly 15.2587890625 µs. */
const MICROS_PER_FINE = 1_000_000 / 65536;

/** Why a sound packet still could not become an observation. */
export interface MappingFailure {
  /** `decoding` (no UTC for the time) or `validation` (a value the envelope forbids). */
  stage: Stage;
  /** Specific and readable. */
  reason: string;
}

const VECTOR_NAMES = ["x", "y", "z"];

type Target = { norad: number | null; id: string | null };

/** Sensor strings and target objects by NORAD number (a handful of satellites). */
const SENSORS = new Map<number, string>();
const TARGETS = new Map<number, Target>();
const NAME_CACHE_MAX = 65536;
const UNCORRELATED: Target = Object.freeze({ norad: null, id: null }) as Target;

function sensorOf(observer: number): string {
  let sensor = SENSORS.get(observer);
  if (sensor === undefined) {
    sensor = "isl:" + observer;
    if (SENSORS.size < NAME_CACHE_MAX) SENSORS.set(observer, sensor);
  }
  return sensor;
}

function targetOf(norad: number): Target {
  if (norad === 0) return UNCORRELATED;
  let target = TARGETS.get(norad);
  if (target === undefined) {
    target = Object.freeze({ norad, id: String(norad) }) as Target;
    if (TARGETS.size < NAME_CACHE_MAX) TARGETS.set(norad, target);
  }
  return target;
}

/**
 * Maps beacons of one source/peer to envelopes. Keeps the formatted second
 * of the last `t_obs`: beacons of an answer are milliseconds apart, so most
 * timestamps only need their six fraction digits written.
 */
export class BeaconMapper {
  #ctx: DecodeContext;
  #second = NaN;
  #prefix = "";
  /** Set when {@link BeaconMapper.map} returns undefined. */
  failure: MappingFailure | undefined;

  constructor(ctx: DecodeContext) {
    this.#ctx = ctx;
  }

  /**
   * The observation of `beacon`, received at `receivedAt` (µs) = `tRx`
   * (formatted; ignored in deterministic mode, where `t_rx` is `t_obs`), or
   * undefined with {@link BeaconMapper.failure} set.
   */
  map(beacon: Beacon, tRx: string, receivedAt: number): IslObservation | undefined {
    try {
      return this.#map(beacon, tRx, receivedAt);
    } catch (error) {
      // The guard (SPEC §3): a bug, not a bad beacon; its dead letter says so.
      return this.#fail("decoding", internalErrorReason("mapping a beacon", error));
    }
  }

  #map(beacon: Beacon, tRx: string, receivedAt: number): IslObservation | undefined {
    // CUC: coarse seconds + fine 2^-16 s since 1958-01-01 TAI; truncated to µs.
    const tai = beacon.coarse * 1_000_000 - EPOCH_1958_MICROS +
      Math.floor(beacon.fine * MICROS_PER_FINE);
    let utc: number;
    try {
      utc = taiToUtc(tai);
    } catch (error) {
      return this.#fail(
        "decoding",
        `Cannot convert CUC time to UTC: ${error instanceof Error ? error.message : error}`,
      );
    }
    const flags = beacon.flags;
    const rangeValid = (flags & BEACON_FLAGS.rangeValid) !== 0;
    const rateValid = (flags & BEACON_FLAGS.rangeRateValid) !== 0;
    const stateValid = (flags & BEACON_FLAGS.stateValid) !== 0;
    if (beacon.observer === 0) {
      return this.#fail(
        "validation",
        "Observer NORAD number is 0: the measuring satellite is unknown",
      );
    }
    if (rangeValid) {
      if (!Number.isFinite(beacon.range_km)) {
        return this.#fail("validation", `Range is not a finite number: ${beacon.range_km}`);
      }
      if (!Number.isFinite(beacon.range_sigma_km)) {
        return this.#fail(
          "validation",
          `Range 1σ is not a finite number: ${beacon.range_sigma_km}`,
        );
      }
    }
    if (rateValid && !Number.isFinite(beacon.range_rate_km_s)) {
      return this.#fail(
        "validation",
        `Range rate is not a finite number: ${beacon.range_rate_km_s}`,
      );
    }
    if (stateValid) {
      const bad = nonFinite(beacon.r_km) ?? nonFinite(beacon.v_km_s);
      if (bad !== undefined) {
        const vector = nonFinite(beacon.r_km) !== undefined ? "position" : "velocity";
        const value = vector === "position" ? beacon.r_km[bad] : beacon.v_km_s[bad];
        return this.#fail(
          "validation",
          `Observer ${vector} ${VECTOR_NAMES[bad]} is not a finite number: ${value}`,
        );
      }
    }
    const observer = stateValid
      ? { norad: beacon.observer, frame: "GCRF" as const, r_km: beacon.r_km, v_km_s: beacon.v_km_s }
      : { norad: beacon.observer, frame: "GCRF" as const };
    // Built per case rather than by deleting keys, so every envelope of a
    // given shape shares one object layout.
    let measurement: IslMeasurement;
    if (rangeValid) {
      measurement = rateValid
        ? {
          range_km: beacon.range_km,
          range_rate_km_s: beacon.range_rate_km_s,
          range_sigma_km: beacon.range_sigma_km,
          observer,
        }
        : { range_km: beacon.range_km, range_sigma_km: beacon.range_sigma_km, observer };
    } else {
      measurement = rateValid
        ? { range_rate_km_s: beacon.range_rate_km_s, observer }
        : { observer };
    }
    const t_obs = this.#format(utc);
    const ctx = this.#ctx;
    const sensor = sensorOf(beacon.observer);
    const problem = admissionProblem(ctx, sensor, t_obs, receivedAt);
    if (problem !== undefined) return this.#fail("validation", problem);
    const ref = String(beacon.index);
    // A fresh meta object per beacon: each has its own link count, so the
    // serializer's few slots miss it anyway. A cache of them by (link,
    // count), up to 131,072 entries, only kept them alive: it grew a decode
    // worker's heap by ~25 MB in the 10 M replay (81-84 MB against 53-60).
    const meta = { apid: beacon.apid, seq: beacon.seq };
    const observation: IslObservation = {
      v: 1,
      id: "",
      kind: "isl",
      t_obs,
      t_rx: ctx.deterministic ? t_obs : tRx,
      sensor,
      target: targetOf(beacon.target),
      measurement,
      // Two literals, so that each keeps one object shape (SPEC §15: client
      // only for authenticated input).
      provenance: ctx.client === undefined
        ? {
          source: ctx.source,
          format: "isl-spp",
          transport: ctx.transport,
          peer: ctx.peer,
          ref,
          time_system: "TAI",
          meta,
        }
        : {
          source: ctx.source,
          format: "isl-spp",
          transport: ctx.transport,
          peer: ctx.peer,
          client: ctx.client,
          ref,
          time_system: "TAI",
          meta,
        },
    };
    observation.id = ctx.deferIds ? "" : observationId(observation);
    this.failure = undefined;
    return observation;
  }

  #fail(stage: Stage, reason: string): undefined {
    this.failure = { stage, reason };
    return undefined;
  }

  #format(micros: number): string {
    // A leap second (half-µs mark, see envelope/time.ts) has no second of its own here.
    if (!Number.isInteger(micros)) return formatTimestamp(micros);
    const second = Math.floor(micros / 1_000_000);
    if (second !== this.#second) {
      this.#second = second;
      // "YYYY-MM-DDThh:mm:ss." — the part shared by every instant of the second.
      this.#prefix = formatTimestamp(second * 1_000_000).slice(0, 20);
    }
    return this.#prefix + String(1_000_000 + (micros - second * 1_000_000)).slice(1) + "Z";
  }
}

function nonFinite(vector: readonly number[]): number | undefined {
  for (let i = 0; i < 3; i++) if (!Number.isFinite(vector[i])) return i;
  return undefined;
}
