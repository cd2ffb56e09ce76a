/**
 * One stream of batches into several sinks, each acknowledging on its own.
 *
 * @module
 */

import type { IngestBatch } from "../operators/ingest_batch.ts";

/**
 * Writes every chunk to each of `sinks` and waits for all of them (the
 * slowest sink sets the pace; nothing is buffered without bound, unlike
 * `ReadableStream.tee()`). Before writing, each ack in the chunk gets one
 * extra hold per extra sink, so it settles only when every sink has released
 * it: the event log now, NATS JetStream as well when configured (SPEC §12).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Ack } from "../operators/ack.ts";
 * import { type IngestBatch, ingestBatch } from "../operators/ingest_batch.ts";
 * import { FanOutSink } from "./fan_out_sink.ts";
 *
 * const released: string[] = [];
 * const sink = (name: string) =>
 *   new WritableStream<IngestBatch[]>({
 *     write(batches) {
 *       released.push(name);
 *       for (const b of batches) for (const ack of b.acks) ack.release();
 *     },
 *   });
 * const ack = new Ack();
 * await ReadableStream.from([[ingestBatch("s", [], [], [ack])]])
 *   .pipeTo(new FanOutSink([sink("log"), sink("nats")]));
 * await ack.done;
 * assert.deepEqual(released, ["log", "nats"]);
 * ```
 */
export class FanOutSink extends WritableStream<IngestBatch[]> {
  /** @param sinks every chunk goes to each of them */
  constructor(sinks: readonly WritableStream<IngestBatch[]>[]) {
    if (sinks.length === 0) {
      throw new RangeError("Cannot fan out to no sinks");
    }
    const writers = sinks.map((sink) => sink.getWriter());
    super({
      async write(batches) {
        const extra = writers.length - 1;
        if (extra > 0) {
          for (const batch of batches) {
            for (const ack of batch.acks) ack.retain(extra);
          }
        }
        await Promise.all(writers.map((writer) => writer.write(batches)));
      },
      async close() {
        await Promise.all(writers.map((writer) => writer.close()));
      },
      async abort(reason) {
        await Promise.all(writers.map((writer) => writer.abort(reason).catch(() => {})));
      },
    });
  }
}
