/**
 * The portable core as an edge-worker module (SPEC §13): `export default {
 * fetch }`, nothing but web APIs. It runs unchanged in Cloudflare's
 * `workerd` (built into one module by `deno task build:edge`), under
 * `Deno.serve`, Deno Deploy, or any runtime with the fetch-handler shape;
 * see {@link createWorker} for what it answers.
 *
 * Settings come from the environment the runtime passes as the second
 * argument of `fetch` (Workers bindings): `MAX_BODY_BYTES`, the largest body
 * read (default 1 GiB).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import worker from "./worker.ts";
 *
 * const response = await worker.fetch(new Request("http://edge/ingest/isl", {
 *   method: "POST",
 *   headers: { "content-type": "application/octet-stream" },
 *   body: new Uint8Array([1, 2, 3]),
 * }));
 * assert.equal(response.status, 200);
 * const [line] = (await response.text()).trim().split("\n").map((l) => JSON.parse(l));
 * assert.equal(line.stage, "framing");
 * ```
 *
 * @module
 */

import { createWorker, type EdgeWorker } from "./create_worker.ts";

const standard = createWorker();
const configured = new Map<string, EdgeWorker>();

/** The worker for the settings in `env`. */
function workerFor(env: Record<string, unknown> | undefined): EdgeWorker {
  const setting = env?.MAX_BODY_BYTES;
  if (setting === undefined || setting === null || setting === "") return standard;
  const key = String(setting);
  let worker = configured.get(key);
  if (worker === undefined) {
    const maxBodyBytes = Number(key);
    if (!Number.isSafeInteger(maxBodyBytes) || maxBodyBytes < 0) {
      throw new RangeError(`Invalid MAX_BODY_BYTES setting: ${JSON.stringify(key)}`);
    }
    worker = createWorker({ maxBodyBytes });
    configured.set(key, worker);
  }
  return worker;
}

/** The edge worker. */
const worker: {
  fetch(request: Request, env?: Record<string, unknown>): Response | Promise<Response>;
} = {
  fetch(request: Request, env?: Record<string, unknown>): Response | Promise<Response> {
    let configuredWorker: EdgeWorker;
    try {
      configuredWorker = workerFor(env);
    } catch (error) {
      // The deployment's fault, not the request's: say so to the client
      // and in the runtime's log (a bare 500 said nothing).
      const message = `${error instanceof Error ? error.message : error}: fix the worker's binding`;
      console.error(message);
      return new Response(JSON.stringify({ error: message }) + "\n", {
        status: 500,
        headers: { "content-type": "application/json" },
      });
    }
    return configuredWorker.fetch(request);
  },
};

export default worker;
