/**
 * The CSV form of an archive page (SPEC §5): a header row naming the
 * columns, in any order, then one record per observation.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { CsvRaw } from "./_csv_chunker.ts";
import { FIELD_SLOTS } from "./_fields.ts";
import type { RowMapper } from "./_row_mapper.ts";

/** Column role of an unknown column (its value goes to `provenance.meta`). */
const EXTRA = -1;

/** What the header row says about the columns. */
export interface CsvColumns {
  /** Column names, a repeated one as `name#2`, … */
  names: string[];
  /** Field slot of each column, or −1 for one that goes to `provenance.meta`. */
  roles: Int32Array;
  /** Whether any column is one of SPEC §5's fields. */
  known: boolean;
}

/** The columns named by a header row. */
export function csvColumns(fields: string[]): CsvColumns {
  const names = header(fields);
  const roles = new Int32Array(names.length);
  const seen = new Set<string>();
  let known = false;
  for (let j = 0; j < names.length; j++) {
    const slot = FIELD_SLOTS.get(names[j]);
    roles[j] = slot !== undefined && !seen.has(names[j]) ? slot : EXTRA;
    if (slot !== undefined) known = true;
    seen.add(names[j]);
  }
  return { names, roles, known };
}

/**
 * One record after the header into `mapper` (reset): a record with a
 * quoting error or with another number of fields than the header is a
 * `decoding` dead letter; so is one with U+FFFD when undecodable bytes came
 * at or before its end (`invalidFrom`, in the text; Infinity: none); every
 * other record is mapped, and may still fail validation. `raw` gives the
 * record's text, asked for only for a dead letter.
 */
export function mapCsvRecord(
  mapper: RowMapper,
  columns: CsvColumns,
  fields: string[],
  error: string | undefined,
  raw: () => CsvRaw,
  invalidFrom: number,
): void {
  const { names, roles } = columns;
  if (error !== undefined) {
    mapper.fail("decoding", `Cannot parse CSV record: ${error}`, raw().text);
    return;
  }
  if (fields.length !== roles.length) {
    mapper.fail(
      "decoding",
      `CSV record has ${fields.length} fields, the header has ${roles.length}`,
      raw().text,
    );
    return;
  }
  const values = mapper.values;
  const extraNames = mapper.extraNames;
  const extraValues = mapper.extraValues;
  for (let j = 0; j < fields.length; j++) {
    const value = fields[j];
    // SPEC §5: an empty cell is an absent field.
    if (value === "") continue;
    const role = roles[j];
    if (role === EXTRA) {
      extraNames.push(names[j]);
      extraValues.push(value);
    } else {
      values[role] = value;
    }
  }
  if (invalidFrom !== Infinity) {
    const { text, end } = raw();
    if (end > invalidFrom && text.includes("\ufffd")) {
      mapper.fail("decoding", "CSV record is not valid UTF-8", text);
      return;
    }
  }
  const failure = mapper.map();
  if (failure !== undefined) mapper.reject(failure, raw().text);
}

/**
 * Column names; a repeated name is kept apart as `name#2`, `name#3`, … (in
 * `provenance.meta`), the first occurrence being the one that maps.
 */
function header(fields: string[]): string[] {
  const counts = new Map<string, number>();
  return fields.map((name) => {
    const count = (counts.get(name) ?? 0) + 1;
    counts.set(name, count);
    return count === 1 ? name : `${name}#${count}`;
  });
}
