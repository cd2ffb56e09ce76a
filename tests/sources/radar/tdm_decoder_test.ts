/** The TDM decoding rules of SPEC §4, one at a time, through decodeTdm(). */

import assert from "node:assert/strict";
import { MAX_RAW_BYTES } from "../../../envelope/raw.ts";
import { formatTimestamp, parseTimestamp, toUtc } from "../../../envelope/time.ts";
import { parseNumber } from "../../../sources/radar/_tdm_decoder.ts";
import { decodeTdm } from "../../../sources/radar/decode_tdm.ts";

/** Received a day after the timetags below (t_obs may be at most one day later). */
const RX = Date.UTC(2026, 10, 26) * 1000;
const ctx = { source: "xr1", transport: "tcp" as const, peer: "127.0.0.1:40000", now: () => RX };

/** A TDM 2.0 message with one segment: the given metadata lines, then the data lines. */
function message(metadata: string[], data: string[], header = ["MESSAGE_ID = M"]): string {
  return [
    "CCSDS_TDM_VERS = 2.0",
    ...header,
    "META_START",
    ...metadata,
    "META_STOP",
    "DATA_START",
    ...data,
    "DATA_STOP",
    "",
  ].join("\n");
}

const BASIC = ["TIME_SYSTEM = UTC", "PARTICIPANT_1 = XR1"];
const T = "2026-11-25T12:00:00";

function decode(text: string) {
  return decodeTdm(text, ctx);
}

function measurements(text: string) {
  return decode(text).observations.map((o) => o.measurement);
}

function reasons(text: string) {
  return decode(text).deadLetters.map((d) => [d.stage, d.reason, d.ref ?? null]);
}

Deno.test("decodeTdm() groups consecutive lines whose timetags are the same instant, however written", () => {
  const text = message([...BASIC, "ANGLE_TYPE = AZEL"], [
    `RANGE = ${T}Z 1000`,
    `ANGLE_1 = ${T}.000000 10`,
    `ANGLE_2 = 2026-329T12:00:00.0Z 20`,
    `RANGE = ${T}.5 1001`,
    `RANGE = ${T} 1002`,
  ]);
  const { observations } = decode(text);
  assert.deepEqual(observations.map((o) => [o.t_obs, o.measurement, o.provenance.ref]), [
    ["2026-11-25T12:00:00.000000Z", { range_km: 1000, az_deg: 10, el_deg: 20 }, "M#0@9"],
    ["2026-11-25T12:00:00.500000Z", { range_km: 1001 }, "M#0@12"],
    // Not consecutive with the first group: a new observation.
    ["2026-11-25T12:00:00.000000Z", { range_km: 1002 }, "M#0@13"],
  ]);
});

Deno.test("decodeTdm() makes a timetag whose instant has no envelope form (year 9999 rounded over) a validation dead letter, as any t_obs out of range", () => {
  for (const t of ["9999-12-31T23:59:59.9999999", "9999-365T23:59:59.9999999"]) {
    assert.deepEqual(reasons(message(BASIC, [`RANGE = ${t} 1`])), [[
      "validation",
      `t_obs ${t} (UTC) is more than one day after it was received`,
      "M#0@8",
    ]]);
  }
  // The same instant written to the microsecond: the same stage.
  assert.equal(
    reasons(message(BASIC, [`RANGE = 9999-12-31T23:59:59.999999 1`]))[0][0],
    "validation",
  );
});

Deno.test("decodeTdm() closes a group at a line with another timetag even when that line's value is bad", () => {
  const good = decode(message([...BASIC, "ANGLE_TYPE = AZEL"], [
    `RANGE = ${T} 1000`,
    `RANGE = ${T}.5 1001`,
    `ANGLE_1 = ${T} 10`,
  ]));
  for (const bad of ["x", "-3", ""]) {
    const { observations, deadLetters } = decode(message([...BASIC, "ANGLE_TYPE = AZEL"], [
      `RANGE = ${T} 1000`,
      `RANGE = ${T}.5 ${bad}`,
      `ANGLE_1 = ${T} 10`,
    ]));
    // The same grouping as with a good middle line, less its observation:
    // the first and last lines were one observation, {range 1000, az 10}.
    assert.deepEqual(observations.map((o) => [o.measurement, o.provenance.ref]), [
      [{ range_km: 1000 }, "M#0@9"],
      [{ az_deg: 10 }, "M#0@11"],
    ], `value "${bad}"`);
    assert.deepEqual(
      observations.map((o) => o.id),
      [good.observations[0].id, good.observations[2].id],
    );
    assert.equal(deadLetters.length, 1);
  }
});

