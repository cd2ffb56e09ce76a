/**
 * Acknowledgements: how a source learns that what it emitted is durable.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * A reference-counted acknowledgement that travels with a batch through the
 * pipeline. It starts with one hold (the batch's single path). A stage that
 * forks the batch to several sinks calls {@link Ack.retain} once per extra
 * branch; every sink calls {@link Ack.release} once the batch is durable
 * there. When the last hold is released, {@link Ack.done} resolves. A sink
 * that cannot make the batch durable calls {@link Ack.fail}.
 *
 * Because every stage is first-in first-out, a released ack also means that
 * everything the source emitted before it is durable.
 *
 * @example One batch acknowledged by two sinks
 * ```ts
 * import assert from "node:assert/strict";
 * import { Ack } from "./ack.ts";
 *
 * const ack = new Ack();
 * ack.retain(); // forked to the log and to NATS
 * ack.release(); // the log is durable
 * assert.equal(ack.state, "pending");
 * ack.release(); // NATS acknowledged
 * await ack.done;
 * assert.equal(ack.state, "done");
 * ```
 */
export class Ack {
  #holds = 1;
  #state: "pending" | "done" | "failed" = "pending";
  #resolve!: () => void;
  #reject!: (reason: unknown) => void;
  /** Resolves when every hold is released; rejects when a sink failed. */
  readonly done: Promise<void>;

  /** Creates an acknowledgement with one hold. */
  constructor() {
    this.done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // A failure is reported to whoever awaits `done`; nobody awaiting it is
    // not an unhandled rejection.
    this.done.catch(() => {});
  }

  /** `"pending"`, `"done"` or `"failed"`. */
  get state(): "pending" | "done" | "failed" {
    return this.#state;
  }

  /** Adds `count` holds (one per extra branch the batch is forked to). */
  retain(count = 1): this {
    if (this.#state !== "pending") {
      throw new TypeError(`Cannot retain an acknowledgement that is ${this.#state}`);
    }
    if (!Number.isInteger(count) || count < 0) {
      throw new RangeError(`Cannot retain a negative or fractional count: ${count}`);
    }
    this.#holds += count;
    return this;
  }

  /** Releases one hold; the last release settles the acknowledgement. */
  release(): void {
    if (this.#state !== "pending") return;
    if (--this.#holds === 0) {
      this.#state = "done";
      this.#resolve();
    }
  }

  /** Marks the batch as not durable; {@link Ack.done} rejects with `reason`. */
  fail(reason: unknown): void {
    if (this.#state !== "pending") return;
    this.#state = "failed";
    this.#reject(reason);
  }
}
