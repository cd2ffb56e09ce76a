/**
 * Publishing logged observations to NATS JetStream (SPEC §12), so that
 * several service instances can share one stream, each owning its sources.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { jetstream, type JetStreamClient, jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Observation } from "../envelope/observation.ts";
import { serializeObservation } from "../envelope/serialize.ts";
import type { IngestBatch } from "../operators/ingest_batch.ts";

/** Options for {@link NatsSink.connect}. */
export interface NatsSinkOptions {
  /** Server URLs, e.g. `nats://127.0.0.1:4222`. */
  servers: string[];
  /** The JetStream stream (created if missing). */
  stream: string;
  /** Subjects are `<subjectPrefix>.<kind>.<sensor>`. */
  subjectPrefix: string;
  /** How long to wait between retries of a failed publish (default 250 ms, doubling to 5 s). */
  retryMs?: number;
}

/** Counters of a {@link NatsSink}. */
export interface NatsSinkStats {
  /** Messages acknowledged by JetStream. */
  published: number;
  /** Of those, acknowledged as duplicates (already in the stream's window). */
  duplicates: number;
  /** Failed publish attempts (each retried). */
  errors: number;
}

const log = getLogger(["sda-ingest", "nats"]);
const encoder = new TextEncoder();

/**
 * The subject of an observation: `<prefix>.<kind>.<sensor>`, the sensor with
 * every character outside `[A-Za-z0-9_-]` replaced by `_`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { natsSubject } from "./nats_sink.ts";
 *
 * assert.equal(natsSubject("sda.obs", "isl", "isl:25544"), "sda.obs.isl.isl_25544");
 * ```
 */
export function natsSubject(prefix: string, kind: string, sensor: string): string {
  return `${prefix}.${kind}.${sensor.replace(/[^A-Za-z0-9_-]/g, "_")}`;
}

/**
 * A sink that publishes every observation of each chunk to JetStream with
 * header `Nats-Msg-Id` = the observation id (so JetStream's duplicate window
 * drops repeats), waits for every publish acknowledgement, and only then
 * releases the chunk's acks. A failed publish is retried with backoff until
 * it succeeds: while NATS is unreachable the pipeline stalls (bounded memory,
 * backpressure to the sources) rather than advancing cursors past data that
 * was never published.
 */
export class NatsSink {
  #nc: NatsConnection;
  #js: JetStreamClient;
  #options: NatsSinkOptions;
  #stats: NatsSinkStats = { published: 0, duplicates: 0, errors: 0 };
  /** Use with `FanOutSink` next to the log. */
  readonly writable: WritableStream<IngestBatch[]>;

  private constructor(nc: NatsConnection, options: NatsSinkOptions) {
    this.#nc = nc;
    this.#js = jetstream(nc);
    this.#options = options;
    this.writable = new WritableStream<IngestBatch[]>({
      write: async (batches) => {
        for (const batch of batches) {
          if (batch.observations.length > 0) await this.publish(batch.observations);
        }
        for (const batch of batches) {
          for (const ack of batch.acks) ack.release();
        }
      },
    });
  }

  /** Connects and makes sure the stream exists. */
  static async connect(options: NatsSinkOptions): Promise<NatsSink> {
    const nc = await connect({ servers: options.servers, name: "sda-ingest" });
    try {
      const jsm = await jetstreamManager(nc);
      const subjects = [`${options.subjectPrefix}.>`];
      try {
        await jsm.streams.info(options.stream);
      } catch {
        await jsm.streams.add({ name: options.stream, subjects });
        log.info("Created JetStream stream {stream} for {subjects}", {
          stream: options.stream,
          subjects: subjects.join(","),
        });
      }
    } catch (error) {
      await nc.close();
      throw error;
    }
    log.info("Publishing to NATS {servers}, stream {stream}", {
      servers: options.servers.join(","),
      stream: options.stream,
    });
    return new NatsSink(nc, options);
  }

  /** What has been published. */
  get stats(): Readonly<NatsSinkStats> {
    return this.#stats;
  }

  /** Publishes observations and resolves once JetStream acknowledged every one. */
  async publish(observations: readonly Observation[]): Promise<void> {
    const prefix = this.#options.subjectPrefix;
    let pending = observations.map((o) => ({
      subject: natsSubject(prefix, o.kind, o.sensor),
      payload: encoder.encode(serializeObservation(o)),
      id: o.id,
    }));
    let delay = this.#options.retryMs ?? 250;
    while (pending.length > 0) {
      const results = await Promise.allSettled(
        pending.map((m) => this.#js.publish(m.subject, m.payload, { msgID: m.id })),
      );
      const failed: typeof pending = [];
      results.forEach((result, i) => {
        if (result.status === "fulfilled") {
          this.#stats.published++;
          if (result.value.duplicate) this.#stats.duplicates++;
        } else {
          this.#stats.errors++;
          failed.push(pending[i]);
        }
      });
      if (failed.length > 0) {
        const reason = results.find((r) => r.status === "rejected") as PromiseRejectedResult;
        log.warn("NATS publish failed for {count} messages, retrying in {delay} ms: {error}", {
          count: failed.length,
          delay,
          error: String(reason.reason),
        });
        await new Promise((resolve) => setTimeout(resolve, delay));
        delay = Math.min(delay * 2, 5000);
      }
      pending = failed;
    }
  }

  /** Drains and closes the connection. */
  async close(): Promise<void> {
    await this.#nc.drain();
  }
}