Deno.test("decodeTdm() keeps every repeat of a keyword within a group as KEYWORD#2, #3, … in other", () => {
  assert.deepEqual(
    measurements(message(BASIC, [
      `RANGE = ${T} 1`,
      `RECEIVE_FREQ_1 = ${T} 5`,
      `RANGE = ${T} 2`,
      `RECEIVE_FREQ_1 = ${T} 6`,
      `RANGE = ${T} 3`,
    ])),
    [{
      range_km: 1,
      other: { RECEIVE_FREQ_1: 5, "RANGE#2": 2, "RECEIVE_FREQ_1#2": 6, "RANGE#3": 3 },
    }],
  );
});

Deno.test("decodeTdm() maps every data keyword without an envelope field to other, in arrival order", () => {
  const keywords = [
    "CARRIER_POWER",
    "CLOCK_BIAS",
    "CLOCK_DRIFT",
    "DOPPLER_COUNT",
    "DOR",
    "PC_N0",
    "PR_N0",
    "PRESSURE",
    "RECEIVE_FREQ",
    "RECEIVE_FREQ_5",
    "RECEIVE_PHASE_CT_3",
    "RHUMIDITY",
    "STEC",
    "TEMPERATURE",
    "TRANSMIT_FREQ_2",
    "TRANSMIT_FREQ_RATE_4",
    "TRANSMIT_PHASE_CT_1",
    "TROPO_DRY",
    "TROPO_WET",
    "VLBI_DELAY",
  ];
  const [m] = measurements(message(BASIC, keywords.map((k, i) => `${k} = ${T} ${i}`)));
  assert.deepEqual(m, { other: Object.fromEntries(keywords.map((k, i) => [k, i])) });
  assert.deepEqual(Object.keys(m.other!), keywords);
});

Deno.test("decodeTdm() maps angles by ANGLE_TYPE, and keeps untyped angles as given", () => {
  const angles = [`ANGLE_1 = ${T} -180`, `ANGLE_2 = ${T} -45.5`];
  assert.deepEqual(measurements(message([...BASIC, "ANGLE_TYPE = AZEL"], angles)), [
    { az_deg: 180, el_deg: -45.5 },
  ]);
  assert.deepEqual(measurements(message([...BASIC, "ANGLE_TYPE = RADEC"], angles)), [
    { ra_deg: 180, dec_deg: -45.5 },
  ]);
  assert.deepEqual(
    measurements(message([...BASIC, "ANGLE_TYPE = RADEC", "REFERENCE_FRAME = ICRF"], angles)),
    [{ ra_deg: 180, dec_deg: -45.5, frame: "ICRF" }],
  );
  assert.deepEqual(measurements(message([...BASIC, "ANGLE_TYPE = XEYN"], angles)), [
    { angle_1_deg: -180, angle_2_deg: -45.5, angle_type: "XEYN" },
  ]);
  // No ANGLE_TYPE: the angles cannot be called azimuth or declination.
  assert.deepEqual(measurements(message(BASIC, angles)), [
    { angle_1_deg: -180, angle_2_deg: -45.5 },
  ]);
  // A tiny negative azimuth rounds to 360 when shifted: it is reported as 0.
  assert.deepEqual(
    measurements(message([...BASIC, "ANGLE_TYPE = AZEL"], [`ANGLE_1 = ${T} -1e-14`])),
    [{ az_deg: 0 }],
  );
});

