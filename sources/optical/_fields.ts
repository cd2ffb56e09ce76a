/**
 * The UDL EO observation fields that SPEC §5 maps, as slots of a reused
 * array, and the strict value parsers shared by the CSV and JSON decoders.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** Slot of each mapped field in a row's value array. */
export const ID = 0;
export const OB_TIME = 1;
export const ID_SENSOR = 2;
export const SAT_NO = 3;
export const ORIG_OBJECT_ID = 4;
export const RA = 5;
export const DECLINATION = 6;
export const RA_UNC = 7;
export const DECLINATION_UNC = 8;
export const MAG = 9;
export const MAG_UNC = 10;
export const SENLAT = 11;
export const SENLON = 12;
export const SENALT = 13;
export const REFERENCE_FRAME = 14;
export const UCT = 15;
export const DATA_MODE = 16;
export const SOURCE = 17;

/** UDL field names, by slot. */
export const FIELD_NAMES: readonly string[] = [
  "id",
  "obTime",
  "idSensor",
  "satNo",
  "origObjectId",
  "ra",
  "declination",
  "raUnc",
  "declinationUnc",
  "mag",
  "magUnc",
  "senlat",
  "senlon",
  "senalt",
  "referenceFrame",
  "uct",
  "dataMode",
  "source",
];

/** Number of mapped fields. */
export const FIELD_COUNT = FIELD_NAMES.length;

/**
 * Field name → slot. A `Map`, not an object, so that a column called
 * `constructor` or `__proto__` is simply an unknown column.
 */
export const FIELD_SLOTS: ReadonlyMap<string, number> = new Map(
  FIELD_NAMES.map((name, slot) => [name, slot]),
);

/** Why a row could not become an observation. */
export class RowFailure {
  /** `decoding` for unparseable values, `validation` for rule violations. */
  readonly stage: "decoding" | "validation";
  /** Specific and readable, e.g. `Cannot parse ra value as a number: "12.3.4"`. */
  readonly reason: string;

  constructor(stage: "decoding" | "validation", reason: string) {
    this.stage = stage;
    this.reason = reason;
  }
}

/** Longest quote of a value in a reason, characters; a longer one is cut and says its length. */
const SHOW_CHARS = 100;

/**
 * How a value is quoted in a reason: strings in quotes, the rest as JSON,
 * cut after 100 characters (a dead letter's reason must not carry what
 * its capped `raw` leaves out).
 */
export function show(value: unknown): string {
  // JSON would write Infinity (a JSON number that overflowed) as null.
  if (typeof value === "number") return String(value);
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  if (text.length <= SHOW_CHARS) return text;
  // Not between the halves of a surrogate pair.
  const high = text.charCodeAt(SHOW_CHARS - 1);
  const cut = high >= 0xd800 && high < 0xdc00 ? SHOW_CHARS - 1 : SHOW_CHARS;
  return `${text.slice(0, cut)}…(${text.length} characters)`;
}

/**
 * Whether `text` is a plain decimal number: optional sign, digits with an
 * optional fraction, optional exponent. Stricter than `Number()`, which
 * would also take `""`, `" 1 "`, `"0x10"` and `"Infinity"` — none of which an
 * archive writes for an angle.
 */
export function isDecimal(text: string): boolean {
  const n = text.length;
  let i = 0;
  let c = text.charCodeAt(0);
  if (c === 45 || c === 43) c = text.charCodeAt(++i); // - +
  let digits = 0;
  while (c >= 48 && c <= 57) {
    digits++;
    c = text.charCodeAt(++i);
  }
  if (c === 46) { // .
    c = text.charCodeAt(++i);
    while (c >= 48 && c <= 57) {
      digits++;
      c = text.charCodeAt(++i);
    }
  }
  if (digits === 0) return false;
  if (c === 101 || c === 69) { // e E
    c = text.charCodeAt(++i);
    if (c === 45 || c === 43) c = text.charCodeAt(++i);
    let exponent = 0;
    while (c >= 48 && c <= 57) {
      exponent++;
      c = text.charCodeAt(++i);
    }
    if (exponent === 0) return false;
  }
  return i === n;
}

/**
 * A finite number from a CSV cell (text) or a JSON value (a number, or text
 * holding one); a {@link RowFailure} at stage `decoding` otherwise.
 */
export function toNumber(value: unknown, name: string): number | RowFailure {
  if (typeof value === "number") return value;
  if (typeof value === "string") {
    const n = plainNumber(value);
    if (n === n) return n;
  }
  return numberFailure(value, name);
}

/** The failure of {@link toNumber}. */
export function numberFailure(value: unknown, name: string): RowFailure {
  return new RowFailure("decoding", `Cannot parse ${name} value as a number: ${show(value)}`);
}

/**
 * The value of a plain decimal number, NaN for anything else — the same
 * verdict as {@link isDecimal}, for the hot path: `+text` already rejects
 * everything but numbers; what it still accepts beyond decimals is white
 * space around them (`" 1"`), `""`, `Infinity` and the `0x`/`0o`/`0b`
 * radix forms, which the first, second and last characters give away.
 */
export function plainNumber(text: string): number {
  const n = +text;
  if (n - n !== 0) return NaN; // NaN or ±Infinity
  const first = text.charCodeAt(0);
  // digit, "+", "-", "."
  if (!((first >= 48 && first <= 57) || first === 43 || first === 45 || first === 46)) {
    return NaN;
  }
  const last = text.charCodeAt(text.length - 1);
  if (!((last >= 48 && last <= 57) || last === 46)) return NaN;
  const second = text.charCodeAt(1) | 0x20; // lower case
  return second === 0x78 || second === 0x6f || second === 0x62 ? NaN : n; // x o b
}

/** A NORAD catalogue number: a non-negative safe integer. */
export function toNorad(value: unknown): number | RowFailure {
  let n: number;
  if (typeof value === "number") {
    n = value;
  } else if (typeof value === "string" && isDecimal(value)) {
    n = +value;
  } else {
    n = NaN;
  }
  if (!Number.isSafeInteger(n)) {
    return new RowFailure("decoding", `Cannot parse satNo value as an integer: ${show(value)}`);
  }
  if (n < 0) {
    return new RowFailure("validation", `satNo value out of range [0, 2^53): ${n}`);
  }
  return n;
}

/** Text of a string field; JSON numbers are accepted as their decimal text. */
export function toText(value: unknown, name: string): string | RowFailure {
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  return new RowFailure("decoding", `Cannot read ${name} value as text: ${show(value)}`);
}
