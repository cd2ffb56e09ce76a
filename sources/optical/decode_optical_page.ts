/**
 * The optical page decoder (SPEC §5): one archive page of UDL-style EO
 * observations, CSV or JSON, into Observations and dead letters. The HTTP
 * source and the replay decode through it; it is the edge worker's
 * streaming decoder handed the whole page as one piece, so both give the
 * same output by construction.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { OpticalObservation } from "../../envelope/observation.ts";
import type { DecodeContext } from "../decode_context.ts";
import { internalErrorReason } from "../../operators/internal_error.ts";
import { OpticalStreamDecoder } from "./_optical_stream_decoder.ts";

/** What one page decodes to. */
export interface OpticalPage {
  /** Valid observations, in page order. */
  observations: OpticalObservation[];
  /** One per record (or page) that could not become an observation, in page order. */
  deadLetters: DeadLetter[];
}

/** Options for {@link decodeOpticalPage}. */
export interface OpticalPageOptions {
  /**
   * The `maxResults` the page was asked for (default: no limit): records
   * beyond it are one `decoding` dead letter at the end of the page (which
   * says how many), not observations — a page may hold at most that many
   * (SPEC §5), and one that holds more cannot make memory grow with it.
   */
  maxRecords?: number;
}

/**
 * Decodes one archive page, choosing CSV or JSON by `contentType`
 * (`text/csv`, `application/json`; parameters such as `charset` allowed).
 *
 * * Every record becomes an Observation or a dead letter, never nothing;
 *   a bad record never stops the page. Unparseable values (`"12.3.4"` for
 *   `ra`, a CSV record with the wrong number of fields or a quoting error,
 *   a JSON record that is not an object or does not parse) are `decoding`
 *   dead letters; values that parse but break a SPEC §5 rule (`ra` outside
 *   [0, 360), a missing required field, an `obTime` that is not a valid
 *   instant) are `validation` dead letters. `raw` is the CSV record's text
 *   or the JSON record re-serialised; `ref` its `id` where it has one.
 * * CSV records end at LF or CRLF (RFC 4180); any other CR is data.
 * * An unsupported Content-Type or charset, a CSV header that cannot be
 *   trusted (a quoting error, a CR in a column name), a body that is not
 *   JSON or JSON that is not an array is one `decoding` dead letter for the
 *   whole page; a JSON array that breaks off after some elements keeps them
 *   and is one dead letter from where it broke (see `OpticalStreamDecoder`).
 * * A UTF-8 byte order mark is ignored; bodies that are not valid UTF-8
 *   dead-letter the records with the undecodable bytes, not the page.
 * * A record whose values and unknown field names hold more than 65,536
 *   characters is a `decoding` dead letter (`MAX_ROW_CHARS`).
 * * `provenance.meta` holds `uct`, `dataMode`, `source` and the unknown
 *   columns. Types: JSON values as they are (objects and arrays as JSON
 *   text); CSV cells as text, except `uct` `true`/`false`, which become
 *   booleans as in the JSON form.
 *
 * `t_rx` is the receive time of the page (`receiveTime(ctx)`, once per
 * page), or `t_obs` with a deterministic context.
 *
 * @example Decode a CSV page
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeOpticalPage } from "./decode_optical_page.ts";
 *
 * const csv = "id,obTime,idSensor,satNo,ra,declination\n" +
 *   "EO-1,2026-11-25T12:00:00.123456Z,MAUI-1,25544,123.4,-12.5\n" +
 *   "EO-2,2026-11-25T12:00:01Z,MAUI-1,25544,360,-12.5\n";
 * const ctx = { source: "archive", transport: "replay" as const, peer: "optical/p.csv", deterministic: true };
 * const page = decodeOpticalPage(csv, "text/csv", ctx);
 * assert.equal(page.observations.length, 1);
 * assert.deepEqual(page.observations[0].measurement, { ra_deg: 123.4, dec_deg: -12.5, frame: "J2000" });
 * assert.deepEqual(page.observations[0].target, { norad: 25544, id: "25544" });
 * assert.equal(page.deadLetters[0].stage, "validation");
 * assert.equal(page.deadLetters[0].reason, "ra value out of range [0, 360): 360");
 * ```
 *
 * @example An unsupported Content-Type is one dead letter
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeOpticalPage } from "./decode_optical_page.ts";
 *
 * const ctx = { source: "archive", transport: "http" as const, peer: "http://127.0.0.1:7002/eo", now: () => 0 };
 * const page = decodeOpticalPage("<html></html>", "text/html", ctx);
 * assert.equal(page.observations.length, 0);
 * assert.equal(page.deadLetters[0].reason, 'Unsupported Content-Type: "text/html"');
 * ```
 */
export function decodeOpticalPage(
  body: string | Uint8Array,
  contentType: string,
  ctx: DecodeContext,
  options: OpticalPageOptions = {},
): OpticalPage {
  const decoder = new OpticalStreamDecoder(ctx, contentType, {
    text: typeof body === "string",
    ...options,
  });
  try {
    decoder.end(body);
  } catch (error) {
    // The guard (SPEC §3): rows mapped before the exception stay; the page
    // itself becomes the dead letter for the rest.
    const text = typeof body === "string" ? body : new TextDecoder().decode(body);
    decoder.failPage(internalErrorReason("decoding a page", error), text);
  }
  const out = decoder.take();
  return out === undefined
    ? { observations: [], deadLetters: [] }
    : { observations: out.observations, deadLetters: out.deadLetters };
}
