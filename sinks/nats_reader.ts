/**
 * Reading the shared JetStream stream from any sequence, optionally
 * following it (SPEC §12) — the cluster's counterpart of `readEventLog`.
 *
 * @module
 */

import {
  DeliverPolicy,
  jetstream,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
  type MsgRequest,
} from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { Observation } from "../envelope/observation.ts";
import { natsServerOptions } from "./nats_servers.ts";

/** Options for {@link readNatsLines} and {@link readNatsStream}. */
export interface NatsReaderOptions {
  /** Servers to connect to (the reader opens and closes its own connection) … */
  servers?: string[];
  /** … or a connection to use (left open). */
  connection?: NatsConnection;
  /** The stream, e.g. `SDA_OBS`. */
  stream: string;
  /** Stream sequence of the first message to read (default 1, the first). */
  from?: number;
  /**
   * Keep waiting for new messages at the end instead of closing. A
   * follower errors when the stream is deleted (or deleted and created
   * again, its sequences starting over), checked every `checkEveryMs`.
   */
  follow?: boolean;
  /** How often a follower checks that its stream is still the one it reads, ms (default 2000). */
  checkEveryMs?: number;
  /** Aborting closes the stream (a follower's way to stop). */
  signal?: AbortSignal;
}

/** One message of the stream as stored. */
export interface NatsLine {
  /** Its stream sequence (1-based). */
  offset: number;
  /** The payload: one canonical JSON line, without the newline. */
  line: string;
  /** Its subject, `<prefix>.<kind>.<sensor>`. */
  subject: string;
}

/** One observation of the stream with its sequence. */
export interface NatsStreamRecord {
  /** Its stream sequence (1-based). */
  offset: number;
  /** The observation. */
  observation: Observation;
}

const decoder = new TextDecoder();

/**
 * Timeout of one JetStream API request of the reader, ms. A consumer is
 * created in milliseconds on a healthy cluster; nats-server 2.9 may place
 * it on a node that died and is not yet marked offline (observed after
 * killing one of three nodes: about half the creations unanswered for more
 * than 45 s), and such a request is only over at its timeout. A short one
 * lets the reader try again (on another node, chosen at random) sooner.
 */
const REQUEST_TIMEOUT_MS = 2000;