Deno.test("decodeTdm() rejects angles outside TDM Table 3-5 and elevation/declination outside [-90, 90]", () => {
  assert.deepEqual(
    reasons(message([...BASIC, "ANGLE_TYPE = RADEC"], [
      `ANGLE_1 = ${T} -180.5`,
      `ANGLE_1 = ${T} 360`,
      `ANGLE_2 = ${T} -90.5`,
      `ANGLE_2 = ${T} 90`,
    ])),
    [
      ["validation", "ANGLE_1 value out of range [-180, 360): -180.5", "M#0@9"],
      ["validation", "ANGLE_1 value out of range [-180, 360): 360", "M#0@10"],
      ["validation", "Declination (ANGLE_2) out of range [-90, 90]: -90.5", "M#0@11"],
    ],
  );
  // XEYN/XSYE angles are not elevations: only Table 3-5 applies.
  assert.deepEqual(
    measurements(message([...BASIC, "ANGLE_TYPE = XSYE"], [`ANGLE_2 = ${T} 120`])),
    [{ angle_2_deg: 120, angle_type: "XSYE" }],
  );
});

Deno.test("decodeTdm() rejects a negative RANGE or RCS line and keeps the rest of its observation", () => {
  const text = message([...BASIC, "RANGE_UNITS = s"], [
    `RANGE = ${T} -0.004`,
    `RCS = ${T} -1.5`,
    `DOPPLER_INSTANTANEOUS = ${T} -1.25`,
    `RANGE = ${T}.5 0`,
    `RCS = ${T}.5 0.75`,
  ]);
  assert.deepEqual(reasons(text), [
    ["validation", "RANGE value must not be negative: -0.004", "M#0@9"],
    ["validation", "RCS value must not be negative: -1.5", "M#0@10"],
  ]);
  assert.deepEqual(measurements(text), [
    { range_rate_km_s: -1.25 },
    { range_s: 0, rcs_m2: 0.75 },
  ]);
});

Deno.test("decodeTdm() dead-letters bad data lines one by one and keeps the rest of the segment", () => {
  const text = message(BASIC, [
    `RANGE =`,
    `RANGE = ${T}`,
    `RANGE ${T} 5`,
    `RANGE = ${T} 1e999`,
    `RANGE = ${T} 0x10`,
    `RANGE = ${T} 5 6`,
    `range = ${T} 5`,
    `TIME_SYSTEM = TAI`,
    `META_STOP`,
    `RANGE = ${T} 7`,
  ]);
  assert.deepEqual(reasons(text), [
    ["decoding", "Missing RANGE timetag and value", "M#0@8"],
    ["decoding", "Missing RANGE value", "M#0@9"],
    ["decoding", `Cannot parse line (expected KEYWORD = timetag value): "RANGE ${T} 5"`, "M#0@10"],
    ["decoding", 'Cannot parse RANGE value as a finite number: "1e999"', "M#0@11"],
    ["decoding", 'Cannot parse RANGE value as a number: "0x10"', "M#0@12"],
    ["decoding", 'Cannot parse RANGE value as a number: "5 6"', "M#0@13"],
    ["decoding", 'Unknown data keyword: "range"', "M#0@14"],
    ["decoding", 'Unknown data keyword: "TIME_SYSTEM"', "M#0@15"],
    ["decoding", "Unexpected META_STOP in the data section", "M#0@16"],
  ]);
  assert.deepEqual(measurements(text), [{ range_km: 7 }]);
});

Deno.test("decodeTdm() dead-letters a TAI timetag before the leap-second table", () => {
  const { deadLetters } = decode(
    message(["TIME_SYSTEM = TAI", "PARTICIPANT_1 = XR1"], ["RANGE = 1965-01-01T00:00:00 5"]),
  );
  assert.equal(deadLetters.length, 1);
  assert.match(deadLetters[0].reason, /^Invalid RANGE timetag: Cannot convert TAI before 1972/);
});

