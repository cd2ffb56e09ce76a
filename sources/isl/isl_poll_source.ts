/**
 * The ISL source over any datagram transport (SPEC §6).
 *
 * Portable: web APIs only; the UDP sockets come from `udp_adapter.ts`.
 *
 * @module
 */

import type { IngestBatch } from "../../operators/ingest_batch.ts";
import type { Checkpoint, Source, SourceState, SourceStatus } from "../source.ts";
import { type DatagramChannel, gatewayPeer, type IslGateway } from "./datagram_channel.ts";
import type { IslGatewayState } from "./gateway_poller.ts";
import { demandMerge } from "./_demand_merge.ts";
import { GatewayStream } from "./_gateway_stream.ts";
import type { MapBeacons } from "./map_beacons.ts";

/** Options for {@link IslPollSource}. */
export interface IslPollSourceOptions {
  /** The configured source name (`provenance.source`). */
  name: string;
  /** The gateways to poll, each on its own socket. */
  gateways: IslGateway[];
  /** Wait after an answer that was not full, ms (default 250). */
  pollIntervalMs?: number;
  /** Poll again when an answer is not complete after this long, ms (default 1000). */
  timeoutMs?: number;
  /**
   * A pause this long after an answer's last datagram so far ends its
   * burst, ms (default `timeoutMs / 10`, within 5–100): what is missing
   * then was lost on the way and is asked for again at once, rather than
   * after `timeoutMs`, if the answer brought anything new.
   */
  quietMs?: number;
  /** `max` of every poll: most beacons per answer (default 256, at most 65535). */
  maxPackets?: number;
  /**
   * Most beacons one status packet may count as gateway loss on its own
   * (default 100,000): a larger jump, or a restart, needs the next answer to
   * confirm it (SPEC §6).
   */
  maxLossJump?: number;
  /**
   * Sensor ids (`"isl:" + observer NORAD`) this source accepts (`sensors`,
   * SPEC §15); beacons of any other observer are `validation` dead letters.
   */
  sensors?: readonly string[];
  /** The checkpoint of one gateway, by `host:port` (e.g. a `StateStore` key). */
  checkpoint: (gateway: string) => Checkpoint<IslGatewayState>;
  /** Receive clock, µs since the Unix epoch (default: the system clock). */
  now?: () => number;
  /** Opens a datagram channel to a gateway (the runtime's sockets). */
  openChannel: (gateway: IslGateway) => Promise<DatagramChannel>;
  /**
   * Maps the beacons elsewhere — in a decode worker — rather than on the
   * thread that polls (absent: here). Batches keep their order; while one
   * answer's beacons are being mapped the next answer may be polled, no
   * more ahead of demand.
   */
  mapBeacons?: MapBeacons;
}

const STATE_RANK: Record<SourceState, number> = {
  up: 0,
  starting: 1,
  degraded: 2,
  down: 3,
  stopped: 4,
};

/**
 * Polls every configured gateway (SPEC §6) and emits one batch per burst of
 * datagrams, each with an acknowledgement that commits the gateway's
 * watermark once the batch — and every batch before it — is durable.
 *
 * * A gateway is polled only when the pipeline has demand for its batches
 *   (with `mapBeacons`, the next answer may be polled while one is being
 *   mapped: one answer ahead at most); a complete answer with
 *   `count == max` is followed by the next poll at once, any other after
 *   `pollIntervalMs`; an answer not complete within `timeoutMs` is asked
 *   for again from the same watermark.
 * * Every beacon is emitted as soon as its datagram arrives, whether or not
 *   its answer's status packet came (each carries its gateway index). When
 *   an answer has ended with a gap — its last packet came, or its datagrams
 *   paused for `quietMs` — the gap is asked for again at once rather than
 *   after `timeoutMs` (see `GatewayPoller`).
 * * A status packet that implies a gateway restart or a loss of more than
 *   `maxLossJump` beacons is acted on only when the next answer confirms it.
 * * The poll's `after` is the watermark of what has been handed on (emitted,
 *   dead-lettered or counted lost); the checkpoint saved is the watermark of
 *   what is durable. A restart resumes from the saved one and the log's
 *   dedupe drops what it had already.
 * * `status().lost` counts observations lost by cause; `counters` sums the
 *   gateways' counters.
 *
 * @example A source over an in-memory gateway that never answers
 * ```ts
 * import assert from "node:assert/strict";
 * import { IslPollSource } from "./isl_poll_source.ts";
 *
 * let sent = 0;
 * const source = new IslPollSource({
 *   name: "isl",
 *   gateways: [{ hostname: "127.0.0.1", port: 7003 }],
 *   timeoutMs: 10,
 *   checkpoint: () => ({ load: () => Promise.resolve(undefined), save: () => Promise.resolve() }),
 *   openChannel: () => Promise.resolve({
 *     counters: {},
 *     send: () => { sent++; return Promise.resolve(); },
 *     take: () => undefined,
 *     receive: (ms: number) =>
 *     new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms)),
 *     close: () => {},
 *   }),
 * });
 * await source.started;
 * const reader = source.readable.getReader();
 * const read = reader.read(); // demand: the source polls
 * await new Promise((resolve) => setTimeout(resolve, 50));
 * await source.stop();
 * assert.deepEqual(await read, { done: true, value: undefined });
 * assert.ok(sent >= 1);
 * assert.equal(source.status().counters.polls, sent);
 * assert.equal(source.status().state, "stopped");
 * ```
 */