/** Runs `attempt` until it succeeds, for up to `forMs`, unless the error says the stream (or JetStream) is not there. */
async function retrying<T>(
  attempt: () => Promise<T>,
  signal: AbortSignal | undefined,
  forMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + forMs;
  for (let delay = 100;; delay = Math.min(delay * 2, 2000)) {
    try {
      return await attempt();
    } catch (error) {
      const message = String((error as Error)?.message);
      if (/not found|not enabled/i.test(message) || Date.now() + delay > deadline) {
        throw error;
      }
      if (signal?.aborted) throw error;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

/**
 * The messages of `stream` from sequence `from` on, in stream order, through
 * an ordered consumer (ephemeral, flow-controlled, re-created by the client
 * if it falls behind or the server restarts). Without `follow` the stream
 * closes after the message that was last when reading began; with it, it
 * waits for more until `signal` aborts. Messages are fetched only as the
 * consumer of the readable asks (bounded buffer).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstream, jetstreamManager } from "@nats-io/jetstream";
 * import { connect } from "@nats-io/transport-node";
 * import { LocalNats } from "../service/cluster/local_nats.ts";
 * import { ensureObservationStream } from "./nats_stream.ts";
 * import { readNatsLines } from "./nats_reader.ts";
 *
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * const jsm = await jetstreamManager(nc);
 * await ensureObservationStream(jsm, { stream: "SDA_OBS", subjectPrefix: "sda.obs" });
 * const js = jetstream(nc);
 * for (const n of [1, 2, 3]) await js.publish("sda.obs.radar.XR1", `{"n":${n}}`);
 * const lines = await Array.fromAsync(readNatsLines({ connection: nc, stream: "SDA_OBS", from: 2 }));
 * assert.deepEqual(lines.map((l) => [l.offset, l.line]), [[2, '{"n":2}'], [3, '{"n":3}']]);
 * await nc.close();
 * await nats.stop();
 * ```
 */
export function readNatsLines(options: NatsReaderOptions): ReadableStream<NatsLine> {
  const from = options.from ?? 1;
  if (!Number.isSafeInteger(from) || from < 1) {
    throw new RangeError(`Cannot read a stream from sequence ${from}: sequences start at 1`);
  }
  if ((options.servers === undefined) === (options.connection === undefined)) {
    throw new TypeError("Cannot read a stream: give either servers or a connection");
  }
  const signal = options.signal;
  let nc: NatsConnection | undefined;
  let jsm: JetStreamManager | undefined;
  let messages: AsyncIterator<JsMsg> & { stop?: () => void } | undefined;
  let stopMessages: (() => void) | undefined;
  let last = Infinity;
  /** The sequence after the last one handed out. */
  let next = from;
  let done = false;
  /** Why a followed stream ended: it was deleted (and maybe created again). */
  let gone: Error | undefined;
  let watchdog: ReturnType<typeof setInterval> | undefined;
  /** Consumers made again for a read that stopped short (see `reopen`). */
  let reopened = 0;
  const onAbort = () => stopMessages?.();

  const cleanup = async () => {
    done = true;
    clearInterval(watchdog);
    signal?.removeEventListener("abort", onAbort);
    stopMessages?.();
    if (options.connection === undefined) await nc?.close().catch(() => {});
  };

  /**
   * Whether the stream holds a message at `seq` or after it, as its leader
   * answers (a consumer counts from its own replica, which may lag).
   */
  const holdsFrom = async (seq: number): Promise<boolean> => {
    if (seq > last) return false;
    // The first message at `seq` or after it: nats-server takes
    // `next_by_subj` in this (leader-answered) request since 2.9, though
    // the client's type names only `seq` and `last_by_subj` for it.
    const query = { seq, next_by_subj: ">" } as MsgRequest;
    const msg = await retrying(() => jsm!.streams.getMessage(options.stream, query), signal);
    return msg !== null && msg.seq <= last;
  };

  /** Opens an ordered consumer from `next`: false when there is nothing more to read. */
  const open = async (): Promise<boolean> => {
    // Placed on a dead node, a creation stays unanswered: ask again,
    // for a minute (see REQUEST_TIMEOUT_MS).
    const js = jetstream(nc!, { timeout: REQUEST_TIMEOUT_MS });
    const consumer = await retrying(
      () =>
        js.consumers.get(options.stream, {
          deliver_policy: DeliverPolicy.StartSequence,
          opt_start_seq: next,
        }),
      signal,
      60_000,
    );
    // Nothing to read from `next` on (the messages up to the last
    // sequence deleted, say): the last sequence would never arrive. The
    // consumer's count is its replica's, which may lag behind the leader
    // right after a node was killed (a read then ended empty): the
    // leader confirms.
    if (
      !options.follow && (await consumer.info()).num_pending === 0 && !(await holdsFrom(next))
    ) {
      return false;
    }
    const iterator = await consumer.consume({ max_messages: 1024 });
    stopMessages = () => iterator.stop();
    messages = iterator[Symbol.asyncIterator]();
    if (signal?.aborted) stopMessages();
    return true;
  };

  /**
   * A read without `follow` whose consumer ended, or counted nothing left,
   * before the last sequence (a node killed, a consumer deleted): the rest
   * is read through a new consumer, as long as the leader says it is
   * there. Ends the stream quietly only when nothing is left; an error
   * names where the read stopped.
   */
  const reopen = async (why: string): Promise<boolean> => {
    if (!(await holdsFrom(next))) return false;
    if (++reopened > 10) {
      throw new Error(
        `Cannot read JetStream stream ${options.stream} to its end: the read stopped ${
          reopened - 1
        } times, last at sequence ${next} of ${last} (${why})`,
      );
    }
    stopMessages?.();
    return await open();
  };

  return new ReadableStream<NatsLine>({
    async start() {
      nc = options.connection ?? await connect(natsServerOptions(options.servers!));
      try {
        // A cluster electing a leader answers "timeout" or 503 for a few
        // seconds: ask again rather than fail the reader.
        jsm = await retrying(() => jetstreamManager(nc!), signal);
        const info = await retrying(() => jsm!.streams.info(options.stream), signal).catch(
          (error) => {
            // "stream not found" named no stream.
            if (!/stream not found/i.test(String(error?.message))) throw error;
            throw new Error(`No JetStream stream ${options.stream} on this NATS`, { cause: error });
          },
        );
        if (!options.follow) last = info.state.last_seq;
        if (!options.follow && (info.state.messages === 0 || from > last)) {
          done = true;
          return;
        }
        if (!(await open())) {
          await cleanup();
          return;
        }
        signal?.addEventListener("abort", onAbort, { once: true });
        if (options.follow) {
          // A deleted stream ends no consume: a follower waited for ever,
          // deaf also to the stream created again under the same name.
          watchdog = setInterval(async () => {
            try {
              const now = await jsm!.streams.info(options.stream);
              if (now.created === info.created) return;
              gone = new Error(
                `JetStream stream ${options.stream} was deleted and created again: its sequences started over (read it again from 1)`,
              );
            } catch (error) {
              if (!/stream not found/i.test(String((error as Error)?.message))) return;
              gone = new Error(`JetStream stream ${options.stream} was deleted`);
            }
            stopMessages?.();
          }, options.checkEveryMs ?? 2000);
        }
      } catch (error) {
        await cleanup();
        throw error;
      }
    },
    async pull(controller) {
      try {
        for (;;) {
          if (done || messages === undefined || signal?.aborted) {
            await cleanup();
            controller.close();
            return;
          }
          const result = await messages.next();
          if (result.done || signal?.aborted || gone !== undefined) {
            if (
              result.done && !signal?.aborted && gone === undefined && !options.follow &&
              await reopen("its consumer ended")
            ) {
              continue;
            }
            await cleanup();
            if (gone !== undefined) throw gone;
            controller.close();
            return;
          }
          const msg = result.value;
          next = msg.seq + 1;
          controller.enqueue({
            offset: msg.seq,
            line: decoder.decode(msg.data),
            subject: msg.subject,
          });
          // The last sequence, or the last message there is: a deleted last
          // message keeps its sequence as the stream's last and never comes.
          if (
            msg.seq >= last ||
            (!options.follow && msg.info.pending === 0 && !(await reopen("none left to it")))
          ) {
            await cleanup();
            controller.close();
          }
          return;
        }
      } catch (error) {
        await cleanup();
        throw error;
      }
    },
    async cancel() {
      await cleanup();
    },
  }, { highWaterMark: 0 });
}

/**
 * The observations of `stream` from sequence `from` on, with their stream
 * sequence as `offset` — what {@link readNatsLines} reads, parsed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstreamManager } from "@nats-io/jetstream";
 * import { connect } from "@nats-io/transport-node";
 * import { LocalNats } from "../service/cluster/local_nats.ts";
 * import { ensureObservationStream } from "./nats_stream.ts";
 * import { readNatsStream } from "./nats_reader.ts";
 *
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * await ensureObservationStream(await jetstreamManager(nc), { stream: "SDA_OBS", subjectPrefix: "sda.obs" });
 * // An empty stream: nothing to read, and without `follow` the reader closes.
 * assert.deepEqual(await Array.fromAsync(readNatsStream({ connection: nc, stream: "SDA_OBS" })), []);
 * await nc.close();
 * await nats.stop();
 * ```
 */
export function readNatsStream(options: NatsReaderOptions): ReadableStream<NatsStreamRecord> {
  return readNatsLines(options).pipeThrough(
    new TransformStream<NatsLine, NatsStreamRecord>({
      transform({ offset, line }, controller) {
        controller.enqueue({ offset, observation: JSON.parse(line) as Observation });
      },
    }),
  );
}
