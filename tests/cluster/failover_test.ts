/**
 * Failover of the leased sources between two `serve` instances (SPEC §12):
 * the owner is killed (SIGKILL) or stopped (SIGTERM) mid-run.
 */

import assert from "node:assert/strict";
import { RadarSim } from "../../sim/radar.ts";
import { startNatsCluster } from "../_nats.ts";
import {
  assertOneAtATime,
  byKind,
  explained,
  health,
  type Instance,
  LEASE_MS,
  logged,
  removeInstance,
  startInstance,
  streamContents,
  streamMessages,
  until,
} from "./_cluster.ts";
import { archiveIds, startSims } from "./_sims.ts";

const RECORDS = 6000;
const BEACONS = 5000;

async function failover(signal: "SIGKILL" | "SIGTERM", boundMs: number): Promise<void> {
  const nats = await startNatsCluster();
  // 60 pages of 100 at ≥ 40 ms each, and beacons over 5 s: the owner is
  // stopped with both sources half read.
  const sims = await startSims({
    records: RECORDS,
    latencyMs: 40,
    beacons: BEACONS,
    beaconMs: 5000,
  });
  const instances: Instance[] = [];
  try {
    await explained(instances, async () => {
      const common = {
        servers: nats.urls,
        archiveUrl: sims.archive.url,
        islPort: sims.isl.port,
        leaseMs: LEASE_MS,
      };
      const a = await startInstance({ name: "ingest-a", ...common });
      instances.push(a);
      const b = await startInstance({ name: "ingest-b", ...common });
      instances.push(b);
      assert.equal((await health(b)).sources.archive.owner, "ingest-a");
      // TDM has no acknowledgement: what is still in a socket at a crash is
      // lost by design (SPEC §8), so A's radar traffic ends before.
      const radarA = await new RadarSim({
        hostname: "127.0.0.1",
        port: a.radarPort,
        count: 1000,
        rate: 2000,
        sensor: "XR-A",
      }).start();
      await until("A logged its radar traffic", async () => (await logged(a, "xr1")) === 1000);
      await until(
        "A read part of the archive and the gateway",
        async () => (await logged(a, "archive")) >= 1200 && (await logged(a, "isl")) >= 800,
      );
      const pollersOfA = new Set(sims.polls.map((p) => p.from));
      const stoppedAt = Date.now();
      const status = await a.child.stop(signal);
      if (signal === "SIGTERM") assert.equal(status.code, 0);
      // kill -9: the clock runs from the kill. SIGTERM: from A's exit, once
      // its graceful stop (sources drained, everything published, leases
      // deleted) is over; how long that stop took is in the messages.
      const exitedAt = Date.now();
      const from = signal === "SIGKILL" ? stoppedAt : exitedAt;
      const stopping = `A stopped in ${exitedAt - stoppedAt} ms`;
      const radarB = await new RadarSim({
        hostname: "127.0.0.1",
        port: b.radarPort,
        count: 2000,
        rate: 2000,
        sensor: "XR-B",
      }).start();
      await sims.generated;
      const expected = RECORDS + BEACONS + radarA.observations + radarB.observations;
      await until(
        `${expected} messages in the stream`,
        async () => (await streamMessages(nats.urls)) >= expected,
      );

      // Every observation exactly once.
      const stream = await streamContents(nats.urls);
      assert.deepEqual(byKind(stream), { radar: 3000, optical: RECORDS, isl: BEACONS });
      assert.deepEqual(
        new Set(stream.filter((o) => o.kind === "optical").map((o) => o.id)),
        await archiveIds(sims.archive, RECORDS),
      );

      // B took over within the bound, from the state A saved in KV.
      const requests = sims.archiveRequests();
      assertOneAtATime(requests.map((r) => r.instance), "archive requests");
      const firstOfB = requests.find((r) => r.instance === "ingest-b")!;
      assert.ok(
        firstOfB.time - from <= boundMs,
        `archive takeover took ${firstOfB.time - from} ms (bound ${boundMs}); ${stopping}`,
      );
      assert.notEqual(firstOfB.cursor, null, "B's first request resumes from a saved cursor");
      assert.ok(
        requests.some((r) => r.instance === "ingest-a" && r.cursor === firstOfB.cursor),
        "the cursor is one A had reached",
      );
      assertOneAtATime(sims.polls.map((p) => p.from), "gateway polls");
      const firstPollOfB = sims.polls.find((p) => !pollersOfA.has(p.from))!;
      assert.ok(
        firstPollOfB.time - from <= boundMs,
        `gateway takeover took ${firstPollOfB.time - from} ms (bound ${boundMs}); ${stopping}`,
      );
      assert.ok(firstPollOfB.after > 0, "B's first poll resumes from a saved watermark");

      const doc = await health(b);
      assert.equal(doc.sources.archive.owner, "ingest-b");
      assert.equal(doc.sources.isl.owner, "ingest-b");
      assert.deepEqual(doc.sources.isl.lost, { gateway: 0, link: 0, corrupt: 0 });
      assert.equal((await b.child.stop("SIGTERM")).code, 0);
    });
  } finally {
    await Promise.all(instances.map(removeInstance));
    await sims.stop();
    await nats.stop();
  }
}

Deno.test("kill -9 of the owner: the standby takes over within leaseMs + leaseMs/3 + 1 s from the KV state, the stream holds everything once", async () => {
  await failover("SIGKILL", LEASE_MS + LEASE_MS / 3 + 1000);
});

Deno.test("SIGTERM of the owner: it deletes its leases and the standby takes over within 1 s of its exit, nothing lost or duplicated", async () => {
  await failover("SIGTERM", 1000);
});
