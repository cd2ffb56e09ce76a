/**
 * Mutators that know the input is lines of text (TDM KVN, CSV, JSON), so
 * that they reach past the tokenizer: extreme timestamps and numbers where
 * the fixtures have ordinary ones, lines duplicated, dropped and swapped,
 * line ends mixed, byte order marks and NUL bytes, dictionary lines.
 *
 * They work on a "binary string" (one char per byte), so bytes they do not
 * touch — including invalid UTF-8 — survive unchanged.
 *
 * @module
 */

import { bounded, type Mutator } from "./_mutate_bytes.ts";
import type { Prng } from "./_prng.ts";

const utf8 = new TextEncoder();

/** Bytes → one char per byte. */
export function toBinary(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i += 0x2000) {
    out += String.fromCharCode(...bytes.subarray(i, i + 0x2000));
  }
  return out;
}

/** One char per byte → bytes. */
export function fromBinary(text: string): Uint8Array {
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** A UTF-8 string as a binary string. */
function utf8Binary(text: string): string {
  return toBinary(utf8.encode(text));
}

/**
 * Timestamps at the edges of SPEC §14: years 0000–9999, the 1957-10-04 and
 * one-day-after bounds, leap seconds on days that have one and days that do
 * not, day-of-year forms, digits the parser must truncate, and impossible
 * dates.
 */
export const EXTREME_TIMES: readonly string[] = [
  "0000-01-01T00:00:00",
  "0000-01-01T00:00:00Z",
  "0001-01-01T00:00:00.000001Z",
  "0000-366T23:59:59",
  "0004-02-29T12:00:00",
  "0100-02-29T12:00:00",
  "1582-10-10T00:00:00",
  "1900-02-29T00:00:00",
  "1957-10-03T23:59:59.999999Z",
  "1957-10-04T00:00:00Z",
  "1957-277T00:00:00",
  "1958-01-01T00:00:00",
  "1969-12-31T23:59:59.999999",
  "1970-01-01T00:00:00",
  "1971-12-31T23:59:60",
  "1972-01-01T00:00:00",
  "1972-06-30T23:59:60.5",
  "1998-12-31T23:59:60.999999999",
  "2016-12-31T23:59:60",
  "2016-12-31T23:59:60.123456Z",
  "2016-366T23:59:60.5",
  "2017-01-01T00:00:36.9999999",
  "2017-01-01T00:00:37",
  "2026-11-25T23:59:60",
  "2026-06-30T23:59:60",
  "2026-12-31T23:59:60",
  "2026-02-29T00:00:00",
  "2026-13-01T00:00:00",
  "2026-00-10T00:00:00",
  "2026-11-00T00:00:00",
  "2026-11-31T00:00:00",
  "2026-000T00:00:00",
  "2026-365T23:59:59",
  "2026-366T00:00:00",
  "2024-366T00:00:00",
  "2026-11-25T24:00:00",
  "2026-11-25T23:60:00",
  "2026-11-25T23:59:61",
  "2026-11-25T23:59:99",
  "2026-11-25T12:00:00.",
  "2026-11-25T12:00:00.Z",
  "2026-11-25T12:00:00.1234567890123456789012345678901234567890Z",
  "2026-11-25T12:00:00." + "9".repeat(400) + "Z",
  "2026-11-25T12:00:00ZZ",
  "2026-11-25T12:00:00+00:00",
  "2026-11-25T12:00:00-01:00",
  "2026-11-25t12:00:00z",
  "2026-11-25 12:00:00",
  "2026-11-25T12:00",
  "2026-11-25T1:2:3",
  "2026-11-25",
  "2026-11-26T12:00:00.000001Z",
  "2026-11-26T11:59:59.999999Z",
  "2026-11-27T00:00:00Z",
  "9999-12-31T23:59:59.999999Z",
  "9999-12-31T23:59:60",
  "9999-365T23:59:59",
  "10000-01-01T00:00:00",
  "-0001-01-01T00:00:00",
  "+2026-11-25T12:00:00",
  "275760-09-13T00:00:00Z",
  "2026-11-25T12:00:00\u0000",
  "２０２６-11-25T12:00:00",
];

/** Numbers at the edges of parsers, ranges and JSON. */
export const EXTREME_NUMBERS: readonly string[] = [
  "NaN",
  "nan",
  "Infinity",
  "-Infinity",
  "inf",
  "1e309",
  "-1e309",
  "1e308",
  "1.7976931348623157e308",
  "4.9e-324",
  "1e-400",
  "-0",
  "-0.0",
  "+0",
  "0",
  "00",
  "0x10",
  "0b1",
  "0o7",
  "1_000",
  "1,5",
  "",
  ".",
  "-",
  "+",
  "e5",
  ".5",
  "5.",
  "+.5e-3",
  "1e",
  "1e+",
  "1.2.3",
  " 12",
  "12 ",
  "١٢",
  "9007199254740991",
  "9007199254740993",
  "18446744073709551616",
  "4294967295",
  "4294967296",
  "-1",
  "360",
  "359.99999999999999999",
  "-180",
  "-180.0000000001",
  "-90",
  "90",
  "90.00000000000001",
  "-90.000000000000001",
  "1" + "0".repeat(400),
  "0." + "0".repeat(400) + "1",
  "1e99999999999",
  "true",
  "null",
];

/** Whole lines that steer a TDM decoder's state machine. */
const TDM_LINES: readonly string[] = [
  "CCSDS_TDM_VERS = 2.0",
  "CCSDS_TDM_VERS = 1.0",
  "CCSDS_TDM_VERS = 3.0",
  "CCSDS_TDM_VERS =",
  "MESSAGE_ID = FUZZ",
  "ORIGINATOR = ",
  "CREATION_DATE = 9999-12-31T23:59:60",
  "META_START",
  "META_STOP",
  "DATA_START",
  "DATA_STOP",
  "COMMENT",
  "COMMENT = not a comment",
  "COMMENTS",
  "TIME_SYSTEM = UTC",
  "TIME_SYSTEM = TAI",
  "TIME_SYSTEM = GPS",
  "TIME_SYSTEM = TDB",
  "PARTICIPANT_1 = XR9",
  "PARTICIPANT_1 =",
  "PARTICIPANT_2 = UNKNOWN",
  "PARTICIPANT_2 = 00000000000000000000001",
  "PARTICIPANT_2 = 999999999999999",
  "PARTICIPANT_2 = 9999999999999999",
  "PARTICIPANT_2 = __proto__",
  "ANGLE_TYPE = AZEL",
  "ANGLE_TYPE = RADEC",
  "ANGLE_TYPE = XEYN",
  "ANGLE_TYPE = XSYE",
  "ANGLE_TYPE = azel",
  "RANGE_UNITS = s",
  "RANGE_UNITS = RU",
  "RANGE_UNITS = km",
  "RANGE_UNITS = m",
  "REFERENCE_FRAME = EME2000",
  "FAVOURITE_COLOUR = blue",
  "RANGE = 2026-11-25T12:00:00 1.0",
  "RANGE = 2026-11-25T12:00:00 -1.0",
  "RANGE=2026-11-25T12:00:00 1",
  "\tANGLE_1\t=\t2026-11-25T12:00:00\t-180\t",
  "ANGLE_1 = 2026-11-25T12:00:00 360",
  "ANGLE_2 = 2016-12-31T23:59:60.999999999 -90",
  "ANGLE_2 = 2026-11-25T12:00:00 90.0000001",
  "DOPPLER_INSTANTANEOUS = 2026-11-25T12:00:00",
  "DOPPLER_INTEGRATED = 2026-330T12:00:00 1e3",
  "RCS = 2026-11-25T12:00:00 -0",
  "MAG = 2026-11-25T12:00:00 1e309",
  "CLOCK_BIAS = 2026-11-25T12:00:00 0x10",
  "RECEIVE_FREQ_1 = 2026-11-25T12:00:00 1 2 3",
  "TRANSMIT_PHASE_CT_1 = 2026-11-25T12:00:00 12345678901234567890",
  "RANGE = 0000-01-01T00:00:00 1",
  "RANGE = 9999-12-31T23:59:59.999999 1",
  "RANGE",
  "= 1",
  "=",
  "\uFEFFRANGE = 2026-11-25T12:00:00 1",
];

/** Header names and cells that steer a CSV decoder. */
const CSV_PIECES: readonly string[] = [
  "id,obTime,idSensor,ra,declination",
  "id,obTime,idSensor,ra,declination,id,ra",
  "__proto__,constructor,toString",
  '"EO-Q","2026-11-25T12:00:00Z","S1","1","2"',
  '"unterminated,2026-11-25T12:00:00Z,S1,1,2',
  'EO-X,2026-11-25T12:00:00Z,S1,"1"x,2',
  '"a""b",2026-11-25T12:00:00Z,S1,1,2',
  '"multi\nline",2026-11-25T12:00:00Z,S1,1,2',
  '"multi\r\nline",2026-11-25T12:00:00Z,S1,1,2',
  ",,,,",
  ",",
  '"',
  '""',
  "true",
  "FALSE",
];

/** JSON fragments that steer a JSON decoder. */
const JSON_PIECES: readonly string[] = [
  "[]",
  "{}",
  "null",
  '"x"',
  "[".repeat(64),
  "]".repeat(64),
  '{"id":"J","obTime":"2026-11-25T12:00:00Z","idSensor":"S","ra":1,"declination":2}',
  '{"__proto__":{"ra":1}}',
  '{"constructor":1,"toString":"x","hasOwnProperty":null}',
  '{"id":1e999}',
  '{"ra":"1","declination":"2"}',
  '{"satNo":-1}',
  '{"satNo":1.5}',
  '{"satNo":"007"}',
  '{"uct":"maybe"}',
  '{"uct":{"a":1}}',
  '{"id":"dup","id":"dup2"}',
  '"\\ud800"',
  '"\\u0000"',
  ",",
  ":",
];

/** Positions of line starts (after each LF, and 0). */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = text.indexOf("\n"); i >= 0; i = text.indexOf("\n", i + 1)) starts.push(i + 1);
  return starts;
}

