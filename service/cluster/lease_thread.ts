/**
 * The leases of one instance, held on a thread of their own (SPEC §12).
 *
 * @module
 */

import { getLogger, type LogRecord } from "@logtape/logtape";
import type { FromLeaseWorker, LeaseReport, ToLeaseWorker } from "./_lease_worker.ts";
import type { SourceLease } from "./leased_source.ts";

/** Options for {@link LeaseThread.start}. */
export interface LeaseThreadOptions {
  /** NATS servers. */
  servers: string[];
  /** The lease bucket (created beforehand). */
  bucket: string;
  /** This instance's name. */
  instance: string;
  /** Lease time-to-live, ms. */
  leaseMs: number;
  /** Replicas of the bucket, should it have to be created again (default 1). */
  replicas?: number;
  /** Most leases it will hold (default 256). */
  maxLeases?: number;
  /** Give up starting after this long, ms (default 60000: under `deno test` or `--check` the worker is type-checked first). */
  startTimeoutMs?: number;
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

class WorkerLease implements SourceLease {
  readonly key: string;
  readonly instance: string;
  onAcquire: (() => void) | undefined;
  onLose: ((reason: string) => void) | undefined;
  owned = false;
  owner: string | undefined;
  changes = 0;
  error: string | undefined;
  errorAt: number | undefined;
  readonly #thread: LeaseThread;
  readonly #index: number;
  readonly #validity: BigInt64Array;
  #started: PromiseWithResolvers<void> | undefined;
  readonly pending = new Map<string, PromiseWithResolvers<void>>();

  constructor(thread: LeaseThread, key: string, index: number, validity: BigInt64Array) {
    this.#thread = thread;
    this.key = key;
    this.instance = thread.instance;
    this.#index = index;
    this.#validity = validity;
  }

  start(): Promise<void> {
    if (this.#started === undefined) {
      this.#started = Promise.withResolvers();
      this.#thread.post({ type: "start", key: this.key, index: this.#index });
    }
    return this.#started.promise;
  }

  valid(): boolean {
    return now() < Number(Atomics.load(this.#validity, this.#index));
  }

  release(): Promise<void> {
    return this.#request("release", { type: "release", key: this.key });
  }

  abandon(reason: string, holdOffMs = 0): Promise<void> {
    return this.#request("abandon", { type: "abandon", key: this.key, reason, holdOffMs });
  }

  stop(): void {
    this.#thread.post({ type: "stop", key: this.key });
  }

  /** A message from the thread about this lease. */
  receive(message: FromLeaseWorker): void {
    if (message.type === "started") {
      this.#apply(message.report);
      this.#started?.resolve();
    } else if (message.type === "state") {
      this.#apply(message.report);
      if (message.event === "acquire") this.onAcquire?.();
      if (message.event === "lose") this.onLose?.(message.reason ?? "lost");
    } else if (message.type === "done") {
      this.pending.get(message.op)?.resolve();
      this.pending.delete(message.op);
    }
  }

  /** The thread is gone: nothing is owned any more. */
  fail(): void {
    for (const p of this.pending.values()) p.resolve();
    this.pending.clear();
    this.#started?.resolve();
    if (this.owned) {
      this.owned = false;
      this.changes++;
      this.onLose?.("the lease thread stopped");
    }
  }

  #apply(report: LeaseReport): void {
    this.owned = report.owned;
    this.owner = report.owner;
    this.changes = report.changes;
    this.error = report.error;
    this.errorAt = report.errorAt;
  }

  #request(op: "release" | "abandon", message: ToLeaseWorker): Promise<void> {
    let pending = this.pending.get(op);
    if (pending === undefined) {
      pending = Promise.withResolvers();
      this.pending.set(op, pending);
      this.#thread.post(message);
    }
    return pending.promise;
  }
}

/**
 * A Web Worker holding this instance's leases with its own NATS connection
 * and event loop: renewals go out every `leaseMs / 3` even while the ingest
 * thread is busy for longer than the `leaseMs / 2 − leaseMs / 3` a renewal
 * may be late. Each lease's deadline ({@link SourceLease.valid}) is shared
 * memory, so the ingest thread can check it before every request at no
 * cost; wins and losses arrive as messages (`onAcquire`, `onLose`). Log
 * records of the thread are written by this thread's LogTape sinks.
 *
 * @example Hold a source's lease while this thread is busy
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstream } from "@nats-io/jetstream";
 * import { Kvm } from "@nats-io/kv";
 * import { connect } from "@nats-io/transport-node";
 * import { LeaseThread } from "./lease_thread.ts";
 * import { LocalNats } from "./local_nats.ts";
 *
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * await new Kvm(jetstream(nc)).create("SDA_OBS_leases", { ttl: 1500, storage: "memory" });
 * const leases = await LeaseThread.start({
 *   servers: nats.urls,
 *   bucket: "SDA_OBS_leases",
 *   instance: "ingest-a",
 *   leaseMs: 1500,
 * });
 * const lease = leases.lease("archive");
 * await lease.start();
 * assert.equal(lease.owner, "ingest-a");
 * const busyUntil = Date.now() + 1000; // longer than leaseMs / 2
 * while (Date.now() < busyUntil) { /* the ingest thread is busy *\/ }
 * assert.ok(lease.valid(), "renewed on the lease thread meanwhile");
 * await lease.release();
 * await leases.close();
 * await nc.close();
 * await nats.stop();
 * ```
 */
export class LeaseThread {
  /** This instance's name. */
  readonly instance: string;
  readonly #worker: Worker;
  readonly #validity: BigInt64Array;
  readonly #leases = new Map<string, WorkerLease>();
  #closed: PromiseWithResolvers<void> | undefined;
  #ready = Promise.withResolvers<void>();
  #failed = false;

