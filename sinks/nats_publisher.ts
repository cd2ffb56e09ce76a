/**
 * Many JetStream publishes in flight, bounded, each retried until it is
 * acknowledged (SPEC §12).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import {
  createInbox,
  headers as natsHeaders,
  type Msg,
  type NatsConnection,
  type Subscription,
} from "@nats-io/transport-node";

/** One message to publish: what the stream stores and how it recognises a repeat. */
export interface NatsMessage {
  /** `<subjectPrefix>.<kind>.<sensor>`. */
  subject: string;
  /** The canonical JSON line, without the newline. */
  payload: Uint8Array;
  /**
   * `Nats-Msg-Id`: the observation id, so the duplicate window drops
   * repeats; as text, or as its ASCII bytes (a view of the id in the
   * payload, say).
   */
  id: string | Uint8Array;
}

/** Options for {@link NatsPublisher}. */
export interface NatsPublisherOptions {
  /** Publishes awaiting their acknowledgement at once, across all callers (default 8192). */
  maxInFlight?: number;
  /** How long one publish waits for its acknowledgement, ms (default 2000). */
  timeoutMs?: number;
  /** First wait before retrying failed publishes, ms (default 100, doubling to 2000). */
  retryMs?: number;
  /**
   * The stream that must store the messages, sent as `Nats-Expected-Stream`:
   * JetStream then refuses a publish that another stream would capture (the
   * stream deleted and its subjects taken by another one) instead of
   * acknowledging it from there, and the publisher retries and logs why.
   */
  stream?: string;
  /**
   * The stream's duplicate window, ms: messages held across a disconnection
   * longer than that may be stored twice (another instance may have read
   * and published them meanwhile), which is logged as a warning.
   */
  duplicateWindowMs?: number;
}

/** Counters of a {@link NatsPublisher}, monotonic. */
export interface NatsPublisherStats {
  /** Messages acknowledged by JetStream (duplicates included). */
  published: number;
  /** Of those, acknowledged as duplicates (already in the stream's window). */
  duplicates: number;
  /** Failed publish attempts (each retried). */
  errors: number;
  /**
   * Messages larger than the server's `max_payload`: no retry could ever
   * publish them, so they are not retried (and not in the stream; each is
   * logged as an error, with its id).
   */
  refused: number;
}

/** The messages of one {@link NatsPublisher.publish} attempt. */
interface Round {
  remaining: number;
  failed: NatsMessage[];
  firstError: string | undefined;
  done: () => void;
}

interface Pending {
  message: NatsMessage;
  round: Round;
  sentAt: number;
}

const log = getLogger(["sda-ingest", "nats"]);
const decoder = new TextDecoder();
const encoder = new TextEncoder();

/**
 * What {@link NatsPublisher} uses of the client's protocol handler (the
 * `protocol` of a `@nats-io/nats-core` 3.x connection): the queue of bytes
 * the client writes to its socket — flushed in order with everything else
 * it sends, held and replayed across a reconnect like its own publishes —
 * and the server's limits.
 */
interface ProtocolWire {
  sendCommand(command: Uint8Array): void;
  info?: { max_payload?: number };
}

/** The client's protocol handler, when it has what {@link ProtocolWire} needs. */
function protocolWire(nc: NatsConnection): ProtocolWire | undefined {
  const protocol = (nc as unknown as { protocol?: Partial<ProtocolWire> }).protocol;
  return typeof protocol?.sendCommand === "function" ? protocol as ProtocolWire : undefined;
}

/**
 * What follows the numbers of an `HPUB` line: its end and the header block
 * up to the id (`NATS/1.0`, the expected stream if any, `Nats-Msg-Id: `).
 */
function headerStart(stream: string | undefined): Uint8Array {
  const expected = stream === undefined ? "" : `Nats-Expected-Stream: ${stream}\r\n`;
  return encoder.encode(`\r\nNATS/1.0\r\n${expected}Nats-Msg-Id: `);
}
const ASCII_ID = /^[\x21-\x7e]*$/;

/** Digits of a non-negative integer. */
function digits(n: number): number {
  let count = 1;
  while (n >= 10) {
    n = Math.floor(n / 10);
    count++;
  }
  return count;
}

/** One `HPUB` frame to write. */
interface Frame {
  /** `HPUB <subject> <inbox>.`: the line up to the reply token. */
  prefix: Uint8Array;
  token: number;
  /** The `Nats-Msg-Id`, ASCII. */
  id: string | Uint8Array;
  payload: Uint8Array;
}

