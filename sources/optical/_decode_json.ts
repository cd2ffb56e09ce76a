/**
 * The JSON form of an archive page (SPEC §5): an array of objects with the
 * same field names as the CSV columns, numbers as JSON numbers.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { FIELD_SLOTS, show } from "./_fields.ts";
import type { RowMapper } from "./_row_mapper.ts";

/**
 * Decodes `text`, a whole page, into `mapper` (for a page that ends before
 * its first element is complete; the others are decoded element by
 * element). Text that is not JSON, or JSON that is not an array, is one
 * `decoding` dead letter for the page; an element that is not an object is
 * one for that element. `null` and `""` are absent fields
 * (as an empty CSV cell is). Unknown fields go to `provenance.meta`:
 * strings, numbers and booleans as they are, objects and arrays as their
 * JSON text, since meta holds only scalars.
 */
export function decodeJson(text: string, mapper: RowMapper): void {
  let page: unknown;
  try {
    page = JSON.parse(text);
  } catch (error) {
    mapper.fail("decoding", `Cannot parse JSON page: ${(error as Error).message}`, text);
    return;
  }
  decodeJsonValue(page, text, mapper);
}

/** A whole page already parsed (`text` its source) into `mapper`. */
export function decodeJsonValue(page: unknown, text: string, mapper: RowMapper): void {
  if (!Array.isArray(page)) {
    mapper.fail("decoding", `JSON page is not an array: ${kindOf(page)}`, text);
    return;
  }
  for (let i = 0; i < page.length; i++) decodeJsonRecord(page[i], mapper);
}

/** One element of the page array into `mapper`. */
export function decodeJsonRecord(record: unknown, mapper: RowMapper): void {
  mapper.reset();
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    mapper.fail(
      "decoding",
      `JSON record is not an object: ${show(record)}`,
      JSON.stringify(record),
    );
    return;
  }
  const values = mapper.values;
  const extraNames = mapper.extraNames;
  const extraValues = mapper.extraValues;
  const object = record as Record<string, unknown>;
  for (const name in object) {
    if (!Object.hasOwn(object, name)) continue;
    const value = object[name];
    if (value === null || value === undefined || value === "") continue;
    const slot = FIELD_SLOTS.get(name);
    if (slot !== undefined) {
      values[slot] = value;
    } else {
      extraNames.push(name);
      extraValues.push(
        typeof value === "string" || typeof value === "number" || typeof value === "boolean"
          ? value
          : JSON.stringify(value),
      );
    }
  }
  const failure = mapper.map();
  if (failure !== undefined) mapper.reject(failure, JSON.stringify(record));
}

function kindOf(value: unknown): string {
  return value === null ? "null" : typeof value === "object" ? "an object" : typeof value;
}
