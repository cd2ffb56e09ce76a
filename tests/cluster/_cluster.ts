/**
 * Helpers of the cluster tests: service instances as `main.ts serve`
 * subprocesses in cluster mode, the stream's contents, request logs.
 */

import assert from "node:assert/strict";
import {
  type Child,
  freePort,
  scrape,
  spawnMain,
  sumMetric,
  waitForOk,
} from "../../bench/_processes.ts";
import type { Observation } from "../../envelope/observation.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { readNatsStream } from "../../sinks/nats_reader.ts";

export const STREAM = "SDA_OBS";

/**
 * Lease time-to-live of the test instances. Short enough to keep failover
 * tests quick; long enough that an owner on a 2-core machine shared by many
 * test runs still renews within the leaseMs / 6 of slack the lease rules
 * leave (renew every leaseMs / 3, give up leaseMs / 2 after the last one).
 */
export const LEASE_MS = 3000;

/** One running instance. */
export interface Instance {
  name: string;
  dir: string;
  config: string;
  http: string;
  radarPort: number;
  child: Child;
}

/** What an instance's configuration needs. */
export interface InstanceOptions {
  name: string;
  servers: string[];
  archiveUrl?: string;
  islPort?: number;
  leaseMs?: number;
  replicas?: number;
  /** Extra optical source options (e.g. pageSize). */
  optical?: Record<string, unknown>;
  /** Resolve once `/ready` (default true); false resolves as soon as the process runs. */
  waitReady?: boolean;
}

/** Writes the instance's configuration under a temp dir and starts `serve`; resolves when /ready (see `waitReady`). */
export async function startInstance(options: InstanceOptions): Promise<Instance> {
  const dir = await Deno.makeTempDir({ prefix: `sda-cluster-${options.name}-` });
  const radarPort = freePort();
  const httpPort = freePort();
  const sources: unknown[] = [
    // groupIdleMs 500: a descheduled sender must not split an observation (see serve_test).
    { name: "xr1", kind: "radar", port: radarPort, groupIdleMs: 500 },
  ];
  if (options.archiveUrl !== undefined) {
    sources.push({
      name: "archive",
      kind: "optical",
      url: options.archiveUrl,
      pageSize: 100,
      pollIntervalMs: 50,
      timeoutMs: 2000,
      ...options.optical,
    });
  }
  if (options.islPort !== undefined) {
    sources.push({
      name: "isl",
      kind: "isl",
      gateways: [{ hostname: "127.0.0.1", port: options.islPort }],
      pollIntervalMs: 20,
      timeoutMs: 500,
    });
  }
  const config = `${dir}/ingest.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      sources,
      log: { dir: "events", fsync: "interval", fsyncIntervalMs: 20 },
      deadLetter: { dir: "dead-letter" },
      state: { dir: "state" },
      http: { port: httpPort },
      nats: {
        servers: options.servers,
        stream: STREAM,
        subjectPrefix: "sda.obs",
        instance: options.name,
        replicas: options.replicas ?? 3,
        leaseMs: options.leaseMs ?? LEASE_MS,
        duplicateWindowMs: 120_000,
      },
    }),
  );
  const child = spawnMain(["serve", "--config", config]);
  const http = `http://127.0.0.1:${httpPort}`;
  if (options.waitReady ?? true) await waitForOk(`${http}/ready`, 30_000, child);
  return { name: options.name, dir, config, http, radarPort, child };
}

/** Stops (SIGTERM) if still running and removes its directory. */
export async function removeInstance(instance: Instance): Promise<void> {
  await instance.child.stop("SIGKILL").catch(() => {});
  await Deno.remove(instance.dir, { recursive: true }).catch(() => {});
}

/** The `/health` document. */
export async function health(instance: Instance): Promise<{
  status: string;
  instance?: string;
  sources: Record<string, { owner?: string | null; state: string; lost?: Record<string, number> }>;
}> {
  return await (await fetch(`${instance.http}/health`)).json();
}

/** The metrics of an instance. */
export function metrics(instance: Instance): Promise<Map<string, number>> {
  return scrape(`${instance.http}/metrics`);
}

/** Observations an instance logged for `source`. */
export async function logged(instance: Instance, source: string): Promise<number> {
  return sumMetric(await metrics(instance), "sda_ingest_observations_total", `source="${source}"`);
}

