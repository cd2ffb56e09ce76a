/**
 * The `cluster` benchmark scenario (issue 12): radar at full speed into one
 * instance, without NATS, publishing to a single-node JetStream (R1), and to
 * a 3-node JetStream cluster on loopback (R3) — the same sender, the same
 * service settings, one after the other in the same run.
 *
 * @module
 */

import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { LocalNats } from "../service/cluster/local_nats.ts";
import { readLogLines } from "../sinks/log_reader.ts";
import { type NatsMessage, NatsPublisher } from "../sinks/nats_publisher.ts";
import { natsSubject } from "../sinks/nats_sink.ts";
import { ensureObservationStream } from "../sinks/nats_stream.ts";
import {
  type Child,
  freePort,
  memoryOf,
  scrape,
  spawnMain,
  sumMetric,
  waitForOk,
} from "./_processes.ts";
import type { Measurement, Scenario } from "./scenarios.ts";

const OBSERVATIONS = 600_000;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

type Variant = "no NATS" | "R1" | "R3";

const encoder = new TextEncoder();

/**
 * The messages the service published for the observations of its event log
 * in `dir`: subject, payload and `Nats-Msg-Id` as it builds them.
 */
async function loggedMessages(dir: string): Promise<NatsMessage[]> {
  const messages: NatsMessage[] = [];
  for await (const { line } of readLogLines(dir)) {
    const { id, kind, sensor } = JSON.parse(line) as { id: string; kind: string; sensor: string };
    messages.push({
      subject: natsSubject("sda.obs", kind, sensor),
      payload: encoder.encode(line),
      id,
    });
  }
  return messages;
}

/**
 * What one nats-server (R1) accepts at most on this machine: the same
 * messages published by a bare publisher — the service's own
 * {@link NatsPublisher}, nothing decoded, nothing logged — into a fresh
 * stream with the service's settings. Resolves to messages per second and
 * the nats-server's CPU µs per message.
 */
async function publishCeiling(messages: NatsMessage[]): Promise<{ rate: number; natsCpu: number }> {
  const nats = await LocalNats.start({ nodes: 1 });
  try {
    const nc = await connect({ servers: nats.urls });
    try {
      await ensureObservationStream(await jetstreamManager(nc), {
        stream: "SDA_BENCH",
        subjectPrefix: "sda.obs",
      });
      const publisher = new NatsPublisher(nc, { stream: "SDA_BENCH" });
      try {
        const pid = nats.pids[0];
        const cpuBefore = await cpuMs(pid);
        const t0 = performance.now();
        // Batches as the service's run up to: a few thousand observations.
        const BATCH = 4096;
        const inFlight: Promise<void>[] = [];
        try {
          for (let i = 0; i < messages.length; i += BATCH) {
            inFlight.push(publisher.publish(messages.slice(i, i + BATCH)));
            if (inFlight.length >= 4) await inFlight.shift();
          }
          await Promise.all(inFlight);
        } finally {
          // None left to reject unhandled.
          for (const pending of inFlight) pending.catch(() => {});
        }
        const seconds = (performance.now() - t0) / 1000;
        const natsCpu = ((await cpuMs(pid) - cpuBefore) * 1000) / messages.length;
        if (publisher.stats.published !== messages.length) {
          throw new Error(
            `The bare publisher had ${publisher.stats.published} of ${messages.length} acknowledged`,
          );
        }
        return { rate: messages.length / seconds, natsCpu };
      } finally {
        publisher.close();
      }
    } finally {
      await nc.close();
    }
  } finally {
    await nats.stop();
  }
}

/** One service with one radar listener, in cluster mode unless `nats` is undefined. */
async function startService(
  dir: string,
  nats: LocalNats | undefined,
  replicas: number,
): Promise<{ service: Child; metricsUrl: string; radarPort: number }> {
  const radarPort = freePort();
  const httpPort = freePort();
  const config = {
    sources: [{ name: "xr1", kind: "radar", port: radarPort }],
    log: { dir: `${dir}/events`, fsync: "interval" },
    deadLetter: { dir: `${dir}/dead-letter` },
    state: { dir: `${dir}/state` },
    http: { port: httpPort },
    ...(nats
      ? { nats: { servers: nats.urls, instance: "bench", replicas, stream: "SDA_BENCH" } }
      : {}),
  };
  await Deno.writeTextFile(`${dir}/ingest.json`, JSON.stringify(config));
  const service = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
  await waitForOk(`http://127.0.0.1:${httpPort}/ready`, 60_000, service);
  return { service, metricsUrl: `http://127.0.0.1:${httpPort}/metrics`, radarPort };
}

