import assert from "node:assert/strict";
import { nowMicros } from "../../../envelope/time.ts";
import { startIslSim } from "../../../sim/isl.ts";
import { IslUdpSource } from "../../../sources/isl/udp_adapter.ts";
import { readAllLines, removeDir } from "../../_observations.ts";
import { testWorkers } from "../../_workers.ts";
import {
  loggedObservations,
  notExactlyOnce,
  openPipeline,
  refCounts,
  stateCheckpoints,
  waitFor,
} from "./_helpers.ts";

const TIMEOUT_MS = 5000;

Deno.test("IslUdpSource() logs beacons whose answers' status datagrams are all lost without waiting for timeoutMs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  // Every answer's status packet travels alone and is dropped; its beacons arrive.
  const sim = await startIslSim({ rate: 0, prefill: 3000, dropStatus: true });
  // Receive → durable of every observation, from the log's write acknowledgements.
  let slowest = 0;
  let durable = 0;
  const pipeline = await openPipeline(dir, {
    onWritten: (batches) => {
      const now = nowMicros();
      for (const batch of batches) {
        for (let i = 0; i < batch.received.length; i += 2) {
          slowest = Math.max(slowest, now - batch.received[i]);
          durable += batch.received[i + 1];
        }
      }
    },
  });
  // Beacons mapped in decode workers, as the service would here (issue 16).
  const workers = await testWorkers();
  const source = new IslUdpSource({
    workers,
    name: "isl",
    gateways: [{ hostname: "127.0.0.1", port: sim.port }],
    pollIntervalMs: 5,
    timeoutMs: TIMEOUT_MS,
    maxPackets: 256,
    checkpoint: stateCheckpoints(dir),
  });
  pipeline.add(source.readable);
  try {
    await waitFor(() => durable >= 3000, "3,000 durable beacons");
    const status = source.status();
    // No answer waited for the timeout: each ended with its own beacons.
    assert.equal(status.counters.timeouts, 0);
    assert.ok(
      slowest < TIMEOUT_MS * 1000 / 2,
      `receive → durable up to ${slowest / 1000} ms (timeoutMs ${TIMEOUT_MS})`,
    );
    assert.equal(status.counters.answers_without_status, status.counters.answers);
    assert.ok(status.counters.answers >= 12); // 3000 / 256
    assert.equal(sim.counters.datagrams_dropped, sim.counters.polls); // every status, nothing else
    assert.deepEqual(status.lost, { gateway: 0, link: 0, corrupt: 0 });
  } finally {
    await source.stop();
    pipeline.close();
    await pipeline.done;
    await source.settled();
    workers?.close();
    await sim.stop();
  }
  try {
    const counts = refCounts(await loggedObservations(dir));
    assert.equal(counts.size, 3000);
    assert.deepEqual(notExactlyOnce(counts, 1, 3000), []);
    assert.equal(pipeline.counts("isl").duplicates, 0); // nothing was even sent twice
    assert.equal((await readAllLines(`${dir}/dead`)).length, 0);
    assert.equal((await stateCheckpoints(dir)(`127.0.0.1:${sim.port}`).load())!.after, 3000);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() with --loss 0.2 on status-less answers still logs each beacon exactly once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const sim = await startIslSim({ rate: 0, prefill: 5000, dropStatus: true, loss: 0.2, seed: 7 });
  const pipeline = await openPipeline(dir);
  // Beacons mapped in decode workers, as the service would here (issue 16).
  const workers = await testWorkers();
  const source = new IslUdpSource({
    workers,
    name: "isl",
    gateways: [{ hostname: "127.0.0.1", port: sim.port }],
    pollIntervalMs: 5,
    timeoutMs: 25,
    checkpoint: stateCheckpoints(dir),
  });
  pipeline.add(source.readable);
  try {
    await waitFor(() => pipeline.counts("isl").observations >= 5000, "5,000 beacons");
    assert.deepEqual(source.status().lost, { gateway: 0, link: 0, corrupt: 0 });
  } finally {
    await source.stop();
    pipeline.close();
    await pipeline.done;
    await source.settled();
    workers?.close();
    await sim.stop();
  }
  try {
    const counts = refCounts(await loggedObservations(dir));
    assert.equal(counts.size, 5000);
    assert.deepEqual(notExactlyOnce(counts, 1, 5000), []);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() asks again for an answer's lost last datagram after a pause, not after timeoutMs", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const sim = await startIslSim({ rate: 0, prefill: 1000 });
  // The last datagram of each of the first 3 answers is lost: nothing but a
  // pause tells that their bursts are over.
  sim.dropDatagram = (d) => d.answer <= 3 && d.last === Math.min(d.poll.after + 256, 1000);
  const pipeline = await openPipeline(dir);
  // Beacons mapped in decode workers, as the service would here (issue 16).
  const workers = await testWorkers();
  const source = new IslUdpSource({
    workers,
    name: "isl",
    gateways: [{ hostname: "127.0.0.1", port: sim.port }],
    pollIntervalMs: 5,
    timeoutMs: TIMEOUT_MS,
    checkpoint: stateCheckpoints(dir),
  });
  pipeline.add(source.readable);
  try {
    await waitFor(() => pipeline.counts("isl").observations >= 1000, "1,000 beacons");
    const status = source.status();
    assert.equal(sim.counters.datagrams_dropped, 3);
    assert.equal(status.counters.timeouts, 0);
    assert.ok(status.counters.retries >= 3, `${status.counters.retries} re-polls`);
    assert.deepEqual(status.lost, { gateway: 0, link: 0, corrupt: 0 });
  } finally {
    await source.stop();
    pipeline.close();
    await pipeline.done;
    await source.settled();
    workers?.close();
    await sim.stop();
  }
  try {
    assert.deepEqual(notExactlyOnce(refCounts(await loggedObservations(dir)), 1, 1000), []);
  } finally {
    await removeDir(dir);
  }
});