Deno.test("decodeTdm() turns a segment whose metadata cannot be trusted into one dead letter with all its lines", () => {
  const cases: [string[], string][] = [
    [["PARTICIPANT_1 = XR1"], "Missing TIME_SYSTEM in metadata"],
    [["TIME_SYSTEM = UTC"], "Missing PARTICIPANT_1 in metadata"],
    [
      ["TIME_SYSTEM = UTC", "TIME_SYSTEM = TAI", "PARTICIPANT_1 = XR1"],
      'Repeated metadata keyword: "TIME_SYSTEM"',
    ],
    [[...BASIC, "RANGE_UNITS = m"], 'Unsupported RANGE_UNITS: "m" (expected km, s or RU)'],
    [
      [...BASIC, "ANGLE_TYPE = ALTAZ"],
      'Unsupported ANGLE_TYPE: "ALTAZ" (expected AZEL, RADEC, XEYN or XSYE)',
    ],
    [[...BASIC, "PARTICIPANT_2 ="], "Missing value for metadata keyword PARTICIPANT_2"],
    [[...BASIC, "ORIGINATOR = X"], "Header keyword ORIGINATOR in the metadata section"],
    [[...BASIC, "RANGE = 1"], 'Unknown metadata keyword: "RANGE"'],
    [[...BASIC, "just words"], "Cannot parse metadata line 6 (expected KEYWORD = value)"],
  ];
  for (const [metadata, reason] of cases) {
    const text = message(metadata, [`RANGE = ${T} 1`]);
    const { observations, deadLetters } = decode(text);
    assert.deepEqual(observations, [], reason);
    assert.deepEqual(deadLetters.map((d) => [d.stage, d.reason, d.ref, d.raw]), [[
      "decoding",
      reason,
      "M#0@3",
      text.split("\n").slice(2, -1).join("\n"),
    ]]);
  }
});

Deno.test("decodeTdm() accepts every metadata keyword of 503.0-B-2 §3.3 and keeps them in meta, without COMMENT", () => {
  const metadata = [
    "COMMENT a comment is not kept",
    "TRACK_ID = T1",
    "DATA_TYPES = RANGE,ANGLE_1",
    "TIME_SYSTEM = UTC",
    "START_TIME = 2026-11-25T12:00:00",
    "STOP_TIME = 2026-11-25T13:00:00",
    ...[1, 2, 3, 4, 5].map((i) => `PARTICIPANT_${i} = P${i}`),
    "MODE = SEQUENTIAL",
    "PATH = 1,2,1",
    "PATH_1 = 1,2",
    "PATH_2 = 3,2",
    ...[1, 2, 3, 4, 5].map((i) => `EPHEMERIS_NAME_${i} = E${i}`),
    "TRANSMIT_BAND = X",
    "RECEIVE_BAND = X",
    "TURNAROUND_NUMERATOR = 880",
    "TURNAROUND_DENOMINATOR = 749",
    "TIMETAG_REF = RECEIVE",
    "INTEGRATION_INTERVAL = 1.0",
    "INTEGRATION_REF = MIDDLE",
    "FREQ_OFFSET = 0",
    "RANGE_MODE = COHERENT",
    "RANGE_MODULUS = 2.0e+23",
    "RANGE_UNITS = km",
    "ANGLE_TYPE = AZEL",
    "REFERENCE_FRAME = EME2000",
    "INTERPOLATION = HERMITE",
    "INTERPOLATION_DEGREE = 5",
    "DOPPLER_COUNT_BIAS = 2.4E6",
    "DOPPLER_COUNT_SCALE = 1000",
    "DOPPLER_COUNT_ROLLOVER = NO",
    ...[1, 2, 3, 4, 5].map((i) => `TRANSMIT_DELAY_${i} = 0.0000${i}`),
    ...[1, 2, 3, 4, 5].map((i) => `RECEIVE_DELAY_${i} = 0.0000${i}`),
    "DATA_QUALITY = VALIDATED",
    "CORRECTION_ANGLE_1 = 0.1",
    "CORRECTION_ANGLE_2 = 0.2",
    "CORRECTION_DOPPLER = 0.3",
    "CORRECTION_MAG = 0.4",
    "CORRECTION_RANGE = 0.5",
    "CORRECTION_RCS = 0.6",
    "CORRECTION_RECEIVE = 0.7",
    "CORRECTION_TRANSMIT = 0.8",
    "CORRECTION_ABERRATION_YEARLY = 0.9",
    "CORRECTION_ABERRATION_DIURNAL = 1.0",
    "CORRECTIONS_APPLIED = YES",
  ];
  const { observations, deadLetters } = decode(message(metadata, [`RANGE = ${T} 1`]));
  assert.deepEqual(deadLetters, []);
  const expected: Record<string, string> = { CCSDS_TDM_VERS: "2.0", MESSAGE_ID: "M" };
  for (const line of metadata.slice(1)) {
    const [key, value] = line.split(" = ");
    expected[key] = value;
  }
  assert.deepEqual(observations[0].provenance.meta, expected);
  assert.deepEqual(Object.keys(observations[0].provenance.meta), Object.keys(expected));
  assert.equal(observations[0].sensor, "P1");
  assert.deepEqual(observations[0].target, { norad: null, id: "P2" });
});

