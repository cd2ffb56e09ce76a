/**
 * A pull/poll source driven by whichever instance holds its lease (SPEC §12).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { ObservationKind } from "../../envelope/observation.ts";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import type { Source, SourceStatus } from "../../sources/source.ts";

/**
 * One instance's side of a source's lease, as {@link LeasedSource} drives
 * it: a `Lease` on this thread, or one held by the `LeaseThread`.
 */
export interface SourceLease {
  /** The key: the source's name. */
  readonly key: string;
  /** This instance's name. */
  readonly instance: string;
  /** True while this instance owns the lease. */
  readonly owned: boolean;
  /** The owner as last seen; undefined when nobody holds it. */
  readonly owner: string | undefined;
  /** How many times this instance won or lost the lease. */
  readonly changes: number;
  /** Why this instance can neither take the lease nor tell who holds it, if so. */
  readonly error?: string;
  /** When `error` was last seen, µs since the Unix epoch. */
  readonly errorAt?: number;
  /** Called when this instance wins the lease. */
  onAcquire: (() => void) | undefined;
  /** Called when this instance stops owning it (not on release). */
  onLose: ((reason: string) => void) | undefined;
  /** Starts trying; resolves after the first attempt. */
  start(): Promise<void>;
  /** True while this instance may send requests: owned, and renewed recently enough. */
  valid(): boolean;
  /** Stops trying and deletes the entry if owned (graceful stop). */
  release(): Promise<void>;
  /**
   * Gives the lease up (deleting the entry) but keeps trying — after
   * `holdOffMs` (default 0), so that a source that cannot run here is not
   * won back and failed again at once.
   */
  abandon(reason: string, holdOffMs?: number): Promise<void>;
  /** Stops trying without deleting. */
  stop(): void;
}

/** What a tenure gives the source it creates. */
export interface Tenure {
  /** Aborted when the tenure ends (lease lost, fenced, service stopping). */
  signal: AbortSignal;
  /** Call when a state write found another writer: ends the tenure at once. */
  fenced(reason: unknown): void;
  /**
   * True while the lease allows requests. Check it right before each request
   * or poll: it turns false at the deadline even when this thread has not
   * yet run the lease's `onLose`.
   */
  valid(): boolean;
}

/** Options for {@link LeasedSource}. */
export interface LeasedSourceOptions {
  /** The configured source name (= the lease key). */
  name: string;
  /** Its kind. */
  kind: ObservationKind;
  /** The lease on it (not yet started). */
  lease: SourceLease;
  /** A fresh source instance for one tenure, resuming from the shared state. */
  create: (tenure: Tenure) => Source | Promise<Source>;
}

const log = getLogger(["sda-ingest", "cluster"]);

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

interface Current {
  source: Source;
  reader: ReadableStreamDefaultReader<IngestBatch> | undefined;
  abort: AbortController;
  /** Resolves once the instance has stopped and its readable is read to the end. */
  ended: Promise<void>;
  endedResolve: () => void;
  stopping: boolean;
  /** Why a state write was refused, when it was. */
  fenced?: string;
  /** The hold-off of this tenure's failure, once counted (a failed start also fails its readable). */
  holdOffMs?: number;
}

