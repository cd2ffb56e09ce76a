/**
 * The Observation envelope: schemas, ids, serialisation and time (SPEC §2,
 * §3, §14). Everything here uses web APIs only and runs in an edge worker.
 *
 * @module
 */

export * from "./dead_letter.ts";
export * from "./json_schema.ts";
export * from "./leap_seconds.ts";
export * from "./observation.ts";
export * from "./observation_id.ts";
export * from "./raw.ts";
export * from "./serialize.ts";
export * from "./time.ts";
