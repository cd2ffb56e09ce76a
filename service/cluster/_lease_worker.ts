/**
 * The lease thread: a Web Worker that holds this instance's leases on its
 * own event loop and its own NATS connection, so that renewals go out on
 * time however busy the ingest thread is (SPEC §12: an owner that has not
 * renewed for `leaseMs / 2` must stop). It publishes each lease's validity
 * deadline in shared memory, where the ingest thread checks it before every
 * request, and reports wins and losses by message.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import { configure, getLogger, type LogRecord } from "@logtape/logtape";
import {
  jetstream,
  JetStreamApiCodes,
  JetStreamApiError,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { natsServerOptions } from "../../sinks/nats_servers.ts";
import { ensureBucket } from "./ensure_bucket.ts";
import { Lease } from "./lease.ts";

/** Messages to the worker. */
export type ToLeaseWorker =
  | {
    type: "init";
    servers: string[];
    bucket: string;
    instance: string;
    leaseMs: number;
    /** Replicas of the bucket, should it have to be created again. */
    replicas: number;
    /** One BigInt64 per lease: valid-until, Unix ms. */
    validity: SharedArrayBuffer;
  }
  | { type: "start"; key: string; index: number }
  | { type: "release"; key: string }
  | { type: "abandon"; key: string; reason: string; holdOffMs: number }
  | { type: "stop"; key: string }
  | { type: "close" };

/** What the worker says about one lease. */
export interface LeaseReport {
  key: string;
  owned: boolean;
  owner: string | undefined;
  changes: number;
  /** Why the lease does not work, if so (see `Lease.error`). */
  error?: string;
  /** When `error` was last seen, µs since the Unix epoch. */
  errorAt?: number;
}

/** Messages from the worker. */
export type FromLeaseWorker =
  | { type: "ready" }
  | { type: "failed"; error: string }
  | { type: "started"; report: LeaseReport }
  | { type: "state"; report: LeaseReport; event?: "acquire" | "lose"; reason?: string }
  | { type: "done"; key: string; op: "release" | "abandon" }
  | { type: "closed" }
  | {
    type: "log";
    category: readonly string[];
    level: LogRecord["level"];
    message: unknown[];
    rawMessage: string;
    properties: Record<string, unknown>;
    timestamp: number;
  };

const post = (message: FromLeaseWorker) => self.postMessage(message);
const log = getLogger(["sda-ingest", "cluster"]);

let nc: NatsConnection | undefined;
let validity: BigInt64Array | undefined;
let leaseMs = 0;
let instance = "";
let kv: Awaited<ReturnType<Kvm["open"]>> | undefined;
let jsm: JetStreamManager | undefined;
const leases = new Map<string, Lease>();
const reported = new Map<string, string>();

function report(lease: Lease): LeaseReport {
  const r: LeaseReport = {
    key: lease.key,
    owned: lease.owned,
    owner: lease.owner,
    changes: lease.changes,
  };
  if (lease.error !== undefined) r.error = lease.error;
  if (lease.errorAt !== undefined) r.errorAt = lease.errorAt;
  return r;
}

/** Sends the lease's state when it changed since the last report (owner learned by a standby). */
function reportIfChanged(lease: Lease): void {
  const r = report(lease);
  const text = JSON.stringify(r);
  if (reported.get(lease.key) === text) return;
  reported.set(lease.key, text);
  post({ type: "state", report: r });
}

// Log records go to the ingest thread, whose sinks write them.
await configure({
  sinks: {
    main: (record: LogRecord) =>
      post({
        type: "log",
        category: record.category,
        level: record.level,
        message: record.message.map((part) =>
          typeof part === "object" ? JSON.stringify(part) : part
        ),
        rawMessage: typeof record.rawMessage === "string" ? record.rawMessage : "",
        properties: JSON.parse(JSON.stringify(record.properties)),
        timestamp: record.timestamp,
      }),
  },
  loggers: [
    { category: ["sda-ingest"], lowestLevel: "debug", sinks: ["main"] },
    { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["main"] },
  ],
});

setInterval(() => {
  for (const lease of leases.values()) reportIfChanged(lease);
}, 100);

/**
 * Creates the bucket again when it is gone while leases fail — a whole
 * cluster restarted with the bucket in memory (as before file storage), or
 * an operator deleted it: nothing else would, and every optical and ISL
 * source stayed down until the instance was restarted ("cannot take the
 * lease: jetstream is not enabled").
 */
function watchBucket(bucket: string, replicas: number): void {
  let checking = false;
  setInterval(async () => {
    if (checking || ![...leases.values()].some((lease) => lease.error !== undefined)) return;
    checking = true;
    try {
      await jsm!.streams.info(`KV_${bucket}`);
    } catch (error) {
      if (
        !(error instanceof JetStreamApiError && error.code === JetStreamApiCodes.StreamNotFound)
      ) {
        return; // NATS unreachable, say: the leases say so already
      }
      try {
        await ensureBucket(jetstream(nc!), jsm!, bucket, {
          replicas,
          ttl: leaseMs,
          storage: "file",
        });
        log.warn("Lease bucket {bucket} was gone: created it again", { bucket, instance });
      } catch (created) {
        log.warn("Lease bucket {bucket} is gone and cannot be created: {error}", {
          bucket,
          instance,
          error: created instanceof Error ? created.message : String(created),
        });
      }
    } finally {
      checking = false;
    }
  }, Math.max(500, Math.floor(leaseMs / 3)));
}

self.onmessage = async (event: MessageEvent<ToLeaseWorker>) => {
  const message = event.data;
  try {
    switch (message.type) {
      case "init": {
        validity = new BigInt64Array(message.validity);
        leaseMs = message.leaseMs;
        instance = message.instance;
        nc = await connect({
          ...natsServerOptions(message.servers),
          name: `sda-ingest ${message.instance} leases`,
          maxReconnectAttempts: -1,
          reconnectTimeWait: 250,
          reconnectJitter: 100,
        });
        kv = await new Kvm(jetstream(nc)).open(message.bucket, {
          timeout: Math.max(250, Math.floor(leaseMs / 3)),
        });
        jsm = await jetstreamManager(nc);
        watchBucket(message.bucket, message.replicas);
        post({ type: "ready" });
        break;
      }
      case "start": {
        const index = message.index;
        const lease = new Lease({ kv: kv!, jsm: jsm!, key: message.key, instance, leaseMs });
        lease.onValidity = (until) => Atomics.store(validity!, index, BigInt(Math.floor(until)));
        lease.onAcquire = () => {
          reported.set(lease.key, JSON.stringify(report(lease)));
          post({ type: "state", report: report(lease), event: "acquire" });
        };
        lease.onLose = (reason) => {
          reported.set(lease.key, JSON.stringify(report(lease)));
          post({ type: "state", report: report(lease), event: "lose", reason });
        };
        leases.set(message.key, lease);
        await lease.start();
        reported.set(lease.key, JSON.stringify(report(lease)));
        post({ type: "started", report: report(lease) });
        break;
      }
      case "release":
        await leases.get(message.key)?.release();
        post({ type: "done", key: message.key, op: "release" });
        break;
      case "abandon":
        await leases.get(message.key)?.abandon(message.reason, message.holdOffMs);
        post({ type: "done", key: message.key, op: "abandon" });
        break;
      case "stop":
        leases.get(message.key)?.stop();
        break;
      case "close":
        for (const lease of leases.values()) lease.stop();
        await nc?.close().catch(() => {});
        post({ type: "closed" });
        break;
    }
  } catch (error) {
    post({ type: "failed", error: error instanceof Error ? error.message : String(error) });
  }
};