/**
 * A {@link Source} whose work is done by a fresh inner source each time this
 * instance wins the lease ("tenure"). The inner source is created from its
 * configuration and resumes from the state in KV; when the lease is lost
 * (not renewed for `leaseMs / 2`, taken by another instance) or a state
 * write is fenced, it is stopped at once — no more requests or polls — while
 * the batches it already emitted are still read, logged and published.
 * The readable is one stream across tenures, so the pipeline adds it once;
 * a standby's readable simply has nothing to give.
 *
 * `status()` reports the lease owner (`owner`), counters summed over every
 * tenure (they stay monotonic), and state `stopped` on a standby.
 *
 * @example Drive a source only while this instance holds its lease
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstream, jetstreamManager } from "@nats-io/jetstream";
 * import { Kvm } from "@nats-io/kv";
 * import { connect } from "@nats-io/transport-node";
 * import type { Source } from "../../sources/source.ts";
 * import { Lease } from "./lease.ts";
 * import { LeasedSource } from "./leased_source.ts";
 * import { LocalNats } from "./local_nats.ts";
 *
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * const kv = await new Kvm(jetstream(nc)).create("SDA_OBS_leases", { ttl: 900, storage: "memory" });
 * const jsm = await jetstreamManager(nc);
 * const lease = (instance: string) =>
 *   new Lease({ kv, jsm, key: "archive", instance, leaseMs: 900 });
 * // A source that polls nothing, started once per tenure.
 * const tenures: string[] = [];
 * const idle = (instance: string): Source => {
 *   tenures.push(instance);
 *   let close = () => {};
 *   const readable = new ReadableStream({ start: (c) => (close = () => c.close()) });
 *   return {
 *     name: "archive",
 *     kind: "optical",
 *     readable,
 *     started: Promise.resolve(),
 *     stop: async () => close(),
 *     status: () => ({ state: "up", counters: { requests: 0 } }),
 *   };
 * };
 * const a = new LeasedSource({
 *   name: "archive",
 *   kind: "optical",
 *   lease: lease("ingest-a"),
 *   create: () => idle("ingest-a"),
 * });
 * await a.started;
 * const readA = Array.fromAsync(a.readable); // the pipeline reads each readable once
 * const b = new LeasedSource({
 *   name: "archive",
 *   kind: "optical",
 *   lease: lease("ingest-b"),
 *   create: () => idle("ingest-b"),
 * });
 * await b.started;
 * const readB = Array.fromAsync(b.readable);
 * assert.deepEqual(tenures, ["ingest-a"]);
 * assert.equal(a.status().state, "up");
 * assert.equal(b.status().state, "stopped"); // the standby
 * assert.equal(b.status().owner, "ingest-a");
 * // A graceful stop: the source ends, then its lease is deleted (once what
 * // it emitted is durable), and the standby takes over at once.
 * await a.stop();
 * await a.settled();
 * await readA;
 * while (tenures.length < 2) await new Promise((r) => setTimeout(r, 10));
 * assert.deepEqual(tenures, ["ingest-a", "ingest-b"]);
 * assert.equal(b.status().owner, "ingest-b");
 * await b.stop();
 * await b.settled();
 * await readB;
 * await nc.close();
 * await nats.stop();
 * ```
 */
export class LeasedSource implements Source {
  /** The configured source name. */
  readonly name: string;
  /** Its kind. */
  readonly kind: ObservationKind;
  /** Batches of every tenure, read on demand. */
  readonly readable: ReadableStream<IngestBatch>;
  /** Resolves after the first lease attempt (and, if won, once the inner source started). */
  readonly started: Promise<void>;
  /** The lease. */
  readonly lease: SourceLease;

  readonly #create: (tenure: Tenure) => Source | Promise<Source>;
  #current: Current | undefined;
  #previous: Promise<void> = Promise.resolve();
  #wake: PromiseWithResolvers<void> = Promise.withResolvers();
  #stopping = false;
  #closed = false;
  #tenures = 0;
  #counters: Record<string, number> = {};
  #lost = { gateway: 0, link: 0, corrupt: 0 };
  #hasLost = false;
  #lastReceive: number | undefined;
  #lastError: { text: string; at: number } | undefined;
  #starting: Promise<void> | undefined;
  /** Tenures in a row that could not be created, started or read (reset by a batch). */
  #failures = 0;

  /** Starts the lease; the inner source is created when it is won. */
  constructor(options: LeasedSourceOptions) {
    this.name = options.name;
    this.kind = options.kind;
    this.lease = options.lease;
    this.#create = options.create;
    this.lease.onAcquire = () => {
      this.#starting = this.#begin();
    };
    this.lease.onLose = (reason) => this.#end(`lease lost: ${reason}`);
    this.started = this.lease.start().then(() => this.#starting);
    this.started.catch(() => {});
    this.readable = new ReadableStream<IngestBatch>({
      pull: (controller) => this.#pull(controller),
      cancel: async () => {
        this.#closed = true;
        this.#wake.resolve();
        await this.stop();
      },
    }, { highWaterMark: 0 });
  }

  /** True while this instance drives the source. */
  get owned(): boolean {
    return this.lease.owned;
  }

  /** Tenures so far. */
  get tenures(): number {
    return this.#tenures;
  }

  /**
   * Graceful stop: no new tenure; the current inner source stops (it flushes
   * what it has). The lease is kept — renewed — until {@link settled}, so
   * that the last cursor is saved before a standby takes over.
   */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (!this.lease.owned) this.lease.stop();
    const current = this.#current;
    if (current !== undefined) await this.#stopInner(current);
    this.#closed = true;
    this.#wake.resolve();
  }

