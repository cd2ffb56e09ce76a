/**
 * The ISL source with its beacons mapped elsewhere (`mapBeacons`: in decode
 * workers, issue 16): order, fallback, demand, and the same envelopes as on
 * the main thread. Each test picks its mapper, so `deno task test:workers0`
 * would run them alike.
 */

import assert from "node:assert/strict";
import { DecodePool } from "../../../service/workers/decode_pool.ts";
import { encodeBeacon } from "../../../sources/isl/beacon.ts";
import { type IslGatewaySim, startIslSim } from "../../../sim/isl.ts";
import { IslPollSource } from "../../../sources/isl/isl_poll_source.ts";
import { type MapBeacons, mapBeaconsHere } from "../../../sources/isl/map_beacons.ts";
import {
  beaconsInWorkers,
  IslUdpSource,
  openUdpChannel,
} from "../../../sources/isl/udp_adapter.ts";
import { readAllLines, removeDir } from "../../_observations.ts";
import {
  loggedObservations,
  memoryCheckpoint,
  notExactlyOnce,
  openPipeline,
  refCounts,
  stateCheckpoints,
  waitFor,
} from "./_helpers.ts";

/**
 * Polls `sim`, mapping with `mapBeacons`, into a log under `dir` until
 * `count` beacons are logged; returns the source.
 */
async function ingest(
  dir: string,
  sim: IslGatewaySim,
  count: number,
  mapBeacons: MapBeacons | undefined,
  maxPackets?: number,
): Promise<IslPollSource> {
  const pipeline = await openPipeline(dir);
  const source = new IslPollSource({
    name: "isl",
    gateways: [{ hostname: "127.0.0.1", port: sim.port }],
    pollIntervalMs: 5,
    maxPackets,
    checkpoint: stateCheckpoints(dir),
    openChannel: openUdpChannel,
    mapBeacons,
  });
  pipeline.add(source.readable);
  try {
    await waitFor(() => pipeline.counts("isl").observations >= count, `${count} logged`);
  } finally {
    await source.stop();
    pipeline.close();
    await pipeline.done;
    await source.settled();
  }
  return source;
}

/** `provenance.ref` of every logged observation under `dir`, in log order. */
async function loggedRefs(dir: string): Promise<number[]> {
  return (await loggedObservations(dir)).map((o) => Number(o.provenance.ref));
}

Deno.test("IslPollSource() with mapBeacons logs its batches in order when their mappings finish out of order", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-map-" });
  let calls = 0;
  // Each mapping takes 0–15 ms: later batches often finish first.
  const shuffled: MapBeacons = async (packets, ctx, receivedAt) => {
    calls++;
    await new Promise((resolve) => setTimeout(resolve, Math.floor(Math.random() * 16)));
    return mapBeaconsHere(packets, ctx, receivedAt);
  };
  const sim = await startIslSim({ rate: 0, prefill: 2000 });
  try {
    const source = await ingest(dir, sim, 2000, shuffled, 64);
    // The gateway's order, each index once: 1, 2, …, 2000.
    assert.deepEqual(await loggedRefs(dir), Array.from({ length: 2000 }, (_, i) => i + 1));
    assert.ok(calls >= 2000 / 64, `${calls} mappings`);
    assert.equal(source.status().counters.beacons, 2000);
    assert.equal((await stateCheckpoints(dir)(`127.0.0.1:${sim.port}`).load())!.after, 2000);
  } finally {
    await sim.stop();
    await removeDir(dir);
  }
});

