/**
 * The Observation envelope v1 (SPEC §2, measurements §4–§6): the zod schema
 * that is the single source of truth for its shape, and its TypeScript types.
 *
 * Key order matters on the wire; the schemas list keys in envelope order and
 * {@link serializeObservation} writes them in that order.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { z } from "zod";

const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;

/** `YYYY-MM-DDThh:mm:ss.ffffffZ`, UTC, exactly six fraction digits. */
export const TimestampSchema = z.string().regex(TIMESTAMP, {
  message: "Expected a UTC timestamp with exactly 6 fraction digits",
});

/** The 32-lowercase-hex observation id. */
export const ObservationIdSchema = z.string().regex(/^[0-9a-f]{32}$/, {
  message: "Expected 32 lowercase hex digits",
});

/** What was observed: a NORAD catalogue number and/or the original designator. */
export const TargetSchema = z.strictObject({
  norad: z.number().int().nonnegative().nullable(),
  id: z.string().nullable(),
});

/** Radar measurement (SPEC §4), keys in envelope order. */
export const RadarMeasurementSchema = z.strictObject({
  range_km: z.number().optional(),
  range_s: z.number().optional(),
  range_ru: z.number().optional(),
  range_rate_km_s: z.number().optional(),
  doppler_integrated_km_s: z.number().optional(),
  az_deg: z.number().min(0).lt(360).optional(),
  el_deg: z.number().min(-90).max(90).optional(),
  ra_deg: z.number().min(0).lt(360).optional(),
  dec_deg: z.number().min(-90).max(90).optional(),
  frame: z.string().optional(),
  angle_1_deg: z.number().min(-180).lt(360).optional(),
  angle_2_deg: z.number().min(-180).lt(360).optional(),
  angle_type: z.enum(["XEYN", "XSYE"]).optional(),
  rcs_m2: z.number().optional(),
  mag: z.number().optional(),
  other: z.record(z.string(), z.number()).optional(),
});

/** Sensor site of an optical observation. */
export const SiteSchema = z.strictObject({
  lat_deg: z.number().min(-90).max(90),
  lon_deg: z.number().min(-180).lt(360),
  alt_km: z.number(),
});

/** Optical measurement (SPEC §5), keys in envelope order. */
export const OpticalMeasurementSchema = z.strictObject({
  ra_deg: z.number().min(0).lt(360),
  dec_deg: z.number().min(-90).max(90),
  frame: z.string(),
  ra_unc_deg: z.number().optional(),
  dec_unc_deg: z.number().optional(),
  mag: z.number().optional(),
  mag_unc: z.number().optional(),
  site: SiteSchema.optional(),
});

const Vector3 = z.tuple([z.number(), z.number(), z.number()]);

/** The satellite that made an ISL measurement, with its state when valid. */
export const IslObserverSchema = z.strictObject({
  norad: z.number().int().nonnegative(),
  frame: z.literal("GCRF"),
  r_km: Vector3.optional(),
  v_km_s: Vector3.optional(),
});

/** ISL measurement (SPEC §6), keys in envelope order. */
export const IslMeasurementSchema = z.strictObject({
  range_km: z.number().optional(),
  range_rate_km_s: z.number().optional(),
  range_sigma_km: z.number().optional(),
  observer: IslObserverSchema,
});

/** Wire formats. */
export const FormatSchema = z.enum([
  "ccsds-tdm-kvn",
  "udl-eo-csv",
  "udl-eo-json",
  "isl-spp",
]);

/** Transports. */
export const TransportSchema = z.enum(["tcp", "http", "udp", "replay", "worker"]);

/** Source-specific fields that the envelope does not map. */
export const MetaSchema = z.record(
  z.string(),
  z.union([z.string(), z.number(), z.boolean()]),
);

function provenance<F extends z.ZodType<string>>(format: F) {
  return z.strictObject({
    source: z.string().min(1),
    format,
    transport: TransportSchema,
    peer: z.string(),
    client: z.string().min(1).optional(),
    ref: z.string(),
    time_system: z.string(),
    meta: MetaSchema,
  });
}

function envelope<
  K extends string,
  M extends z.ZodType,
  F extends z.ZodType<string>,
>(kind: K, measurement: M, format: F) {
  return z.strictObject({
    v: z.literal(1),
    id: ObservationIdSchema,
    kind: z.literal(kind),
    t_obs: TimestampSchema,
    t_rx: TimestampSchema,
    sensor: z.string().min(1),
    target: TargetSchema,
    measurement,
    provenance: provenance(format),
  });
}

/** A radar observation (SPEC §4). */
export const RadarObservationSchema = envelope(
  "radar",
  RadarMeasurementSchema,
  z.literal("ccsds-tdm-kvn"),
);
/** An optical observation (SPEC §5). */
export const OpticalObservationSchema = envelope(
  "optical",
  OpticalMeasurementSchema,
  z.enum(["udl-eo-csv", "udl-eo-json"]),
);
/** An ISL observation (SPEC §6). */
export const IslObservationSchema = envelope(
  "isl",
  IslMeasurementSchema,
  z.literal("isl-spp"),
);

/**
 * The Observation envelope v1, one variant per kind.
 *
 * @example Validate an observation
 * ```ts
 * import assert from "node:assert/strict";
 * import { ObservationSchema } from "./observation.ts";
 *
 * const result = ObservationSchema.safeParse({ v: 1, kind: "radar" });
 * assert.equal(result.success, false);
 * ```
 */
export const ObservationSchema = z.discriminatedUnion("kind", [
  RadarObservationSchema,
  OpticalObservationSchema,
  IslObservationSchema,
]);

/** An observation of any kind. */
export type Observation = z.infer<typeof ObservationSchema>;
/** A radar observation. */
export type RadarObservation = z.infer<typeof RadarObservationSchema>;
/** An optical observation. */
export type OpticalObservation = z.infer<typeof OpticalObservationSchema>;
/** An ISL observation. */
export type IslObservation = z.infer<typeof IslObservationSchema>;
/** The kind of an observation. */
export type ObservationKind = Observation["kind"];
/** The target of an observation. */
export type Target = z.infer<typeof TargetSchema>;
/** A radar measurement. */
export type RadarMeasurement = z.infer<typeof RadarMeasurementSchema>;
/** An optical measurement. */
export type OpticalMeasurement = z.infer<typeof OpticalMeasurementSchema>;
/** An ISL measurement. */
export type IslMeasurement = z.infer<typeof IslMeasurementSchema>;
/** A wire format. */
export type Format = z.infer<typeof FormatSchema>;
/** A transport. */
export type Transport = z.infer<typeof TransportSchema>;
/** Provenance metadata. */
export type Meta = z.infer<typeof MetaSchema>;
/** The provenance of an observation. */
export type Provenance = Observation["provenance"];
