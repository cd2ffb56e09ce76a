/**
 * The keyword vocabulary of CCSDS 503.0-B-2 (TDM 2.0) in keyword = value
 * notation, which is a superset of 503.0-B-1 (TDM 1.0).
 *
 * Both versions are accepted with the union of their keywords: a TDM 1.0
 * sender that adds `RCS` or `TRACK_ID` (keywords that 2.0 later
 * standardised) is read, not rejected, because the meaning of each keyword
 * is the same in both versions.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** Header keywords (503.0-B-2 Table 3-2), apart from `CCSDS_TDM_VERS` and `COMMENT`. */
export const HEADER_KEYWORDS: ReadonlySet<string> = new Set([
  "CREATION_DATE",
  "ORIGINATOR",
  "MESSAGE_ID",
]);

function indexed(stem: string, from = 1, to = 5): string[] {
  const out: string[] = [];
  for (let i = from; i <= to; i++) out.push(`${stem}_${i}`);
  return out;
}

/** Metadata keywords (503.0-B-2 Table 3-3), apart from `COMMENT`. */
export const METADATA_KEYWORDS: ReadonlySet<string> = new Set([
  "TRACK_ID",
  "DATA_TYPES",
  "TIME_SYSTEM",
  "START_TIME",
  "STOP_TIME",
  ...indexed("PARTICIPANT"),
  "MODE",
  "PATH",
  "PATH_1",
  "PATH_2",
  ...indexed("EPHEMERIS_NAME"),
  "TRANSMIT_BAND",
  "RECEIVE_BAND",
  "TURNAROUND_NUMERATOR",
  "TURNAROUND_DENOMINATOR",
  "TIMETAG_REF",
  "INTEGRATION_INTERVAL",
  "INTEGRATION_REF",
  "FREQ_OFFSET",
  "RANGE_MODE",
  "RANGE_MODULUS",
  "RANGE_UNITS",
  "ANGLE_TYPE",
  "REFERENCE_FRAME",
  "INTERPOLATION",
  "INTERPOLATION_DEGREE",
  "DOPPLER_COUNT_BIAS",
  "DOPPLER_COUNT_SCALE",
  "DOPPLER_COUNT_ROLLOVER",
  ...indexed("TRANSMIT_DELAY"),
  ...indexed("RECEIVE_DELAY"),
  "DATA_QUALITY",
  "CORRECTION_ANGLE_1",
  "CORRECTION_ANGLE_2",
  "CORRECTION_DOPPLER",
  "CORRECTION_MAG",
  "CORRECTION_RANGE",
  "CORRECTION_RCS",
  "CORRECTION_RECEIVE",
  "CORRECTION_TRANSMIT",
  "CORRECTION_ABERRATION_YEARLY",
  "CORRECTION_ABERRATION_DIURNAL",
  "CORRECTIONS_APPLIED",
]);

/**
 * How a data keyword maps to the envelope (SPEC §4 "Mapping"): the slot its
 * first value of a group fills. Everything that is not one of the mapped
 * keywords goes to `measurement.other` (slot 0).
 */
export const SLOT_OTHER = 0;
/** `RANGE` → `range_km` / `range_s` / `range_ru`. */
export const SLOT_RANGE = 1;
/** `DOPPLER_INSTANTANEOUS` → `range_rate_km_s`. */
export const SLOT_DOPPLER_INSTANTANEOUS = 2;
/** `DOPPLER_INTEGRATED` → `doppler_integrated_km_s`. */
export const SLOT_DOPPLER_INTEGRATED = 3;
/** `ANGLE_1` → `az_deg` / `ra_deg` / `angle_1_deg`. */
export const SLOT_ANGLE_1 = 4;
/** `ANGLE_2` → `el_deg` / `dec_deg` / `angle_2_deg`. */
export const SLOT_ANGLE_2 = 5;
/** `RCS` → `rcs_m2`. */
export const SLOT_RCS = 6;
/** `MAG` → `mag`. */
export const SLOT_MAG = 7;

/** Number of slots, for per-group bookkeeping arrays. */
export const SLOT_COUNT = 8;

/** A data keyword and where its values go. */
export interface DataKeyword {
  /** The keyword as written. */
  readonly name: string;
  /** Where the first value of a group goes (a `SLOT_*` constant). */
  readonly slot: number;
}

const MAPPED: Record<string, number> = {
  RANGE: SLOT_RANGE,
  DOPPLER_INSTANTANEOUS: SLOT_DOPPLER_INSTANTANEOUS,
  DOPPLER_INTEGRATED: SLOT_DOPPLER_INTEGRATED,
  ANGLE_1: SLOT_ANGLE_1,
  ANGLE_2: SLOT_ANGLE_2,
  RCS: SLOT_RCS,
  MAG: SLOT_MAG,
};

/** Data keywords (503.0-B-2 Table 3-5, which includes every 1.0 keyword), apart from `COMMENT`. */
export const DATA_KEYWORDS: ReadonlyMap<string, DataKeyword> = new Map(
  [
    "ANGLE_1",
    "ANGLE_2",
    "CARRIER_POWER",
    "CLOCK_BIAS",
    "CLOCK_DRIFT",
    "DOPPLER_COUNT",
    "DOPPLER_INSTANTANEOUS",
    "DOPPLER_INTEGRATED",
    "DOR",
    "MAG",
    "PC_N0",
    "PR_N0",
    "PRESSURE",
    "RANGE",
    "RCS",
    "RECEIVE_FREQ",
    ...indexed("RECEIVE_FREQ"),
    ...indexed("RECEIVE_PHASE_CT"),
    "RHUMIDITY",
    "STEC",
    "TEMPERATURE",
    ...indexed("TRANSMIT_FREQ"),
    ...indexed("TRANSMIT_FREQ_RATE"),
    ...indexed("TRANSMIT_PHASE_CT"),
    "TROPO_DRY",
    "TROPO_WET",
    "VLBI_DELAY",
  ].map((name) => [name, { name, slot: MAPPED[name] ?? SLOT_OTHER }]),
);

/** `TIME_SYSTEM` values the service can convert to UTC (SPEC §14). */
export const TIME_SYSTEMS: ReadonlySet<string> = new Set(["UTC", "TAI", "GPS"]);

/** `ANGLE_TYPE` values of 503.0-B-2 §3.3.3. */
export const ANGLE_TYPES: ReadonlySet<string> = new Set(["AZEL", "RADEC", "XEYN", "XSYE"]);

/** `RANGE_UNITS` values of 503.0-B-2 §3.3.3. */
export const RANGE_UNITS: ReadonlySet<string> = new Set(["km", "s", "RU"]);

/** TDM versions this decoder reads. */
export const VERSIONS: ReadonlySet<string> = new Set(["1.0", "2.0"]);
