/**
 * Sources from their configuration.
 *
 * @module
 */

import type { DatagramChannel, IslGateway } from "../sources/isl/datagram_channel.ts";
import { IslPollSource } from "../sources/isl/isl_poll_source.ts";
import {
  beaconsInWorkers,
  IslUdpSource,
  type IslUdpSourceOptions,
  openUdpChannel,
} from "../sources/isl/udp_adapter.ts";
import { OpticalHttpSource } from "../sources/optical/http_adapter.ts";
import { RadarTcpSource } from "../sources/radar/tcp_adapter.ts";
import type { Checkpoint, Source } from "../sources/source.ts";
import type { SourceConfig } from "./config.ts";
import type { DecodePool } from "./workers/decode_pool.ts";
import { islStateKey, opticalStateKey } from "./state_keys.ts";

/**
 * Where sources keep their resume points: the file `StateStore`, or JetStream
 * KV in cluster mode (`KvStateStore`, through the cluster's leases).
 */
export interface CheckpointStore {
  /** The checkpoint of one key (`optical.<name>`, `isl.<name>.<host>:<port>`). */
  checkpoint<T>(key: string): Checkpoint<T>;
}

/** Options for {@link createSource}. */
export interface CreateSourceOptions {
  /**
   * `User-Agent` of optical requests, e.g. `sda-ingest (ingest-a)` in
   * cluster mode, so the archive's operators see which instance calls.
   */
  userAgent?: string;
  /**
   * Cluster mode: checked right before every archive request and gateway
   * poll; while it is false nothing is sent (the source is about to be
   * stopped: its lease is no longer valid).
   */
  mayRequest?: () => boolean;
  /** Decode in these workers (issue 16); absent: on the main thread. */
  workers?: DecodePool;
}

/**
 * The source a configuration describes. Optical cursors and ISL watermarks
 * are kept in `state` under `optical.<name>` and `isl.<name>.<host>:<port>`.
 * An optical token is read from the environment variable named by
 * `tokenEnv` here, once, and never logged; its `caFile` is read here too.
 */
export function createSource(
  config: SourceConfig,
  state: CheckpointStore,
  options: CreateSourceOptions = {},
): Source {
  switch (config.kind) {
    case "radar":
      return new RadarTcpSource({
        // SPEC §15: the files were checked readable when the configuration was loaded.
        tls: config.tls === undefined ? undefined : {
          cert: Deno.readTextFileSync(config.tls.certFile),
          key: Deno.readTextFileSync(config.tls.keyFile),
          clientCa: config.tls.clientCaFile === undefined
            ? undefined
            : Deno.readTextFileSync(config.tls.clientCaFile),
        },
        allow: config.allow,
        sensors: config.sensors,
        clients: config.clients,
        name: config.name,
        hostname: config.hostname,
        port: config.port,
        maxLineBytes: config.maxLineBytes,
        groupIdleMs: config.groupIdleMs,
        maxConnections: config.maxConnections,
        idleTimeoutMs: config.idleTimeoutMs,
        workers: options.workers,
      });
    case "optical":
      return new OpticalHttpSource({
        name: config.name,
        url: config.url,
        accept: config.accept,
        pageSize: config.pageSize,
        pollIntervalMs: config.pollIntervalMs,
        timeoutMs: config.timeoutMs,
        token: config.tokenEnv === undefined ? undefined : Deno.env.get(config.tokenEnv),
        startTime: config.startTime,
        maxPageBytes: config.maxPageBytes,
        caCerts: config.caFile === undefined ? undefined : [Deno.readTextFileSync(config.caFile)],
        sensors: config.sensors,
        workers: options.workers,
        checkpoint: state.checkpoint(opticalStateKey(config.name)),
        ...(options.userAgent === undefined && options.mayRequest === undefined
          ? {}
          : { fetch: guardedFetch(options.userAgent, options.mayRequest) }),
      });
    case "isl": {
      const islOptions: IslUdpSourceOptions = {
        name: config.name,
        gateways: config.gateways,
        pollIntervalMs: config.pollIntervalMs,
        timeoutMs: config.timeoutMs,
        maxPackets: config.maxPackets,
        maxLossJump: config.maxLossJump,
        sensors: config.sensors,
        checkpoint: (gateway) => state.checkpoint(islStateKey(config.name, gateway)),
      };
      const { mayRequest, workers } = options;
      return mayRequest === undefined
        ? new IslUdpSource({ ...islOptions, workers })
        : new IslPollSource({
          ...islOptions,
          mapBeacons: workers === undefined ? undefined : beaconsInWorkers(workers),
          openChannel: async (gateway: IslGateway) =>
            guardedChannel(await openUdpChannel(gateway), mayRequest),
        });
    }
  }
}

/**
 * `fetch` with a `User-Agent`, that sends nothing while `mayRequest()` is
 * false: the request then waits for the source's stop (its signal), which
 * the lease's loss brings at once — so it ends as a stopped request, not as
 * a failed one (no dead letter).
 */
function guardedFetch(
  userAgent: string | undefined,
  mayRequest: (() => boolean) | undefined,
): typeof fetch {
  return (input, init) => {
    if (mayRequest !== undefined && !mayRequest()) {
      return new Promise((_, reject) => {
        const signal = init?.signal;
        if (signal == null) return reject(new Error("Not sent: the source's lease is not valid"));
        if (signal.aborted) return reject(signal.reason);
        signal.addEventListener("abort", () => reject(signal.reason), { once: true });
      });
    }
    if (userAgent === undefined) return fetch(input, init);
    const headers = new Headers(init?.headers);
    headers.set("user-agent", userAgent);
    return fetch(input, { ...init, headers });
  };
}

/** A gateway channel that sends no poll while `mayRequest()` is false (the poll then times out). */
function guardedChannel(channel: DatagramChannel, mayRequest: () => boolean): DatagramChannel {
  return {
    send: (datagram) => mayRequest() ? channel.send(datagram) : Promise.resolve(),
    take: () => channel.take(),
    receive: (timeoutMs) => channel.receive(timeoutMs),
    close: () => channel.close(),
    get counters() {
      return channel.counters;
    },
    get lastError() {
      return channel.lastError;
    },
  };
}
