/**
 * The observation id (SPEC §2): it depends only on what was measured, never
 * on when or how it arrived, so a re-delivered observation has the same id.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { sha256Hex } from "./_sha256.ts";
import type { Observation } from "./observation.ts";
import { idMeasurementJson } from "./serialize.ts";

/** The fields an id is computed from. */
export type IdFields = Pick<
  Observation,
  "kind" | "sensor" | "target" | "t_obs" | "measurement"
>;

/**
 * The id of an observation: the first 16 bytes, lowercase hex, of SHA-256
 * over `kind|sensor|(norad ?? id ?? "")|t_obs|JSON(measurement)`, the
 * measurement serialised with its keys in envelope order. Synchronous, so
 * decoders can call it inline.
 *
 * @example The same measurement has the same id, whenever it arrives
 * ```ts
 * import assert from "node:assert/strict";
 * import { observationId } from "./observation_id.ts";
 *
 * const fields = {
 *   kind: "optical" as const,
 *   sensor: "EO-7",
 *   target: { norad: 25544, id: "25544" },
 *   t_obs: "2026-11-25T12:00:00.000000Z",
 *   measurement: { ra_deg: 10, dec_deg: -5, frame: "J2000" },
 * };
 * const id = observationId(fields);
 * assert.match(id, /^[0-9a-f]{32}$/);
 * assert.equal(observationId({ ...fields }), id);
 * ```
 */
export function observationId(o: IdFields): string {
  return sha256Hex(idInput(o));
}

/**
 * What {@link observationId} hashes: `kind|sensor|(norad ?? id ?? "")|t_obs|JSON(measurement)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { idInput } from "./observation_id.ts";
 *
 * assert.equal(
 *   idInput({
 *     kind: "radar",
 *     sensor: "XR1",
 *     target: { norad: 7, id: "7" },
 *     t_obs: "2026-11-25T12:00:00.000000Z",
 *     measurement: { rcs_m2: 1.5 },
 *   }),
 *   'radar|XR1|7|2026-11-25T12:00:00.000000Z|{"rcs_m2":1.5}',
 * );
 * ```
 */
export function idInput(o: IdFields): string {
  const t = o.target;
  const target = t.norad ?? t.id ?? "";
  return o.kind + "|" + o.sensor + "|" + target + "|" + o.t_obs + "|" +
    idMeasurementJson(o.kind, o.measurement);
}
