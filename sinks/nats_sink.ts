/**
 * Publishing logged observations to NATS JetStream (SPEC §12), so that
 * several service instances share one stream as the distributed event log.
 *
 * @module
 */

import type { Observation } from "../envelope/observation.ts";
import { serializeObservation } from "../envelope/serialize.ts";
import type { IngestBatch } from "../operators/ingest_batch.ts";
import type { NatsMessage, NatsPublisher } from "./nats_publisher.ts";

/** Options for {@link NatsSink}. */
export interface NatsSinkOptions {
  /** Publishes and awaits the acknowledgements. */
  publisher: NatsPublisher;
  /** Subjects are `<subjectPrefix>.<kind>.<sensor>`. */
  subjectPrefix: string;
  /**
   * The sink written after JetStream acknowledged a chunk (the local event
   * log in cluster mode). Without it, this sink releases the acks itself and
   * is meant to sit in a `FanOutSink`.
   */
  then?: WritableStream<IngestBatch[]>;
}

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
 * A sink that publishes every observation of each chunk to JetStream
 * (`Nats-Msg-Id` = the observation id, payload = its canonical JSON line)
 * and releases the chunk's acks only once JetStream acknowledged every
 * publish of it.
 *
 * With `then` (cluster mode) the chunk goes on to that sink — the local
 * event log — only after JetStream acknowledged it, and each ack is released
 * when both have. Publishing first keeps the local log a subset of the
 * stream: an instance that crashed after its log write but before
 * JetStream's acknowledgement would otherwise, on restart, find those ids
 * in the dedupe window it rebuilds from the log, drop the source's
 * re-deliveries of them, and never publish them.
 *
 * @example Publish before the log
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NatsPublisher } from "./nats_publisher.ts";
 * import { Ack } from "../operators/ack.ts";
 * import { type IngestBatch, ingestBatch } from "../operators/ingest_batch.ts";
 * import { NatsSink } from "./nats_sink.ts";
 *
 * const order: string[] = [];
 * // A stand-in; the real one is `new NatsPublisher(jetstream(nc))`.
 * const publisher = {
 *   publish: (messages: unknown[]) => {
 *     order.push(`published ${messages.length}`);
 *     return Promise.resolve();
 *   },
 * } as unknown as NatsPublisher;
 * const log = new WritableStream<IngestBatch[]>({
 *   write(batches) {
 *     order.push("logged");
 *     for (const batch of batches) for (const ack of batch.acks) ack.release();
 *   },
 * });
 * const ack = new Ack();
 * await ReadableStream.from([[ingestBatch("xr1", [], [], [ack])]])
 *   .pipeTo(new NatsSink({ publisher, subjectPrefix: "sda.obs", then: log }));
 * await ack.done;
 * assert.deepEqual(order, ["logged"]); // nothing to publish in an empty batch
 * ```
 */
export class NatsSink extends WritableStream<IngestBatch[]> {
  /** @param options the publisher, the subject prefix and the sink that follows */
  constructor(options: NatsSinkOptions) {
    const { publisher, subjectPrefix } = options;
    const next = options.then?.getWriter();
    const subjects = new Map<string, string>();
    const subjectOf = (o: Observation) => {
      const key = `${o.kind}\u0000${o.sensor}`;
      let subject = subjects.get(key);
      if (subject === undefined) {
        subject = natsSubject(subjectPrefix, o.kind, o.sensor);
        if (subjects.size > 65536) subjects.clear();
        subjects.set(key, subject);
      }
      return subject;
    };
    super({
      async write(batches) {
        const messages: NatsMessage[] = [];
        for (const batch of batches) {
          for (const o of batch.observations) {
            messages.push({
              subject: subjectOf(o),
              payload: encoder.encode(serializeObservation(o)),
              id: o.id,
            });
          }
        }
        if (next !== undefined) {
          // One hold for JetStream, one for the log after it.
          for (const batch of batches) for (const ack of batch.acks) ack.retain();
        }
        try {
          if (messages.length > 0) await publisher.publish(messages);
        } catch (error) {
          for (const batch of batches) for (const ack of batch.acks) ack.fail(error);
          throw error;
        }
        for (const batch of batches) for (const ack of batch.acks) ack.release();
        if (next !== undefined) await next.write(batches);
      },
      async close() {
        await next?.close();
      },
      async abort(reason) {
        await next?.abort(reason).catch(() => {});
      },
    });
  }
}