  /**
   * Deletes the lease now, while what was emitted is still being written (a
   * stop that cannot drain): a standby takes over at once. Later cursor
   * saves of this tenure fail their compare-and-set once it claims the key.
   */
  async releaseLease(): Promise<void> {
    await this.lease.release();
  }

  /** Once everything emitted is durable and saved, deletes the lease so a standby takes over at once. */
  async settled(): Promise<void> {
    await this.#current?.source.settled?.().catch(() => {});
    await this.#previous;
    await this.lease.release();
  }

  /** Remembers `text` as the last error, with when it happened. */
  #error(text: string): void {
    this.#lastError = { text, at: Date.now() * 1000 };
  }

  /** The inner source's status with the lease owner; counters summed over tenures. */
  status(): SourceStatus {
    const inner = this.#current?.source.status();
    const counters = { ...this.#counters };
    if (inner) {
      for (const [k, v] of Object.entries(inner.counters)) counters[k] = (counters[k] ?? 0) + v;
    }
    const leaseError = this.lease.owned ? undefined : this.lease.error;
    const status: SourceStatus = {
      state: this.lease.owned && inner
        ? inner.state
        : leaseError !== undefined
        ? "down"
        : "stopped",
      counters,
    };
    const lastReceive = inner?.lastReceive ?? this.#lastReceive;
    if (lastReceive !== undefined) status.lastReceive = lastReceive;
    const lastError = leaseError !== undefined
      ? { text: `Lease: ${leaseError}`, at: this.lease.errorAt }
      : inner?.lastError !== undefined
      ? { text: inner.lastError, at: inner.lastErrorAt }
      : this.#lastError;
    if (lastError !== undefined) {
      status.lastError = lastError.text;
      if (lastError.at !== undefined) status.lastErrorAt = lastError.at;
    }
    if (inner?.lost || this.#hasLost) {
      status.lost = {
        gateway: this.#lost.gateway + (inner?.lost?.gateway ?? 0),
        link: this.#lost.link + (inner?.lost?.link ?? 0),
        corrupt: this.#lost.corrupt + (inner?.lost?.corrupt ?? 0),
      };
    }
    const owner = this.lease.owner;
    if (owner !== undefined) status.owner = owner;
    return status;
  }

  async #begin(): Promise<void> {
    // The previous tenure's source must be fully stopped first: two inner
    // sources of one instance never run at once either.
    await this.#previous;
    if (this.#stopping || !this.lease.owned || this.#current !== undefined) return;
    const abort = new AbortController();
    const ended = Promise.withResolvers<void>();
    let source: Source;
    // The tenure's record, once created (the callbacks may run before).
    const mine: { current?: Current } = {};
    const tenure: Tenure = {
      signal: abort.signal,
      valid: () => !abort.signal.aborted && this.lease.valid(),
      fenced: (reason) => {
        if (mine.current !== undefined) mine.current.fenced = `Fenced: ${message(reason)}`;
        this.#error(`Fenced: ${message(reason)}`);
        // Another instance wrote the state: give the lease up so that
        // whoever wins it next resumes from what is in KV.
        this.lease.abandon(`state written by another instance`);
      },
    };
    try {
      source = await this.#create(tenure);
    } catch (error) {
      this.#error(`Cannot create the source: ${message(error)}`);
      const holdOffMs = this.#holdOff();
      log.error("Cannot create source {source}: {error}; trying again in {seconds} s", {
        source: this.name,
        error: message(error),
        seconds: holdOffMs / 1000,
      });
      await this.lease.abandon("the source could not be created", holdOffMs);
      return;
    }
    const current: Current = {
      source,
      reader: source.readable.getReader(),
      abort,
      ended: ended.promise,
      endedResolve: ended.resolve,
      stopping: false,
    };
    mine.current = current;
    this.#current = current;
    this.#previous = ended.promise;
    this.#tenures++;
    if (!this.lease.owned || this.#stopping) {
      // Lost (or stopping) while the source was being created.
      this.#end(this.#stopping ? "the service is stopping" : "lease lost while starting");
    }
    log.info("Source {source} driven by {instance} (tenure {tenure})", {
      source: this.name,
      instance: this.lease.instance,
      tenure: this.#tenures,
    });
    this.#wake.resolve();
    try {
      await source.started;
    } catch (error) {
      this.#error(`Cannot start the source: ${message(error)}`);
      if (!abort.signal.aborted) {
        const holdOffMs = current.holdOffMs ??= this.#holdOff();
        log.error("Cannot start source {source}: {error}; trying again in {seconds} s", {
          source: this.name,
          error: message(error),
          seconds: holdOffMs / 1000,
        });
        await this.lease.abandon("the source could not start", holdOffMs);
      }
    }
  }

  /**
   * How long this instance leaves the lease alone after one more failed
   * tenure: 1 s, doubling to 60 s. A source that cannot run here (a state
   * value it cannot use, say) was otherwise won back and failed again at
   * once: ~35 tenures, 60 lease writes and 200 log lines a second.
   */
  #holdOff(): number {
    this.#failures++;
    return Math.min(60_000, 1000 * 2 ** (this.#failures - 1));
  }

  /** The lease is gone: stop at once, and stop retrying state writes. */
  #end(reason: string): void {
    const current = this.#current;
    if (current === undefined) return;
    log.warn("Source {source} stops on {instance}: {reason}", {
      source: this.name,
      instance: this.lease.instance,
      reason,
    });
    current.abort.abort();
    this.#stopInner(current).catch(() => {});
  }

  async #stopInner(current: Current): Promise<void> {
    current.stopping = true;
    await current.source.stop().catch((error) => {
      log.warn("Source {source} did not stop cleanly: {error}", {
        source: this.name,
        error: message(error),
      });
    });
  }

  /** The tenure's end: its readable is read to the end; fold its counters in. */
  #retire(current: Current): void {
    if (this.#current !== current) return;
    const status = current.source.status();
    for (const [k, v] of Object.entries(status.counters)) {
      this.#counters[k] = (this.#counters[k] ?? 0) + v;
    }
    if (status.lost) {
      this.#hasLost = true;
      this.#lost.gateway += status.lost.gateway;
      this.#lost.link += status.lost.link;
      this.#lost.corrupt += status.lost.corrupt;
    }
    this.#lastReceive = status.lastReceive ?? this.#lastReceive;
    if (current.fenced !== undefined) {
      if (this.#lastError?.text !== current.fenced) this.#error(current.fenced);
    } else if (status.lastError !== undefined) {
      this.#lastError = { text: status.lastError, at: status.lastErrorAt ?? Date.now() * 1000 };
    }
    this.#current = undefined;
    const stopped = current.stopping ? current.source.stop().catch(() => {}) : Promise.resolve();
    // Settle before the next tenure so that its saves cannot race ours.
    Promise.race([
      stopped.then(() => current.source.settled?.()),
      new Promise((resolve) => setTimeout(resolve, 5000)),
    ]).catch(() => {}).finally(() => {
      current.abort.abort();
      current.endedResolve();
    });
    // The lease may have been won again meanwhile.
    if (this.lease.owned && !this.#stopping) this.#starting = this.#begin();
  }

  async #pull(controller: ReadableStreamDefaultController<IngestBatch>): Promise<void> {
    for (;;) {
      const current = this.#current;
      if (current === undefined) {
        if (this.#closed) {
          controller.close();
          return;
        }
        const wake = this.#wake;
        if (this.#current === undefined && !this.#closed) await wake.promise;
        if (this.#wake === wake) this.#wake = Promise.withResolvers();
        if (this.#closed && this.#current === undefined) {
          controller.close();
          return;
        }
        continue;
      }
      let result: ReadableStreamReadResult<IngestBatch>;
      try {
        result = await current.reader!.read();
      } catch (error) {
        // A failed tenure ends; the lease goes to whoever can do better.
        this.#error(`Source failed: ${message(error)}`);
        log.error("Source {source} failed: {error}", { source: this.name, error: message(error) });
        await this.#stopInner(current);
        this.#retire(current);
        await this.lease.abandon("the source failed", current.holdOffMs ??= this.#holdOff());
        continue;
      }
      if (result.done) {
        current.reader!.releaseLock();
        this.#retire(current);
        continue;
      }
      this.#failures = 0;
      controller.enqueue(result.value);
      return;
    }
  }
}
