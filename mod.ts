/**
 * SDA sensor ingestion service — the library API.
 *
 * Sources turn radar (CCSDS TDM over TCP), optical (UDL-style archive over
 * HTTP) and inter-satellite-link (CCSDS Space Packets over UDP) feeds into
 * {@link Observation} envelopes; operators merge, batch and dedupe them; the
 * event log keeps them durably for downstream fusion stages.
 *
 * @example Read the event log of a running service
 * ```ts
 * import assert from "node:assert/strict";
 * import { readEventLog } from "./mod.ts";
 *
 * const dir = await Deno.makeTempDir();
 * for await (const { offset, observation } of readEventLog(dir)) {
 *   assert.ok(offset >= 0 && observation.v === 1);
 * }
 * await Deno.remove(dir);
 * ```
 *
 * @module
 */

export * from "./envelope/mod.ts";
export * from "./operators/mod.ts";
export * from "./sinks/event_log.ts";
export * from "./sinks/fan_out_sink.ts";
export * from "./sinks/ingest_sink.ts";
export * from "./sinks/log_reader.ts";
export * from "./sinks/segment_log.ts";
export type * from "./sources/source.ts";
