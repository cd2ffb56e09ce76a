/**
 * The `edge` benchmark scenario (issue 14): the edge worker
 * (`dist/worker.js`, built by `deno task build:edge`) in Cloudflare's
 * `workerd` and the same worker under `Deno.serve`, each in a process of
 * its own, answering radar, optical and ISL bodies of 50,000 observations
 * each over loopback. Observations per second from the wall time of a
 * request (body sent, answer read to its end); CPU µs per observation from
 * the server process's `utime + stime` (`/proc/<pid>/stat`) over the
 * request.
 *
 * @module
 */

import { islBody, opticalBody, radarBody } from "../tests/edge/_bodies.ts";
import { procFile, startWorkerd, type Workerd } from "../tests/edge/_workerd.ts";
import type { Measurement, Scenario } from "./scenarios.ts";

/** Observations per body. */
const COUNT = 50_000;

const FEEDS = [
  { kind: "radar", type: "text/plain", make: radarBody },
  { kind: "optical", type: "text/csv", make: opticalBody },
  { kind: "isl", type: "application/octet-stream", make: islBody },
] as const;

/** CPU seconds (user + system) a process has used, from `/proc/<pid>/stat`. */
async function cpuSeconds(pid: number): Promise<number> {
  const stat = await procFile(pid, "stat");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime, fields 14 and 15, in clock ticks (100 per second on Linux).
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** A body generated once, in memory, so that the client costs little while measuring. */
async function bodyOf(make: (typeof FEEDS)[number]["make"]): Promise<Uint8Array<ArrayBuffer>> {
  return new Uint8Array(await new Response(make({ count: COUNT }).stream).arrayBuffer());
}

/** One request: wall seconds, server CPU seconds, and the lines answered. */
async function post(
  base: string,
  pid: number,
  kind: string,
  type: string,
  body: Uint8Array<ArrayBuffer>,
) {
  const cpu0 = await cpuSeconds(pid);
  const t0 = performance.now();
  const response = await fetch(`${base}/ingest/${kind}`, {
    method: "POST",
    body,
    headers: { "content-type": type },
  });
  let lines = 0;
  for await (const chunk of response.body!) {
    for (let i = chunk.indexOf(10); i >= 0; i = chunk.indexOf(10, i + 1)) lines++;
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = (await cpuSeconds(pid)) - cpu0;
  if (lines !== COUNT) throw new Error(`${kind}: ${lines} lines answered, expected ${COUNT}`);
  return { wall, cpu };
}

/** `bench/edge_serve.ts` in its own process. */
async function startDeno(): Promise<{ base: string; pid: number; stop(): Promise<void> }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net=127.0.0.1", new URL("./edge_serve.ts", import.meta.url).pathname],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let match: RegExpExecArray | null = null;
  while (match === null) {
    const { value, done } = await reader.read();
    if (done) throw new Error("bench/edge_serve.ts exited before listening");
    text += value;
    match = /listening on (\d+)/.exec(text);
  }
  reader.releaseLock();
  child.stdout.pipeTo(new WritableStream()).catch(() => {});
  return {
    base: `http://127.0.0.1:${match[1]}`,
    pid: child.pid,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
    },
  };
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** The scenario, registered in `SCENARIOS`. */
export const edgeScenario: Scenario = {
  name: "edge",
  description: `the edge worker in workerd and under Deno.serve: radar, optical and ISL bodies of ${
    COUNT.toLocaleString("en-US")
  } observations each over loopback; obs/s and the server's CPU µs per observation`,
  async run({ runs, log }) {
    const bodies = new Map<string, Uint8Array<ArrayBuffer>>();
    for (const feed of FEEDS) bodies.set(feed.kind, await bodyOf(feed.make));
    let workerd: Workerd | undefined;
    let deno: Awaited<ReturnType<typeof startDeno>> | undefined;
    const samples = new Map<string, { rate: number[]; cpu: number[] }>();
    try {
      workerd = await startWorkerd();
      deno = await startDeno();
      const servers = [["workerd", workerd], ["deno", deno]] as const;
      // One request of each first: compiled code, grown heaps.
      for (const [, server] of servers) {
        for (const feed of FEEDS) {
          await post(server.base, server.pid, feed.kind, feed.type, bodies.get(feed.kind)!);
        }
      }
      for (let run = 0; run < Math.max(runs, 1) * 3; run++) {
        for (const feed of FEEDS) {
          for (const [name, server] of servers) {
            const { wall, cpu } = await post(
              server.base,
              server.pid,
              feed.kind,
              feed.type,
              bodies.get(feed.kind)!,
            );
            const key = `${feed.kind} ${name}`;
            const sample = samples.get(key) ?? { rate: [], cpu: [] };
            sample.rate.push(COUNT / wall);
            sample.cpu.push((cpu * 1e6) / COUNT);
            samples.set(key, sample);
            log(
              `  ${key}: ${Math.round(COUNT / wall).toLocaleString("en-US")} obs/s, ${
                ((cpu * 1e6) / COUNT).toFixed(2)
              } µs CPU/obs`,
            );
          }
        }
      }
    } finally {
      await workerd?.stop();
      await deno?.stop();
    }
    const measurements: Measurement[] = [];
    const notes: string[] = [];
    for (const feed of FEEDS) {
      for (const name of ["workerd", "deno"]) {
        const { rate, cpu } = samples.get(`${feed.kind} ${name}`)!;
        measurements.push(
          { name: `${feed.kind} ${name} obs/s`, value: median(rate), unit: "obs/s", runs: rate },
          { name: `${feed.kind} ${name} CPU/obs`, value: median(cpu), unit: "µs", runs: cpu },
        );
      }
      const ratio = median(samples.get(`${feed.kind} workerd`)!.cpu) /
        median(samples.get(`${feed.kind} deno`)!.cpu);
      measurements.push({
        name: `${feed.kind} CPU workerd/deno`,
        value: ratio,
        unit: "×",
        runs: [ratio],
        budget: "≤ 1.3",
        pass: ratio <= 1.3,
      });
    }
    notes.push(
      "CPU from /proc/<pid>/stat (10 ms ticks), median of 3 requests per run; the machine's other load counts in both",
    );
    return { scenario: "edge", measurements, notes };
  },
};