Deno.test("decodeTdm() maps PARTICIPANT_2 digits to a NORAD number", () => {
  const target = (value: string) =>
    decode(message([...BASIC, `PARTICIPANT_2 = ${value}`], [`RANGE = ${T} 1`]))
      .observations[0].target;
  assert.deepEqual(target("00049863"), { norad: 49863, id: "49863" });
  assert.deepEqual(target("UNKNOWN"), { norad: null, id: null });
  assert.deepEqual(target("DSS-25"), { norad: null, id: "DSS-25" });
  // Too many digits for an exact number: kept as a designator.
  assert.deepEqual(target("1234567890123456789"), { norad: null, id: "1234567890123456789" });
});

Deno.test("decodeTdm() dead-letters every segment of a message with an unsupported CCSDS_TDM_VERS", () => {
  const text = message(BASIC, [`RANGE = ${T} 1`]).replace("= 2.0", "= 3.0");
  assert.deepEqual(reasons(text), [
    ["decoding", 'Unsupported CCSDS_TDM_VERS: "3.0" (expected 1.0 or 2.0)', "M#0@3"],
  ]);
});

Deno.test("decodeTdm() dead-letters bad header lines and lines out of place, without losing the message", () => {
  const text = message(BASIC, [`RANGE = ${T} 1`], [
    "MESSAGE_ID = M",
    "MESSAGE_ID = N",
    "COLOUR = red",
    "TIME_SYSTEM = UTC",
    "DATA_START",
  ]) + ["RANGE = 2026-11-25T12:00:01 2", "META_START", ...BASIC, "META_STOP", "DATA_START"].join(
    "\n",
  ) + `\nRCS = ${T} 3\nMETA_START\n${BASIC.join("\n")}\nMETA_STOP\nDATA_START\nRCS = ${T} 4\n`;
  assert.deepEqual(reasons(text), [
    ["decoding", 'Repeated header keyword: "MESSAGE_ID"', null],
    ["decoding", 'Unknown header keyword: "COLOUR"', null],
    ["decoding", "Metadata keyword TIME_SYSTEM in the message header (before META_START)", null],
    ["decoding", "Unexpected DATA_START in the message header (expected META_START)", null],
    [
      "decoding",
      "Unexpected RANGE after DATA_STOP (expected META_START or CCSDS_TDM_VERS)",
      null,
    ],
  ]);
  // A segment without DATA_STOP ends at the next META_START; both are read.
  assert.deepEqual(decode(text).observations.map((o) => [o.measurement, o.provenance.ref]), [
    [{ range_km: 1 }, "M#0@12"],
    [{ rcs_m2: 3 }, "M#1@20"],
    [{ rcs_m2: 4 }, "M#2@26"],
  ]);
});

Deno.test("decodeTdm() dead-letters lines outside any message and reads the message after them", () => {
  const text = "COMMENT before\n\nDATA_STOP\nRANGE = x\n" + message(BASIC, [`RANGE = ${T} 1`]);
  assert.deepEqual(reasons(text), [
    ["decoding", "Line outside a message: DATA_STOP before any CCSDS_TDM_VERS", null],
    ["decoding", "Line outside a message: RANGE before any CCSDS_TDM_VERS", null],
  ]);
  assert.deepEqual(measurements(text), [{ range_km: 1 }]);
});

