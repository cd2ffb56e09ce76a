/**
 * How much disk a log takes and how much its filesystem has left, for the
 * "log disk filling" alert and the status page.
 *
 * @module
 */

import { statfs } from "node:fs/promises";
import type { DiskUsage } from "./metrics.ts";

const SEGMENT = /^\d{20}\.jsonl$/;

/**
 * Measures one log directory at most every `maxAgeMs` (default 5 s), however
 * often it is asked: `/metrics` scrapes and the status page's once-a-second
 * polls share one measurement.
 *
 * Deno has no `statfs` of its own; `node:fs/promises` `statfs` is one system
 * call and needs only `--allow-sys=statfs` (plus read access to the
 * directory). Without that permission the free-space fields stay undefined
 * (the metric is absent) and the byte count still works. Segment sizes are
 * remembered by name — complete segments never change — so a refresh stats
 * only new segments and the active one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LogDiskUsage } from "./log_disk_usage.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/00000000000000000000.jsonl`, "{}\n{}\n");
 * const usage = await new LogDiskUsage(dir).get();
 * assert.equal(usage.bytes, 6);
 * assert.equal(usage.segments, 1);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export class LogDiskUsage {
  #dir: string;
  #maxAgeMs: number;
  #sizes = new Map<string, number>();
  #last: { at: number; usage: Promise<DiskUsage> } | undefined;

  /** @param dir the log directory */
  constructor(dir: string, maxAgeMs = 5000) {
    this.#dir = dir;
    this.#maxAgeMs = maxAgeMs;
  }

  /** The latest measurement, refreshed when older than `maxAgeMs`. */
  get(): Promise<DiskUsage> {
    const now = Date.now();
    if (this.#last === undefined || now - this.#last.at >= this.#maxAgeMs) {
      this.#last = { at: now, usage: this.#measure() };
    }
    return this.#last.usage;
  }

  async #measure(): Promise<DiskUsage> {
    const names: string[] = [];
    try {
      for await (const entry of Deno.readDir(this.#dir)) {
        if (entry.isFile && SEGMENT.test(entry.name)) names.push(entry.name);
      }
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    names.sort();
    const present = new Set(names);
    for (const name of this.#sizes.keys()) if (!present.has(name)) this.#sizes.delete(name);
    let bytes = 0;
    for (const [i, name] of names.entries()) {
      let size = this.#sizes.get(name);
      if (size === undefined || i === names.length - 1) {
        try {
          size = (await Deno.stat(`${this.#dir}/${name}`)).size;
        } catch {
          size = 0; // Removed in between.
        }
        this.#sizes.set(name, size);
      }
      bytes += size;
    }
    const usage: DiskUsage = { bytes, segments: names.length };
    try {
      const fs = await statfs(this.#dir);
      usage.availableBytes = Number(fs.bavail) * Number(fs.bsize);
      usage.filesystemBytes = Number(fs.blocks) * Number(fs.bsize);
    } catch {
      // No --allow-sys=statfs, or the directory is gone: report what is known.
    }
    return usage;
  }
}
