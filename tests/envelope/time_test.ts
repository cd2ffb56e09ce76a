import assert from "node:assert/strict";
import { LEAP_SECONDS } from "../../envelope/leap_seconds.ts";
import {
  EPOCH_1958_MICROS,
  formatTimestamp,
  gpsToUtc,
  parseTimestamp,
  taiToUtc,
  toUtc,
} from "../../envelope/time.ts";

const utc = (text: string) => formatTimestamp(parseTimestamp(text));

Deno.test("parseTimestamp() reads day-of-year and truncates to microseconds", () => {
  assert.equal(utc("2026-329T12:00:00.1234567"), "2026-11-25T12:00:00.123456Z");
  assert.equal(utc("2026-329T12:00:00.9999999Z"), "2026-11-25T12:00:00.999999Z");
  assert.equal(utc("2024-366T23:59:59Z"), "2024-12-31T23:59:59.000000Z");
  assert.equal(utc("2026-001T00:00:00"), "2026-01-01T00:00:00.000000Z");
});

Deno.test("parseTimestamp() reads calendar dates with 0 to many fraction digits", () => {
  assert.equal(utc("2026-11-25T12:00:00"), "2026-11-25T12:00:00.000000Z");
  assert.equal(utc("2026-11-25T12:00:00.1Z"), "2026-11-25T12:00:00.100000Z");
  assert.equal(utc("2026-11-25T12:00:00.123000Z"), "2026-11-25T12:00:00.123000Z");
  assert.equal(utc("2024-02-29T00:00:00.000001"), "2024-02-29T00:00:00.000001Z");
  assert.equal(utc("1969-12-31T23:59:59.5Z"), "1969-12-31T23:59:59.500000Z");
});

Deno.test("parseTimestamp() rejects malformed text with SyntaxError and bad fields with RangeError", () => {
  for (
    const bad of [
      "",
      "2026-11-25",
      "2026-11-25 12:00:00",
      "2026-11-25T12:00",
      "2026-11-25T12:00:00.",
      "2026-11-25T12:00:00+01:00",
      "2026-1X-25T12:00:00",
      "2026-11-25T12:00:00ZZ",
    ]
  ) {
    assert.throws(() => parseTimestamp(bad), SyntaxError, bad);
  }
  for (
    const bad of [
      "2026-13-01T00:00:00",
      "2025-02-29T00:00:00",
      "2025-366T00:00:00",
      "2026-000T00:00:00",
      "2026-11-25T24:00:00",
      "2026-11-25T12:60:00",
      "2016-12-31T23:59:60",
    ]
  ) {
    assert.throws(() => parseTimestamp(bad), RangeError, bad);
  }
});

Deno.test("taiToUtc() subtracts 37 s since 2017 and 36 s just before", () => {
  assert.equal(
    formatTimestamp(taiToUtc(parseTimestamp("2017-01-01T00:00:37"))),
    "2017-01-01T00:00:00.000000Z",
  );
  assert.equal(
    formatTimestamp(taiToUtc(parseTimestamp("2016-12-31T23:59:59"))),
    "2016-12-31T23:59:23.000000Z",
  );
  assert.equal(
    formatTimestamp(taiToUtc(parseTimestamp("2026-11-25T12:00:37.000001"))),
    "2026-11-25T12:00:00.000001Z",
  );
});

Deno.test("taiToUtc() applies every step of the leap-second table since 1972", () => {
  assert.equal(LEAP_SECONDS.length, 28);
  assert.equal(LEAP_SECONDS[0].taiMinusUtc, 10);
  for (let i = 0; i < LEAP_SECONDS.length; i++) {
    const step = LEAP_SECONDS[i];
    const tai = step.utcMicros + step.taiMinusUtc * 1_000_000;
    assert.equal(taiToUtc(tai), step.utcMicros);
    if (i === 0) {
      assert.throws(() => taiToUtc(tai - 1), RangeError);
    } else {
      // A microsecond earlier, the previous step's offset applies.
      const previous = LEAP_SECONDS[i - 1].taiMinusUtc;
      assert.equal(step.taiMinusUtc - previous, 1);
      assert.equal(taiToUtc(tai - 1), tai - 1 - previous * 1_000_000);
    }
  }
});

Deno.test("gpsToUtc() is TAI − 19 s", () => {
  const gps = parseTimestamp("2026-11-25T12:00:18.5");
  assert.equal(formatTimestamp(gpsToUtc(gps)), "2026-11-25T12:00:00.500000Z");
  assert.equal(gpsToUtc(gps), taiToUtc(gps + 19_000_000));
  assert.equal(toUtc(gps, "GPS"), gpsToUtc(gps));
  assert.equal(toUtc(gps, "TAI"), taiToUtc(gps));
  assert.equal(toUtc(gps, "UTC"), gps);
});

Deno.test("EPOCH_1958_MICROS is 4383 days", () => {
  assert.equal(formatTimestamp(-EPOCH_1958_MICROS), "1958-01-01T00:00:00.000000Z");
  assert.equal(EPOCH_1958_MICROS, 4383 * 86_400 * 1_000_000);
});

Deno.test("formatTimestamp() round-trips parseTimestamp() over many instants", () => {
  let micros = parseTimestamp("1972-01-01T00:00:00");
  const end = parseTimestamp("2100-01-01T00:00:00");
  let n = 0;
  while (micros < end) {
    const text = formatTimestamp(micros);
    assert.equal(parseTimestamp(text), micros);
    assert.equal(text.slice(0, 23), new Date(Math.floor(micros / 1000)).toISOString().slice(0, 23));
    micros += 86_399_999_997 + (n++ % 1000);
  }
});
