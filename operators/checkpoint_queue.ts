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
 * from the last committed checkpoint.
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
  #queue: { ack: Ack; value: C }[] = [];
  #committed: C | undefined;
  #committing: Promise<void> | undefined;
  #failure: unknown;
  #failed = false;

  /** @param commit persists a checkpoint (e.g. writes a state file) */
  constructor(commit: (value: C) => void | Promise<void>) {
    this.#commit = commit;
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

  /** Resolves once settled acks have been committed. */
  async idle(): Promise<void> {
    // Let `done` callbacks of already settled acks run first.
    await new Promise((resolve) => setTimeout(resolve, 0));
    while (this.#committing) await this.#committing;
  }

  #advance(): void {
    if (this.#committing || this.#failed) return;
    let latest: { value: C } | undefined;
    while (this.#queue.length > 0 && this.#queue[0].ack.state === "done") {
      latest = this.#queue.shift();
    }
    if (latest === undefined) return;
    const value = latest.value;
    this.#committing = (async () => {
      try {
        await this.#commit(value);
        this.#committed = value;
      } catch (error) {
        this.#failed = true;
        this.#failure = error;
      } finally {
        this.#committing = undefined;
      }
      this.#advance();
    })();
  }
}