/**
 * The `HPUB` frames of a run of publishes, back to back in one new array:
 * `HPUB <subject> <inbox>.<token> <hlen> <tlen>\r\n`, the header block
 * (`start`, then `<id>\r\n\r\n`), the payload, `\r\n`.
 */
function frames(list: readonly Frame[], start: Uint8Array): Uint8Array {
  // The header block: `start` without the HPUB line's CRLF, the id, CRLF CRLF.
  const headerBytes = start.length - 2 + 4;
  let size = 0;
  for (const { prefix, token, id, payload } of list) {
    const hlen = headerBytes + id.length;
    const tlen = hlen + payload.length;
    size += prefix.length + digits(token) + 1 + digits(hlen) + 1 + digits(tlen) + 2 + tlen + 2;
  }
  const out = new Uint8Array(size);
  let o = 0;
  const number = (n: number) => {
    const end = o + digits(n);
    for (let at = end - 1; at >= o; at--) {
      out[at] = 48 + (n % 10);
      n = Math.floor(n / 10);
    }
    o = end;
  };
  for (const { prefix, token, id, payload } of list) {
    const hlen = headerBytes + id.length;
    out.set(prefix, o);
    o += prefix.length;
    number(token);
    out[o++] = 32;
    number(hlen);
    out[o++] = 32;
    number(hlen + payload.length);
    out.set(start, o);
    o += start.length;
    if (typeof id === "string") {
      for (let i = 0; i < id.length; i++) out[o++] = id.charCodeAt(i);
    } else {
      out.set(id, o);
      o += id.length;
    }
    out[o++] = 13;
    out[o++] = 10;
    out[o++] = 13;
    out[o++] = 10;
    out.set(payload, o);
    o += payload.length;
    out[o++] = 13;
    out[o++] = 10;
  }
  return out;
}

/** How often an ongoing publishing failure is logged again, ms. */
const STILL_FAILING_EVERY_MS = 60_000;

/**
 * Publishes batches of messages to JetStream with at most `maxInFlight`
 * acknowledgements outstanding across every caller — never one round trip
 * per message, never an unbounded queue in the client. {@link publish}
 * resolves once JetStream acknowledged every message of the call (as stored
 * or as a duplicate); messages whose publish failed (an error answer, no
 * stream leader during a Raft election, no answer within `timeoutMs`, the
 * connection lost) are published again with the same `Nats-Msg-Id` after a
 * backoff, for as long as it takes, so a retry that races a late
 * acknowledgement is dropped by the duplicate window. A message larger than
 * the server's `max_payload` can never be published: it is counted as
 * `refused` and logged as an error, not retried, rather than stalling
 * every later publish for ever. While NATS is
 * unreachable the caller waits: the pipeline stalls with bounded memory
 * rather than advancing a cursor past unpublished data.
 *
 * It speaks JetStream's publish protocol on a core connection — each
 * message an `HPUB` with a reply subject under one inbox, each
 * acknowledgement a message to it — rather than through
 * `jetstream().publish()`, whose request object, timer and promise per
 * message were measured to cost 5–7× the time per message (about 5,000
 * against 30,000 messages/s on the same loaded machine). It writes the
 * frames of a run of publishes itself, as one array into the client's
 * outbound queue (see {@link ProtocolWire}), rather than through
 * `nc.publish()`, which builds and encodes a protocol line and queues four
 * pieces per message that its flush then copies together (falling back to
 * `nc.publish()` for a client without that queue).
 *
 * The interface is deliberately narrow (subject, bytes, id) so the caller
 * may hand over lines it serialised once for the log as well.
 *
 * @example Publish, and publish one again
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstreamManager } from "@nats-io/jetstream";
 * import { connect } from "@nats-io/transport-node";
 * import { LocalNats } from "../service/cluster/local_nats.ts";
 * import { NatsPublisher } from "./nats_publisher.ts";
 * import { ensureObservationStream } from "./nats_stream.ts";
 *
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * await ensureObservationStream(await jetstreamManager(nc), { stream: "SDA_OBS", subjectPrefix: "sda.obs" });
 * const publisher = new NatsPublisher(nc);
 * const message = (id: string) => ({
 *   subject: "sda.obs.radar.XR1",
 *   payload: new TextEncoder().encode(`{"id":"${id}"}`),
 *   id,
 * });
 * await publisher.publish([message("a"), message("b")]);
 * await publisher.publish([message("a")]); // within the duplicate window: not stored again
 * assert.deepEqual(publisher.stats, { published: 3, duplicates: 1, errors: 0, refused: 0 });
 * publisher.close();
 * await nc.close();
 * await nats.stop();
 * ```
 */
