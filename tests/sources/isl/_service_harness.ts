/**
 * A minimal ISL ingest service for the restart test: IslUdpSource →
 * Pipeline → event log, watermarks in a StateStore, exactly as the service
 * wires them. Runs until killed.
 *
 * Usage: deno run --allow-read --allow-write --allow-net=127.0.0.1 _service_harness.ts PORT DIR
 */

import { IslUdpSource } from "../../../sources/isl/udp_adapter.ts";
import { openPipeline, stateCheckpoints } from "./_helpers.ts";

const [port, dir] = Deno.args;
const pipeline = await openPipeline(dir);
const source = new IslUdpSource({
  name: "isl",
  gateways: [{ hostname: "127.0.0.1", port: Number(port) }],
  pollIntervalMs: 5,
  timeoutMs: 50,
  checkpoint: stateCheckpoints(dir),
});
pipeline.add(source.readable);
await source.started;
console.log("started");
await pipeline.done;
