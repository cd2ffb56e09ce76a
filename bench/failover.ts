/**
 * The `failover` benchmark scenario (issue 12): two instances in cluster
 * mode on a 3-node JetStream cluster (R3, default `leaseMs` 5000), an
 * archive adding 1,000 observations/s and an ISL gateway relaying 1,000
 * beacons/s (each simulator in its own process); under that steady load the
 * owner of both leases is killed with SIGKILL. Measured from the survivor's
 * `/metrics`, polled every 50 ms: when it won the leases and when optical
 * and ISL observations flowed again; receive → durable p99 of the owner
 * before and of the survivor across the takeover.
 *
 * @module
 */

import { LocalNats } from "../service/cluster/local_nats.ts";
import { LATENCY_BUCKETS, type LatencySnapshot, quantileBetween } from "../service/metrics.ts";
import { type Child, freePort, scrape, spawnMain, sumMetric, waitForOk } from "./_processes.ts";
import type { Scenario } from "./scenarios.ts";

const LEASE_MS = 5000;
const STEADY_MS = 10_000;
const AFTER_MS = 15_000;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

function histogram(metrics: Map<string, number>): LatencySnapshot {
  const buckets = LATENCY_BUCKETS.map((le) =>
    metrics.get(`sda_ingest_latency_seconds_bucket{le="${le}"}`) ?? 0
  );
  buckets.push(metrics.get(`sda_ingest_latency_seconds_bucket{le="+Inf"}`) ?? 0);
  return { buckets, count: metrics.get("sda_ingest_latency_seconds_count") ?? 0 };
}

