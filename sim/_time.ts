/**
 * UTC instants as the simulators write and read them: integer microseconds
 * since 1970-01-01T00:00:00Z, text `YYYY-MM-DDThh:mm:ss.ffffffZ`.
 *
 * Independent implementation on purpose: the simulator is a test peer. It
 * shares no time code with the service, so a bug in the service's
 * conversions cannot be mirrored here and go unnoticed; it leans on `Date`
 * for the calendar and adds the microsecond digits itself. Leap seconds
 * (`23:59:60`) are not produced and not accepted: the simulators never need
 * to name one.
 *
 * @module
 */

/**
 * `YYYY-MM-DDThh:mm:ss.ffffffZ` of a UTC instant in microseconds (a fraction
 * of a microsecond is dropped), years 0000–9999.
 *
 * @throws {RangeError} outside the years 0000–9999
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatUtc } from "./_time.ts";
 *
 * assert.equal(formatUtc(Date.UTC(2026, 10, 25, 12) * 1000 + 1234), "2026-11-25T12:00:00.001234Z");
 * assert.equal(formatUtc(-1), "1969-12-31T23:59:59.999999Z");
 * ```
 */
export function formatUtc(micros: number): string {
  const whole = Math.floor(micros);
  const ms = Math.floor(whole / 1000);
  const date = new Date(ms);
  const year = date.getUTCFullYear();
  if (!(year >= 0 && year <= 9999)) {
    throw new RangeError(`Cannot format an instant outside the years 0000–9999: ${micros} µs`);
  }
  // toISOString() has the milliseconds; the next three digits are ours.
  return date.toISOString().slice(0, 23) + String(whole - ms * 1000).padStart(3, "0") + "Z";
}

const ISO = /^(\d{4})-(?:(\d{2})-(\d{2})|(\d{3}))T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z?$/;

/**
 * Microseconds since 1970-01-01T00:00:00Z of `YYYY-MM-DDThh:mm:ss[.f…][Z]`
 * or the day-of-year form `YYYY-DDDThh:mm:ss[.f…][Z]`, read as UTC; digits
 * beyond the microsecond are dropped.
 *
 * @throws {SyntaxError} when the text has neither form
 * @throws {RangeError} when a field is out of range (month 13, 31 April,
 * hour 24, second 60, …)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseUtc } from "./_time.ts";
 *
 * assert.equal(parseUtc("2026-11-25T12:00:00.0000015Z"), Date.UTC(2026, 10, 25, 12) * 1000 + 1);
 * assert.equal(parseUtc("2026-329T12:00:00"), parseUtc("2026-11-25T12:00:00Z"));
 * assert.throws(() => parseUtc("2026-04-31T00:00:00Z"), RangeError);
 * assert.throws(() => parseUtc("yesterday"), SyntaxError);
 * ```
 */
export function parseUtc(text: string): number {
  const match = ISO.exec(text);
  if (match === null) throw new SyntaxError(`Cannot parse timestamp: "${text}"`);
  const [, y, mo, d, doy, h, mi, s, fraction = ""] = match;
  const year = Number(y);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (hour > 23 || minute > 59 || second > 59) {
    throw new RangeError(`Time of day out of range in timestamp: "${text}"`);
  }
  // setUTCFullYear, unlike Date.UTC, takes the years 0–99 literally.
  const date = new Date(0);
  if (doy === undefined) {
    const month = Number(mo);
    const day = Number(d);
    date.setUTCFullYear(year, month - 1, day);
    if (date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) {
      throw new RangeError(`Date out of range in timestamp: "${text}"`);
    }
  } else {
    date.setUTCFullYear(year, 0, Number(doy));
    if (Number(doy) < 1 || date.getUTCFullYear() !== year) {
      throw new RangeError(`Day of year out of range in timestamp: "${text}"`);
    }
  }
  const micros = Number(fraction.slice(0, 6).padEnd(6, "0"));
  return (date.getTime() + ((hour * 60 + minute) * 60 + second) * 1000) * 1000 + micros;
}

/** Microseconds since 1970-01-01 UTC now, finer than `Date.now()`'s milliseconds. */
export function nowMicros(): number {
  return Math.trunc((performance.timeOrigin + performance.now()) * 1000);
}
