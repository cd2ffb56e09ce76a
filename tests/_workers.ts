/**
 * Decode workers for tests: as many as the service would run here
 * (`configuredWorkers`: SDA_INGEST_WORKERS, else one per core but one), so
 * that `deno task test` runs the tests that start sources once with the
 * default and once more with SDA_INGEST_WORKERS=0.
 */

import { configuredWorkers } from "../service/workers/configured_workers.ts";
import { DecodePool } from "../service/workers/decode_pool.ts";

/**
 * A pool of the configured size, started, or undefined for 0; close it when
 * done. Started before a test measures anything: on a cold cache Deno
 * type-checks the worker's module as the first one starts, which took
 * seconds (a receive → durable bound failed 3 runs of 3 on a fresh DENO_DIR).
 */
export async function testWorkers(
  size: number = configuredWorkers({}),
): Promise<DecodePool | undefined> {
  if (size <= 0) return undefined;
  const pool = new DecodePool(size);
  await pool.started;
  return pool;
}