Deno.test("IslPollSource() maps on the main thread what its mapBeacons failed to map, and loses nothing", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-map-" });
  let failures = 0;
  // Every other mapping fails, as a page in a crashed decode worker does.
  const flaky: MapBeacons = (packets, ctx, receivedAt) =>
    ++failures % 2 === 0
      ? Promise.reject(new Error("Decode worker crashed: test"))
      : mapBeaconsHere(packets, ctx, receivedAt);
  const sim = await startIslSim({ rate: 0, prefill: 1500 });
  try {
    const source = await ingest(dir, sim, 1500, flaky, 64);
    assert.ok(failures >= 1500 / 64);
    const counts = refCounts(await loggedObservations(dir));
    assert.deepEqual(notExactlyOnce(counts, 1, 1500), []);
    assert.equal(counts.size, 1500);
    assert.equal(source.status().counters.beacons, 1500);
    assert.deepEqual(source.status().lost, { gateway: 0, link: 0, corrupt: 0 });
  } finally {
    await sim.stop();
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() with decode workers logs the envelopes the main thread makes, ids included", async () => {
  const here = await Deno.makeTempDir({ prefix: "sda-isl-map-" });
  const there = await Deno.makeTempDir({ prefix: "sda-isl-map-" });
  const pool = new DecodePool(1);
  // One gateway, polled from the start by each source in turn: the same beacons.
  const sim = await startIslSim({ rate: 0, prefill: 1200, links: 3 });
  try {
    await ingest(here, sim, 1200, undefined);
    await ingest(there, sim, 1200, beaconsInWorkers(pool));
    // Only the receive times differ.
    const normalised = async (dir: string) =>
      (await readAllLines(`${dir}/events`)).map((line) => {
        const o = JSON.parse(line);
        assert.match(o.t_rx, /^2\d{3}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
        o.t_rx = "";
        return JSON.stringify(o);
      });
    const a = await normalised(here);
    const b = await normalised(there);
    assert.equal(a.length, 1200);
    assert.deepEqual(b, a);
  } finally {
    pool.close();
    await sim.stop();
    await removeDir(here);
    await removeDir(there);
  }
});

Deno.test("IslUdpSource() with decode workers polls one answer ahead of demand at most", async () => {
  const sim = await startIslSim({ rate: 0, prefill: 10_000 });
  const pool = new DecodePool(1);
  const source = new IslUdpSource({
    name: "isl",
    gateways: [{ hostname: "127.0.0.1", port: sim.port }],
    pollIntervalMs: 0,
    checkpoint: () => memoryCheckpoint(),
    workers: pool,
  });
  try {
    const reader = source.readable.getReader();
    const first = await reader.read();
    assert.ok(first.value!.packed!.count > 0); // mapped in the worker
    // Full answers ask for the next poll at once; only one more goes out
    // while nothing reads.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const polls = sim.counters.polls;
    assert.ok(polls >= 1 && polls <= 2, `${polls} polls`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(sim.counters.polls, polls);
    reader.releaseLock();
  } finally {
    await source.stop();
    pool.close();
    await sim.stop();
  }
});

Deno.test("beaconsInWorkers() maps on the main thread while every worker has two pages or chunks waiting", async () => {
  const pool = new DecodePool(1);
  await pool.started;
  const packets = encodeBeacon({
    apid: 1,
    seq: 5,
    coarse: 2_174_299_237,
    fine: 0,
    index: 42,
    observer: 60001,
    target: 60002,
    range_km: 370.25,
    range_rate_km_s: -0.5,
    range_sigma_km: 0.5,
    r_km: [7000, 0, 0],
    v_km_s: [0, 7.5, 0],
    flags: 0b011,
  });
  const ctx = { source: "isl", transport: "udp" as const, peer: "127.0.0.1:7003" };
  try {
    const map = beaconsInWorkers(pool);
    const results = await Promise.all(
      [1, 2, 3].map(() => map(packets, ctx, 1_795_608_000_000_000)),
    );
    // The first two went to the worker (packed lines), the third stayed here (objects).
    assert.deepEqual(results.map((r) => [r.packed?.count ?? 0, r.observations.length]), [
      [1, 0],
      [1, 0],
      [0, 1],
    ]);
    const line = JSON.parse(new TextDecoder().decode(results[0].packed!.lines));
    assert.deepEqual(line, JSON.parse(JSON.stringify(results[2].observations[0])));
    assert.equal(pool.backlog, 0);
  } finally {
    pool.close();
  }
});