Deno.test("decodeTdm() makes DATA_START before META_STOP a segment dead letter up to its DATA_STOP", () => {
  const text = [
    "CCSDS_TDM_VERS = 2.0",
    "MESSAGE_ID = M",
    "META_START",
    ...BASIC,
    "DATA_START",
    `RANGE = ${T} 1`,
    "DATA_STOP",
    "META_START",
    ...BASIC,
    "META_STOP",
    "DATA_START",
    `RANGE = ${T} 2`,
    "DATA_STOP",
  ].join("\n");
  const { observations, deadLetters } = decode(text);
  assert.deepEqual(deadLetters.map((d) => [d.reason, d.ref, d.raw]), [[
    "DATA_START before META_STOP: the metadata section is not closed",
    "M#0@3",
    ["META_START", ...BASIC, "DATA_START", `RANGE = ${T} 1`, "DATA_STOP"].join("\n"),
  ]]);
  assert.deepEqual(observations.map((o) => o.provenance.ref), ["M#1@14"]);
});

Deno.test("decodeTdm() cuts the raw lines of a huge bad segment at 1 KiB and gives their size", () => {
  const data = Array.from({ length: 5000 }, (_, i) => `RANGE = ${T}.${i} 1234.5678`);
  const { deadLetters } = decode(message(["PARTICIPANT_1 = XR1"], data));
  assert.equal(deadLetters.length, 1);
  const raw = deadLetters[0].raw as string;
  const segment = [
    "META_START",
    "PARTICIPANT_1 = XR1",
    "META_STOP",
    "DATA_START",
    ...data,
    "DATA_STOP",
  ]
    .join("\n");
  assert.equal(raw, `${segment.slice(0, MAX_RAW_BYTES)}…(${segment.length} bytes)`);
});

Deno.test("decodeTdm() counts blank, comment and unreadable lines in the line numbers of refs", () => {
  const bytes = new TextEncoder().encode(
    message(BASIC, ["", "COMMENT c", "\xff", `RANGE = ${T} 1`]),
  );
  // Replace the placeholder with a byte that is not UTF-8.
  const at = bytes.indexOf(0xc3);
  const broken = new Uint8Array([...bytes.subarray(0, at), 0xff, ...bytes.subarray(at + 2)]);
  const { observations, deadLetters } = decodeTdm(broken, ctx);
  assert.deepEqual(deadLetters.map((d) => [d.stage, d.reason, d.ref]), [
    ["framing", "Line is not valid UTF-8", "M#0@10"],
  ]);
  assert.equal(observations[0].provenance.ref, "M#0@11");
});

Deno.test("decodeTdm() makes an unreadable metadata line a framing dead letter and the segment a decoding one", () => {
  const text = message([...BASIC, "RANGE_UNITS = " + "s".repeat(100)], [`RANGE = ${T} 1`]);
  const { observations, deadLetters } = decodeTdm(text, ctx, { maxLineBytes: 64 });
  assert.deepEqual(observations, []);
  // In input order: the segment (from line 3) before the line inside it.
  assert.deepEqual(deadLetters.map((d) => [d.stage, d.reason, d.ref]), [
    ["decoding", "Cannot read metadata line 6: line longer than 64 bytes", "M#0@3"],
    ["framing", "Line longer than 64 bytes", "M#0@6"],
  ]);
});

Deno.test("decodeTdm() stamps t_rx with the receive clock and dead letters with it too", () => {
  const clock = {
    source: "xr1",
    transport: "tcp" as const,
    peer: "p",
    now: () => 1_795_608_000_123_456,
  };
  const { observations, deadLetters } = decodeTdm(
    message(BASIC, [`RANGE = ${T} 1`, `RANGE = ${T} x`]),
    clock,
  );
  assert.equal(observations[0].t_rx, "2026-11-25T12:00:00.123456Z");
  assert.equal(deadLetters[0].t_rx, "2026-11-25T12:00:00.123456Z");
});

