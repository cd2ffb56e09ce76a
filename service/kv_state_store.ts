/**
 * Source state in JetStream KV for cluster mode (SPEC §12), beside the file
 * {@link StateStore} of a single instance.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { JetStreamApiCodes, JetStreamApiError } from "@nats-io/jetstream";
import type { KV } from "@nats-io/kv";
import type { Checkpoint } from "../sources/source.ts";

/** Options of one {@link KvStateStore.checkpoint}. */
export interface KvCheckpointOptions {
  /**
   * Called once when a write finds that another instance wrote the key since
   * this checkpoint last read or wrote it: that instance drives the source
   * now, so this one must stop (fencing).
   */
  onFenced?: (error: StateConflictError) => void;
  /**
   * Aborting ends the checkpoint: a save still retrying a NATS failure
   * rejects (the source's lease is gone; its successor resumes from KV).
   */
  signal?: AbortSignal;
}

/** What a key of the state bucket holds. */
interface StateRecord<T> {
  /** The cursor or watermark; absent when an instance claimed the key before any save. */
  value?: T;
  /** The instance that wrote it. */
  instance: string;
  /** When the value was saved (UTC). */
  saved?: string;
  /** When the instance claimed the key (UTC). */
  claimed?: string;
}

/**
 * A write of a key that another instance has written since this one read
 * it: this instance no longer owns the source (SPEC §12 fencing).
 */
export class StateConflictError extends Error {
  /** The key. */
  readonly key: string;

  /** @param key the state key; @param message what happened */
  constructor(key: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "StateConflictError";
    this.key = key;
  }
}

const log = getLogger(["sda-ingest", "cluster"]);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

function wrongLastSequence(error: unknown): boolean {
  return error instanceof JetStreamApiError &&
    (error.code === JetStreamApiCodes.StreamWrongLastSequence ||
      error.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown);
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * A state key as KV allows it: characters outside `[A-Za-z0-9_.=-]` become
 * `_`, so the ISL key `isl.<source>.<host>:<port>` is stored as
 * `isl.<source>.<host>_<port>` (SPEC §12).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stateKey } from "./kv_state_store.ts";
 *
 * assert.equal(stateKey("isl.isl.127.0.0.1:7003"), "isl.isl.127.0.0.1_7003");
 * ```
 */
export function stateKey(key: string): string {
  return key.replace(/[^A-Za-z0-9_.=-]/g, "_");
}

/**
 * Keys of a JetStream KV bucket (`<stream>_state`) as source checkpoints.
 * Every write is a compare-and-set on the revision this checkpoint last saw:
 * {@link KvStateStore.checkpoint}'s `load()` *claims* the key — it rewrites
 * the entry with this instance's name, which moves its revision — so a
 * previous owner still saving with the revision it saw fails from then on,
 * and stops its source (`onFenced`). A write whose acknowledgement was lost
 * (timeout during a leader election) is recognised by reading the entry back
 * and is not mistaken for a conflict; other NATS failures are retried until
 * the save succeeds, conflicts, or the checkpoint's `signal` aborts.
 *
 * @example Two owners of one key: the stale one is fenced
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstream } from "@nats-io/jetstream";
 * import { Kvm } from "@nats-io/kv";
 * import { connect } from "@nats-io/transport-node";
 * import { LocalNats } from "./cluster/local_nats.ts";
 * import { KvStateStore, StateConflictError } from "./kv_state_store.ts";
 *
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * const kv = await new Kvm(jetstream(nc)).create("SDA_OBS_state");
 * const a = new KvStateStore(kv, "ingest-a").checkpoint<string>("optical.archive");
 * assert.equal(await a.load(), undefined);
 * await a.save("cursor-1");
 * let fenced = false;
 * const stale = new KvStateStore(kv, "ingest-a").checkpoint<string>("optical.archive", {
 *   onFenced: () => (fenced = true),
 * });
 * assert.equal(await stale.load(), "cursor-1");
 * const b = new KvStateStore(kv, "ingest-b").checkpoint<string>("optical.archive");
 * assert.equal(await b.load(), "cursor-1"); // b takes the key over
 * await assert.rejects(stale.save("cursor-2"), StateConflictError);
 * assert.ok(fenced);
 * await b.save("cursor-2");
 * await nc.close();
 * await nats.stop();
 * ```
 */
export class KvStateStore {
  /** The bucket. */
  readonly kv: KV;
  /** This instance's name, written with every value. */
  readonly instance: string;
  readonly #retryMs: number;
  /** Keys whose request is failing and being retried: since when (Unix ms), and why. */
  readonly #failing = new Map<string, { error: string; since: number }>();

  /**
   * @param kv the state bucket
   * @param instance this instance's name
   * @param retryMs first wait before retrying a failed NATS request (doubling to 2 s)
   */
  constructor(kv: KV, instance: string, retryMs = 100) {
    this.kv = kv;
    this.instance = instance;
    this.#retryMs = retryMs;
  }

