/**
 * The `latency-isl` benchmark scenario (issue 16): the `latency` scenario's
 * radar stream with an ISL gateway added, once without and once with 20 %
 * of its answer datagrams lost. Before issue 16 a lost status datagram held
 * the rest of its answer until `timeoutMs`, so the ISL beacons' receive →
 * durable time jumped to about a second; now every beacon is emitted as it
 * arrives, and the p99 should stay near the loss-free one.
 *
 * @module
 */

import { LATENCY_BUCKETS, type LatencySnapshot, quantileBetween } from "../service/metrics.ts";
import {
  type Child,
  freePort,
  scrape,
  settle,
  spawnMain,
  sumMetric,
  waitForOk,
} from "./_processes.ts";
import type { Measurement, Scenario } from "./scenarios.ts";

/** Radar observations per second, as in the `latency` scenario. */
const RADAR_RATE = 20_000;
/** Seconds the radar sender runs. */
const SECONDS = 32;
/** Beacons per second the gateway relays: the demo's rate. */
const ISL_RATE = 1_000;

function histogramFrom(metrics: Map<string, number>): LatencySnapshot {
  const buckets = LATENCY_BUCKETS.map((le) =>
    metrics.get(`sda_ingest_latency_seconds_bucket{le="${le}"}`) ?? 0
  );
  buckets.push(metrics.get(`sda_ingest_latency_seconds_bucket{le="+Inf"}`) ?? 0);
  return { buckets, count: metrics.get("sda_ingest_latency_seconds_count") ?? 0 };
}

async function waitForText(child: Child, text: string, timeoutMs = 60_000): Promise<void> {
  const t0 = performance.now();
  while (!child.stderr().includes(text)) {
    if (performance.now() - t0 > timeoutMs) {
      throw new Error(`Timed out waiting for "${text}"\n--- stderr ---\n${child.stderr()}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** One run: radar at 20,000 obs/s and a gateway losing `loss` of its datagrams. */
async function run(loss: number, log: (line: string) => void) {
  const dir = await Deno.makeTempDir({ prefix: "sda-bench-isl-latency-" });
  const islPort = freePort();
  const radarPort = freePort();
  const httpPort = freePort();
  const sim = spawnMain([
    "sim",
    "isl",
    "--port",
    String(islPort),
    "--rate",
    String(ISL_RATE),
    "--loss",
    String(loss),
  ]);
  let service: Child | undefined;
  let sender: Child | undefined;
  try {
    await waitForText(sim, "gateway listening");
    // The ISL source as configured by default (poll every 250 ms, time out
    // after 1 s): what the demo runs.
    const config = {
      sources: [
        { name: "xr1", kind: "radar", port: radarPort },
        { name: "isl", kind: "isl", gateways: [{ hostname: "127.0.0.1", port: islPort }] },
      ],
      log: { dir: `${dir}/events`, fsync: "interval" },
      deadLetter: { dir: `${dir}/dead-letter` },
      state: { dir: `${dir}/state` },
      http: { port: httpPort },
    };
    await Deno.writeTextFile(`${dir}/ingest.json`, JSON.stringify(config));
    service = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
    const metricsUrl = `http://127.0.0.1:${httpPort}/metrics`;
    await waitForOk(`http://127.0.0.1:${httpPort}/ready`, 60_000, service);
    sender = spawnMain([
      "sim",
      "radar",
      "--to",
      `127.0.0.1:${radarPort}`,
      "--count",
      String(RADAR_RATE * SECONDS),
      "--rate",
      String(RADAR_RATE),
    ]);
    // Skip the first 2 s (connection, JIT warm-up, the gateway's first polls).
    await new Promise((r) => setTimeout(r, 2000));
    const before = await scrape(metricsUrl);
    await sender.status;
    await new Promise((r) => setTimeout(r, 200));
    const after = await scrape(metricsUrl);
    const p50 = quantileBetween(histogramFrom(before), histogramFrom(after), 0.5)! * 1000;
    const p99 = quantileBetween(histogramFrom(before), histogramFrom(after), 0.99)! * 1000;
    const delta = (name: string, filter: string) =>
      sumMetric(after, name, filter) - sumMetric(before, name, filter);
    const beacons = delta("sda_ingest_observations_total", 'source="isl"');
    const radar = delta("sda_ingest_observations_total", 'source="xr1"');
    const event = (name: string) =>
      delta("sda_ingest_source_events_total", `source="isl",event="${name}"`);
    const lost = delta("sda_ingest_isl_lost_total", 'source="isl"');
    log(
      `  ISL loss ${loss * 100} %: p50 ${p50.toFixed(2)} ms, p99 ${p99.toFixed(2)} ms over ${
        radar.toLocaleString("en-US")
      } radar + ${beacons.toLocaleString("en-US")} ISL obs; ${event("polls")} polls, ${
        event("retries")
      } re-polls, ${event("timeouts")} timeouts, ${
        event("answers_without_status")
      } answers without status, ${lost} counted lost`,
    );
    return { p50, p99, beacons, lost };
  } finally {
    await sender?.stop("SIGTERM");
    await sim.stop("SIGTERM");
    await service?.stop("SIGTERM");
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The scenario, registered in `SCENARIOS`. */
export const islLatency: Scenario = {
  name: "latency-isl",
  description: `radar at a steady ${
    RADAR_RATE.toLocaleString("en-US")
  } obs/s plus one \`sim isl\` gateway at ${
    ISL_RATE.toLocaleString("en-US")
  } beacons/s (default poll interval and timeout), fsync interval, without and with 20 % of the gateway's datagrams lost; receive → durable from the service's histogram`,
  async run({ log }) {
    const measurements: Measurement[] = [];
    const notes: string[] = [];
    for (const loss of [0, 0.2]) {
      await settle();
      const { p50, p99, beacons, lost } = await run(loss, log);
      const label = loss === 0 ? "no ISL loss" : "20 % ISL loss";
      const budget = loss === 0 ? 10 : 50;
      measurements.push(
        { name: `p50 (${label})`, value: p50, unit: "ms", runs: [p50] },
        {
          name: `p99 (${label})`,
          value: p99,
          unit: "ms",
          runs: [p99],
          budget: `≤ ${budget}`,
          pass: p99 <= budget,
        },
      );
      notes.push(
        `${label}: ${
          beacons.toLocaleString("en-US")
        } ISL beacons in the measured window, ${lost} counted lost`,
      );
    }
    return { scenario: "latency-isl", measurements, notes };
  },
};
