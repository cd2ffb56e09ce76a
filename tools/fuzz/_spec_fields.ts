/**
 * SPEC §5's field names as the fuzz oracle and mutators know them: written
 * out from the SPEC, not taken from the decoder they judge.
 *
 * @module
 */

/** The fields of a UDL EO observation that SPEC §5 names, required ones first among them. */
export const SPEC_FIELD_NAMES: readonly string[] = [
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
