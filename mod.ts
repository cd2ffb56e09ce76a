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
 * @example Read the shared stream of a cluster (SPEC §12)
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstream, jetstreamManager } from "@nats-io/jetstream";
 * import { connect } from "@nats-io/transport-node";
 * import { ensureObservationStream, readNatsStream } from "./mod.ts";
 * import { LocalNats } from "./service/cluster/local_nats.ts";
 *
 * // A throwaway JetStream server; a real reader connects to the cluster's servers.
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * await ensureObservationStream(await jetstreamManager(nc), { stream: "SDA_OBS", subjectPrefix: "sda.obs" });
 * await jetstream(nc).publish("sda.obs.radar.XR1", JSON.stringify({ v: 1, id: "example" }));
 * let read = 0;
 * for await (const { offset, observation } of readNatsStream({ servers: nats.urls, stream: "SDA_OBS", from: 1 })) {
 *   assert.ok(offset >= 1 && observation.v === 1);
 *   read++;
 * }
 * assert.equal(read, 1);
 * await nc.close();
 * await nats.stop();
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
export * from "./sinks/nats_consumer.ts";
export * from "./sinks/nats_publisher.ts";
export * from "./sinks/nats_reader.ts";
export * from "./sinks/nats_sink.ts";
export * from "./sinks/nats_stream.ts";
export * from "./sinks/segment_log.ts";
export type * from "./sources/source.ts";