export class NatsPublisher {
  readonly #nc: NatsConnection;
  readonly #maxInFlight: number;
  readonly #timeoutMs: number;
  readonly #retryMs: number;
  readonly #stream: string | undefined;
  readonly #duplicateWindowMs: number | undefined;
  /** See {@link headerStart}. */
  readonly #headerStart: Uint8Array;
  readonly #stats: NatsPublisherStats = { published: 0, duplicates: 0, errors: 0, refused: 0 };
  readonly #inbox: string;
  readonly #subscription: Subscription;
  readonly #pending = new Map<number, Pending>();
  readonly #wire: ProtocolWire | undefined;
  /** `HPUB <subject> <inbox>.` by subject. */
  readonly #prefixes = new Map<string, Uint8Array>();
  /** Frames of the current run of sends, not yet queued. */
  #frames: Frame[] = [];
  #next = 0;
  #slot: PromiseWithResolvers<void> | undefined;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #closed = new AbortController();
  #connected = true;
  #disconnectedAt = 0;
  #reconnected: PromiseWithResolvers<void> | undefined;
  /** Publishing has failed since (Unix ms), and why, until a publish succeeds again. */
  #problem: { error: string; since: number } | undefined;
  /** When the last "publish failed" warning was logged (Date.now()). */
  #warnedAt = 0;

  /** @param nc the connection to publish on (not closed by {@link close}) */
  constructor(nc: NatsConnection, options: NatsPublisherOptions = {}) {
    this.#nc = nc;
    this.#maxInFlight = options.maxInFlight ?? 8192;
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#retryMs = options.retryMs ?? 100;
    this.#stream = options.stream;
    this.#duplicateWindowMs = options.duplicateWindowMs;
    this.#headerStart = headerStart(options.stream);
    if (!Number.isInteger(this.#maxInFlight) || this.#maxInFlight < 1) {
      throw new RangeError(`maxInFlight must be a positive integer: ${this.#maxInFlight}`);
    }
    if (!(this.#timeoutMs > 0)) {
      throw new RangeError(`timeoutMs must be positive: ${this.#timeoutMs}`);
    }
    this.#inbox = createInbox();
    this.#wire = protocolWire(nc);
    const prefix = this.#inbox.length + 1;
    this.#subscription = nc.subscribe(`${this.#inbox}.*`, {
      callback: (_error, msg) => this.#acknowledged(Number(msg.subject.slice(prefix)), msg),
    });
    this.#watch().catch(() => {});
  }

  /**
   * Follows the connection: while it is down nothing times out and nothing
   * is published again (the client would only pile retries up in its
   * buffer); once it is back, what was sent before it went down is
   * published again at once — it may have been lost with the old socket.
   */
  async #watch(): Promise<void> {
    for await (const status of this.#nc.status()) {
      if (this.#closed.signal.aborted) break;
      if (status.type === "disconnect") {
        this.#connected = false;
        this.#disconnectedAt = performance.now();
      } else if (status.type === "reconnect") {
        this.#connected = true;
        const now = performance.now();
        const downMs = now - this.#disconnectedAt;
        if (
          this.#duplicateWindowMs !== undefined && downMs > this.#duplicateWindowMs &&
          this.#pending.size > 0
        ) {
          // What an instance holds through a cut longer than the window is
          // no longer recognised as a repeat: if another instance read it
          // again meanwhile (a leased source it took over), it is stored
          // twice. Said, since it cannot be undone here.
          log.warn(
            "NATS is back after {seconds} s, longer than the {window} s duplicate window: the {count} observations held since may be stored twice where another instance read them again meanwhile (raise nats.duplicateWindowMs above the longest cut to expect)",
            {
              seconds: Math.round(downMs / 1000),
              window: Math.round(this.#duplicateWindowMs / 1000),
              count: this.#pending.size,
            },
          );
        }
        for (const [token, entry] of this.#pending) {
          if (entry.sentAt <= this.#disconnectedAt) {
            this.#fail(
              token,
              entry,
              `connection lost before the acknowledgement (${status.server})`,
            );
          } else {
            // Buffered by the client while it was down: sent only now.
            entry.sentAt = now;
          }
        }
        this.#reconnected?.resolve();
        this.#reconnected = undefined;
      }
    }
  }

  /** What has been published so far. */
  get stats(): Readonly<NatsPublisherStats> {
    return this.#stats;
  }