Deno.test("parseNumber() reads KVN reals exactly as Number() does, and nothing else", () => {
  for (
    const text of [
      "1",
      "-0",
      "+5",
      ".5",
      "5.",
      "1E-3",
      "-2.5e+10",
      "0.1000000000000000055511151231257827",
      "123456789012345678",
      "0.0000000000000000000000001234",
    ]
  ) {
    assert.equal(Object.is(parseNumber(text), Number(text)), true, text);
  }
  for (
    const text of [
      "",
      "+",
      ".",
      "e5",
      "1e",
      "1.2.3",
      "0x10",
      "Infinity",
      "NaN",
      "1_000",
      " 1",
      "1 ",
    ]
  ) {
    assert.equal(Number.isNaN(parseNumber(text)), true, text);
  }
  // Many random decimals, as sensors write them: the fast path must agree with Number().
  let seed = 42;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 20000; i++) {
    const digits = 1 + Math.floor(random() * 16);
    const decimals = Math.floor(random() * Math.min(digits + 3, 23));
    let text = "";
    for (let d = 0; d < digits; d++) text += Math.floor(random() * 10);
    if (decimals > 0) {
      text = text.padStart(decimals + 1, "0");
      text = text.slice(0, text.length - decimals) + "." + text.slice(text.length - decimals);
    }
    if (random() < 0.5) text = "-" + text;
    assert.equal(parseNumber(` ${text} `, 1, text.length + 1), Number(text), text);
  }
});

Deno.test("decodeTdm() reads timetags exactly as parseTimestamp() does, errors included", () => {
  let seed = 7;
  const random = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor((seed / 2147483648) * n);
  };
  const two = (n: number) => String(n).padStart(2, "0");
  const texts: string[] = [];
  for (let i = 0; i < 3000; i++) {
    // Mostly valid, nearby instants (so the per-minute cache is exercised), some not.
    const month = random(20) === 0 ? 13 : 11;
    const day = random(20) === 0 ? 31 : 25;
    const hour = random(30) === 0 ? 24 : 12;
    const minute = random(3) + (random(30) === 0 ? 60 : 0);
    const second = random(61);
    const fraction = random(4) === 0
      ? ""
      : "." + String(random(1e9)).padStart(9, "0").slice(0, random(10));
    const zone = random(3) === 0 ? "Z" : "";
    let text = `2026-${two(month)}-${two(day)}T${two(hour)}:${two(minute)}:${
      two(second)
    }${fraction}${zone}`;
    if (random(25) === 0) text = `2026-329T12:0${random(3)}:${two(second)}${fraction}`;
    if (random(50) === 0) text = text.replace(":", "-");
    texts.push(text);
  }
  for (const timeSystem of ["UTC", "TAI"] as const) {
    const data = texts.flatMap((t, i) => [`RANGE = ${t} ${i}`, "RCS = 2000-01-01T00:00:00 0"]);
    const { observations, deadLetters } = decode(
      message([`TIME_SYSTEM = ${timeSystem}`, "PARTICIPANT_1 = XR1"], data),
    );
    const expectedTimes: string[] = [];
    const expectedReasons: string[] = [];
    for (const text of texts) {
      try {
        expectedTimes.push(formatTimestamp(toUtc(parseTimestamp(text), timeSystem)));
      } catch (error) {
        expectedReasons.push(`Invalid RANGE timetag: ${(error as Error).message}`);
      }
    }
    assert.ok(expectedReasons.length > 100 && expectedTimes.length > 2000);
    assert.deepEqual(
      observations.filter((o) => "range_km" in o.measurement).map((o) => o.t_obs),
      expectedTimes,
    );
    assert.deepEqual(deadLetters.map((d) => d.reason), expectedReasons);
  }
});

Deno.test("decodeTdm() ignores a byte order mark before the first message", () => {
  const body = new Uint8Array([
    0xef,
    0xbb,
    0xbf,
    ...new TextEncoder().encode(message(BASIC, [`RANGE = ${T} 1`])),
  ]);
  const { observations, deadLetters } = decodeTdm(body, ctx);
  assert.deepEqual(deadLetters, []);
  assert.deepEqual(observations.map((o) => o.provenance.ref), ["M#0@8"]);
});
