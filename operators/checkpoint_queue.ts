/**
 * Turns out-of-order acknowledgements into in-order checkpoints.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { Ack } from "./ack.ts";

/**
 * Commits a checkpoint (an optical cursor, an ISL `after` index) only when
 * the acknowledgements of its unit and of every earlier unit have settled
 * (SPEC §8). Commits never run concurrently: while one is being written,
 * later checkpoints are coalesced and only the newest is committed next.
 *
 * If an acknowledgement fails, nothing after it is ever committed and
 * {@link CheckpointQueue.failure} holds the reason; the source must restart
 * from the last committed checkpoint. With `retryMs`, a commit that fails
 * (a full disk) is tried again that much later — with the newest checkpoint
 * by then — and {@link CheckpointQueue.problem} holds why until one
 * succeeds: a moment without room must not freeze the checkpoint for the
 * rest of the run (a restart would read everything since again). Without
 * it, a failed commit stops the commits like a failed ack.
 *
 * @example Checkpoints commit in order
 * ```ts
 * import assert from "node:assert/strict";
 * import { CheckpointQueue } from "./checkpoint_queue.ts";
 *
 * const committed: string[] = [];
 * const queue = new CheckpointQueue<string>((cursor) => {
 *   committed.push(cursor);
 * });
 * const a = queue.add("page-1");
 * const b = queue.add("page-2");
 * b.release(); // page 2 is durable, but page 1 is not yet
 * await queue.idle();
 * assert.deepEqual(committed, []);
 * a.release();
 * await queue.idle();
 * assert.deepEqual(committed, ["page-2"]);
 * ```
 */
export class CheckpointQueue<C> {
  #commit: (value: C) => void | Promise<void>;
  #retryMs: number | undefined;
  #queue: { ack: Ack; value: C }[] = [];
  #committed: C | undefined;
  #committing: Promise<void> | undefined;
  #failure: unknown;
  #failed = false;
  /** A checkpoint whose commit failed, to be tried again unless a newer one comes first. */
  #retry: { value: C } | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #problem: unknown;
  #closed = false;

  /**
   * @param commit persists a checkpoint (e.g. writes a state file)
   * @param options `retryMs`: wait before a failed commit is tried again (default: never)
   */
  constructor(commit: (value: C) => void | Promise<void>, options: { retryMs?: number } = {}) {
    this.#commit = commit;
    this.#retryMs = options.retryMs;
  }

  /** Registers the unit that ends at checkpoint `value`; returns its ack. */
  add(value: C): Ack {
    const ack = new Ack();
    this.track(ack, value);
    return ack;
  }

  /** Registers an existing ack as the unit that ends at checkpoint `value`. */
  track(ack: Ack, value: C): void {
    this.#queue.push({ ack, value });
    ack.done.then(() => this.#advance(), (reason) => {
      if (!this.#failed) {
        this.#failed = true;
        this.#failure = reason;
      }
    });
  }

  /** Units not yet committed. */
  get pending(): number {
    return this.#queue.length;
  }

  /** The last checkpoint handed to `commit` (`undefined` before the first). */
  get committed(): C | undefined {
    return this.#committed;
  }

  /** Why checkpoints stopped advancing, if an ack failed. */
  get failure(): unknown {
    return this.#failure;
  }

  /** Why the last commit failed, until one succeeds (it is being retried). */
  get problem(): unknown {
    return this.#problem;
  }

  /**
   * Stops retrying failed commits (the source is stopping, or lost its
   * lease): checkpoints still settling are committed once, not retried.
   */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    this.#retry = undefined;
  }

  /** Resolves once settled acks have been committed. */
  async idle(): Promise<void> {
    // Let `done` callbacks of already settled acks run first.
    await new Promise((resolve) => setTimeout(resolve, 0));
    while (this.#committing) await this.#committing;
  }

  #advance(): void {
    if (this.#committing || this.#failed) return;
    let latest: { value: C } | undefined = this.#retry;
    while (this.#queue.length > 0 && this.#queue[0].ack.state === "done") {
      latest = this.#queue.shift();
    }
    if (latest === undefined) return;
    this.#retry = undefined;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    const value = latest.value;
    this.#committing = (async () => {
      // Never settle before `#committing` is assigned (a commit that throws
      // at once would otherwise leave it set for ever).
      await null;
      try {
        await this.#commit(value);
        this.#committed = value;
        this.#problem = undefined;
      } catch (error) {
        this.#problem = error;
        if (this.#retryMs === undefined) {
          this.#failed = true;
          this.#failure = error;
          return;
        }
        if (this.#closed) return;
        this.#retry = { value };
        this.#retryTimer = setTimeout(() => {
          this.#retryTimer = undefined;
          this.#advance();
        }, this.#retryMs);
        return;
      } finally {
        this.#committing = undefined;
      }
      this.#advance();
    })();
  }
}
