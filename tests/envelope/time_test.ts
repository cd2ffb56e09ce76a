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
      "2017-06-30T23:59:60",
      "2016-12-30T23:59:60",
      "2016-12-31T23:58:60",
      "2016-12-31T22:59:60",
      "1971-12-31T23:59:60",
      "2016-12-31T23:59:61",
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
      // The TAI second before the step is the leap second 23:59:60 that
      // begins it; a second earlier, the previous step's offset applies.
      const previous = LEAP_SECONDS[i - 1].taiMinusUtc;
      assert.equal(step.taiMinusUtc - previous, 1);
      const day = formatTimestamp(step.utcMicros - 1).slice(0, 10);
      assert.equal(formatTimestamp(taiToUtc(tai - 1)), `${day}T23:59:60.999999Z`);
      assert.equal(formatTimestamp(taiToUtc(tai - 1_000_000)), `${day}T23:59:60.000000Z`);
      assert.equal(taiToUtc(tai - 1_000_001), tai - 1_000_001 - previous * 1_000_000);
      assert.equal(formatTimestamp(taiToUtc(tai - 1_000_001)), `${day}T23:59:59.999999Z`);
      // Every leap day of the table takes second 60 in UTC, as parsed.
      assert.equal(
        parseTimestamp(`${day}T23:59:60.999999`),
        taiToUtc(tai - 1),
      );
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

Deno.test("parseTimestamp() keeps the leap second 2016-12-31T23:59:60.5 as second 60", () => {
  const leap = parseTimestamp("2016-12-31T23:59:60.5");
  assert.equal(formatTimestamp(leap), "2016-12-31T23:59:60.500000Z");
  assert.equal(utc("2016-366T23:59:60.5Z"), "2016-12-31T23:59:60.500000Z");
  assert.equal(utc("2016-12-31T23:59:60.500000Z"), "2016-12-31T23:59:60.500000Z");
  // Distinct from both neighbours.
  assert.notEqual(leap, parseTimestamp("2016-12-31T23:59:59.5"));
  assert.notEqual(leap, parseTimestamp("2017-01-01T00:00:00.5"));
});

Deno.test("taiToUtc() and gpsToUtc() put an instant inside a leap second on second 60", () => {
  const fromTai = taiToUtc(parseTimestamp("2017-01-01T00:00:36.5"));
  assert.equal(formatTimestamp(fromTai), "2016-12-31T23:59:60.500000Z");
  assert.equal(fromTai, parseTimestamp("2016-12-31T23:59:60.5"));
  assert.equal(
    formatTimestamp(gpsToUtc(parseTimestamp("2017-01-01T00:00:17.5"))),
    "2016-12-31T23:59:60.500000Z",
  );
  assert.equal(
    formatTimestamp(taiToUtc(parseTimestamp("2017-01-01T00:00:35.999999"))),
    "2016-12-31T23:59:59.999999Z",
  );
  // TAI and GPS have no second 60 of their own.
  assert.throws(() => toUtc(parseTimestamp("2016-12-31T23:59:60"), "TAI"), RangeError);
  assert.throws(() => toUtc(parseTimestamp("2016-12-31T23:59:60"), "GPS"), RangeError);
});

Deno.test("formatTimestamp() refuses fractions of a microsecond and misplaced leap marks", () => {
  assert.throws(() => formatTimestamp(0.25), RangeError);
  assert.throws(() => formatTimestamp(NaN), RangeError);
  assert.throws(() => formatTimestamp(Infinity), RangeError);
  // The half-microsecond mark of a leap second, on a day without one.
  assert.throws(() => formatTimestamp(parseTimestamp("2017-06-30T23:59:59") + 0.5), RangeError);
  assert.throws(() => formatTimestamp(parseTimestamp("2016-12-31T12:00:00") + 0.5), RangeError);
});

/** Years 0000–9999: the boundaries, every century, and a seeded sample. */
function sampleYears(): number[] {
  const years = new Set([0, 1, 99, 100, 1582, 1683, 1684, 1685, 1900, 1957, 1970, 1972, 2255]);
  for (const y of [2256, 2300, 9998, 9999]) years.add(y);
  for (let y = 0; y <= 9999; y += 100) years.add(y);
  let seed = 12345;
  for (let k = 0; k < 300; k++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    years.add(seed % 10000);
  }
  return [...years].sort((a, b) => a - b);
}

Deno.test("parseTimestamp(), formatTimestamp() and toUtc() throw only RangeError or SyntaxError in years 0000–9999", () => {
  const times = [
    "01-01T00:00:00",
    "01-01T00:00:00.000001",
    "02-29T12:34:56.5",
    "06-30T23:59:60",
    "12-31T23:59:59.999999",
    "12-31T23:59:60.5",
    "365T23:59:59.9999999",
    "366T00:00:00",
    "001T00:00:00",
  ];
  let values = 0;
  for (const year of sampleYears()) {
    const y = String(year).padStart(4, "0");
    for (const time of times) {
      const text = `${y}-${time}`;
      for (const system of ["UTC", "TAI", "GPS"] as const) {
        try {
          const text2 = formatTimestamp(toUtc(parseTimestamp(text), system));
          assert.match(text2, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/, text);
          values++;
        } catch (error) {
          assert.ok(
            error instanceof RangeError || error instanceof SyntaxError,
            `${text} ${system}: ${error}`,
          );
        }
      }
    }
  }
  assert.ok(values > 1000);
  // Exact where it matters: every year of the safe range round-trips.
  for (let year = 1685; year <= 2254; year += 1) {
    const text = `${year}-07-15T01:02:03.456789Z`;
    assert.equal(formatTimestamp(parseTimestamp(text)), text);
  }
  // Beyond it, the same day and second (within 32 µs).
  for (const text of ["0001-01-01T00:00:00", "0100-06-15T12:00:00", "9999-01-01T00:00:00"]) {
    assert.equal(formatTimestamp(parseTimestamp(text)).slice(0, 19), text);
  }
  assert.equal(
    formatTimestamp(parseTimestamp("0000-01-01T00:00:00")),
    "0000-01-01T00:00:00.000000Z",
  );
});
