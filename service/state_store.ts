/**
 * Durable source state in `state.dir` (SPEC §8).
 *
 * @module
 */

import type { Checkpoint } from "../sources/source.ts";
import { stateFileKey } from "./state_keys.ts";

/**
 * One JSON file per key in a directory. A save writes a temporary file,
 * fsyncs it, renames it over the old one and fsyncs the directory, so after
 * a crash the file holds either the old or the new value, never a mix.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StateStore } from "./state_store.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const store = new StateStore(dir);
 * const cursor = store.checkpoint<string>("optical.archive");
 * assert.equal(await cursor.load(), undefined);
 * await cursor.save("page-42");
 * assert.equal(await new StateStore(dir).checkpoint<string>("optical.archive").load(), "page-42");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class StateStore {
  #dir: string;
  #ready: Promise<void> | undefined;
  #latest = new Map<string, unknown>();
  #logOffset: (() => number) | undefined;
  /** The highest `log` mark of the files loaded, and the file. */
  #loggedUpTo: { offset: number; path: string } | undefined;

  /**
   * @param dir the state directory; created on first save
   * @param logOffset the event log's next offset: each save records it
   *   (`"log": N`), so that a start can tell when the log has lost what the
   *   saved positions cover (see {@link StateStore.loggedUpTo})
   */
  constructor(dir: string, logOffset?: () => number) {
    this.#dir = dir;
    this.#logOffset = logOffset;
  }

  /**
   * The highest event-log offset recorded by a state file loaded so far,
   * with its path: the log held that many records when the file was saved
   * (the positions in it cover records below that). A log that ends below
   * it has lost records that no source will read again.
   */
  get loggedUpTo(): { readonly offset: number; readonly path: string } | undefined {
    return this.#loggedUpTo;
  }

  /** The file that holds `key`. */
  path(key: string): string {
    return `${this.#dir}/${stateFileKey(key)}.json`;
  }

  /** Reads `key`; undefined when it was never saved. */
  async load<T>(key: string): Promise<T | undefined> {
    let text: string;
    try {
      text = await Deno.readTextFile(this.path(key));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return undefined;
      throw error;
    }
    let saved: unknown;
    try {
      saved = JSON.parse(text);
    } catch (error) {
      throw new SyntaxError(`Cannot parse state file ${this.path(key)}`, { cause: error });
    }
    // As `save` writes it: `{"value": …, "saved": …}`, the value never null.
    // Anything else is damage, not a first start: starting over would read
    // the whole archive or ring again, or count what it holds as lost.
    const value = saved !== null && typeof saved === "object" && !Array.isArray(saved)
      ? (saved as { value?: unknown }).value
      : undefined;
    if (value === undefined || value === null) {
      throw new SyntaxError(
        `State file ${
          this.path(key)
        } holds no saved value (expected {"value": …}); remove it to start over`,
      );
    }
    this.#latest.set(key, value);
    const mark = (saved as { log?: unknown }).log;
    if (
      typeof mark === "number" && Number.isSafeInteger(mark) &&
      mark > (this.#loggedUpTo?.offset ?? -1)
    ) {
      this.#loggedUpTo = { offset: mark, path: this.path(key) };
    }
    return value as T;
  }

  /** Saves `value` under `key` atomically and durably. */
  async save(key: string, value: unknown): Promise<void> {
    this.#ready ??= Deno.mkdir(this.#dir, { recursive: true });
    await this.#ready;
    const path = this.path(key);
    const temp = `${path}.tmp`;
    const log = this.#logOffset?.();
    const text = JSON.stringify({
      value,
      saved: new Date().toISOString(),
      ...(log === undefined ? {} : { log }),
    }) + "\n";
    {
      using file = await Deno.open(temp, { write: true, create: true, truncate: true });
      const bytes = new TextEncoder().encode(text);
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
      await file.syncData();
    }
    await Deno.rename(temp, path);
    this.#latest.set(key, value);
    try {
      using dir = await Deno.open(this.#dir, { read: true });
      await dir.syncData();
    } catch {
      // Directory sync is not possible everywhere; the rename is still atomic.
    }
  }

  /** The last value loaded or saved of each key (the status page's cursors and watermarks). */
  values(): ReadonlyMap<string, unknown> {
    return this.#latest;
  }

  /** A {@link Checkpoint} view of one key, for a source. */
  checkpoint<T>(key: string): Checkpoint<T> {
    return {
      load: () => this.load<T>(key),
      save: (value) => this.save(key, value),
      where: `state file ${this.path(key)}`,
      // A full disk passes: the newest value is saved once there is room.
      retryMs: 1000,
    };
  }
}
