/**
 * Plausible ranging beacons for the ISL gateway simulator: satellites of
 * the bundled formation pairs (NORAD 60001/60002 …) ranging each other,
 * observer state and range from SGP4.
 *
 * SGP4 runs twice per link per second of simulated time; beacons in between
 * interpolate linearly (over one second the error is about a metre, below
 * the simulated range noise), so generating 100,000 beacons/s costs little.
 *
 * @module
 */

import { type Beacon, BEACON_FLAGS, encodeBeacon } from "./_isl_wire.ts";
import { EPOCH_1958_MICROS, taiMinusUtcMicros } from "./_tai.ts";
import type { Orbits, StateVector } from "./orbits.ts";
import { mulberry32 } from "./_random.ts";

/** The formation pairs of the bundled catalogue. */
const PAIRS: [number, number][] = [[60001, 60002], [60003, 60004], [60005, 60006], [
  60007,
  60008,
]];

/** Range 1σ per link, km: exact binary fractions so the f32 on the wire reads back as written. */
const SIGMAS = [0.0009765625, 0.00048828125, 0.001953125, 0.000732421875];

interface Direction {
  observer: number;
  target: number;
  /** Last CUC tick used (coarse × 65536 + fine): t_obs strictly increases per direction. */
  lastTick: number;
  /** UTC second of the cached states, and the states at it and one second later. */
  second: number;
  a0?: StateVector;
  a1?: StateVector;
  b0?: StateVector;
  b1?: StateVector;
}

interface Link {
  apid: number;
  direction: Direction;
  seq: number;
  sigma: number;
}

/** Generates beacons for `links` links over the bundled ISL pairs. */
export class BeaconGenerator {
  #orbits: Orbits;
  #links: Link[];
  #random: () => number;
  #spare: number | undefined;

  constructor(orbits: Orbits, links: number, seed: number) {
    if (!Number.isInteger(links) || links < 1 || links > 2046) {
      throw new RangeError(`Links must be an integer in 1–2046: ${links}`);
    }
    this.#orbits = orbits;
    this.#random = mulberry32(seed);
    // Links 1–8 are the eight directions of the four pairs; more links share them.
    const directions: Direction[] = [];
    for (const [a, b] of PAIRS) {
      directions.push(
        { observer: a, target: b, lastTick: -1, second: NaN },
        { observer: b, target: a, lastTick: -1, second: NaN },
      );
    }
    this.#links = Array.from({ length: links }, (_, i) => ({
      apid: i + 1,
      direction: directions[i % directions.length],
      seq: Math.floor(this.#random() * 16384),
      sigma: SIGMAS[i % SIGMAS.length],
    }));
  }

  /** Number of links. */
  get links(): number {
    return this.#links.length;
  }

  /** Makes the next beacon of link `apid` skip `count` sequence counts (a link gap). */
  skip(apid: number, count: number): void {
    const link = this.#link(apid);
    link.seq = (link.seq + count) % 16384;
  }

  /** Sets the next sequence count of link `apid`. */
  setSequence(apid: number, seq: number): void {
    this.#link(apid).seq = seq % 16384;
  }

  /**
   * Writes the beacon of link `apid` measured at `utcMicros` with gateway
   * `index` into `target` at `offset`; returns its fields.
   */
  write(
    apid: number,
    utcMicros: number,
    index: number,
    target: Uint8Array,
    offset: number,
  ): Beacon {
    const link = this.#link(apid);
    const direction = link.direction;
    // µs since 1958-01-01 TAI, the CUC epoch.
    const cuc = Math.floor(utcMicros) + taiMinusUtcMicros(utcMicros) + EPOCH_1958_MICROS;
    let tick = Math.floor(cuc / 1_000_000) * 65536 +
      Math.floor((cuc % 1_000_000) * 65536 / 1_000_000);
    if (tick <= direction.lastTick) tick = direction.lastTick + 1;
    direction.lastTick = tick;
    const coarse = Math.floor(tick / 65536);
    const fine = tick - coarse * 65536;
    // The instant the tick stands for, in UTC ms, for the orbit.
    const tickMicros = coarse * 1_000_000 + fine * (1_000_000 / 65536);
    const tMs = (Math.floor(utcMicros) + (tickMicros - cuc)) / 1000;
    const { r, v, range, rate, valid } = this.#geometry(direction, tMs);
    const random = this.#random;
    const stateValid = valid && random() >= 0.005; // a rare GNSS outage on board
    const beacon: Beacon = {
      apid: link.apid,
      seq: link.seq,
      coarse,
      fine,
      index,
      observer: direction.observer,
      target: direction.target,
      range_km: range + link.sigma * this.#gaussian(),
      range_rate_km_s: rate + 1e-6 * this.#gaussian(),
      range_sigma_km: link.sigma,
      r_km: stateValid ? r : [0, 0, 0],
      v_km_s: stateValid ? v : [0, 0, 0],
      flags: valid
        ? BEACON_FLAGS.rangeValid | BEACON_FLAGS.rangeRateValid |
          (stateValid ? BEACON_FLAGS.stateValid : 0)
        : 0,
    };
    link.seq = (link.seq + 1) % 16384;
    encodeBeacon(beacon, target, offset);
    return beacon;
  }

  #link(apid: number): Link {
    const link = this.#links[apid - 1];
    if (link === undefined) throw new RangeError(`No link with APID ${apid}`);
    return link;
  }

  #geometry(direction: Direction, tMs: number) {
    const second = Math.floor(tMs / 1000);
    if (second !== direction.second) {
      const orbits = this.#orbits;
      if (second === direction.second + 1 && direction.a1 && direction.b1) {
        direction.a0 = direction.a1;
        direction.b0 = direction.b1;
      } else {
        direction.a0 = orbits.state(direction.observer, second * 1000);
        direction.b0 = orbits.state(direction.target, second * 1000);
      }
      direction.a1 = orbits.state(direction.observer, (second + 1) * 1000);
      direction.b1 = orbits.state(direction.target, (second + 1) * 1000);
      direction.second = second;
    }
    const { a0, a1, b0, b1 } = direction;
    if (!a0 || !a1 || !b0 || !b1) {
      return { r: [0, 0, 0] as Vec, v: [0, 0, 0] as Vec, range: 0, rate: 0, valid: false };
    }
    const f = tMs / 1000 - second;
    const r = lerp(a0.r_km, a1.r_km, f);
    const v = lerp(a0.v_km_s, a1.v_km_s, f);
    const rb = lerp(b0.r_km, b1.r_km, f);
    const vb = lerp(b0.v_km_s, b1.v_km_s, f);
    const dx = rb[0] - r[0], dy = rb[1] - r[1], dz = rb[2] - r[2];
    const range = Math.sqrt(dx * dx + dy * dy + dz * dz);
    const rate = (dx * (vb[0] - v[0]) + dy * (vb[1] - v[1]) + dz * (vb[2] - v[2])) / range;
    return { r, v, range, rate, valid: true };
  }

  /** Standard normal deviates (Box–Muller, both halves used). */
  #gaussian(): number {
    if (this.#spare !== undefined) {
      const spare = this.#spare;
      this.#spare = undefined;
      return spare;
    }
    const u = 1 - this.#random();
    const w = this.#random();
    const m = Math.sqrt(-2 * Math.log(u));
    this.#spare = m * Math.sin(2 * Math.PI * w);
    return m * Math.cos(2 * Math.PI * w);
  }
}

type Vec = [number, number, number];

function lerp(a: readonly number[], b: readonly number[], f: number): Vec {
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}
