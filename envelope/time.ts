/**
 * Time handling to the microsecond (SPEC §14).
 *
 * Instants are plain numbers: integer microseconds since 1970-01-01T00:00:00
 * in some time scale. From 1685 to 2254 that is below 2^53, so arithmetic on
 * them is exact — a `Date` would keep only milliseconds. Outside those years
 * (still 0000–9999 on input) an instant is the nearest double, within 32 µs:
 * such a `t_obs` is never admissible (SPEC §14), so it only has to give a
 * value or a `RangeError`, never another exception.
 *
 * A UTC leap second, `23:59:60.ffffff`, has no integer of its own: it is
 * `23:59:59.ffffff` plus half a microsecond. Every other instant is an
 * integer, so the half marks it, costs the hot paths nothing (they keep
 * plain numbers), and {@link formatTimestamp} writes it back as second 60.
 * It compares equal only to itself; it sorts within a microsecond of its
 * neighbour `23:59:59.ffffff`, which is close enough for everything here
 * (nothing orders instants by these numbers across a leap second).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { LEAP_SECONDS } from "./leap_seconds.ts";

/** Time systems accepted on input. Output is always UTC. */
export type TimeSystem = "UTC" | "TAI" | "GPS";

const MICROS_PER_SECOND = 1_000_000;
const MICROS_PER_DAY = 86_400 * MICROS_PER_SECOND;
/** GPS time is TAI − 19 s, a constant offset (GPS epoch 1980-01-06). */
const GPS_MINUS_TAI_MICROS = -19 * MICROS_PER_SECOND;

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * Days (since 1970-01-01) that end with a leap second: the day before each
 * step of the table but the first (1972-01-01 starts the table; it follows
 * no leap second).
 */
const LEAP_DAYS: ReadonlySet<number> = new Set(
  LEAP_SECONDS.slice(1).map((step) => step.utcMicros / MICROS_PER_DAY - 1),
);

/** Half a microsecond: the mark of a leap second (see the module doc). */
const LEAP_MARK = 0.5;

function digits(text: string, start: number, count: number): number {
  let value = 0;
  for (let i = start; i < start + count; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    value = value * 10 + c;
  }
  return value;
}

/**
 * Parses `YYYY-MM-DDThh:mm:ss[.f…][Z]` or the day-of-year form
 * `YYYY-DDDThh:mm:ss[.f…][Z]` (CCSDS 503.0-B-2 allows both for timetags)
 * into microseconds since 1970-01-01 in the timestamp's own time scale.
 * Digits beyond the microsecond are truncated, not rounded.
 *
 * @throws {SyntaxError} when the text does not have one of the two forms
 * @throws {RangeError} when a field is out of range (month 13, day 366 of a
 * common year, hour 24, second 60 on a day without a leap second, …)
 *
 * @example Day-of-year with more than six fraction digits
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTimestamp, parseTimestamp } from "./time.ts";
 *
 * const us = parseTimestamp("2026-329T12:00:00.1234567");
 * assert.equal(formatTimestamp(us), "2026-11-25T12:00:00.123456Z");
 * ```
 *
 * @example The leap second at the end of 2016 is an instant of its own
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTimestamp, parseTimestamp } from "./time.ts";
 *
 * const leap = parseTimestamp("2016-12-31T23:59:60.5");
 * assert.equal(formatTimestamp(leap), "2016-12-31T23:59:60.500000Z");
 * assert.notEqual(leap, parseTimestamp("2017-01-01T00:00:00.5"));
 * assert.throws(() => parseTimestamp("2017-06-30T23:59:60"), RangeError);
 * ```
 */
