/**
 * The DeadLetter record (SPEC §3): one for every input that could not become
 * a valid Observation, so that nothing is dropped silently.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { z } from "zod";
import { FormatSchema, TimestampSchema } from "./observation.ts";

/** The pipeline stage at which an input was rejected. */
export const StageSchema = z.enum(["framing", "decoding", "validation", "transport"]);

/** Raw input: text as a string, binary input as base64. */
export const RawSchema = z.union([
  z.string(),
  z.strictObject({ base64: z.string() }),
]);

/**
 * A dead letter, keys in wire order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeadLetterSchema } from "./dead_letter.ts";
 *
 * const ok = DeadLetterSchema.safeParse({
 *   v: 1,
 *   t_rx: "2026-11-25T12:00:00.131512Z",
 *   source: "xr1",
 *   format: "ccsds-tdm-kvn",
 *   peer: "127.0.0.1:50312",
 *   stage: "decoding",
 *   reason: 'Cannot parse ANGLE_1 value as a number: "12.3.4"',
 *   raw: "ANGLE_1 = 2026-11-25T12:00:00.000 12.3.4",
 * });
 * assert.equal(ok.success, true);
 * ```
 */
export const DeadLetterSchema = z.strictObject({
  v: z.literal(1),
  t_rx: TimestampSchema,
  source: z.string().min(1),
  format: FormatSchema,
  peer: z.string(),
  stage: StageSchema,
  reason: z.string().min(1),
  ref: z.string().optional(),
  raw: RawSchema,
});

/** A dead letter. */
export type DeadLetter = z.infer<typeof DeadLetterSchema>;
/** A pipeline stage. */
export type Stage = z.infer<typeof StageSchema>;
/** Raw input kept in a dead letter. */
export type Raw = z.infer<typeof RawSchema>;
