/**
 * The CSV form of an archive page (SPEC §5): a header row naming the
 * columns, in any order, then one record per observation.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { csvRecords } from "./_csv_records.ts";
import { FIELD_SLOTS } from "./_fields.ts";
import type { RowMapper } from "./_row_mapper.ts";

/** Column role of an unknown column (its value goes to `provenance.meta`). */
const EXTRA = -1;

/**
 * Decodes the records of `text` (BOM removed) into `mapper`. Records that
 * are only blank lines are skipped; a record with a quoting error or with
 * another number of fields than the header is a `decoding` dead letter;
 * every other record is mapped (and may still fail validation). A header
 * with a quoting error makes the whole page one `decoding` dead letter.
 *
 * `invalidUtf8` tells that the body had bytes that are not UTF-8: records
 * that contain the replacement character are then dead-lettered instead of
 * being ingested with altered text.
 */
export function decodeCsv(text: string, mapper: RowMapper, invalidUtf8: boolean): void {
  const page = csvRecords(text);
  const records = page.records;
  const values = mapper.values;
  const extraNames = mapper.extraNames;
  const extraValues = mapper.extraValues;
  let columns: CsvColumns | undefined;
  for (let i = 0; i < records.length; i++) {
    const fields = records[i];
    const error = page.errors.get(i);
    if (fields.length === 1 && fields[0] === "" && error === undefined) continue;
    if (columns === undefined) {
      if (error !== undefined) {
        // A header with a quoting error names no columns one can trust, and
        // an unterminated quote swallows the rest of the page into it: the
        // page is one dead letter rather than nothing at all.
        mapper.fail("decoding", `Cannot parse CSV header: ${error}`, text);
        return;
      }
      columns = csvColumns(fields);
      continue;
    }
    const { names, roles } = columns;
    mapper.reset();
    if (error !== undefined) {
      mapper.fail("decoding", `Cannot parse CSV record: ${error}`, page.text(i));
      continue;
    }
    if (fields.length !== roles.length) {
      mapper.fail(
        "decoding",
        `CSV record has ${fields.length} fields, the header has ${roles.length}`,
        page.text(i),
      );
      continue;
    }
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
    if (invalidUtf8) {
      const raw = page.text(i);
      if (raw.includes("\ufffd")) {
        mapper.fail("decoding", "CSV record is not valid UTF-8", raw);
        continue;
      }
    }
    const failure = mapper.map();
    if (failure !== undefined) mapper.reject(failure, page.text(i));
  }
}

/** What the header row says about the columns. */
export interface CsvColumns {
  /** Column names, a repeated one as `name#2`, … */
  names: string[];
  /** Field slot of each column, or −1 for one that goes to `provenance.meta`. */
  roles: Int32Array;
}

/** The columns named by a header row (also for the streaming decoder). */
export function csvColumns(fields: string[]): CsvColumns {
  const names = header(fields);
  const roles = new Int32Array(names.length);
  const seen = new Set<string>();
  for (let j = 0; j < names.length; j++) {
    const slot = FIELD_SLOTS.get(names[j]);
    roles[j] = slot !== undefined && !seen.has(names[j]) ? slot : EXTRA;
    seen.add(names[j]);
  }
  return { names, roles };
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
