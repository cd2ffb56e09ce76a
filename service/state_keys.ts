/**
 * The keys under which sources keep their resume points (SPEC §8, §12), and
 * how they are spelled as state file names and KV keys.
 *
 * @module
 */

/** The key of an optical source's cursor: `optical.<source>`. */
export function opticalStateKey(source: string): string {
  return `optical.${source}`;
}

/**
 * The key of an ISL gateway's watermark: `isl.<source>.<peer>`, `peer` as
 * the source names the gateway (`host:port`, `[v6]:port`).
 */
export function islStateKey(source: string, peer: string): string {
  return `isl.${source}.${peer}`;
}

/**
 * A key as a state file's name has it (`<key>.json`): characters outside
 * `[A-Za-z0-9._-]` become `_`. Coarser than a KV key's spelling, so two keys
 * that are one here may be one there too.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { islStateKey, stateFileKey } from "./state_keys.ts";
 *
 * assert.equal(stateFileKey(islStateKey("isl", "[::1]:7003")), "isl.isl.___1__7003");
 * ```
 */
export function stateFileKey(key: string): string {
  return key.replace(/[^A-Za-z0-9._-]/g, "_");
}
