/**
 * TAI for the ISL gateway simulator's beacon time stamps (SPEC §6, §14):
 * CCSDS unsegmented time counts seconds since 1958-01-01T00:00:00 TAI, and
 * TAI runs ahead of UTC by the leap seconds inserted since 1972.
 *
 * Independent implementation on purpose: the simulator is a test peer. It
 * carries its own copy of the IERS table (Bulletin C; unchanged since the
 * leap second at the end of 2016, TAI − UTC = 37 s since 2017-01-01), so a
 * wrong entry in the service's table shows up as beacons whose `t_obs`
 * disagree with the simulator's clock.
 *
 * @module
 */

/** Microseconds from 1958-01-01T00:00:00 to 1970-01-01T00:00:00 (4383 days). */
export const EPOCH_1958_MICROS: number = -Date.UTC(1958, 0, 1) * 1000;

/** [year, month (1-based) whose first day starts the step, TAI − UTC in seconds]. */
const STEPS: ReadonlyArray<readonly [number, number, number]> = [
  [1972, 1, 10],
  [1972, 7, 11],
  [1973, 1, 12],
  [1974, 1, 13],
  [1975, 1, 14],
  [1976, 1, 15],
  [1977, 1, 16],
  [1978, 1, 17],
  [1979, 1, 18],
  [1980, 1, 19],
  [1981, 7, 20],
  [1982, 7, 21],
  [1983, 7, 22],
  [1985, 7, 23],
  [1988, 1, 24],
  [1990, 1, 25],
  [1991, 1, 26],
  [1992, 7, 27],
  [1993, 7, 28],
  [1994, 7, 29],
  [1996, 1, 30],
  [1997, 7, 31],
  [1999, 1, 32],
  [2006, 1, 33],
  [2009, 1, 34],
  [2012, 7, 35],
  [2015, 7, 36],
  [2017, 1, 37],
];

/** Newest step first, each as [UTC µs it starts at, TAI − UTC in µs]. */
const NEWEST_FIRST = STEPS.map(([year, month, seconds]) =>
  [Date.UTC(year, month - 1, 1) * 1000, seconds * 1_000_000] as const
).reverse();

/**
 * TAI − UTC at a UTC instant, µs. Before 1972 it is taken as 10 s, the
 * table's first value: UTC then followed TAI with fractional offsets that
 * a simulator need not model.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { taiMinusUtcMicros } from "./_tai.ts";
 *
 * assert.equal(taiMinusUtcMicros(Date.UTC(2026, 10, 25) * 1000), 37_000_000);
 * assert.equal(taiMinusUtcMicros(Date.UTC(2016, 11, 31, 23, 59, 59) * 1000), 36_000_000);
 * ```
 */
export function taiMinusUtcMicros(utcMicros: number): number {
  for (const [from, offset] of NEWEST_FIRST) if (utcMicros >= from) return offset;
  return STEPS[0][2] * 1_000_000;
}
