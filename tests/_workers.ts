/**
 * Decode workers for tests: as many as the service would run here
 * (`configuredWorkers`: SDA_INGEST_WORKERS, else one per core but one), so
 * that `deno task test` runs the tests that start sources once with the
 * default and once more with SDA_INGEST_WORKERS=0.
 */

import { configuredWorkers } from "../service/workers/configured_workers.ts";
import { DecodePool } from "../service/workers/decode_pool.ts";

/** A pool of the configured size, or undefined for 0; close it when done. */
export function testWorkers(size: number = configuredWorkers({})): DecodePool | undefined {
  return size > 0 ? new DecodePool(size) : undefined;
}
