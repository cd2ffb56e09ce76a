/**
 * Connection events (refusals, closures) logged at most once per peer and
 * event per interval, with the count (SPEC §4): one line per attacker per
 * minute, not one per attempt — 9,938 refusals must not write 9,938 lines.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Writes one log line for `count` events of one kind from one peer;
 * `detail` and `reason` are the latest event's.
 */
export type PeerEventWriter = (
  event: string,
  host: string,
  count: number,
  detail: string,
  reason?: string,
) => void;

/** Options for {@link PeerEventLog}. */
export interface PeerEventLogOptions {
  /** Where lines go. */
  write: PeerEventWriter;
  /** At most one line per peer and event per this many ms (default 60,000). */
  intervalMs?: number;
  /**
   * Peers remembered at once (default 4096): events from more peers than
   * this (e.g. a flood from many IPv6 addresses) are counted together under
   * `"other peers"`, so the table cannot grow without bound.
   */
  maxPeers?: number;
  /** The clock, ms (default `performance.now`). */
  now?: () => number;
}

interface Entry {
  event: string;
  host: string;
  /** When the last line for this peer and event was written. */
  loggedAt: number;
  /** Events since then, not yet in a line. */
  pending: number;
  /** The latest event's detail. */
  detail: string;
  /** The latest event's reason, if it gave one. */
  reason: string | undefined;
}

/** The key under which events from peers past `maxPeers` are counted. */
export const OTHER_PEERS = "other peers";

/**
 * Rate-limited, counting log of connection events per peer.
 *
 * The first event of a kind from a peer is written at once (count 1); later
 * ones within the interval are counted and written together — by the next
 * event after the interval, or by the timer at the end of the interval, or
 * by {@link PeerEventLog.close}.
 *
 * @example Three refusals within a minute make one line, then one with the rest
 * ```ts
 * import assert from "node:assert/strict";
 * import { PeerEventLog } from "./_peer_event_log.ts";
 *
 * const lines: string[] = [];
 * let now = 0;
 * const log = new PeerEventLog({
 *   write: (event, host, count) => lines.push(`${event} ${host} ×${count}`),
 *   now: () => now,
 * });
 * log.note("refused", "10.0.0.1", "full");
 * log.note("refused", "10.0.0.1", "full");
 * log.note("refused", "10.0.0.1", "full");
 * assert.deepEqual(lines, ["refused 10.0.0.1 ×1"]);
 * now = 61_000;
 * log.note("refused", "10.0.0.1", "full");
 * assert.deepEqual(lines, ["refused 10.0.0.1 ×1", "refused 10.0.0.1 ×3"]);
 * log.close();
 * ```
 */
export class PeerEventLog {
  #entries = new Map<string, Entry>();
  #write: PeerEventWriter;
  #intervalMs: number;
  #maxPeers: number;
  #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;

  /** A log that writes through `options.write`. */
  constructor(options: PeerEventLogOptions) {
    this.#write = options.write;
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#maxPeers = options.maxPeers ?? 4096;
    this.#now = options.now ?? (() => performance.now());
    if (!(this.#intervalMs > 0)) {
      throw new RangeError(`intervalMs must be positive: ${this.#intervalMs}`);
    }
  }

  /**
   * Records one event of kind `event` from `host`; `detail` describes it.
   * A `reason` (e.g. why a connection was refused) does not make a kind of
   * its own: one line per peer and kind, with the latest reason.
   */
  note(event: string, host: string, detail: string, reason?: string): void {
    const now = this.#now();
    let key = `${event}|${host}`;
    let entry = this.#entries.get(key);
    if (entry === undefined && this.#entries.size >= this.#maxPeers) {
      host = OTHER_PEERS;
      key = `${event}|${host}`;
      entry = this.#entries.get(key);
    }
    if (entry === undefined) {
      this.#entries.set(key, { event, host, loggedAt: now, pending: 0, detail, reason });
      this.#write(event, host, 1, detail, reason);
      this.#arm();
      return;
    }
    entry.pending++;
    entry.detail = detail;
    entry.reason = reason;
    if (now - entry.loggedAt >= this.#intervalMs) this.#flush(entry, now);
  }

  /** Writes what is pending and stops the timer. */
  close(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
    const now = this.#now();
    for (const entry of this.#entries.values()) {
      if (entry.pending > 0) this.#flush(entry, now);
    }
    this.#entries.clear();
  }

  #flush(entry: Entry, now: number): void {
    const count = entry.pending;
    entry.pending = 0;
    entry.loggedAt = now;
    this.#write(entry.event, entry.host, count, entry.detail, entry.reason);
  }

  /** The end-of-interval sweep: pending counts are written, quiet peers forgotten. */
  #arm(): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => {
      const now = this.#now();
      for (const [key, entry] of this.#entries) {
        if (now - entry.loggedAt < this.#intervalMs) continue;
        if (entry.pending > 0) this.#flush(entry, now);
        else this.#entries.delete(key);
      }
      if (this.#entries.size === 0) {
        clearInterval(this.#timer);
        this.#timer = undefined;
      }
    }, Math.max(1, Math.round(this.#intervalMs / 4)));
  }
}