  /**
   * Publishing that has been failing (and retried) since `since`, Unix ms,
   * with the last reason; undefined once a publish call completes.
   */
  get problem(): { readonly error: string; readonly since: number } | undefined {
    return this.#problem;
  }

  /** Publishes awaiting their acknowledgement now. */
  get inFlight(): number {
    return this.#pending.size;
  }

  /**
   * Publishes every message; resolves once JetStream acknowledged each one.
   * Rejects only when the publisher is closed before that.
   */
  async publish(messages: readonly NatsMessage[]): Promise<void> {
    let pending: readonly NatsMessage[] = messages;
    let delay = this.#retryMs;
    while (pending.length > 0) {
      const done = Promise.withResolvers<void>();
      const round: Round = {
        remaining: pending.length,
        failed: [],
        firstError: undefined,
        done: done.resolve,
      };
      // One clock reading per run of sends (not one per message): what
      // the timeout counts from.
      let now = performance.now();
      for (const message of pending) {
        while (this.#pending.size >= this.#maxInFlight) {
          this.#queueFrames();
          this.#checkOpen();
          await this.#freeSlot();
          now = performance.now();
        }
        this.#checkOpen();
        this.#send(message, round, now);
      }
      this.#queueFrames();
      await done.promise;
      if (round.failed.length === 0) {
        const problem = this.#problem;
        if (problem !== undefined) {
          this.#problem = undefined;
          log.info("NATS publishing works again after {seconds} s", {
            seconds: Math.round((Date.now() - problem.since) / 1000),
          });
        }
        return;
      }
      const ongoing = this.#problem;
      this.#problem = {
        error: round.firstError ?? "unknown",
        since: ongoing?.since ?? Date.now(),
      };
      this.#checkOpen();
      // One line when publishing starts failing, then one a minute while it
      // lasts (SPEC §9: a state change, not every retry of every batch in
      // flight — a ten-minute outage was ~180 lines).
      const wall = Date.now();
      if (ongoing === undefined) {
        this.#warnedAt = wall;
        log.warn("NATS publish failed for {count} messages, retrying in {delay} ms: {error}", {
          count: round.failed.length,
          delay,
          error: round.firstError,
        });
      } else if (wall - this.#warnedAt >= STILL_FAILING_EVERY_MS) {
        this.#warnedAt = wall;
        log.warn("NATS publishing still fails after {seconds} s, retrying: {error}", {
          seconds: Math.round((wall - ongoing.since) / 1000),
          error: round.firstError,
        });
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.#closed.signal.addEventListener("abort", () => {
          clearTimeout(timer);
          resolve();
        }, { once: true });
      });
      while (!this.#connected) {
        this.#checkOpen();
        this.#reconnected ??= Promise.withResolvers();
        await this.#reconnected.promise;
      }
      this.#checkOpen();
      delay = Math.min(delay * 2, 2000);
      pending = round.failed;
    }
  }

  /** Stops: publishes still waiting reject. Does not close the connection. */
  close(): void {
    if (this.#closed.signal.aborted) return;
    this.#closed.abort();
    this.#frames = [];
    clearInterval(this.#sweeper);
    this.#subscription.unsubscribe();
    for (const [token, entry] of this.#pending) this.#fail(token, entry, "the publisher is closed");
    this.#slot?.resolve();
    this.#reconnected?.resolve();
  }

  #send(message: NatsMessage, round: Round, sentAt: number): void {
    if (this.#refuses(message)) {
      this.#settle(round);
      return;
    }
    const token = this.#next++;
    this.#pending.set(token, { message, round, sentAt });
    this.#sweeper ??= setInterval(() => this.#sweep(), Math.min(250, this.#timeoutMs / 2));
    if (this.#wire !== undefined) {
      let id = message.id;
      if (typeof id === "string" && !ASCII_ID.test(id)) {
        id = encoder.encode(id.replace(/[\r\n]/g, " "));
      }
      this.#frames.push({
        prefix: this.#prefix(message.subject),
        token,
        id,
        payload: message.payload,
      });
      return;
    }
    try {
      const headers = natsHeaders();
      const id = typeof message.id === "string" ? message.id : decoder.decode(message.id);
      if (this.#stream !== undefined) headers.set("Nats-Expected-Stream", this.#stream);
      headers.set("Nats-Msg-Id", id.replace(/[\r\n]/g, " "));
      this.#nc.publish(message.subject, message.payload, {
        reply: `${this.#inbox}.${token}`,
        headers,
      });
    } catch (error) {
      // A closed connection or an oversized message: counted, retried.
      this.#fail(
        token,
        this.#pending.get(token)!,
        error instanceof Error ? error.message : String(error),
      );
    }
  }

  /**
   * Whether `message` is larger than the server's `max_payload` (headers
   * included), which refuses it every time: counted and logged if so.
   */
  #refuses(message: NatsMessage): boolean {
    const max = this.#wire?.info?.max_payload ?? this.#nc.info?.max_payload;
    if (max === undefined) return false;
    const id = message.id;
    // A UTF-16 unit is at most 3 bytes of UTF-8: most messages need no count.
    const headerBytes = this.#headerStart.length - 2 + 4;
    const idBytes = typeof id === "string" ? id.length * 3 : id.length;
    if (headerBytes + idBytes + message.payload.length <= max) return false;
    const text = typeof id === "string" ? id : decoder.decode(id);
    const size = headerBytes + encoder.encode(text).length + message.payload.length;
    if (size <= max) return false;
    this.#stats.refused++;
    log.error(
      "NATS cannot take observation {id}: its message of {size} bytes exceeds the server's max_payload ({max} bytes); it is in the local log only",
      { id: text.slice(0, 64), size, max },
    );
    return true;
  }

  /** Hands the frames of the sends so far to the client's outbound queue, as one array. */
  #queueFrames(): void {
    const list = this.#frames;
    if (list.length === 0) return;
    this.#frames = [];
    try {
      if (this.#nc.isClosed()) throw new Error("the connection is closed");
      if (this.#nc.isDraining()) throw new Error("the connection is draining");
      this.#wire!.sendCommand(frames(list, this.#headerStart));
    } catch (error) {
      // Counted, retried (as a failed nc.publish() would be).
      const reason = error instanceof Error ? error.message : String(error);
      for (const { token } of list) {
        const entry = this.#pending.get(token);
        if (entry !== undefined) this.#fail(token, entry, reason);
      }
    }
  }

  #prefix(subject: string): Uint8Array {
    let bytes = this.#prefixes.get(subject);
    if (bytes === undefined) {
      bytes = encoder.encode(`HPUB ${subject} ${this.#inbox}.`);
      if (this.#prefixes.size >= 65536) this.#prefixes.clear();
      this.#prefixes.set(subject, bytes);
    }
    return bytes;
  }

  /** An answer to publish `token`: a PubAck, an error, or a 503 "no responders" status. */
  #acknowledged(token: number, msg: Msg): void {
    const entry = this.#pending.get(token);
    if (entry === undefined) return; // already timed out and retried
    const data = msg.data;
    // A PubAck is {"stream":…,"seq":…[,"duplicate":true]}; anything else
    // (an {"error":…} answer, a 503 status without data) is a failure.
    // Read from the bytes: decoding every acknowledgement showed in profiles.
    if (data.length < 12 || data[2] !== 0x73 /* s */ || (msg.headers?.code ?? 0) >= 400) {
      const status = msg.headers?.code ?? 0;
      const reason = status >= 400
        ? `${status} ${msg.headers?.description ?? ""}`.trim()
        : decoder.decode(data).slice(0, 200) || "an empty answer";
      this.#fail(token, entry, reason);
      return;
    }
    this.#pending.delete(token);
    this.#stats.published++;
    // `"duplicate":true}` ends the acknowledgement of a repeat.
    if (data[data.length - 2] === 0x65 /* e */ && decoder.decode(data).includes('"duplicate"')) {
      this.#stats.duplicates++;
    }
    this.#settle(entry.round);
  }

  #fail(token: number, entry: Pending, reason: string): void {
    this.#pending.delete(token);
    this.#stats.errors++;
    entry.round.failed.push(entry.message);
    entry.round.firstError ??= reason;
    this.#settle(entry.round);
  }

  #settle(round: Round): void {
    if (--round.remaining === 0) round.done();
    const slot = this.#slot;
    if (slot !== undefined) {
      this.#slot = undefined;
      slot.resolve();
    }
    if (this.#pending.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }

  /** Publishes unanswered for `timeoutMs` failed (a lost connection, a stalled leader): retry them. */
  #sweep(): void {
    if (!this.#connected) return;
    const limit = performance.now() - this.#timeoutMs;
    // Insertion order is send order: stop at the first one still in time.
    for (const [token, entry] of this.#pending) {
      if (entry.sentAt > limit) break;
      this.#fail(token, entry, `no acknowledgement within ${this.#timeoutMs} ms`);
    }
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
}