/** CPU time (user + system) a process has used, ms, from Linux `/proc/<pid>/stat`, read through `cat`. */
async function cpuMs(pid: number): Promise<number> {
  const output = await new Deno.Command("cat", {
    args: [`/proc/${pid}/stat`],
    stdout: "piped",
    stderr: "null",
  }).output();
  // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
  const fields = new TextDecoder().decode(output.stdout).split(") ")[1]?.split(" ") ?? [];
  return ((Number(fields[11]) || 0) + (Number(fields[12]) || 0)) * 10; // 100 ticks per second
}

/** Pushes `count` observations as fast as `sim radar` can; the steady logged rate (10 %–90 %). */
async function radarRate(metricsUrl: string, radarPort: number, count: number): Promise<number> {
  const sim = spawnMain([
    "sim",
    "radar",
    "--to",
    `127.0.0.1:${radarPort}`,
    "--count",
    String(count),
  ]);
  const samples: { t: number; n: number }[] = [];
  const t0 = performance.now();
  for (;;) {
    const metrics = await scrape(metricsUrl);
    const n = sumMetric(metrics, "sda_ingest_observations_total") +
      sumMetric(metrics, "sda_ingest_dead_letters_total", 'stage="decoding"');
    samples.push({ t: performance.now(), n });
    if (n >= count) break;
    if (performance.now() - t0 > 240_000) {
      throw new Error(`Only ${n} of ${count} observations logged after 240 s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  await sim.status;
  const at = (target: number) => {
    for (let i = 1; i < samples.length; i++) {
      if (samples[i].n >= target) {
        const a = samples[i - 1];
        const b = samples[i];
        return a.t + (b.t - a.t) * ((target - a.n) / Math.max(1, b.n - a.n));
      }
    }
    return samples[samples.length - 1].t;
  };
  return (count * 0.8) / ((at(count * 0.9) - at(count * 0.1)) / 1000);
}

/** One measured run of a variant: its rate, the stream's count, the service's peak RSS. */
async function runVariant(
  variant: Variant,
): Promise<{
  rate: number;
  stored?: number;
  peak: number;
  serviceCpu: number;
  natsCpu: number;
  ceiling?: { rate: number; natsCpu: number };
}> {
  const dir = await Deno.makeTempDir({ prefix: "sda-bench-cluster-" });
  try {
    const result = await measureVariant(variant, dir);
    // R1: the same messages again from a bare publisher, once the service
    // and its nats-server are gone.
    const ceiling = variant === "R1"
      ? await publishCeiling(await loggedMessages(`${dir}/events`))
      : undefined;
    return { ...result, ceiling };
  } finally {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** See {@link runVariant}; the service's files stay in `dir`. */
async function measureVariant(
  variant: Variant,
  dir: string,
): Promise<{ rate: number; stored?: number; peak: number; serviceCpu: number; natsCpu: number }> {
  const nats = variant === "no NATS"
    ? undefined
    : await LocalNats.start({ nodes: variant === "R3" ? 3 : 1 });
  try {
    const { service, metricsUrl, radarPort } = await startService(
      dir,
      nats,
      variant === "R3" ? 3 : 1,
    );
    try {
      const cpu = async () => ({
        service: await cpuMs(service.pid),
        nats: (await Promise.all((nats?.pids ?? []).map(cpuMs))).reduce((a, b) => a + b, 0),
      });
      const before = await cpu();
      const rate = await radarRate(metricsUrl, radarPort, OBSERVATIONS);
      const after = await cpu();
      const { peak } = await memoryOf(service.pid);
      const published = sumMetric(await scrape(metricsUrl), "sda_ingest_nats_published_total");
      return {
        rate,
        peak,
        stored: nats ? published : undefined,
        // µs of CPU per observation
        serviceCpu: ((after.service - before.service) * 1000) / OBSERVATIONS,
        natsCpu: ((after.nats - before.nats) * 1000) / OBSERVATIONS,
      };
    } finally {
      await service.stop("SIGTERM");
    }
  } finally {
    await nats?.stop();
  }
}

/** The `cluster` scenario. */
export const clusterScenario: Scenario = {
  name: "cluster",
  description:
    "radar at full speed into one instance: no NATS, publishing to JetStream R1 (one nats-server), R3 (3-node cluster on loopback); fsync interval",
  async run({ runs, log }) {
    const variants: Variant[] = ["no NATS", "R1", "R3"];
    const rates = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    const peaks = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    const serviceCpu = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    const natsCpu = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    const ceilingRates: number[] = [];
    const ceilingCpu: number[] = [];
    for (let run = 0; run <= runs; run++) {
      // Interleaved, so that a slow minute on a shared machine hits all three.
      for (const variant of variants) {
        const result = await runVariant(variant);
        const { rate, peak, stored } = result;
        const line = `${Math.round(rate).toLocaleString("en-US")} obs/s, service CPU ${
          result.serviceCpu.toFixed(1)
        } µs/obs${
          variant === "no NATS" ? "" : `, nats-server CPU ${result.natsCpu.toFixed(1)} µs/obs`
        }, peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB${
          stored === undefined
            ? ""
            : `, ${stored.toLocaleString("en-US")} acknowledged by JetStream`
        }${
          result.ceiling === undefined
            ? ""
            : `; bare publisher, same messages: ${
              Math.round(result.ceiling.rate).toLocaleString("en-US")
            } msg/s, nats-server CPU ${result.ceiling.natsCpu.toFixed(1)} µs/msg`
        }`;
        if (run === 0) {
          log(`  warm-up ${variant}: ${line}`);
          continue;
        }
        rates.get(variant)!.push(rate);
        peaks.get(variant)!.push(peak);
        serviceCpu.get(variant)!.push(result.serviceCpu);
        natsCpu.get(variant)!.push(result.natsCpu);
        if (result.ceiling) {
          ceilingRates.push(result.ceiling.rate);
          ceilingCpu.push(result.ceiling.natsCpu);
        }
        log(`  run ${run} ${variant}: ${line}`);
      }
    }
    const base = median(rates.get("no NATS")!);
    const r1 = median(rates.get("R1")!);
    const r3 = median(rates.get("R3")!);
    const measurements: Measurement[] = [
      { name: "no NATS", value: base, unit: "obs/s", runs: rates.get("no NATS")! },
      { name: "JetStream R1", value: r1, unit: "obs/s", runs: rates.get("R1")! },
      { name: "JetStream R3", value: r3, unit: "obs/s", runs: rates.get("R3")! },
      {
        name: "R1 / no NATS",
        value: Math.round((r1 / base) * 1000) / 10,
        unit: "%",
        runs: rates.get("R1")!.map((r, i) =>
          Math.round((r / rates.get("no NATS")![i]) * 1000) / 10
        ),
        budget: "≥ 60",
        pass: r1 / base >= 0.6,
      },
      {
        name: "R3 / no NATS",
        value: Math.round((r3 / base) * 1000) / 10,
        unit: "%",
        runs: rates.get("R3")!.map((r, i) =>
          Math.round((r / rates.get("no NATS")![i]) * 1000) / 10
        ),
      },
      {
        name: "R1 ceiling (a bare publisher of the same messages)",
        value: Math.round(median(ceilingRates)),
        unit: "msg/s",
        runs: ceilingRates.map(Math.round),
      },
      {
        name: "R1 ceiling / no NATS",
        value: Math.round((median(ceilingRates) / base) * 1000) / 10,
        unit: "%",
        runs: ceilingRates.map((r, i) => Math.round((r / rates.get("no NATS")![i]) * 1000) / 10),
      },
      {
        name: "nats-server CPU per message, R1 ceiling",
        value: Math.round(median(ceilingCpu) * 10) / 10,
        unit: "µs",
        runs: ceilingCpu.map((x) => Math.round(x * 10) / 10),
      },
      ...variants.map((v): Measurement => ({
        name: `service CPU per observation, ${v}`,
        value: Math.round(median(serviceCpu.get(v)!) * 10) / 10,
        unit: "µs",
        runs: serviceCpu.get(v)!.map((x) => Math.round(x * 10) / 10),
      })),
      ...(["R1", "R3"] as const).map((v): Measurement => ({
        name: `nats-server CPU per observation, ${v} (all nodes)`,
        value: Math.round(median(natsCpu.get(v)!) * 10) / 10,
        unit: "µs",
        runs: natsCpu.get(v)!.map((x) => Math.round(x * 10) / 10),
      })),
    ];
    // Where the service has a core to itself, its throughput is bounded by
    // its CPU time per observation alone.
    const ownCore = median(serviceCpu.get("no NATS")!) / median(serviceCpu.get("R1")!);
    const ceiling = median(ceilingRates) / base;
    return {
      scenario: "cluster",
      measurements,
      notes: [
        `${OBSERVATIONS.toLocaleString("en-US")} observations per run; service peak RSS ${
          variants.map((v) => `${v} ${(median(peaks.get(v)!) / 2 ** 20).toFixed(0)} MiB`).join(", ")
        }`,
        "the nats-servers, the sender and the service share the machine's cores",
        `the R1 ceiling: the messages the service logged in its R1 run, published again by the service's own publisher (4 batches of 4,096 in flight, \`Nats-Msg-Id\` and \`Nats-Expected-Stream\` as the service sends them) to a fresh nats-server with the service's stream settings — no decoding, no log, no sender: what one nats-server accepts at most on this machine`,
        `with cores of their own for the service and for nats-server (sender elsewhere), R1 would run at ≈ ${
          Math.round(Math.min(ownCore, ceiling) * 100)
        } % of no NATS: the lower of the ratio of the service's CPU time per observation (${
          Math.round(ownCore * 100)
        } %) and the R1 ceiling (${Math.round(ceiling * 100)} %)`,
      ],
    };
  },
};