export class IslPollSource implements Source {
  /** The configured source name. */
  readonly name: string;
  /** Always `"isl"`. */
  readonly kind = "isl" as const;
  /** Batches from every gateway, merged in arrival order; read on demand only. */
  readonly readable: ReadableStream<IngestBatch>;
  /** Resolves once every gateway's socket is open and its watermark loaded. */
  readonly started: Promise<void>;
  #gateways: GatewayStream[];

  /** Starts the sockets (polling waits for demand). */
  constructor(options: IslPollSourceOptions) {
    const pollIntervalMs = options.pollIntervalMs ?? 250;
    const timeoutMs = options.timeoutMs ?? 1000;
    const quietMs = options.quietMs ?? Math.min(100, Math.max(5, timeoutMs / 10));
    const maxPackets = options.maxPackets ?? 256;
    const maxLossJump = options.maxLossJump ?? 100_000;
    if (!(pollIntervalMs >= 0)) {
      throw new RangeError(`pollIntervalMs must not be negative: ${pollIntervalMs}`);
    }
    if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs must be positive: ${timeoutMs}`);
    if (!(quietMs > 0)) throw new RangeError(`quietMs must be positive: ${quietMs}`);
    if (!Number.isInteger(maxPackets) || maxPackets < 1 || maxPackets > 0xffff) {
      throw new RangeError(`maxPackets must be an integer in 1–65535: ${maxPackets}`);
    }
    if (!Number.isInteger(maxLossJump) || maxLossJump < 0) {
      throw new RangeError(`maxLossJump must be a non-negative integer: ${maxLossJump}`);
    }
    if (options.gateways.length === 0) {
      throw new TypeError(`ISL source "${options.name}" has no gateways`);
    }
    const peers = new Set<string>();
    for (const gateway of options.gateways) {
      const peer = gatewayPeer(gateway);
      if (peers.has(peer)) throw new TypeError(`Gateway ${peer} is listed twice`);
      peers.add(peer);
    }
    this.name = options.name;
    const sensors = options.sensors === undefined ? undefined : new Set(options.sensors);
    this.#gateways = options.gateways.map((gateway) => {
      const peer = gatewayPeer(gateway);
      return new GatewayStream({
        source: options.name,
        peer,
        open: () => options.openChannel(gateway),
        checkpoint: options.checkpoint(peer),
        pollIntervalMs,
        timeoutMs,
        quietMs,
        maxPackets,
        maxLossJump,
        sensors,
        now: options.now,
        mapBeacons: options.mapBeacons,
      });
    });
    this.readable = this.#gateways.length === 1
      ? this.#gateways[0].readable
      : demandMerge(this.#gateways.map((gateway) => gateway.readable));
    this.started = Promise.all(this.#gateways.map((g) => g.started)).then(() => {});
    this.started.catch(() => {});
  }

  /** Stops polling every gateway; the readable closes once the batches already emitted are read. */
  async stop(): Promise<void> {
    await Promise.all(this.#gateways.map((gateway) => gateway.stop()));
  }

  /**
   * Resolves once every batch emitted so far is durable (or failed) and the
   * watermarks they cover are saved: await it after the pipeline has
   * drained, before exiting, so a restart does not re-read them.
   */
  async settled(): Promise<void> {
    await Promise.all(this.#gateways.map((gateway) => gateway.settled()));
  }

  /** The worst state of the gateways, summed counters and loss. */
  status(): SourceStatus {
    const counters: Record<string, number> = {};
    const lost = { gateway: 0, link: 0, corrupt: 0 };
    let state: SourceState = "up";
    let lastReceive: number | undefined;
    let lastError: string | undefined;
    let lastErrorAt: number | undefined;
    for (const gateway of this.#gateways) {
      if (STATE_RANK[gateway.state] > STATE_RANK[state]) state = gateway.state;
      if (gateway.lastReceive !== undefined && !(gateway.lastReceive <= (lastReceive ?? -1))) {
        lastReceive = gateway.lastReceive;
      }
      // The most recent of the gateways' errors.
      if (
        gateway.lastError !== undefined && gateway.lastErrorAt !== undefined &&
        !(gateway.lastErrorAt < (lastErrorAt ?? -Infinity))
      ) {
        lastError = gateway.lastError;
        lastErrorAt = gateway.lastErrorAt;
      }
      const poller = gateway.poller;
      add(counters, poller.counters);
      add(counters, gateway.counters);
      const channel = gateway.channelCounters;
      if (channel) add(counters, channel);
      lost.gateway += poller.lost.gateway;
      lost.link += poller.lost.link;
      lost.corrupt += poller.lost.corrupt;
    }
    const status: SourceStatus = { state, counters, lost };
    if (lastReceive !== undefined) status.lastReceive = lastReceive;
    if (lastError !== undefined) status.lastError = lastError;
    if (lastErrorAt !== undefined) status.lastErrorAt = lastErrorAt;
    return status;
  }
}

function add(into: Record<string, number>, from: Readonly<object>): void {
  for (const [key, value] of Object.entries(from)) {
    if (typeof value === "number") into[key] = (into[key] ?? 0) + value;
  }
}
