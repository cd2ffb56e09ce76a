/**
 * One gateway as a readable of batches: pacing, timeouts and the
 * acknowledgement path around a {@link GatewayPoller}.
 *
 * Portable: web APIs only (the socket comes in as a {@link DatagramChannel}).
 *
 * @module
 */

import { concatBytes } from "../_concat_bytes.ts";
import { getLogger } from "@logtape/logtape";
import { nowMicros } from "../../envelope/time.ts";
import { Ack } from "../../operators/ack.ts";
import { CheckpointQueue } from "../../operators/checkpoint_queue.ts";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import type { DecodeContext } from "../decode_context.ts";
import type { Checkpoint, SourceState } from "../source.ts";
import type { DatagramChannel } from "./datagram_channel.ts";
import {
  type AnswerProgress,
  GatewayPoller,
  type IslGatewayState,
  type IslLost,
  type PollerOutput,
} from "./gateway_poller.ts";
import { type MapBeacons, mapBeaconsHere } from "./map_beacons.ts";

const log = getLogger(["sda-ingest", "isl"]);

/** Answers emitted but not yet durable before the next poll waits for the oldest. */
const MAX_IN_FLIGHT = 256;
/** Timeouts in a row before the gateway is reported degraded. */
const DEGRADED_AFTER = 3;
/**
 * With `mapBeacons`, a batch is held this long for the next datagram of its
 * burst, ms, so that a worker maps an answer's datagrams in a few pages
 * rather than one each (a message each way costs more than mapping the
 * dozen beacons of a datagram).
 */
const HOLD_MS = 1;
/** …and handed on once it holds this many beacons. */
const HOLD_BEACONS = 256;
/** Loss is logged at most this often per gateway (never per observation). */
const LOSS_LOG_INTERVAL_MS = 10_000;

/** Options for {@link GatewayStream}. */
export interface GatewayStreamOptions {
  /** The configured source name. */
  source: string;
  /** `host:port` of the gateway. */
  peer: string;
  /** Opens the socket. */
  open: () => Promise<DatagramChannel>;
  /** Where `W` is kept. */
  checkpoint: Checkpoint<IslGatewayState>;
  /** Wait after an answer that was not full. */
  pollIntervalMs: number;
  /** Wait for an answer to complete before polling again. */
  timeoutMs: number;
  /** A pause this long after an answer's datagrams ends their burst. */
  quietMs: number;
  /** `max` of each poll. */
  maxPackets: number;
  /** Most gateway loss one status may count before the next answer confirms it. */
  maxLossJump: number;
  /** Sensor ids this source accepts; absent: any. */
  sensors?: ReadonlySet<string>;
  /** Receive clock, µs. */
  now?: () => number;
  /** Maps the beacons elsewhere (a decode worker); absent: the poller maps them. */
  mapBeacons?: MapBeacons;
}

/** A batch emitted in order, enqueued once its beacons are mapped. */
interface Emitted {
  batch: IngestBatch;
  ready: boolean;
  /** Resolves once it is ready (never rejects). */
  mapped: Promise<void>;
  /** The answer (poll) it belongs to. */
  answer: number;
}

/** A gateway's readable, with its controls and status. */
export class GatewayStream {
  readonly readable: ReadableStream<IngestBatch>;
  readonly started: Promise<void>;
  readonly poller: GatewayPoller;
  readonly peer: string;
  state: SourceState = "starting";
  lastReceive: number | undefined;
  lastError: string | undefined;
  /** When {@link lastError} happened, µs since the Unix epoch. */
  lastErrorAt: number | undefined;
  /** Counters kept here rather than by the poller. */
  readonly counters = {
    timeouts: 0,
    retries: 0,
    send_errors: 0,
    checkpoint_errors: 0,
    batches: 0,
  };

