/**
 * The edge worker under `Deno.serve`, for the `edge` benchmark: a process
 * of its own, so that its CPU time is its own. Prints `listening on PORT`.
 *
 * Run: deno run --allow-net=127.0.0.1 bench/edge_serve.ts
 *
 * @module
 */

import worker from "../edge/worker.ts";

Deno.serve({
  hostname: "127.0.0.1",
  port: 0,
  onListen: ({ port }) => console.log(`listening on ${port}`),
}, (request) => worker.fetch(request));