  /**
   * The longest-failing request for a key, retried meanwhile (the bucket
   * deleted, NATS away): its key, why, and since when (Unix ms).
   */
  get problem(): { key: string; error: string; since: number } | undefined {
    let oldest: { key: string; error: string; since: number } | undefined;
    for (const [key, failing] of this.#failing) {
      if (oldest === undefined || failing.since < oldest.since) oldest = { key, ...failing };
    }
    return oldest;
  }

  /** Reads `key` without claiming it; undefined when it holds no value. */
  async load<T>(key: string): Promise<T | undefined> {
    const entry = await this.kv.get(key);
    if (entry === null || entry.operation !== "PUT") return undefined;
    return this.#parse<T>(key, entry.value).value;
  }

  /** A {@link Checkpoint} of one key, for one source instance's tenure. */
  checkpoint<T>(key: string, options: KvCheckpointOptions = {}): Checkpoint<T> {
    let revision: number | undefined;
    let lastWrite: Uint8Array | undefined;
    let fenced: StateConflictError | undefined;
    const fence = (reason: string, cause?: unknown): never => {
      if (fenced === undefined) {
        fenced = new StateConflictError(key, `Cannot save state ${key}: ${reason}`, { cause });
        log.warn("State {key} was written by another instance: this one stops its source", {
          key,
          instance: this.instance,
        });
        options.onFenced?.(fenced);
      }
      throw fenced;
    };
    // One write with compare-and-set; a lost acknowledgement of an earlier
    // write is recognised and adopted.
    const write = async (bytes: Uint8Array): Promise<void> => {
      if (fenced !== undefined) throw fenced;
      await this.#retry(key, options.signal, async () => {
        try {
          revision = revision === undefined || revision === 0
            ? await this.kv.create(key, bytes)
            : await this.kv.update(key, bytes, revision);
          lastWrite = bytes;
          return;
        } catch (error) {
          if (!wrongLastSequence(error)) throw error;
          const entry = await this.kv.get(key);
          if (entry !== null && lastWrite !== undefined && equal(entry.value, lastWrite)) {
            // Our previous write landed; its acknowledgement did not reach us.
            revision = entry.revision;
            throw error; // write again on top of it
          }
          const by = entry === null || entry.operation !== "PUT"
            ? "the key was deleted"
            : `instance ${
              this.#parse<T>(key, entry.value).instance
            } wrote it at revision ${entry.revision}`;
          fence(`${by} after revision ${revision ?? 0} (this instance: ${this.instance})`, error);
        }
      });
    };
    return {
      load: async () => {
        const entry = await this.#retry(key, options.signal, () => this.kv.get(key));
        const now = new Date().toISOString();
        let record: StateRecord<T> = { instance: this.instance, claimed: now };
        if (entry !== null && entry.operation === "PUT") {
          const old = this.#parse<T>(key, entry.value);
          revision = entry.revision;
          record = { ...old, instance: this.instance, claimed: now };
        } else {
          revision = entry === null ? 0 : entry.revision;
        }
        // Claim the key: from now on a previous owner's writes fail.
        await write(encoder.encode(JSON.stringify(record)));
        return record.value;
      },
      save: async (value) => {
        const record: StateRecord<T> = {
          value,
          instance: this.instance,
          saved: new Date().toISOString(),
        };
        await write(encoder.encode(JSON.stringify(record)));
      },
      where: `state key ${key} in NATS KV`,
    };
  }

  #parse<T>(key: string, bytes: Uint8Array): StateRecord<T> {
    try {
      const record = JSON.parse(decoder.decode(bytes)) as StateRecord<T>;
      if (record === null || typeof record !== "object") throw new TypeError("not an object");
      return record;
    } catch (error) {
      throw new SyntaxError(`Cannot parse state ${key}: ${message(error)}`, {
        cause: error,
      });
    }
  }

  /**
   * Runs `attempt` until it resolves; NATS failures are retried with backoff,
   * a conflict or `signal` ends it.
   */
  async #retry<R>(
    key: string,
    signal: AbortSignal | undefined,
    attempt: () => Promise<R>,
  ): Promise<R> {
    let delay = this.#retryMs;
    for (let tries = 1;; tries++) {
      try {
        const result = await attempt();
        this.#failing.delete(key);
        return result;
      } catch (error) {
        if (error instanceof StateConflictError || error instanceof SyntaxError) {
          this.#failing.delete(key);
          throw error;
        }
        if (signal?.aborted) {
          this.#failing.delete(key);
          throw error;
        }
        if (!wrongLastSequence(error)) {
          const since = this.#failing.get(key)?.since ?? Date.now();
          this.#failing.set(key, { error: message(error), since });
        }
        if (!wrongLastSequence(error) && tries % 10 === 1) {
          log.warn("State {key}: NATS request failed ({tries}), retrying: {error}", {
            key,
            tries,
            error: message(error),
          });
        }
        if (wrongLastSequence(error)) {
          // An adopted write: try again at once.
          continue;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          signal?.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          }, { once: true });
        });
        delay = Math.min(delay * 2, 2000);
      }
    }
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
