/**
 * One instance's membership of a cluster (SPEC §12): the NATS connection,
 * the shared stream, the state and lease buckets.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import { sleep } from "../../operators/sleep.ts";
import { NatsPublisher } from "../../sinks/nats_publisher.ts";
import { NatsSink } from "../../sinks/nats_sink.ts";
import { natsServerOptions, serversForLog } from "../../sinks/nats_servers.ts";
import { survivePeerSocketErrors } from "../../sinks/stray_socket_errors.ts";
import { ensureObservationStream } from "../../sinks/nats_stream.ts";
import type { Source } from "../../sources/source.ts";
import type { Config, SourceConfig } from "../config.ts";
import { KvStateStore, stateKey } from "../kv_state_store.ts";
import type { CheckpointStore } from "../source_factory.ts";
import { ensureBucket } from "./ensure_bucket.ts";
import { LeaseThread } from "./lease_thread.ts";
import { LeasedSource, type Tenure } from "./leased_source.ts";

/** The `nats` section of a configuration, defaults filled in. */
export type NatsConfig = NonNullable<Config["nats"]>;

/** Options of {@link Cluster.connect}. */
export interface ClusterConnectOptions {
  /** Gives up waiting for NATS (the promise rejects with the abort reason). */
  signal?: AbortSignal;
  /** Keep trying while NATS is not ready (default true); false rejects on the first failure. */
  retry?: boolean;
  /** Told why NATS is not ready after each failed attempt, and `undefined` once it is. */
  onWait?: (reason: string | undefined) => void;
}

/** Lease state of one leased source, for metrics. */
export interface LeaseMetrics {
  /** The source (= lease key). */
  source: string;
  /** True on the owner. */
  owned: boolean;
  /** Times this instance won or lost the lease. */
  changes: number;
}

