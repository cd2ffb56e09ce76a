/**
 * ISL benchmarks (issue 5).
 *
 * * Micro: decoding a 1400-byte answer datagram (14 beacons) with the
 *   poller, and `decodeIslPackets` over a capture.
 * * End to end: a gateway simulator in ANOTHER process (`deno run sim/isl.ts
 *   --prefill N`), polled over loopback UDP by `IslUdpSource` into a
 *   `Pipeline` with `fsync: "interval"`. One iteration drains N beacons;
 *   beacons/s = N / time per iteration (also printed after each run).
 *
 * Run: deno bench --allow-read --allow-write --allow-net=127.0.0.1 --allow-run --allow-env bench/isl_bench.ts
 * (under `deno task bench:micro`, without --allow-run/--allow-net, the end-to-end bench is skipped)
 */

import type { DeadLetter } from "../envelope/dead_letter.ts";
import type { Observation } from "../envelope/observation.ts";
import { DedupeWindow } from "../operators/dedupe_window.ts";
import { Pipeline } from "../service/pipeline.ts";
import { openDeadLetterLog, openEventLog } from "../sinks/event_log.ts";
import { encodeBeacon } from "../sources/isl/beacon.ts";
import { decodeIslPackets } from "../sources/isl/decode_isl_packets.ts";
import { GatewayPoller } from "../sources/isl/gateway_poller.ts";
import { decodePoll } from "../sources/isl/poll_request.ts";
import { encodeStatus } from "../sources/isl/status_packet.ts";
import { IslUdpSource } from "../sources/isl/udp_adapter.ts";

const T0_COARSE = 2_174_299_237; // 2026-11-25T12:00:37 TAI
const N = Number(Deno.env.get("ISL_BENCH_BEACONS") ?? 300_000);
const MAX_PACKETS = Number(Deno.env.get("ISL_BENCH_MAX_PACKETS") ?? 256);

function beacon(index: number, target: Uint8Array, offset: number): void {
  encodeBeacon(
    {
      apid: 1 + (index % 8),
      seq: index % 16384,
      coarse: T0_COARSE + Math.floor(index / 1000),
      fine: (index % 1000) * 65,
      index,
      observer: 60001 + (index % 8),
      target: 60002,
      range_km: 362.7 + index * 1e-6,
      range_rate_km_s: -0.0004,
      range_sigma_km: 0.0009765625,
      r_km: [-6840.069883376951, -500.7206673444646, -1018.5557871127975],
      v_km_s: [1.2134426744182594, -4.535357241518274, -5.955075466010313],
      flags: 7,
    },
    target,
    offset,
  );
}

// A poller that is always asked for 14 beacons and gets them in one datagram.
const poller = new GatewayPoller({
  ctx: { source: "isl", transport: "udp", peer: "127.0.0.1:7003" },
  maxPackets: 14,
});
const answers = Array.from({ length: 64 }, () => new Uint8Array(18 + 14 * 96));

Deno.bench("GatewayPoller.receive() of one 1400-byte datagram (14 beacons)", {
  group: "decode",
}, () => {
  const poll = decodePoll(poller.poll());
  const datagram = answers[poll.seq % answers.length];
  const first = poll.after + 1;
  encodeStatus({ seq: poll.seq, oldest: 1, newest: first + 13, count: 14 }, datagram, 0);
  for (let k = 0; k < 14; k++) beacon(first + k, datagram, 18 + k * 96);
  const out = { observations: [] as Observation[], deadLetters: [] as DeadLetter[] };
  poller.receive(datagram, 1_795_608_000_000_000, out);
  if (out.observations.length !== 14) throw new Error("Expected 14 observations");
});

const capture = new Uint8Array(1000 * 96);
for (let i = 0; i < 1000; i++) beacon(i + 1, capture, i * 96);
Deno.bench("decodeIslPackets() × 1000 beacons (replay)", { group: "decode" }, () => {
  decodeIslPackets(capture, {
    source: "replay",
    transport: "replay",
    peer: "isl/bench.spp",
    deterministic: true,
  });
});

const canRun = Deno.permissions.querySync({ name: "run" }).state === "granted" &&
  Deno.permissions.querySync({ name: "net", host: "127.0.0.1" }).state === "granted";

async function startSimProcess(): Promise<{ child: Deno.ChildProcess; port: number }> {
  const sim = new URL("../sim/isl.ts", import.meta.url).pathname;
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-net=127.0.0.1",
      sim,
      "--port",
      "0",
      "--rate",
      "0",
      "--prefill",
      String(N),
      "--ring",
      String(N),
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`sim isl exited: ${text}`);
    text += value;
    const match = /listening on udp:\/\/127\.0\.0\.1:(\d+)/.exec(text);
    if (match) {
      reader.releaseLock();
      // Keep draining stderr so the child never blocks on it.
      child.stderr.pipeTo(new WritableStream()).catch(() => {});
      return { child, port: Number(match[1]) };
    }
  }
}

Deno.bench({
  name: `end to end: ${N} beacons from a sim process → IslUdpSource → log (fsync interval)`,
  group: "end to end",
  ignore: !canRun,
  n: 3,
  warmup: 1,
  async fn(b) {
    const { child, port } = await startSimProcess();
    const dir = await Deno.makeTempDir({ prefix: "sda-isl-bench-" });
    const pipeline = new Pipeline({
      events: await openEventLog({ dir: `${dir}/events`, fsync: "interval" }),
      deadLetters: await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "interval" }),
      dedupe: new DedupeWindow(1_000_000),
    });
    const source = new IslUdpSource({
      name: "isl",
      gateways: [{ hostname: "127.0.0.1", port }],
      maxPackets: MAX_PACKETS,
      checkpoint: () => ({ load: () => Promise.resolve(undefined), save: () => Promise.resolve() }),
    });
    await source.started;
    b.start();
    const start = performance.now();
    pipeline.add(source.readable);
    while (pipeline.counts("isl").observations < N) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    const seconds = (performance.now() - start) / 1000;
    b.end();
    const status = source.status();
    console.error(
      `isl e2e: ${N} beacons in ${seconds.toFixed(3)} s = ${
        Math.round(N / seconds)
      } beacons/s; polls ${status.counters.polls}, timeouts ${status.counters.timeouts}, lost ${
        JSON.stringify(status.lost)
      }`,
    );
    await source.stop();
    pipeline.close();
    await pipeline.done;
    child.kill("SIGTERM");
    await child.status;
    await Deno.remove(dir, { recursive: true });
  },
});