async function waitForText(child: Child, text: string): Promise<void> {
  const t0 = performance.now();
  while (!child.stderr().includes(text)) {
    if (performance.now() - t0 > 60_000) throw new Error(`Timed out waiting for "${text}"`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Instance {
  service: Child;
  metricsUrl: string;
}

async function startInstance(
  dir: string,
  name: string,
  nats: LocalNats,
  archivePort: number,
  islPort: number,
): Promise<Instance> {
  const httpPort = freePort();
  const config = {
    sources: [
      {
        name: "archive",
        kind: "optical",
        url: `http://127.0.0.1:${archivePort}/udl/eoobservation`,
        pollIntervalMs: 100,
      },
      { name: "isl", kind: "isl", gateways: [{ hostname: "127.0.0.1", port: islPort }] },
    ],
    log: { dir: `${dir}/${name}/events`, fsync: "always" },
    deadLetter: { dir: `${dir}/${name}/dead-letter` },
    http: { port: httpPort },
    nats: { servers: nats.urls, instance: name, replicas: 3, leaseMs: LEASE_MS },
  };
  await Deno.writeTextFile(`${dir}/${name}.json`, JSON.stringify(config));
  const service = spawnMain(["serve", "--config", `${dir}/${name}.json`]);
  await waitForOk(`http://127.0.0.1:${httpPort}/ready`, 60_000, service);
  return { service, metricsUrl: `http://127.0.0.1:${httpPort}/metrics` };
}

interface Takeover {
  lease: number;
  optical: number;
  isl: number;
  p99Before: number;
  p99Across: number;
}

async function runOnce(): Promise<Takeover> {
  const dir = await Deno.makeTempDir({ prefix: "sda-bench-failover-" });
  const nats = await LocalNats.start({ nodes: 3 });
  const children: Child[] = [];
  try {
    const archivePort = freePort();
    const islPort = freePort();
    const archive = spawnMain([
      "sim",
      "archive",
      "--port",
      String(archivePort),
      "--count",
      "1000",
      "--rate",
      "1000",
    ]);
    const isl = spawnMain(["sim", "isl", "--port", String(islPort), "--rate", "1000"]);
    children.push(archive, isl);
    await Promise.all([
      waitForText(archive, "observations ready"),
      waitForText(isl, "gateway listening"),
    ]);
    const a = await startInstance(dir, "ingest-a", nats, archivePort, islPort);
    children.push(a.service);
    const b = await startInstance(dir, "ingest-b", nats, archivePort, islPort);
    children.push(b.service);
    const owned = (m: Map<string, number>, source: string) =>
      m.get(`sda_ingest_lease_owned{source="${source}"}`) === 1;
    if (!owned(await scrape(a.metricsUrl), "archive")) {
      throw new Error("ingest-a, started first, does not own the archive");
    }
    await new Promise((r) => setTimeout(r, STEADY_MS / 2));
    const ownerBefore = histogram(await scrape(a.metricsUrl));
    await new Promise((r) => setTimeout(r, STEADY_MS / 2));
    const ownerAfter = histogram(await scrape(a.metricsUrl));
    const survivorBefore = await scrape(b.metricsUrl);
    const opticalBefore = sumMetric(
      survivorBefore,
      "sda_ingest_observations_total",
      'source="archive"',
    );
    const islBefore = sumMetric(survivorBefore, "sda_ingest_observations_total", 'source="isl"');
    const killedAt = performance.now();
    await a.service.stop("SIGKILL");
    const times: Partial<Record<"lease" | "optical" | "isl", number>> = {};
    while (performance.now() - killedAt < 60_000) {
      const m = await scrape(b.metricsUrl);
      const t = performance.now() - killedAt;
      if (times.lease === undefined && owned(m, "archive") && owned(m, "isl")) times.lease = t;
      if (
        times.optical === undefined &&
        sumMetric(m, "sda_ingest_observations_total", 'source="archive"') > opticalBefore
      ) times.optical = t;
      if (
        times.isl === undefined &&
        sumMetric(m, "sda_ingest_observations_total", 'source="isl"') > islBefore
      ) times.isl = t;
      if (times.lease !== undefined && times.optical !== undefined && times.isl !== undefined) {
        break;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    if (times.lease === undefined || times.optical === undefined || times.isl === undefined) {
      throw new Error(`No takeover within 60 s:\n${b.service.stderr().slice(-3000)}`);
    }
    await new Promise((r) => setTimeout(r, AFTER_MS));
    const survivorAfter = histogram(await scrape(b.metricsUrl));
    return {
      lease: times.lease,
      optical: times.optical,
      isl: times.isl,
      p99Before: (quantileBetween(ownerBefore, ownerAfter, 0.99) ?? NaN) * 1000,
      p99Across: (quantileBetween(histogram(survivorBefore), survivorAfter, 0.99) ?? NaN) * 1000,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop("SIGTERM")));
    await nats.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

/** The `failover` scenario. */
export const failoverScenario: Scenario = {
  name: "failover",
  description:
    "two instances, 3-node JetStream R3, optical 1,000/s + ISL 1,000/s; kill -9 of the lease owner: takeover time and receive → durable p99 (fsync always, leaseMs 5000)",
  async run({ runs, log }) {
    const results: Takeover[] = [];
    for (let run = 1; run <= Math.max(1, runs); run++) {
      const r = await runOnce();
      results.push(r);
      log(
        `  run ${run}: leases won after ${(r.lease / 1000).toFixed(2)} s, optical after ${
          (r.optical / 1000).toFixed(2)
        } s, ISL after ${(r.isl / 1000).toFixed(2)} s; p99 receive → durable ${
          r.p99Before.toFixed(1)
        } ms before (owner), ${r.p99Across.toFixed(1)} ms across the takeover (survivor)`,
      );
    }
    const bound = LEASE_MS + LEASE_MS / 3 + 1000;
    const pick = (key: keyof Takeover) => results.map((r) => r[key]);
    const takeover = median(
      pick("lease").map((t, i) => Math.max(t, pick("optical")[i], pick("isl")[i])),
    );
    return {
      scenario: "failover",
      measurements: [
        {
          name: "takeover (kill → both sources flowing)",
          value: Math.round(takeover) / 1000,
          unit: "s",
          runs: results.map((r) => Math.round(Math.max(r.lease, r.optical, r.isl)) / 1000),
          budget: `≤ ${(bound / 1000).toFixed(2)} (leaseMs + leaseMs/3 + 1 s)`,
          pass: takeover <= bound,
        },
        {
          name: "leases won",
          value: Math.round(median(pick("lease"))) / 1000,
          unit: "s",
          runs: pick("lease").map((t) => Math.round(t) / 1000),
        },
        {
          name: "p99 receive → durable, owner before",
          value: median(pick("p99Before")),
          unit: "ms",
          runs: pick("p99Before"),
        },
        {
          name: "p99 receive → durable, survivor across takeover",
          value: median(pick("p99Across")),
          unit: "ms",
          runs: pick("p99Across"),
        },
      ],
      notes: [
        "receive → durable counts from when the survivor received an observation; the gap while no instance drove the sources is the takeover time",
        "the 3 nats-servers, 2 instances and 2 simulators share the machine's cores",
      ],
    };
  },
};