const log = getLogger(["sda-ingest", "cluster"]);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Connects an instance to the cluster: one NATS connection (reconnecting
 * for as long as it takes), the observation stream (created with the
 * configured replicas and duplicate window if missing), bucket
 * `<stream>_state` (file storage) for cursors and watermarks, and bucket
 * `<stream>_leases` (file storage, entries expiring `leaseMs` after their
 * last write) for leases.
 *
 * @example Connect an instance: stream, buckets, leases
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstreamManager } from "@nats-io/jetstream";
 * import { parseConfig } from "../config.ts";
 * import { Cluster } from "./cluster.ts";
 * import { LocalNats } from "./local_nats.ts";
 *
 * const nats = await LocalNats.start();
 * const config = parseConfig({
 *   sources: [{ name: "archive", kind: "optical", url: "http://127.0.0.1:1/eo" }],
 *   log: { dir: "events" },
 *   nats: { servers: nats.urls, instance: "ingest-a", replicas: 1 },
 * });
 * const cluster = await Cluster.connect(config.nats!);
 * const jsm = await jetstreamManager(cluster.nc);
 * const stream = await jsm.streams.info(config.nats!.stream);
 * assert.equal(stream.config.duplicate_window, config.nats!.duplicateWindowMs * 1_000_000);
 * assert.deepEqual(
 *   (await jsm.streams.names().next()).toSorted(),
 *   ["KV_SDA_OBS_leases", "KV_SDA_OBS_state", "SDA_OBS"],
 * );
 * await cluster.close();
 * await nats.stop();
 * ```
 */
export class Cluster {
  /** This instance's name. */
  readonly instance: string;
  /** The configuration. */
  readonly config: NatsConfig;
  /** The connection that publishes observations. */
  readonly nc: NatsConnection;
  /** The connection of the lease and state buckets. */
  readonly control: NatsConnection;
  /** Publishes observations. */
  readonly publisher: NatsPublisher;
  /** Source state. */
  readonly state: KvStateStore;
  /** The last value loaded or saved of each state key, by its `StateStore` name (the status page). */
  readonly positions: Map<string, unknown> = new Map();
  /** The leases of this instance, on their own thread. */
  readonly leases: LeaseThread;
  readonly #leased: LeasedSource[] = [];

  private constructor(
    config: NatsConfig,
    nc: NatsConnection,
    control: NatsConnection,
    state: KV,
    leases: LeaseThread,
  ) {
    this.config = config;
    this.instance = config.instance;
    this.nc = nc;
    this.control = control;
    this.publisher = new NatsPublisher(nc, {
      stream: config.stream,
      duplicateWindowMs: config.duplicateWindowMs,
    });
    this.state = new KvStateStore(state, config.instance);
    this.leases = leases;
  }

  /**
   * Connects, creating the stream and buckets if missing. While NATS is
   * unreachable or JetStream cannot yet serve the stream and buckets (a
   * cluster still electing its leaders), it keeps trying — every 250 ms at
   * first, backing off to every 5 s — and logs a warning on the first failure,
   * whenever the reason changes and every 30 s, so an instance started before
   * its NATS servers (or during their restart) comes up when they do. It
   * rejects when `options.signal` aborts, or on the first failure with
   * `options.retry` false.
   */
  static async connect(config: NatsConfig, options: ClusterConnectOptions = {}): Promise<Cluster> {
    const { signal, retry = true, onWait } = options;
    survivePeerSocketErrors();
    const t0 = Date.now();
    let lastLogged = { at: 0, reason: "" };
    for (let attempt = 1, delay = 250;; attempt++, delay = Math.min(delay * 2, 5000)) {
      signal?.throwIfAborted();
      try {
        const cluster = await Cluster.#connectOnce(config);
        onWait?.(undefined);
        if (attempt > 1) {
          log.info("NATS ready after {attempts} attempts ({seconds} s)", {
            attempts: attempt,
            seconds: Math.round((Date.now() - t0) / 100) / 10,
          });
        }
        return cluster;
      } catch (error) {
        if (!retry) throw error;
        const reason = message(error);
        onWait?.(reason);
        const now = Date.now();
        if (reason !== lastLogged.reason || now - lastLogged.at >= 30_000) {
          log.warn(
            "NATS {servers} not ready ({reason}); trying again in {delay} s, and until it is (attempt {attempt})",
            { servers: serversForLog(config.servers), reason, delay: delay / 1000, attempt },
          );
          lastLogged = { at: now, reason };
        }
        await sleep(delay, signal);
      }
    }
  }

  static async #connectOnce(config: NatsConfig): Promise<Cluster> {
    const options = {
      ...natsServerOptions(config.servers),
      // Forever: while NATS is away the pipeline stalls and resumes on return.
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      reconnectJitter: 100,
    };
    const nc = await connect({ ...options, name: `sda-ingest ${config.instance}` });
    // Leases and state on a connection of their own: a renewal must not
    // queue behind thousands of publishes in the same socket.
    let control: NatsConnection;
    try {
      control = await connect({ ...options, name: `sda-ingest ${config.instance} control` });
    } catch (error) {
      await nc.close().catch(() => {});
      throw error;
    }
    try {
      const js = jetstream(control);
      const jsm = await jetstreamManager(control);
      const info = await ensureObservationStream(jsm, {
        stream: config.stream,
        subjectPrefix: config.subjectPrefix,
        replicas: config.replicas,
        duplicateWindowMs: config.duplicateWindowMs,
      }).catch(() =>
        // Created by another instance at the same moment.
        ensureObservationStream(jsm, config)
      );
      const state = await ensureBucket(js, jsm, `${config.stream}_state`, {
        replicas: config.replicas,
        storage: "file",
      });
      const bucket = `${config.stream}_leases`;
      await ensureBucket(js, jsm, bucket, {
        replicas: config.replicas,
        ttl: config.leaseMs,
        // Not memory: a cluster restarted as a whole would come back
        // without it (the lease thread creates it again if it is gone).
        storage: "file",
      });
      const leases = await LeaseThread.start({
        servers: config.servers,
        bucket,
        instance: config.instance,
        leaseMs: config.leaseMs,
        replicas: config.replicas,
      });
      log.info(
        "Cluster mode: instance {instance} on NATS {servers}, stream {stream} (R{replicas}), lease {leaseMs} ms",
        {
          instance: config.instance,
          servers: serversForLog(config.servers),
          stream: info.config.name,
          replicas: info.config.num_replicas,
          leaseMs: config.leaseMs,
        },
      );
      return new Cluster(config, nc, control, state, leases);
    } catch (error) {
      await Promise.all([nc.close().catch(() => {}), control.close().catch(() => {})]);
      throw error;
    }
  }

  /**
   * The pipeline's sink in cluster mode: publish each chunk, then write it
   * to the local log; acks settle once both have it.
   */
  sink(log: WritableStream<IngestBatch[]>): WritableStream<IngestBatch[]> {
    return new NatsSink({
      publisher: this.publisher,
      subjectPrefix: this.config.subjectPrefix,
      then: log,
    });
  }

  /**
   * A source driven under a lease: each tenure creates a fresh source with
   * `create`, its checkpoints in the state bucket (keys sanitised for KV:
   * `isl.<name>.<host>_<port>`), fenced by compare-and-set. `create` should
   * check `tenure.valid()` before each request (see `createSource`).
   */
  leasedSource(
    config: SourceConfig,
    create: (
      config: SourceConfig,
      store: CheckpointStore,
      tenure: Tenure,
    ) => Source | Promise<Source>,
  ): LeasedSource {
    const source = new LeasedSource({
      name: config.name,
      kind: config.kind,
      lease: this.leases.lease(config.name),
      create: (tenure) =>
        create(config, {
          checkpoint: <T>(key: string) => {
            const checkpoint = this.state.checkpoint<T>(stateKey(key), {
              signal: tenure.signal,
              onFenced: (error) => tenure.fenced(error),
            });
            return {
              load: async () => {
                const value = await checkpoint.load();
                if (value !== undefined) this.positions.set(key, value);
                return value;
              },
              save: async (value: T) => {
                await checkpoint.save(value);
                this.positions.set(key, value);
              },
            };
          },
        }, tenure),
    });
    this.#leased.push(source);
    return source;
  }

  /** Lease ownership and changes of every leased source. */
  leaseMetrics(): LeaseMetrics[] {
    return this.#leased.map((s) => ({
      source: s.name,
      owned: s.lease.owned,
      changes: s.lease.changes,
    }));
  }

  /** Stops publishing and closes the connection (after the leases were released). */
  async close(): Promise<void> {
    await this.leases.close();
    this.publisher.close();
    await Promise.race([
      Promise.all([this.nc.drain(), this.control.drain()]),
      new Promise((resolve) => setTimeout(resolve, 2000)),
    ]).catch(() => {});
    await Promise.all([this.nc.close().catch(() => {}), this.control.close().catch(() => {})]);
  }
}
