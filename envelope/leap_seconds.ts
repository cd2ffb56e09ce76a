/**
 * The IERS leap-second table: TAI − UTC since 1972-01-01.
 *
 * This is the only place in the project that knows about leap seconds
 * (SPEC §14). Source: IERS Bulletin C (the table has been unchanged since
 * the leap second at the end of 2016).
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** One step of the table: from `utcMicros` on, TAI − UTC is `taiMinusUtc` seconds. */
export interface LeapSecondStep {
  /** Start of the step, microseconds since 1970-01-01T00:00:00Z (UTC). */
  readonly utcMicros: number;
  /** TAI − UTC in whole seconds from that instant on. */
  readonly taiMinusUtc: number;
}

const STEPS: ReadonlyArray<readonly [string, number]> = [
  ["1972-01-01", 10],
  ["1972-07-01", 11],
  ["1973-01-01", 12],
  ["1974-01-01", 13],
  ["1975-01-01", 14],
  ["1976-01-01", 15],
  ["1977-01-01", 16],
  ["1978-01-01", 17],
  ["1979-01-01", 18],
  ["1980-01-01", 19],
  ["1981-07-01", 20],
  ["1982-07-01", 21],
  ["1983-07-01", 22],
  ["1985-07-01", 23],
  ["1988-01-01", 24],
  ["1990-01-01", 25],
  ["1991-01-01", 26],
  ["1992-07-01", 27],
  ["1993-07-01", 28],
  ["1994-07-01", 29],
  ["1996-01-01", 30],
  ["1997-07-01", 31],
  ["1999-01-01", 32],
  ["2006-01-01", 33],
  ["2009-01-01", 34],
  ["2012-07-01", 35],
  ["2015-07-01", 36],
  ["2017-01-01", 37],
];

/**
 * The leap-second table, oldest first.
 *
 * @example The latest step
 * ```ts
 * import assert from "node:assert/strict";
 * import { LEAP_SECONDS } from "./leap_seconds.ts";
 *
 * const last = LEAP_SECONDS[LEAP_SECONDS.length - 1];
 * assert.equal(last.taiMinusUtc, 37);
 * assert.equal(new Date(last.utcMicros / 1000).toISOString(), "2017-01-01T00:00:00.000Z");
 * ```
 */
export const LEAP_SECONDS: readonly LeapSecondStep[] = STEPS.map((
  [date, taiMinusUtc],
) => ({ utcMicros: Date.parse(`${date}T00:00:00Z`) * 1000, taiMinusUtc }));