  #options: GatewayStreamOptions;
  #source: string;
  #ctx: DecodeContext;
  /**
   * Batches emitted and not yet enqueued, oldest first: with `mapBeacons`,
   * a batch waits here while its beacons are mapped, and those after it
   * wait for it, so batches keep their order.
   */
  #emitted: Emitted[] = [];
  /** Polls sent so far: the current answer's number. */
  #answers = 0;
  #channel: DatagramChannel | undefined;
  #queue: CheckpointQueue<IslGatewayState>;
  #inFlight: Ack[] = [];
  /**
   * The ack shared by the batches of the current answer: one hold is the
   * source's own until the answer ends, one more per batch, so it settles
   * when the answer's last batch is durable.
   */
  #answerAck: Ack | undefined;
  /** The watermark when the current answer's poll was sent. */
  #answerFrom = 0;
  #controller!: ReadableStreamDefaultController<IngestBatch>;
  #pulling = false;
  /** Batches enqueued so far. */
  #batches = 0;
  #stopping = false;
  #finishing = false;
  #closed = false;
  #nextPollAt = 0;
  #wake: (() => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timeoutsInRow = 0;
  /** The poller's stale answers when the current run of timeouts began. */
  #staleBefore = 0;
  #loggedLost: IslLost = { gateway: 0, link: 0, corrupt: 0 };
  #lossLoggedAt = -Infinity;
  #suspectLogged = 0;
  /** Gateway restarts acted on and logged so far. */
  #resetsLogged = 0;
  #suspectLoggedAt = -Infinity;
  #ackFailure: unknown;
  #stopped: Promise<void>;
  #resolveStopped!: () => void;

