/**
 * A lease on one pull/poll source in JetStream KV (SPEC §12).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { JetStreamApiCodes, JetStreamApiError, type JetStreamManager } from "@nats-io/jetstream";
import { type KV, KvWatchInclude } from "@nats-io/kv";
import type { SourceLease } from "./leased_source.ts";

/** Options for {@link Lease}. */
export interface LeaseOptions {
  /** The leases bucket (`<stream>_leases`, its `ttl` = `leaseMs`). */
  kv: KV;
  /** JetStream management on the same connection (removes delete markers). */
  jsm: JetStreamManager;
  /** The key: the source's name. */
  key: string;
  /** This instance's name. */
  instance: string;
  /** Lease time-to-live, ms: the bucket's `ttl`. */
  leaseMs: number;
  /** Called when this instance wins the lease. */
  onAcquire?: () => void;
  /** Called when this instance stops owning it (not on {@link Lease.release}). */
  onLose?: (reason: string) => void;
  /** Called with {@link Lease.validUntil} whenever it changes. */
  onValidity?: (validUntil: number) => void;
}

/** What a lease key holds. */
export interface LeaseValue {
  /** The owning instance. */
  instance: string;
  /** When it won the lease (UTC). */
  since: string;
}

const log = getLogger(["sda-ingest", "cluster"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function wrongLastSequence(error: unknown): boolean {
  return error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function parse(bytes: Uint8Array): LeaseValue | undefined {
  try {
    const value = JSON.parse(decoder.decode(bytes));
    return typeof value?.instance === "string" ? value : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One instance's side of a lease. Every `leaseMs / 3` an instance without
 * the lease tries `create` (which succeeds only when no live entry exists —
 * entries expire `leaseMs` after their last write, or are deleted by an
 * owner that stops gracefully), and the owner renews with `update` on the
 * revision it last wrote. A standby also watches the key and tries at once
 * when the owner deletes it.
 *
 * The owner gives the lease up on its own — `onLose` — as soon as
 * `leaseMs / 2` have passed since it *sent* its last successful renewal
 * without another succeeding: the entry was written after that send, so it
 * cannot expire earlier than `leaseMs` after it, and the margin covers the
 * time the source needs to stop. Two instances therefore never both believe
 * they own the source, even when the owner is cut off from NATS.
 *
 * A write of this tenure whose acknowledgement was lost is recognised (the
 * entry holds exactly the bytes sent) and adopted; an entry left by an
 * earlier tenure or an earlier process of the same name is waited out like
 * any other. Ownership rests on `create` (checked by the stream in log
 * order) and on renewals by the one owner, never on two writers racing an
 * `update`: nats-server before 2.9.21 may accept two concurrent updates of
 * one key with the same expected revision.
 *
 * @example Two instances, one lease
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstream, jetstreamManager } from "@nats-io/jetstream";
 * import { Kvm } from "@nats-io/kv";
 * import { connect } from "@nats-io/transport-node";
 * import { Lease } from "./lease.ts";
 * import { LocalNats } from "./local_nats.ts";
 *
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * const kv = await new Kvm(jetstream(nc)).create("SDA_OBS_leases", { ttl: 900, storage: "memory" });
 * const jsm = await jetstreamManager(nc);
 * const a = new Lease({ kv, jsm, key: "archive", instance: "ingest-a", leaseMs: 900 });
 * await a.start();
 * const b = new Lease({ kv, jsm, key: "archive", instance: "ingest-b", leaseMs: 900 });
 * await b.start();
 * assert.equal(a.owned, true);
 * assert.equal(b.owned, false);
 * assert.equal(b.owner, "ingest-a");
 * const taken = Promise.withResolvers<void>();
 * b.onAcquire = () => taken.resolve();
 * await a.release(); // a graceful stop deletes the entry: b takes over at once
 * await taken.promise;
 * assert.equal(b.owner, "ingest-b");
 * await b.release();
 * await nc.close();
 * await nats.stop();
 * ```
 */
export class Lease implements SourceLease {
  /** The key (source name). */
  readonly key: string;
  /** This instance's name. */
  readonly instance: string;
  /** Called when this instance wins the lease. */
  onAcquire: (() => void) | undefined;
  /** Called when this instance stops owning it (not on {@link Lease.release}). */
  onLose: ((reason: string) => void) | undefined;
  /** Called with {@link Lease.validUntil} whenever it changes. */
  onValidity: ((validUntil: number) => void) | undefined;

  readonly #kv: KV;
  readonly #jsm: JetStreamManager;
  #stream: string | undefined;
  readonly #leaseMs: number;
  readonly #now = () => performance.now();
  #validUntil = 0;
  readonly #stop = new AbortController();
  #owned = false;
  #owner: string | undefined;
  #value: LeaseValue | undefined;
  #bytes: Uint8Array | undefined;
  #revision = 0;
  /** When the last successful write was sent (monotonic ms). */
  #renewedAt = 0;
  #watchdog: ReturnType<typeof setTimeout> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #attempt: Promise<void> | undefined;
  #again = false;
  #soon = false;
  #renewFailed = false;
  /** A create whose outcome is unknown (no acknowledgement). */
  #unknown: { value: LeaseValue; bytes: Uint8Array; sentAt: number } | undefined;
  /** When the renewal now in flight (or the last one) was sent. */
  #renewSentAt = 0;
  #changes = 0;
  /** Why the last attempt could not tell who holds the lease (not "someone else does"), if so. */
  #error: string | undefined;
  #errorAt = 0;
  #errorLogged = { at: 0, error: "" };
  /** No attempt to win the lease before this (monotonic ms): see {@link Lease.abandon}. */
  #holdUntil = 0;
  #loop: Promise<void> | undefined;
  #watch: { stop(): void } | undefined;
  /** An entry of this instance's name that this process did not write, as first seen: see {@link Lease.#namesake}. */
  #namesakeSeen: { bytes: Uint8Array; revision: number; renewed: boolean } | undefined;

  /** Creates the lease; {@link Lease.start} begins trying to own it. */
  constructor(options: LeaseOptions) {
    if (!(options.leaseMs > 0)) {
      throw new RangeError(`leaseMs must be positive: ${options.leaseMs}`);
    }
    this.key = options.key;
    this.instance = options.instance;
    this.#kv = options.kv;
    this.#jsm = options.jsm;
    this.#leaseMs = options.leaseMs;
    this.onAcquire = options.onAcquire;
    this.onLose = options.onLose;
    this.onValidity = options.onValidity;
  }

  /** True while this instance owns the lease. */
  get owned(): boolean {
    return this.#owned;
  }

  /** The owner as last seen (this instance when owned; undefined when nobody holds it). */
  get owner(): string | undefined {
    return this.#owned ? this.instance : this.#owner;
  }

  /** Since when the current owner holds it (UTC), when known. */
  get since(): string | undefined {
    return this.#owned ? this.#value?.since : undefined;
  }

  /** How many times this instance won or lost the lease. */
  get changes(): number {
    return this.#changes;
  }

  /**
   * Why this instance can neither take the lease nor tell who holds it —
   * the leases bucket gone, an entry that names no instance — if so;
   * undefined while the lease works (owned, or held by a named instance).
   */
  get error(): string | undefined {
    return this.#error;
  }

  /** When {@link error} was last seen, µs since the Unix epoch. */
  get errorAt(): number | undefined {
    return this.#error === undefined ? undefined : this.#errorAt;
  }

  /** Notes (and logs, when it changes or every 30 s) why the lease does not work, or that it does. */
  #problem(error: string | undefined): void {
    this.#error = error;
    if (error === undefined) return;
    const now = Date.now();
    this.#errorAt = now * 1000;
    if (error === this.#errorLogged.error && now - this.#errorLogged.at < 30_000) return;
    this.#errorLogged = { at: now, error };
    log.warn("Lease {key}: {error}", { key: this.key, instance: this.instance, error });
  }

  /**
   * Until when (Unix ms, from `performance.timeOrigin + performance.now()`)
   * this instance may drive the source: `leaseMs / 2` after it sent its
   * last successful write; 0 when it does not own the lease.
   */
  get validUntil(): number {
    return this.#validUntil;
  }

  /** True while owned and before {@link Lease.validUntil}. */
  valid(): boolean {
    return this.#owned && performance.timeOrigin + performance.now() < this.#validUntil;
  }

  /** Starts trying; resolves after the first attempt (owned or not). */
  async start(): Promise<void> {
    if (this.#loop !== undefined) return;
    this.#loop = Promise.resolve();
    this.#startWatch();
    await this.#tick();
  }

  /**
   * Stops trying and, if owned, deletes the entry (compare-and-set on the
   * revision written last) so that a standby takes over at once.
   */
  async release(): Promise<void> {
    this.#stop.abort();
    clearTimeout(this.#timer);
    clearTimeout(this.#watchdog);
    this.#watch?.stop();
    await this.#attempt?.catch(() => {});
    if (!this.#owned) return;
    this.#owned = false;
    this.#setValidUntil(0);
    this.#changes++;
    try {
      await this.#remove(this.#revision);
      log.info("Lease {key} released by {instance}", { key: this.key, instance: this.instance });
    } catch (error) {
      log.warn("Cannot release lease {key}: {error} (it expires on its own)", {
        key: this.key,
        error: error instanceof Error ? error.message : String(error),
      });
    }
  }

  /**
   * Gives the lease up but keeps trying, after `holdOffMs` (default 0):
   * deletes the entry if this instance still owns it (after a fencing
   * conflict, so that whoever wins next resumes from the state in KV; after
   * a source that failed, so that another instance may do better).
   */
  async abandon(reason: string, holdOffMs = 0): Promise<void> {
    this.#holdUntil = this.#now() + holdOffMs;
    if (!this.#owned) return;
    const revision = this.#revision;
    this.#lost(reason);
    await this.#remove(revision).catch(() => {});
  }

  /**
   * Deletes the entry: a delete marker first, so that standbys watching the
   * key try at once, then the marker itself, so that the key holds no
   * message and a standby's `create` (expected revision 0) is decided by
   * the stream in log order. Through a marker, `create` turns into an update
   * of the marker's revision, which nats-server before 2.9.21 may grant to
   * two standbys at once.
   */
  async #remove(revision: number): Promise<void> {
    await this.#kv.delete(this.key, { previousSeq: revision });
    const entry = await this.#kv.get(this.key);
    if (entry !== null && entry.operation !== "PUT") {
      this.#stream ??= (await this.#kv.status()).streamInfo.config.name;
      await this.#jsm.streams.deleteMessage(this.#stream, entry.revision, false).catch(() => {});
    }
  }

  /** Stops trying without deleting (the entry expires on its own). */
  stop(): void {
    this.#stop.abort();
    clearTimeout(this.#timer);
    clearTimeout(this.#watchdog);
    this.#watch?.stop();
  }

  /** One attempt now (coalesced with one in flight), then the next in `leaseMs / 3`. */
  #tick(): Promise<void> {
    if (this.#stop.signal.aborted) return Promise.resolve();
    if (this.#attempt !== undefined) {
      this.#again = true;
      return this.#attempt;
    }
    clearTimeout(this.#timer);
    const hold = this.#holdUntil - this.#now();
    if (!this.#owned && hold > 0) {
      this.#timer = setTimeout(() => this.#tick(), hold);
      return Promise.resolve();
    }
    const startedAt = this.#now();
    this.#attempt = (this.#owned ? this.#renew() : this.#acquire()).finally(() => {
      this.#attempt = undefined;
      if (this.#stop.signal.aborted) return;
      if (this.#again) {
        this.#again = false;
        this.#tick();
        return;
      }
      // At a fixed rate from the attempt's start, not its end: a slow
      // round trip must not push the next renewal towards the owner's
      // leaseMs / 2 deadline. A failed renewal is retried sooner.
      const period = this.#soon
        ? 25
        : this.#owned && this.#renewFailed
        ? this.#leaseMs / 12
        : this.#leaseMs / 3;
      this.#soon = false;
      const wait = Math.max(0, startedAt + period - this.#now());
      this.#timer = setTimeout(() => this.#tick(), wait);
    });
    return this.#attempt;
  }

  async #acquire(): Promise<void> {
    const value: LeaseValue = { instance: this.instance, since: new Date().toISOString() };
    const bytes = encoder.encode(JSON.stringify(value));
    const sentAt = this.#now();
    try {
      // Expected revision 0 only (not `kv.create`, which retries on a delete
      // marker as an update of the marker: see #remove).
      this.#revision = await this.#kv.put(this.key, bytes, { previousSeq: 0 });
      this.#unknown = undefined;
      this.#problem(undefined);
      this.#won(value, bytes, sentAt);
      return;
    } catch (error) {
      if (!wrongLastSequence(error)) {
        // Timed out or failed in transit: it may still have landed.
        this.#unknown = { value, bytes, sentAt };
        this.#owner = undefined;
        this.#problem(`cannot take the lease: ${errorText(error)}`);
        return;
      }
    }
    // Someone holds it: learn who (for /health).
    try {
      const entry = await this.#kv.get(this.key);
      const held = entry?.operation === "PUT" ? parse(entry.value) : undefined;
      this.#owner = held?.instance;
      const unknown = this.#unknown;
      this.#unknown = undefined;
      const adopt = entry !== null && entry.operation === "PUT" && unknown !== undefined &&
        equal(entry.value, unknown.bytes) && this.#now() - unknown.sentAt < this.#leaseMs / 2;
      this.#problem(
        entry?.operation === "PUT" && held === undefined
          ? `the lease is held by an entry that names no instance: ${
            JSON.stringify(decoder.decode(entry.value.subarray(0, 64)))
          }`
          : entry?.operation === "PUT" && !adopt
          ? this.#namesake(entry.value, entry.revision, held, unknown?.bytes)
          : undefined,
      );
      if (entry !== null && unknown !== undefined && adopt) {
        // Our earlier create landed though its acknowledgement did not reach
        // us. Adopted only while far from expiring, and with that create's
        // send time as the start of our validity: nothing older than what we
        // sent is ever taken as ours (an entry of a previous tenure or
        // process waits out its expiry instead).
        this.#revision = await this.#kv.update(this.key, unknown.bytes, entry.revision);
        this.#won(unknown.value, unknown.bytes, unknown.sentAt);
      } else if (entry === null || entry.operation !== "PUT") {
        // A delete marker its owner is about to remove (or that expires with
        // the bucket's ttl), or already removed since the create failed on
        // it: try again very soon, not after leaseMs / 3.
        this.#soon = true;
      }
    } catch {
      // The next attempt will tell.
    }
  }

  /**
   * Whether the entry that holds the lease is another live process's of
   * this instance's name — two instances configured with the same
   * `nats.instance` (or two containers that both run as pid 1 on one
   * host name): the text for {@link error} if so. An entry of this name
   * that this process never wrote may also be what its own previous
   * process left (it expires `leaseMs` after that process's last
   * renewal); only one seen renewed — the same bytes at a later revision —
   * is a live namesake.
   */
  #namesake(
    bytes: Uint8Array,
    revision: number,
    held: LeaseValue | undefined,
    unknown: Uint8Array | undefined,
  ): string | undefined {
    if (
      held?.instance !== this.instance ||
      (this.#bytes !== undefined && equal(bytes, this.#bytes)) ||
      (unknown !== undefined && equal(bytes, unknown))
    ) {
      this.#namesakeSeen = undefined;
      return undefined;
    }
    const seen = this.#namesakeSeen;
    if (seen === undefined || !equal(seen.bytes, bytes)) {
      this.#namesakeSeen = { bytes, revision, renewed: false };
      return undefined;
    }
    if (revision > seen.revision) seen.renewed = true;
    return seen.renewed
      ? `another process named "${this.instance}" like this one holds the lease (since ${held.since}); nats.instance must be unique per instance, and this one takes over only when that one stops`
      : undefined;
  }

  #won(value: LeaseValue, bytes: Uint8Array, sentAt: number): void {
    if (this.#stop.signal.aborted) return;
    this.#value = value;
    this.#bytes = bytes;
    this.#owned = true;
    this.#owner = this.instance;
    this.#changes++;
    this.#renewed(sentAt);
    log.info("Lease {key} won by {instance}", { key: this.key, instance: this.instance });
    this.onAcquire?.();
  }

  async #renew(): Promise<void> {
    const sentAt = this.#now();
    this.#renewFailed = true;
    this.#renewSentAt = sentAt;
    try {
      this.#revision = await this.#kv.update(
        this.key,
        this.#bytes!,
        this.#revision,
        Math.max(100, Math.floor(this.#leaseMs / 3)),
      );
      this.#renewFailed = false;
      if (this.#owned) this.#renewed(sentAt);
    } catch (error) {
      if (!wrongLastSequence(error) || !this.#owned) return;
      // Someone else wrote it — or our previous renewal landed unacknowledged.
      try {
        const entry = await this.#kv.get(this.key);
        const held = entry?.operation === "PUT" ? parse(entry.value) : undefined;
        if (entry !== null && held !== undefined && equal(entry.value, this.#bytes!)) {
          this.#revision = entry.revision;
          this.#again = true;
          return;
        }
        this.#owner = held?.instance;
        this.#lost(
          held !== undefined
            ? `instance ${held.instance} holds it`
            : entry !== null && entry.operation === "PUT"
            ? "the lease entry was overwritten with one that names no instance"
            : "the lease entry was deleted or expired",
        );
      } catch {
        // The watchdog decides if this goes on.
      }
    }
  }

  #renewed(sentAt: number): void {
    this.#renewedAt = sentAt;
    this.#setValidUntil(performance.timeOrigin + sentAt + this.#leaseMs / 2);
    clearTimeout(this.#watchdog);
    const left = sentAt + this.#leaseMs / 2 - this.#now();
    this.#watchdog = setTimeout(() => {
      if (this.#owned && this.#renewedAt === sentAt) {
        const now = this.#now();
        this.#lost(
          `not renewed for ${Math.round(now - sentAt)} ms (limit ${this.#leaseMs / 2}; ` +
            (this.#attempt !== undefined
              ? `a renewal has been waiting ${Math.round(now - this.#renewSentAt)} ms)`
              : `the last renewal was sent ${Math.round(now - this.#renewSentAt)} ms ago)`),
        );
      }
    }, Math.max(0, left));
  }

  #setValidUntil(validUntil: number): void {
    this.#validUntil = validUntil;
    this.onValidity?.(validUntil);
  }

  #lost(reason: string): void {
    if (!this.#owned) return;
    this.#owned = false;
    // Not known until learned again (/health named this instance the
    // owner of a lease it had just given up).
    this.#owner = undefined;
    this.#setValidUntil(0);
    this.#changes++;
    clearTimeout(this.#watchdog);
    log.warn("Lease {key} lost by {instance}: {reason}", {
      key: this.key,
      instance: this.instance,
      reason,
    });
    this.onLose?.(reason);
  }

  /** Watches the key so a standby tries as soon as the owner deletes it. */
  #startWatch(): void {
    const signal = this.#stop.signal;
    (async () => {
      const watch = await this.#kv.watch({ key: this.key, include: KvWatchInclude.UpdatesOnly });
      this.#watch = watch;
      if (signal.aborted) watch.stop();
      for await (const entry of watch) {
        if (signal.aborted) break;
        if (entry.operation !== "PUT") {
          if (!this.#owned) {
            this.#owner = undefined;
            this.#tick();
          }
        } else if (!this.#owned) {
          const held = parse(entry.value);
          this.#owner = held?.instance;
          const namesake = this.#namesake(entry.value, entry.revision, held, this.#unknown?.bytes);
          if (namesake !== undefined) this.#problem(namesake);
        }
      }
    })().catch((error) => {
      if (signal.aborted) return;
      log.warn("Cannot watch lease {key}: {error} (standby falls back to periodic attempts)", {
        key: this.key,
        error: error instanceof Error ? error.message : String(error),
      });
    });
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