export function parseTimestamp(text: string): number {
  const t = text.indexOf("T");
  let year: number, month: number, day: number;
  if (t === 10 && text.charCodeAt(4) === 45 && text.charCodeAt(7) === 45) {
    year = digits(text, 0, 4);
    month = digits(text, 5, 2);
    day = digits(text, 8, 2);
    if (year < 0 || month < 0 || day < 0) throw syntax(text);
    if (month < 1 || month > 12) {
      throw new RangeError(`Month out of range in timestamp: "${text}"`);
    }
    const dim = month === 2 && isLeapYear(year) ? 29 : DAYS_IN_MONTH[month - 1];
    if (day < 1 || day > dim) {
      throw new RangeError(`Day out of range in timestamp: "${text}"`);
    }
  } else if (t === 8 && text.charCodeAt(4) === 45) {
    year = digits(text, 0, 4);
    const doy = digits(text, 5, 3);
    if (year < 0 || doy < 0) throw syntax(text);
    if (doy < 1 || doy > (isLeapYear(year) ? 366 : 365)) {
      throw new RangeError(`Day of year out of range in timestamp: "${text}"`);
    }
    month = 1;
    day = doy;
  } else {
    throw syntax(text);
  }
  const p = t + 1;
  if (text.charCodeAt(p + 2) !== 58 || text.charCodeAt(p + 5) !== 58) {
    throw syntax(text);
  }
  const hour = digits(text, p, 2);
  const minute = digits(text, p + 3, 2);
  const second = digits(text, p + 6, 2);
  if (hour < 0 || minute < 0 || second < 0) throw syntax(text);
  if (
    hour > 23 || minute > 59 || second > 60 || (second === 60 && (minute !== 59 || hour !== 23))
  ) {
    throw new RangeError(`Time of day out of range in timestamp: "${text}"`);
  }
  let i = p + 8;
  let micros = 0;
  if (text.charCodeAt(i) === 46) {
    i++;
    const start = i;
    let scale = 100_000;
    while (i < text.length) {
      const c = text.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      micros += c * scale;
      scale = scale / 10 >= 1 ? scale / 10 : 0;
      i++;
    }
    if (i === start) throw syntax(text);
  }
  if (i < text.length && text.charCodeAt(i) === 90) i++;
  if (i !== text.length) throw syntax(text);
  const days = daysFromCivil(year, month, 1) + day - 1;
  if (second === 60) {
    // SPEC §14: a real instant on the days the IERS table ends with one.
    if (!LEAP_DAYS.has(days)) {
      throw new NoLeapSecondError(text);
    }
    return days * MICROS_PER_DAY + 86_399 * MICROS_PER_SECOND + micros + LEAP_MARK;
  }
  return days * MICROS_PER_DAY +
    ((hour * 60 + minute) * 60 + second) * MICROS_PER_SECOND + micros;
}

/**
 * Second 60 on a day the leap-second table does not end with one: a
 * `decoding` dead letter in every feed (SPEC §14), whatever stage the feed
 * gives other bad instants.
 *
 * @example Told apart from other out-of-range timestamps
 * ```ts
 * import assert from "node:assert/strict";
 * import { NoLeapSecondError, parseTimestamp } from "./time.ts";
 *
 * assert.throws(() => parseTimestamp("2017-06-30T23:59:60Z"), NoLeapSecondError);
 * assert.throws(() => parseTimestamp("2017-06-31T00:00:00Z"), (e) => !(e instanceof NoLeapSecondError));
 * try {
 *   parseTimestamp("2017-06-30T23:59:60Z");
 * } catch (e) {
 *   assert.equal((e as NoLeapSecondError).timestamp, "2017-06-30T23:59:60Z");
 * }
 * ```
 */
export class NoLeapSecondError extends RangeError {
  /** The timestamp as given. */
  readonly timestamp: string;

  /** @param text the timestamp as given */
  constructor(text: string) {
    super(`No leap second at the end of this day: "${text}"`);
    this.name = "NoLeapSecondError";
    this.timestamp = text;
  }
}

function syntax(text: string): SyntaxError {
  return new SyntaxError(`Cannot parse timestamp: "${text}"`);
}

function pad2(n: number): string {
  return n < 10 ? "0" + n : "" + n;
}

/**
 * Formats microseconds since the Unix epoch as `YYYY-MM-DDThh:mm:ss.ffffffZ`,
 * the envelope's only time format (SPEC §2); a leap second (marked by half a
 * microsecond, see the module doc) as second 60.
 *
 * @throws {RangeError} outside the years 0000–9999, for a fraction of a
 * microsecond other than the leap mark, or for a leap mark on a day without
 * a leap second
 *
 * @example Exactly six fraction digits
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTimestamp } from "./time.ts";
 *
 * assert.equal(formatTimestamp(0), "1970-01-01T00:00:00.000000Z");
 * assert.equal(formatTimestamp(1_500_000), "1970-01-01T00:00:01.500000Z");
 * ```
 */
export function formatTimestamp(micros: number): string {
  let us = micros;
  let leap = false;
  if (!Number.isInteger(us)) {
    if (us - Math.floor(us) !== LEAP_MARK) {
      throw new RangeError(
        `Cannot format a timestamp that is not a whole number of microseconds: ${micros}`,
      );
    }
    us -= LEAP_MARK;
    leap = true;
  }
  let days = Math.floor(us / MICROS_PER_DAY);
  let rest = us - days * MICROS_PER_DAY;
  // Beyond 2^53 µs the quotient may round across midnight.
  if (rest < 0) {
    days--;
    rest += MICROS_PER_DAY;
  } else if (rest >= MICROS_PER_DAY) {
    days++;
    rest -= MICROS_PER_DAY;
  }
  // Civil date from days (H. Hinnant's algorithm).
  const z = days + 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) -
      Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  const y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  if (y < 0 || y > 9999) {
    throw new RangeError(`Cannot format a timestamp outside years 0–9999: ${micros}`);
  }
  const seconds = Math.floor(rest / MICROS_PER_SECOND);
  rest -= seconds * MICROS_PER_SECOND;
  const hh = Math.floor(seconds / 3600);
  const mm = Math.floor((seconds % 3600) / 60);
  let ss = seconds % 60;
  if (leap) {
    if (seconds !== 86_399 || !LEAP_DAYS.has(days)) {
      throw new RangeError(`Cannot format a leap second on a day without one: ${micros}`);
    }
    ss = 60;
  }
  const frac = "" + (1_000_000 + rest);
  return String(y).padStart(4, "0") + "-" + pad2(m) + "-" + pad2(d) + "T" +
    pad2(hh) + ":" + pad2(mm) + ":" + pad2(ss) + "." + frac.slice(1) + "Z";
}

