/**
 * Which page format a response `Content-Type` names (SPEC §5: the source
 * chooses by the response's Content-Type, whatever it asked for).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { OpticalFormat } from "./_row_mapper.ts";

/** The parts of a Content-Type that matter here. */
export interface MediaType {
  /** The page format, or undefined when neither CSV nor JSON. */
  format: OpticalFormat | undefined;
  /** The `charset` parameter, lower case, when given. */
  charset: string | undefined;
  /** The media type itself, lower case, without parameters. */
  essence: string;
}

const CSV_TYPES = new Set(["text/csv", "application/csv", "text/comma-separated-values"]);
const JSON_TYPES = new Set(["application/json", "text/json"]);

/** Parses a Content-Type header value (RFC 9110 §8.3). */
export function mediaType(contentType: string): MediaType {
  const semicolon = contentType.indexOf(";");
  const essence = (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim()
    .toLowerCase();
  let charset: string | undefined;
  if (semicolon >= 0) {
    for (const parameter of contentType.slice(semicolon + 1).split(";")) {
      const eq = parameter.indexOf("=");
      if (eq < 0) continue;
      if (parameter.slice(0, eq).trim().toLowerCase() !== "charset") continue;
      charset = parameter.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1").toLowerCase();
    }
  }
  let format: OpticalFormat | undefined;
  if (CSV_TYPES.has(essence)) format = "udl-eo-csv";
  else if (JSON_TYPES.has(essence) || essence.endsWith("+json")) format = "udl-eo-json";
  return { format, charset, essence };
}