/** The input's lines, each with its own terminator. */
function splitLines(text: string): string[] {
  const starts = lineStarts(text);
  const lines: string[] = [];
  for (let i = 0; i < starts.length; i++) {
    const end = i + 1 < starts.length ? starts[i + 1] : text.length;
    if (end > starts[i] || i === 0) lines.push(text.slice(starts[i], end));
  }
  return lines;
}

/** Text mutator on the binary-string form. */
function textMutator(f: (text: string, rng: Prng) => string): Mutator {
  return (input, rng) => bounded(fromBinary(f(toBinary(input), rng)));
}

/** Replaces the `k`-th match of `pattern` (chosen at random) by `replacement(match)`. */
function replaceMatch(
  text: string,
  pattern: RegExp,
  rng: Prng,
  replacement: (match: string) => string,
): string {
  const matches = [...text.matchAll(pattern)];
  if (matches.length === 0) return text;
  const m = rng.pick(matches);
  return text.slice(0, m.index) + replacement(m[0]) + text.slice(m.index! + m[0].length);
}

const TIMESTAMP = /\d{4}-\d{2,3}(?:-\d{2})?T\d{2}:\d{2}(?::\d{2}(?:\.\d*)?)?Z?/g;
const NUMBER = /[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?/g;

/** Replaces a timestamp with an extreme one (or nudges its digits). */
export const extremeTime: Mutator = textMutator((text, rng) =>
  replaceMatch(text, TIMESTAMP, rng, (match) => {
    if (rng.chance(0.75)) return utf8Binary(rng.pick(EXTREME_TIMES));
    // Keep the shape, change one digit: a date that is plausible but wrong.
    const digits = [...match.matchAll(/\d/g)];
    const d = rng.pick(digits);
    return match.slice(0, d.index) + String(rng.int(10)) + match.slice(d.index! + 1);
  })
);

/** Replaces a number with an extreme one. */
export const extremeNumber: Mutator = textMutator((text, rng) =>
  replaceMatch(text, NUMBER, rng, () => utf8Binary(rng.pick(EXTREME_NUMBERS)))
);

/** Duplicates, deletes, swaps or shuffles whole lines. */
export const lineOps: Mutator = textMutator((text, rng) => {
  const lines = splitLines(text);
  if (lines.length === 0) return text;
  const i = rng.int(lines.length);
  switch (rng.int(5)) {
    case 0:
      lines.splice(i, 0, ...Array(rng.chance(0.9) ? 1 : rng.range(2, 2000)).fill(lines[i]));
      break;
    case 1:
      lines.splice(i, rng.size(lines.length - i));
      break;
    case 2: {
      const j = rng.int(lines.length);
      [lines[i], lines[j]] = [lines[j], lines[i]];
      break;
    }
    case 3: {
      const end = Math.min(lines.length, i + rng.range(2, 8));
      const block = lines.slice(i, end);
      for (let k = block.length - 1; k > 0; k--) {
        const j = rng.int(k + 1);
        [block[k], block[j]] = [block[j], block[k]];
      }
      lines.splice(i, block.length, ...block);
      break;
    }
    default: {
      // Move a block elsewhere: a reordered retransmission.
      const end = Math.min(lines.length, i + rng.range(1, 12));
      const block = lines.splice(i, end - i);
      lines.splice(rng.int(lines.length + 1), 0, ...block);
    }
  }
  // A moved last line that had no terminator now sits mid-text: give it one.
  return lines.map((l, k) => (k < lines.length - 1 && !l.endsWith("\n") ? l + "\n" : l)).join("");
});

/** Mixes LF, CRLF, bare CR and CRCRLF line ends. */
export const lineEnds: Mutator = textMutator((text, rng) => {
  const all = rng.chance(0.3);
  return text.replace(/\r?\n/g, (end) => {
    if (!all && !rng.chance(0.2)) return end;
    return rng.pick(["\n", "\r\n", "\r", "\r\r\n", "\n\r", "\n\n"]);
  });
});

/** Inserts a BOM, NUL bytes, odd white space or invalid UTF-8 somewhere. */
export const oddCharacters: Mutator = textMutator((text, rng) => {
  const piece = rng.pick([
    "\xef\xbb\xbf",
    "\xef\xbb\xbf\xef\xbb\xbf",
    "\x00",
    "\x00".repeat(rng.range(2, 300)),
    "\t",
    "\v\f",
    "\xe2\x80\xa8", // U+2028
    "\xc2\xa0", // NBSP
    "\xed\xa0\x80", // a UTF-16 surrogate, invalid in UTF-8
    "\xc0\xaf", // overlong
    "\xf4\x90\x80\x80", // beyond U+10FFFF
    "\xf0\x9f\x9b\xb0", // 🛰
    "\xe2\x80",
    "\xff",
    "\x1b[2J",
  ]);
  const at = rng.chance(0.3) ? 0 : rng.pick(lineStarts(text)) + (rng.chance(0.5) ? 0 : rng.int(8));
  const p = Math.min(at, text.length);
  return text.slice(0, p) + piece + text.slice(p);
});

/** A mutator that inserts one of `pieces` as a line (or inside a line). */
function dictionary(pieces: readonly string[]): Mutator {
  return textMutator((text, rng) => {
    const piece = utf8Binary(rng.pick(pieces));
    const starts = lineStarts(text);
    if (rng.chance(0.7)) {
      const at = rng.pick(starts);
      return text.slice(0, at) + piece + "\n" + text.slice(at);
    }
    const at = rng.int(text.length + 1);
    return text.slice(0, at) + piece + text.slice(at);
  });
}

/** Inserts TDM keyword lines that steer the message/segment grammar. */
export const tdmDictionary: Mutator = dictionary(TDM_LINES);
/** Inserts CSV headers, quoting tricks and cells. */
export const csvDictionary: Mutator = dictionary(CSV_PIECES);
/** Inserts JSON fragments. */
export const jsonDictionary: Mutator = dictionary(JSON_PIECES);

/** Adds, removes or quotes a CSV field of one record. */
export const csvFields: Mutator = textMutator((text, rng) => {
  const lines = splitLines(text);
  if (lines.length === 0) return text;
  const i = rng.int(lines.length);
  const line = lines[i];
  const end = line.match(/\r?\n$/)?.[0] ?? "";
  const fields = line.slice(0, line.length - end.length).split(",");
  const f = rng.int(fields.length);
  switch (rng.int(6)) {
    case 0:
      fields.splice(f, 0, rng.chance(0.5) ? "" : "extra");
      break;
    case 1:
      fields.splice(f, 1);
      break;
    case 2:
      fields[f] = '"' + fields[f].replaceAll('"', '""') + '"';
      break;
    case 3:
      fields[f] = '"' + fields[f] + (rng.chance(0.5) ? "\n" : "\r\n") + fields[f] + '"';
      break;
    case 4:
      fields[f] = fields[f] + '"';
      break;
    default:
      fields[f] = "";
  }
  lines[i] = fields.join(",") + end;
  return lines.join("");
});

/** Every text mutator that is not specific to one format. */
export const TEXT_MUTATORS: readonly Mutator[] = [
  extremeTime,
  extremeNumber,
  lineOps,
  lineEnds,
  oddCharacters,
];