const FIRST_STEP = LEAP_SECONDS[0];

/**
 * Converts a TAI instant (microseconds since 1970-01-01T00:00:00 TAI) to UTC
 * with the IERS leap-second table.
 *
 * @throws {RangeError} before 1972-01-01, where the table does not apply,
 * and for second 60 (a leap mark), which TAI does not have
 *
 * @example TAI − UTC = 37 s since 2017
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTimestamp, parseTimestamp, taiToUtc } from "./time.ts";
 *
 * const utc = taiToUtc(parseTimestamp("2017-01-01T00:00:37"));
 * assert.equal(formatTimestamp(utc), "2017-01-01T00:00:00.000000Z");
 * ```
 *
 * @example A TAI instant inside a leap second is UTC second 60
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTimestamp, parseTimestamp, taiToUtc } from "./time.ts";
 *
 * const utc = taiToUtc(parseTimestamp("2017-01-01T00:00:36.5"));
 * assert.equal(formatTimestamp(utc), "2016-12-31T23:59:60.500000Z");
 * ```
 */
export function taiToUtc(taiMicros: number): number {
  if (!Number.isInteger(taiMicros)) {
    throw new RangeError(
      `Cannot convert TAI or GPS second 60 to UTC: those time scales have no leap seconds`,
    );
  }
  // Walk from the newest step: nearly every input is after 2017.
  for (let i = LEAP_SECONDS.length - 1; i >= 0; i--) {
    const step = LEAP_SECONDS[i];
    const offset = step.taiMinusUtc * MICROS_PER_SECOND;
    if (taiMicros >= step.utcMicros + offset) return taiMicros - offset;
    if (i === 0) break;
    // The second before this step's TAI start is the leap second that
    // begins it: UTC 23:59:60 of the previous day.
    const before = LEAP_SECONDS[i - 1].taiMinusUtc * MICROS_PER_SECOND;
    if (taiMicros >= step.utcMicros + before) {
      return step.utcMicros - MICROS_PER_SECOND + (taiMicros - step.utcMicros - before) +
        LEAP_MARK;
    }
  }
  throw new RangeError(
    `Cannot convert TAI before ${
      formatTimestamp(FIRST_STEP.utcMicros)
    } to UTC: the leap-second table starts in 1972`,
  );
}

/**
 * Converts a GPS instant (microseconds, labelled like UTC) to UTC: GPS = TAI − 19 s.
 *
 * @example GPS runs 18 s ahead of UTC since 2017
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatTimestamp, gpsToUtc, parseTimestamp } from "./time.ts";
 *
 * const utc = gpsToUtc(parseTimestamp("2026-11-25T12:00:18"));
 * assert.equal(formatTimestamp(utc), "2026-11-25T12:00:00.000000Z");
 * ```
 */
export function gpsToUtc(gpsMicros: number): number {
  return taiToUtc(gpsMicros - GPS_MINUS_TAI_MICROS);
}

/**
 * Converts an instant in the given time system to UTC.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toUtc } from "./time.ts";
 *
 * assert.equal(toUtc(1_000_000_000_000_000, "UTC"), 1_000_000_000_000_000);
 * assert.equal(toUtc(1_000_000_000_000_000, "TAI"), 1_000_000_000_000_000 - 32_000_000);
 * ```
 */
export function toUtc(micros: number, timeSystem: TimeSystem): number {
  switch (timeSystem) {
    case "UTC":
      return micros;
    case "TAI":
      return taiToUtc(micros);
    case "GPS":
      return gpsToUtc(micros);
  }
}

/** Microseconds from 1958-01-01T00:00:00 to 1970-01-01T00:00:00 (4383 days). */
export const EPOCH_1958_MICROS: number = -daysFromCivil(1958, 1, 1) * MICROS_PER_DAY;

/**
 * Microseconds since 1970-01-01 UTC for "now". The default clock is
 * `performance.timeOrigin + performance.now()`, which has sub-millisecond
 * resolution where `Date.now()` has not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nowMicros } from "./time.ts";
 *
 * assert.equal(nowMicros(() => 1234), 1_234_000);
 * ```
 */
export function nowMicros(clock: () => number = highResolutionNow): number {
  return Math.trunc(clock() * 1000);
}

function highResolutionNow(): number {
  return performance.timeOrigin + performance.now();
}