  private constructor(options: LeaseThreadOptions) {
    this.instance = options.instance;
    const maxLeases = options.maxLeases ?? 256;
    const shared = new SharedArrayBuffer(8 * maxLeases);
    this.#validity = new BigInt64Array(shared);
    this.#worker = new Worker(new URL("./_lease_worker.ts", import.meta.url).href, {
      type: "module",
    });
    this.#worker.onmessage = (event: MessageEvent<FromLeaseWorker>) => this.#receive(event.data);
    this.#worker.onerror = (event) => {
      event.preventDefault();
      this.#fail(event.message);
    };
    this.post({
      type: "init",
      servers: options.servers,
      bucket: options.bucket,
      instance: options.instance,
      leaseMs: options.leaseMs,
      replicas: options.replicas ?? 1,
      validity: shared,
    });
  }

  /** Starts the thread; resolves once it is connected to NATS and has the bucket. */
  static async start(options: LeaseThreadOptions): Promise<LeaseThread> {
    const thread = new LeaseThread(options);
    const timeoutMs = options.startTimeoutMs ?? 60_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    try {
      await Promise.race([
        thread.#ready.promise,
        new Promise((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`The lease thread did not connect within ${timeoutMs} ms`)),
            timeoutMs,
          );
        }),
      ]);
    } catch (error) {
      thread.#worker.terminate();
      throw error;
    } finally {
      clearTimeout(timer);
    }
    return thread;
  }

  /** The lease on `key` (the source name). */
  lease(key: string): SourceLease {
    let lease = this.#leases.get(key);
    if (lease === undefined) {
      if (this.#leases.size >= this.#validity.length) {
        throw new RangeError(`Cannot hold more than ${this.#validity.length} leases`);
      }
      lease = new WorkerLease(this, key, this.#leases.size, this.#validity);
      this.#leases.set(key, lease);
    }
    return lease;
  }

  /** Stops every lease (without deleting) and ends the thread. */
  async close(): Promise<void> {
    if (this.#closed === undefined) {
      this.#closed = Promise.withResolvers();
      if (this.#failed) {
        this.#closed.resolve();
      } else {
        this.post({ type: "close" });
        setTimeout(() => this.#closed?.resolve(), 2000);
      }
    }
    await this.#closed.promise;
    this.#worker.terminate();
  }

  /** Sends a message to the thread. */
  post(message: ToLeaseWorker): void {
    if (!this.#failed) this.#worker.postMessage(message);
  }

  #receive(message: FromLeaseWorker): void {
    switch (message.type) {
      case "ready":
        this.#ready.resolve();
        return;
      case "failed":
        this.#ready.reject(new Error(`Lease thread: ${message.error}`));
        getLogger(["sda-ingest", "cluster"]).error("Lease thread: {error}", {
          error: message.error,
        });
        return;
      case "closed":
        this.#closed?.resolve();
        return;
      case "log":
        getLogger([...message.category]).emit({
          level: message.level,
          message: message.message,
          rawMessage: message.rawMessage,
          properties: message.properties,
          timestamp: message.timestamp,
        } as Omit<LogRecord, "category">);
        return;
      case "started":
      case "state":
        this.#leases.get(message.report.key)?.receive(message);
        return;
      case "done":
        this.#leases.get(message.key)?.receive(message);
        return;
    }
  }

  #fail(reason: string): void {
    if (this.#failed) return;
    this.#failed = true;
    getLogger(["sda-ingest", "cluster"]).error("The lease thread failed: {reason}", { reason });
    Atomics.store(this.#validity, 0, 0n);
    this.#validity.fill(0n);
    this.#ready.reject(new Error(`The lease thread failed: ${reason}`));
    for (const lease of this.#leases.values()) lease.fail();
    this.#closed?.resolve();
  }
}
