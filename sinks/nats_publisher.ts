/**
 * Many JetStream publishes in flight, bounded, each retried until it is
 * acknowledged (SPEC §12).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { JetStreamClient } from "@nats-io/jetstream";

/** One message to publish: what the stream stores and how it recognises a repeat. */
export interface NatsMessage {
  /** `<subjectPrefix>.<kind>.<sensor>`. */
  subject: string;
  /** The canonical JSON line, without the newline. */
  payload: Uint8Array;
  /** `Nats-Msg-Id`: the observation id, so the duplicate window drops repeats. */
  id: string;
}

/** Options for {@link NatsPublisher}. */
export interface NatsPublisherOptions {
  /** Publishes awaiting their acknowledgement at once, across all callers (default 4096). */
  maxInFlight?: number;
  /** How long one publish waits for its acknowledgement, ms (default 2000). */
  timeoutMs?: number;
  /** First wait before retrying failed publishes, ms (default 100, doubling to 2000). */
  retryMs?: number;
}

/** Counters of a {@link NatsPublisher}, monotonic. */
export interface NatsPublisherStats {
  /** Messages acknowledged by JetStream (duplicates included). */
  published: number;
  /** Of those, acknowledged as duplicates (already in the stream's window). */
  duplicates: number;
  /** Failed publish attempts (each retried). */
  errors: number;
}

const log = getLogger(["sda-ingest", "nats"]);

/**
 * Publishes batches of messages to JetStream with at most `maxInFlight`
 * acknowledgements outstanding across every caller — never one round trip
 * per message, never an unbounded queue in the client. {@link publish}
 * resolves once JetStream acknowledged every message of the call (as stored
 * or as a duplicate); messages whose publish failed (timeout, no stream
 * leader during a Raft election, connection lost) are published again with
 * the same `Nats-Msg-Id` after a backoff, for as long as it takes, so a
 * retry that races a late acknowledgement is dropped by the duplicate
 * window. While NATS is unreachable the caller waits: the pipeline stalls
 * with bounded memory rather than advancing a cursor past unpublished data.
 *
 * The interface is deliberately narrow (subject, bytes, id) so the caller
 * may hand over lines it serialised once for the log as well.
 *
 * @example Publish two messages and publish one again
 * ```ts
 * import assert from "node:assert/strict";
 * import type { JetStreamClient, PubAck } from "@nats-io/jetstream";
 * import { NatsPublisher } from "./nats_publisher.ts";
 *
 * // A stand-in with JetStream's duplicate rule; the real client is `jetstream(nc)`.
 * const seen = new Set<string>();
 * const js = {
 *   publish: (_subject: string, _payload: Uint8Array, options: { msgID: string }) => {
 *     const duplicate = seen.has(options.msgID);
 *     seen.add(options.msgID);
 *     return Promise.resolve({ duplicate, seq: seen.size, stream: "S" } as PubAck);
 *   },
 * } as unknown as JetStreamClient;
 * const publisher = new NatsPublisher(js);
 * const message = (id: string) => ({ subject: "sda.obs.radar.XR1", payload: new Uint8Array(), id });
 * await publisher.publish([message("a"), message("b")]);
 * await publisher.publish([message("a")]);
 * assert.deepEqual(publisher.stats, { published: 3, duplicates: 1, errors: 0 });
 * ```
 */
export class NatsPublisher {
  readonly #js: JetStreamClient;
  readonly #maxInFlight: number;
  readonly #timeoutMs: number;
  readonly #retryMs: number;
  readonly #stats: NatsPublisherStats = { published: 0, duplicates: 0, errors: 0 };
  #inFlight = 0;
  #slot: PromiseWithResolvers<void> | undefined;
  #closed = new AbortController();

  /** @param js a JetStream client (`jetstream(nc)`) */
  constructor(js: JetStreamClient, options: NatsPublisherOptions = {}) {
    this.#js = js;
    this.#maxInFlight = options.maxInFlight ?? 4096;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#retryMs = options.retryMs ?? 100;
    if (!Number.isInteger(this.#maxInFlight) || this.#maxInFlight < 1) {
      throw new RangeError(`maxInFlight must be a positive integer: ${this.#maxInFlight}`);
    }
    if (!(this.#timeoutMs > 0)) {
      throw new RangeError(`timeoutMs must be positive: ${this.#timeoutMs}`);
    }
  }

  /** What has been published so far. */
  get stats(): Readonly<NatsPublisherStats> {
    return this.#stats;
  }

  /** Publishes awaiting their acknowledgement now. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /**
   * Publishes every message; resolves once JetStream acknowledged each one.
   * Rejects only when the publisher is closed before that.
   */
  async publish(messages: readonly NatsMessage[]): Promise<void> {
    let pending: readonly NatsMessage[] = messages;
    let delay = this.#retryMs;
    while (pending.length > 0) {
      const failed: NatsMessage[] = [];
      let firstError: unknown;
      const attempts: Promise<void>[] = [];
      for (const message of pending) {
        while (this.#inFlight >= this.#maxInFlight) {
          this.#checkOpen();
          await this.#freeSlot();
        }
        this.#checkOpen();
        this.#inFlight++;
        attempts.push(
          this.#js.publish(message.subject, message.payload, {
            msgID: message.id,
            timeout: this.#timeoutMs,
          }).then((ack) => {
            this.#stats.published++;
            if (ack.duplicate) this.#stats.duplicates++;
          }, (error) => {
            this.#stats.errors++;
            firstError ??= error;
            failed.push(message);
          }).finally(() => this.#release()),
        );
      }
      await Promise.all(attempts);
      if (failed.length === 0) return;
      this.#checkOpen();
      log.warn("NATS publish failed for {count} messages, retrying in {delay} ms: {error}", {
        count: failed.length,
        delay,
        error: firstError instanceof Error ? firstError.message : String(firstError),
      });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#closed.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
      this.#checkOpen();
      delay = Math.min(delay * 2, 2000);
      pending = failed;
    }
  }

  /** Stops retrying: publishes still waiting reject. Does not close the connection. */
  close(): void {
    this.#closed.abort();
    this.#slot?.resolve();
  }

  #checkOpen(): void {
    if (this.#closed.signal.aborted) {
      throw new Error("Cannot publish: the NATS publisher is closed");
    }
  }

  #freeSlot(): Promise<void> {
    this.#slot ??= Promise.withResolvers<void>();
    return this.#slot.promise;
  }

  #release(): void {
    this.#inFlight--;
    const slot = this.#slot;
    if (slot !== undefined) {
      this.#slot = undefined;
      slot.resolve();
    }
  }
}