  constructor(options: GatewayStreamOptions) {
    this.#options = options;
    this.#source = options.source;
    this.peer = options.peer;
    this.#ctx = {
      source: options.source,
      transport: "udp",
      peer: options.peer,
      now: options.now,
      sensors: options.sensors,
    };
    this.poller = new GatewayPoller({
      ctx: this.#ctx,
      maxPackets: options.maxPackets,
      maxLossJump: options.maxLossJump,
      deferMapping: options.mapBeacons !== undefined,
    });
    this.#queue = new CheckpointQueue((value) => this.#commit(value), {
      retryMs: options.checkpoint.retryMs,
    });
    this.#stopped = new Promise((resolve) => (this.#resolveStopped = resolve));
    const started = Promise.withResolvers<void>();
    this.started = started.promise;
    // Whoever awaits `started` sees a failure; nobody awaiting is not an unhandled rejection.
    this.started.catch(() => {});
    this.readable = new ReadableStream<IngestBatch>({
      start: async (controller) => {
        this.#controller = controller;
        try {
          await this.#start(started.resolve);
          started.resolve();
        } catch (error) {
          this.#setState("down", `Cannot start polling ${this.peer}: ${message(error)}`);
          started.reject(error);
          throw error;
        }
      },
      pull: async (controller) => {
        this.#pulling = true;
        try {
          // A pull that enqueues nothing is not called again (WHATWG
          // streams re-pull only when a read arrived meanwhile), so keep
          // polling until an answer yields a batch. While an answer's
          // beacons are being mapped, the next answer may be polled, but
          // not one more: at most one answer ahead of demand.
          const before = this.#batches;
          while (!this.#stopping && this.#batches === before) {
            const oldest = this.#emitted[0];
            if (oldest !== undefined && oldest.answer < this.#answers) await oldest.mapped;
            else await this.#pull(controller);
          }
        } finally {
          this.#pulling = false;
        }
        if (this.#stopping) this.#finish();
      },
      cancel: () => {
        this.#stopping = true;
        this.#finishing = true;
        this.#closed = true;
        this.#shutdown();
        this.#resolveStopped();
      },
    }, { highWaterMark: 0 });
  }

  /** The channel's counters, once it is open. */
  get channelCounters(): Readonly<Record<string, number>> | undefined {
    return this.#channel?.counters;
  }

  /** Stops polling and closes the readable (batches already enqueued stay readable). */
  stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      this.#shutdown();
      if (!this.#pulling) this.#finish();
    }
    return this.#stopped;
  }

  /** Resolves once every emitted batch is settled and the last checkpoint saved. */
  async settled(): Promise<void> {
    for (const ack of this.#inFlight) await ack.done.catch(() => {});
    this.#inFlight.length = 0;
    await this.#queue.idle();
  }

  /**
   * Loads the watermark and opens the gateway's socket. A gateway whose
   * host name does not resolve (DNS not up yet at boot, a typo) is `down`
   * and asked again every {@link RESOLVE_RETRY_MS}: `waiting` is called
   * then, so the service starts — its other sources go on — instead of
   * failing as a whole on one gateway's name.
   */
  async #start(waiting: () => void): Promise<void> {
    const checkpoint = this.#options.checkpoint;
    const state = await checkpoint.load();
    try {
      this.poller.restore(state);
    } catch (error) {
      // Which file or key to look at: the poller cannot know.
      throw new RangeError(
        `${checkpoint.where ?? "the saved state"}: ${
          error instanceof Error ? error.message : error
        }`,
        { cause: error },
      );
    }
    for (let attempt = 0;; attempt++) {
      try {
        this.#channel = await this.#options.open();
        break;
      } catch (error) {
        if (!unresolved(error) || this.#stopping) throw error;
        this.#setState(
          "down",
          `Cannot resolve the host name of ${this.peer} (${message(error)}); trying again every ${
            RESOLVE_RETRY_MS / 1000
          } s`,
        );
        if (attempt === 0) {
          log.warn(
            "ISL gateway {peer}: cannot resolve its host name ({error}); trying again every {seconds} s",
            {
              peer: this.peer,
              error: message(error),
              seconds: RESOLVE_RETRY_MS / 1000,
            },
          );
          waiting();
        }
        await this.#sleep(RESOLVE_RETRY_MS);
        if (this.#stopping) return;
      }
    }
    if (this.#stopping) {
      this.#channel.close();
      return;
    }
    log.info("Polling ISL gateway {peer} from index {after}", {
      peer: this.peer,
      after: this.poller.watermark,
    });
    // "starting" until the gateway answers: up is what it says, not what
    // we hope (a gateway that never answers was "up" until timeouts).
  }

  async #pull(controller: ReadableStreamDefaultController<IngestBatch>): Promise<void> {
    if (this.#ackFailure !== undefined) throw this.#ackFailure;
    const wait = this.#nextPollAt - performance.now();
    if (wait > 0) await this.#sleep(wait);
    if (this.#stopping) return;
    await this.#boundInFlight();
    if (this.#stopping) return;
    const channel = this.#channel!;
    const poller = this.poller;
    const { timeoutMs } = this.#options;
    this.#answerFrom = poller.watermark;
    this.#answers++;
    // Not awaited: the answer cannot arrive before the poll has left, and
    // waiting for the send callback costs a turn of the event loop per poll.
    // A failed send surfaces here and as a timeout, which polls again.
    channel.send(poller.poll()).catch((error) => {
      this.counters.send_errors++;
      this.#setState("down", `Cannot send a poll to ${this.peer}: ${message(error)}`);
    });
    const deadline = performance.now() + timeoutMs;
    try {
      await this.#answer(controller, channel, deadline);
    } finally {
      this.#endAnswer();
    }
  }

  async #answer(
    controller: ReadableStreamDefaultController<IngestBatch>,
    channel: DatagramChannel,
    deadline: number,
  ): Promise<void> {
    const poller = this.poller;
    const quietMs = this.#options.quietMs;
    const holds = this.#options.mapBeacons !== undefined;
    // Once datagrams have come, a pause of quietMs ends their burst.
    let bursting = false;
    // With mapBeacons: a batch held for the next datagrams of the burst,
    // and when its first and its last datagram arrived.
    let held: PollerOutput | undefined;
    let heldAt = 0;
    let heldUntil = 0;
    try {
      for (;;) {
        let datagram = channel.take();
        if (datagram === undefined && held !== undefined) {
          const wait = Math.min(deadline - performance.now(), HOLD_MS);
          datagram = wait > 0 ? await channel.receive(wait) : undefined;
          if (datagram === undefined) {
            this.#emit(controller, held, heldAt, heldUntil);
            held = undefined;
          }
        }
        if (datagram === undefined) {
          const left = deadline - performance.now();
          const wait = bursting ? Math.min(left, quietMs) : left;
          datagram = wait > 0 ? await channel.receive(wait) : undefined;
        }
        if (this.#stopping) return;
        if (datagram === undefined) {
          if (bursting && performance.now() < deadline) {
            bursting = false;
            const progress = poller.stalled();
            if (this.#ended(progress)) return;
            continue; // nothing to do before the timeout
          }
          this.#timedOut();
          return;
        }
        bursting = true;
        const receivedAt = this.#now();
        this.lastReceive = receivedAt;
        if (held === undefined) {
          held = { observations: [], deadLetters: [] };
          heldAt = receivedAt;
        }
        heldUntil = receivedAt;
        const out = held;
        let progress = poller.receive(datagram, receivedAt, out);
        // Whatever else has already arrived goes into the same batch.
        while (!ended(progress) && (datagram = channel.take()) !== undefined) {
          progress = poller.receive(datagram, receivedAt, out);
        }
        if (!holds || ended(progress) || (out.packets?.length ?? 0) >= HOLD_BEACONS) {
          this.#emit(controller, out, heldAt, heldUntil);
          held = undefined;
        }
        if (this.#ended(progress)) return;
      }
    } finally {
      // The poller has moved past what is held: it must be handed on.
      if (held !== undefined) this.#emit(controller, held, heldAt, heldUntil);
    }
  }

  /** Schedules the next poll when `progress` ends the answer; true when it does. */
  #ended(progress: AnswerProgress): boolean {
    this.#logReset();
    if (progress.complete) {
      this.#timeoutsInRow = 0;
      this.#staleBefore = this.poller.counters.stale_answers;
      const saving = this.#queue.problem;
      if (saving === undefined) this.#setState("up");
      else {
        this.#setState("degraded", `Cannot save the watermark of ${this.peer}: ${message(saving)}`);
      }
      this.#nextPollAt = progress.full ? 0 : performance.now() + this.#options.pollIntervalMs;
      this.#logLoss();
      return true;
    }
    if (progress.retry) {
      this.counters.retries++;
      this.#nextPollAt = 0;
      this.#logLoss();
      this.#logSuspect();
      return true;
    }
    return false;
  }

  #timedOut(): void {
    this.counters.timeouts++;
    this.poller.expire();
    this.#nextPollAt = 0;
    if (++this.#timeoutsInRow >= DEGRADED_AFTER) {
      // Answers that came, but after the next poll had gone out, are
      // stale (SPEC §6): a gateway slower than timeoutMs, not a silent one.
      const late = this.poller.counters.stale_answers - this.#staleBefore;
      this.#setState(
        "degraded",
        `Gateway ${this.peer} did not complete an answer within ${this.#options.timeoutMs} ms ${this.#timeoutsInRow} times in a row` +
          (late > 0
            ? ` (${late} answers came later and were ignored as stale: the gateway answers slower than timeoutMs)`
            : ""),
      );
    }
    this.#logLoss();
  }

  /**
   * Hands on what the datagrams received from `receivedAt` to `lastAt`
   * yielded: the batch's receive time is the first's (what receive →
   * durable counts from); beacons mapped elsewhere get the last's as
   * `t_rx`, never a time before they arrived.
   */
  #emit(
    controller: ReadableStreamDefaultController<IngestBatch>,
    out: PollerOutput,
    receivedAt: number,
    lastAt = receivedAt,
  ): void {
    const packets = out.packets;
    if (out.observations.length === 0 && out.deadLetters.length === 0 && packets === undefined) {
      return;
    }
    const ack = this.#answerAck ??= new Ack();
    ack.retain();
    this.counters.batches++;
    const batch: IngestBatch = {
      observations: out.observations,
      deadLetters: out.deadLetters,
      acks: [ack],
      source: this.#source,
      receivedAt,
    };
    if (packets === undefined) {
      if (this.#emitted.length === 0) this.#enqueue(controller, batch);
      else {this.#emitted.push({
          batch,
          ready: true,
          mapped: Promise.resolve(),
          answer: this.#answers,
        });}
      return;
    }
    const entry: Emitted = {
      batch,
      ready: false,
      mapped: Promise.resolve(),
      answer: this.#answers,
    };
    entry.mapped = this.#map(concatBytes(packets), lastAt, batch).then(() => {
      entry.ready = true;
      while (this.#emitted.length > 0 && this.#emitted[0].ready) {
        this.#enqueue(controller, this.#emitted.shift()!.batch);
      }
    });
    this.#emitted.push(entry);
  }

  /** Adds what the beacons `packets` map to to `batch`; on this thread should the mapper fail. */
  async #map(packets: Uint8Array, receivedAt: number, batch: IngestBatch): Promise<void> {
    let mapped;
    try {
      mapped = await this.#options.mapBeacons!(packets, this.#ctx, receivedAt);
    } catch (error) {
      log.warn("Mapping ISL beacons of {peer} on the main thread: {error}", {
        peer: this.peer,
        error: message(error),
      });
      mapped = await mapBeaconsHere(packets, this.#ctx, receivedAt);
    }
    if (mapped.packed !== undefined) batch.packed = mapped.packed;
    else batch.observations.push(...mapped.observations);
    const rejected = mapped.deadLetters.length;
    if (rejected > 0) {
      this.poller.rejectedLater(rejected);
      batch.deadLetters.push(...mapped.deadLetters);
    }
  }

  #enqueue(controller: ReadableStreamDefaultController<IngestBatch>, batch: IngestBatch): void {
    this.#batches++;
    if (this.#closed) return; // cancelled: nobody reads it
    try {
      controller.enqueue(batch);
    } catch {
      // The stream failed meanwhile (an acknowledgement failed): nobody reads it.
    }
  }

  /**
   * Registers the answer's checkpoint: `W` as it stands now, committed once
   * the answer's batches — and every batch before them — are durable. When
   * `W` moved over lost indexes only, nothing needs to be durable first, but
   * the commit still waits for the answers before it.
   */
  #endAnswer(): void {
    const ack = this.#answerAck;
    this.#answerAck = undefined;
    const moved = this.poller.watermark !== this.#answerFrom;
    if (ack !== undefined) {
      this.#queue.track(ack, this.poller.state());
      this.#inFlight.push(ack);
      ack.done.catch((error) => {
        this.#ackFailure ??= error;
      });
      ack.release();
    } else if (moved) {
      this.#queue.add(this.poller.state()).release();
    }
  }

  async #boundInFlight(): Promise<void> {
    const inFlight = this.#inFlight;
    let settled = 0;
    while (settled < inFlight.length && inFlight[settled].state !== "pending") settled++;
    if (settled > 0) inFlight.splice(0, settled);
    while (inFlight.length >= MAX_IN_FLIGHT && !this.#stopping) {
      await inFlight[0].done.catch(() => {});
      inFlight.shift();
    }
    if (this.#ackFailure !== undefined) throw this.#ackFailure;
  }

  async #commit(value: IslGatewayState): Promise<void> {
    const failing = this.#queue.problem !== undefined;
    try {
      await this.#options.checkpoint.save(value);
    } catch (error) {
      // Tried again every second with the newest watermark (the queue):
      // degraded until then, said once.
      this.counters.checkpoint_errors++;
      this.#setState("degraded", `Cannot save the watermark of ${this.peer}: ${message(error)}`);
      if (!failing) {
        log.error(
          "Cannot save the watermark of ISL gateway {peer}: {error}; trying again every second",
          { peer: this.peer, error: message(error) },
        );
      }
      throw error;
    }
    if (failing) {
      log.info("ISL gateway {peer} saves its watermark again", { peer: this.peer });
      if (this.state === "degraded") this.#setState("up");
    }
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#wake = undefined;
        resolve();
      }, ms);
    });
  }

  #shutdown(): void {
    // What settles from here is saved once, not retried.
    this.#queue.close();
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    this.#channel?.close();
    if (this.state !== "stopped") {
      this.state = "stopped";
      log.info("Stopped polling ISL gateway {peer} at index {after}", {
        peer: this.peer,
        after: this.poller.watermark,
      });
    }
  }

  /** Closes the readable once every batch emitted is enqueued. */
  #finish(): void {
    if (this.#finishing) return;
    this.#finishing = true;
    Promise.all(this.#emitted.map((entry) => entry.mapped)).then(() => {
      if (!this.#closed) {
        this.#closed = true;
        try {
          this.#controller.close();
        } catch {
          // Already closed or errored (cancelled).
        }
      }
      this.#resolveStopped();
    });
  }

  #setState(state: SourceState, error?: string): void {
    if (error !== undefined) {
      this.lastError = error;
      this.lastErrorAt = this.#now();
    }
    if (state === this.state || this.state === "stopped") return;
    const previous = this.state;
    this.state = state;
    if (state === "up") {
      log.info("ISL gateway {peer} is up (was {previous})", { peer: this.peer, previous });
    } else {
      log.warn("ISL gateway {peer} is {state}: {error}", {
        peer: this.peer,
        state,
        error: error ?? "",
      });
    }
  }

  #logLoss(): void {
    const lost = this.poller.lost;
    const logged = this.#loggedLost;
    if (
      lost.gateway === logged.gateway && lost.link === logged.link &&
      lost.corrupt === logged.corrupt
    ) return;
    const now = performance.now();
    if (now - this.#lossLoggedAt < LOSS_LOG_INTERVAL_MS) return;
    log.warn(
      "ISL gateway {peer}: {gateway} beacons lost in the gateway ring, {link} on the links, {corrupt} corrupt (since the last report)",
      {
        peer: this.peer,
        gateway: lost.gateway - logged.gateway,
        link: lost.link - logged.link,
        corrupt: lost.corrupt - logged.corrupt,
      },
    );
    this.#loggedLost = { ...lost };
    this.#lossLoggedAt = now;
  }

  /**
   * A confirmed gateway restart, acted on (the watermark back to 0): said
   * once each, as a state change — only the suspect status before it was.
   */
  #logReset(): void {
    const resets = this.poller.counters.gateway_resets;
    if (resets === this.#resetsLogged) return;
    this.#resetsLogged = resets;
    log.warn(
      "ISL gateway {peer} restarted (confirmed by a second answer: its ring ends below the watermark): polling it again from index 0",
      { peer: this.peer, resets },
    );
  }

  /** Suspect status packets are logged at most once per interval: anyone can send them. */
  #logSuspect(): void {
    const suspect = this.poller.counters.suspect_status;
    if (suspect === this.#suspectLogged) return;
    const now = performance.now();
    if (now - this.#suspectLoggedAt < LOSS_LOG_INTERVAL_MS) return;
    log.warn(
      "ISL gateway {peer}: {count} status packets implied a restart or a gateway loss of more than {maxLossJump} beacons; not acted on unless the next answer confirms it (since the last report)",
      {
        peer: this.peer,
        count: suspect - this.#suspectLogged,
        maxLossJump: this.#options.maxLossJump,
      },
    );
    this.#suspectLogged = suspect;
    this.#suspectLoggedAt = now;
  }

  #now(): number {
    return this.#options.now ? this.#options.now() : nowMicros();
  }
}

function ended(progress: AnswerProgress): boolean {
  return progress.complete || progress.retry;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** How often a gateway whose host name does not resolve is asked again, ms. */
const RESOLVE_RETRY_MS = 5000;

/**
 * Whether `error` says a host name did not resolve (now: it may later).
 * Any failed `getaddrinfo` counts, whatever its code: a resolver that is
 * unreachable or refused (a sandbox, a site without DNS yet) answers
 * `EPERM` or `ECONNREFUSED` rather than `ENOTFOUND`, and is as likely to
 * be fixed while the service runs.
 */
function unresolved(error: unknown): boolean {
  const { code, syscall } = (error ?? {}) as { code?: unknown; syscall?: unknown };
  return syscall === "getaddrinfo" || code === "ENOTFOUND" || code === "EAI_AGAIN" ||
    code === "EAI_NONAME" || code === "EAI_FAIL";
}
