/**
 * How many decode workers a configuration runs.
 *
 * @module
 */

import type { Config } from "../config.ts";
import { defaultWorkers } from "./decode_pool.ts";

/** The environment variable that sets `workers` where the configuration does not. */
export const WORKERS_ENV = "SDA_INGEST_WORKERS";

/**
 * `config.workers` when set; else {@link WORKERS_ENV} when it is set (and
 * readable) to a whole number 0–64; else one per core but one (issue 16).
 * The variable lets a benchmark or a test run compare both without editing
 * a configuration.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "../config.ts";
 * import { configuredWorkers } from "./configured_workers.ts";
 *
 * assert.equal(configuredWorkers(parseConfig({ workers: 0 })), 0);
 * assert.equal(configuredWorkers(parseConfig({ workers: 2 })), 2);
 * ```
 */
export function configuredWorkers(config: Pick<Config, "workers">): number {
  if (config.workers !== undefined) return config.workers;
  const fromEnv = envWorkers();
  return fromEnv ?? defaultWorkers();
}

function envWorkers(): number | undefined {
  if (Deno.permissions.querySync({ name: "env", variable: WORKERS_ENV }).state !== "granted") {
    return undefined;
  }
  const text = Deno.env.get(WORKERS_ENV);
  if (text === undefined || text.trim() === "") return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > 64) {
    throw new RangeError(`${WORKERS_ENV} must be a whole number from 0 to 64: "${text}"`);
  }
  return n;
}
