/**
 * A downstream stage's durable place in the shared stream (SPEC §12).
 *
 * @module
 */

import {
  AckPolicy,
  DeliverPolicy,
  jetstream,
  jetstreamManager,
  type JsMsg,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Observation } from "../envelope/observation.ts";
import { natsServerOptions } from "./nats_servers.ts";

/** Options for {@link consumeNatsStream}. */
export interface NatsConsumerOptions {
  /** Servers to connect to (the consumer opens and closes its own connection) … */
  servers?: string[];
  /** … or a connection to use (left open). */
  connection?: NatsConnection;
  /** The stream, e.g. `SDA_OBS`. */
  stream: string;
  /** The durable consumer's name: JetStream keeps its position across restarts. */
  durable: string;
  /** Where a new consumer starts (stream sequence, default 1); an existing one resumes. */
  from?: number;
  /** Only these subjects, e.g. `sda.obs.radar.>` (default: all); an existing consumer must have the same filter, or the readable fails naming both. */
  filterSubject?: string;
  /** Redeliver an observation not acknowledged within this long, ms (default 30000). */
  ackWaitMs?: number;
  /** Aborting closes the readable. */
  signal?: AbortSignal;
}

/** One observation handed to a durable consumer. */
export interface NatsConsumerRecord {
  /** Its stream sequence. */
  offset: number;
  /** The observation. */
  observation: Observation;
  /** How many times it was delivered (1 the first time). */
  deliveries: number;
  /** Done with it: it is not delivered to this consumer again. */
  ack(): void;
  /** Not done: deliver it again (after `delayMs`). */
  nak(delayMs?: number): void;
}

const decoder = new TextDecoder();

/**
 * The observations of `stream` through a durable pull consumer named
 * `durable` (created if missing, explicit acknowledgement): what a
 * downstream fusion stage uses to process the shared log at least once
 * across its own restarts. Each record must be `ack()`ed; one that is not
 * within `ackWaitMs` is delivered again. Messages are pulled in bounded
 * batches (64) as the readable is read; the readable follows the stream
 * until `signal` aborts or it is cancelled. Messages already pulled but not
 * yet handed out when it stops are delivered again after `ackWaitMs` — the
 * price of not asking the server once per message. The consumer stays on
 * the server (delete it with `jsm.consumers.delete` when the stage is
 * retired).
 *
 * @example Process, stop, and resume where it stopped
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstream, jetstreamManager } from "@nats-io/jetstream";
 * import { connect } from "@nats-io/transport-node";
 * import { LocalNats } from "../service/cluster/local_nats.ts";
 * import { consumeNatsStream } from "./nats_consumer.ts";
 * import { ensureObservationStream } from "./nats_stream.ts";
 *
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * await ensureObservationStream(await jetstreamManager(nc), { stream: "SDA_OBS", subjectPrefix: "sda.obs" });
 * const js = jetstream(nc);
 * for (const n of [1, 2, 3]) await js.publish("sda.obs.radar.XR1", JSON.stringify({ id: `o${n}` }));
 *
 * const take = async (count: number) => {
 *   const ids: string[] = [];
 *   const stop = new AbortController();
 *   const options = { connection: nc, stream: "SDA_OBS", durable: "fusion", signal: stop.signal };
 *   for await (const record of consumeNatsStream(options)) {
 *     ids.push(record.observation.id);
 *     record.ack();
 *     if (ids.length === count) stop.abort();
 *   }
 *   return ids;
 * };
 * assert.deepEqual(await take(3), ["o1", "o2", "o3"]);
 * await js.publish("sda.obs.radar.XR1", JSON.stringify({ id: "o4" }));
 * assert.deepEqual(await take(1), ["o4"]); // the durable consumer remembered where it was
 * await nc.close();
 * await nats.stop();
 * ```
 */
export function consumeNatsStream(
  options: NatsConsumerOptions,
): ReadableStream<NatsConsumerRecord> {
  const from = options.from ?? 1;
  if (!Number.isSafeInteger(from) || from < 1) {
    throw new RangeError(`Cannot consume a stream from sequence ${from}: sequences start at 1`);
  }
  if ((options.servers === undefined) === (options.connection === undefined)) {
    throw new TypeError("Cannot consume a stream: give either servers or a connection");
  }
  const signal = options.signal;
  let nc: NatsConnection | undefined;
  let messages: AsyncIterator<JsMsg> | undefined;
  let stopMessages: (() => void) | undefined;
  const onAbort = () => stopMessages?.();
  const cleanup = async () => {
    signal?.removeEventListener("abort", onAbort);
    stopMessages?.();
    if (options.connection === undefined) await nc?.close().catch(() => {});
  };

  return new ReadableStream<NatsConsumerRecord>({
    async start() {
      nc = options.connection ?? await connect(natsServerOptions(options.servers!));
      try {
        const jsm = await jetstreamManager(nc);
        try {
          const found = await jsm.consumers.info(options.stream, options.durable);
          // Another filter would hand out other subjects' records, silently.
          const has = found.config.filter_subject ?? "";
          if (has !== (options.filterSubject ?? "")) {
            throw new Error(
              `The durable consumer ${options.durable} of ${options.stream} exists with filterSubject ${
                has === "" ? "none (all subjects)" : `"${has}"`
              }, not ${
                options.filterSubject ? `"${options.filterSubject}"` : "none (all subjects)"
              }: use another durable name, or delete it (nats consumer rm ${options.stream} ${options.durable}) to start over`,
            );
          }
        } catch (error) {
          if (!/not found/i.test(String((error as Error)?.message))) throw error;
          await jsm.consumers.add(options.stream, {
            durable_name: options.durable,
            ack_policy: AckPolicy.Explicit,
            deliver_policy: from === 1 ? DeliverPolicy.All : DeliverPolicy.StartSequence,
            ...(from === 1 ? {} : { opt_start_seq: from }),
            ...(options.filterSubject ? { filter_subject: options.filterSubject } : {}),
            ack_wait: (options.ackWaitMs ?? 30_000) * 1_000_000,
          });
        }
        const consumer = await jetstream(nc).consumers.get(options.stream, options.durable);
        const iterator = await consumer.consume({ max_messages: 64 });
        stopMessages = () => iterator.stop();
        messages = iterator[Symbol.asyncIterator]();
        if (signal?.aborted) stopMessages();
        signal?.addEventListener("abort", onAbort, { once: true });
      } catch (error) {
        await cleanup();
        throw error;
      }
    },
    async pull(controller) {
      const next = signal?.aborted ? undefined : await messages!.next();
      if (next === undefined || next.done || signal?.aborted) {
        // Taken but not handed out: deliver it again now rather than after ackWait.
        if (next !== undefined && !next.done) next.value.nak();
        await cleanup();
        controller.close();
        return;
      }
      const msg = next.value;
      controller.enqueue({
        offset: msg.seq,
        observation: JSON.parse(decoder.decode(msg.data)) as Observation,
        deliveries: msg.info.deliveryCount,
        ack: () => msg.ack(),
        nak: (delayMs) => msg.nak(delayMs),
      });
    },
    async cancel() {
      await cleanup();
    },
  }, { highWaterMark: 0 });
}