/** Polls `check` every 50 ms until it returns true, or throws `what` after `timeoutMs`. */
export async function until(
  what: string,
  check: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const t0 = Date.now();
  while (!(await check())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`Not within ${timeoutMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Every observation of the stream, in order. */
export async function streamContents(servers: string[]): Promise<Observation[]> {
  const records = await Array.fromAsync(readNatsStream({ servers, stream: STREAM }));
  return records.map((r) => r.observation);
}

/**
 * Observations of the stream by kind, asserting that no id is there twice
 * and that each ISL gateway's beacons are its indexes 1…n without a gap.
 */
export function byKind(observations: readonly Observation[]): Record<string, number> {
  const ids = new Set<string>();
  const counts: Record<string, number> = {};
  const gatewayIndexes = new Map<string, number[]>();
  for (const o of observations) {
    assert.ok(!ids.has(o.id), `id ${o.id} is in the stream twice`);
    ids.add(o.id);
    counts[o.kind] = (counts[o.kind] ?? 0) + 1;
    if (o.kind === "isl") {
      const peer = o.provenance.peer;
      if (!gatewayIndexes.has(peer)) gatewayIndexes.set(peer, []);
      gatewayIndexes.get(peer)!.push(Number(o.provenance.ref));
    }
  }
  // What each gateway simulator sent: its indexes 1…n, every one there.
  for (const [peer, indexes] of gatewayIndexes) {
    indexes.sort((a, b) => a - b);
    const missing = indexes.findIndex((index, i) => index !== i + 1);
    assert.equal(missing, -1, `gateway ${peer}: index ${missing + 1} is not in the stream`);
  }
  return counts;
}

/** The runs of consecutive equal values of a request log (e.g. the clients of an archive's requests). */
export function runs<T>(values: readonly T[]): T[] {
  const out: T[] = [];
  for (const v of values) if (out.length === 0 || out[out.length - 1] !== v) out.push(v);
  return out;
}

/**
 * Asserts that each client of a request log appears in one run of
 * consecutive requests: once another client has asked, the first never asks
 * again — one driver at a time.
 */
export function assertOneAtATime<T>(clients: readonly T[], what: string): void {
  const order = runs(clients);
  assert.equal(new Set(order).size, order.length, `${what} interleaved: ${order.join(" → ")}`);
}

/**
 * {@link assertOneAtATime}, unless the instances' logs show that a state
 * write of the source (key prefix `stateKey`) was refused as written by
 * another instance: nats-server 2.9.10 was seen to accept the lease `create`
 * of both instances 200 ms apart while the leases' Raft group changed
 * leader, and then SPEC §12's fencing stops the second driver at its first
 * save. That is the one interleaving allowed, and only where fencing ended it.
 */
export function assertOneAtATimeOrFenced<T>(
  clients: readonly T[],
  what: string,
  instances: readonly Instance[],
  stateKey: string,
): void {
  const fenced = instances.some((i) =>
    i.child.stderr().split("\n").some((line) =>
      line.includes(`State \\"${stateKey}`) && line.includes("was written by another instance")
    )
  );
  if (!fenced) assertOneAtATime(clients, what);
}

/** The cluster lines of each instance's log (lease won/lost, sources started/stopped), for a failure message. */
export function clusterLog(instances: readonly Instance[]): string {
  return instances.map((i) =>
    `--- ${i.name} ---\n` +
    i.child.stderr().split("\n").filter((l) => /sda-ingest\.cluster|rror|Ready/.test(l)).map(
      (l) => {
        try {
          const r = JSON.parse(l);
          return `${r["@timestamp"].slice(11)} ${r.message}`;
        } catch {
          return l;
        }
      },
    ).join("\n")
  ).join("\n");
}

/** Runs `test`; on failure prints the instances' cluster log lines first. */
export async function explained(
  instances: readonly Instance[],
  test: () => Promise<void>,
): Promise<void> {
  try {
    await test();
  } catch (error) {
    console.error(clusterLog(instances));
    throw error;
  }
}

/** Messages in the stream now (-1 while it cannot be asked). */
export async function streamMessages(servers: string[]): Promise<number> {
  const nc = await connect({ servers, reconnect: false });
  try {
    return (await (await jetstreamManager(nc)).streams.info(STREAM)).state.messages;
  } catch {
    return -1;
  } finally {
    await nc.close();
  }
}
