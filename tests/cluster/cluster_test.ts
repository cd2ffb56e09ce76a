/**
 * Cluster mode end to end (SPEC §12): two `serve` instances against a
 * 3-node JetStream cluster on loopback, the simulators in the test process.
 */

import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { sumMetric } from "../../bench/_processes.ts";
import { RadarSim } from "../../sim/radar.ts";
import { startNatsCluster } from "../_nats.ts";
import {
  assertOneAtATime,
  assertOneAtATimeOrFenced,
  byKind,
  explained,
  health,
  type Instance,
  logged,
  metrics,
  removeInstance,
  startInstance,
  STREAM,
  streamContents,
  streamMessages,
  until,
} from "./_cluster.ts";
import { archiveIds, startSims } from "./_sims.ts";

Deno.test("two instances: the stream holds every observation once, each leased source is driven by one instance", async () => {
  const nats = await startNatsCluster();
  const sims = await startSims({ records: 3000, latencyMs: 10, beacons: 2000, beaconMs: 2000 });
  const instances: Instance[] = [];
  try {
    await explained(instances, async () => {
      const common = {
        servers: nats.urls,
        archiveUrl: sims.archive.url,
        islPort: sims.isl.port,
      };
      instances.push(await startInstance({ name: "ingest-a", ...common }));
      instances.push(await startInstance({ name: "ingest-b", ...common }));
      const [a, b] = instances;
      const radars = [
        new RadarSim({
          hostname: "127.0.0.1",
          port: a.radarPort,
          count: 2000,
          rate: 2000,
          sensor: "XR-A",
        }),
        new RadarSim({
          hostname: "127.0.0.1",
          port: b.radarPort,
          count: 2000,
          rate: 2000,
          sensor: "XR-B",
        }),
      ];
      const sent = await Promise.all(radars.map((r) => r.start()));
      await sims.generated;
      const expected = 3000 + 2000 + sent[0].observations + sent[1].observations;
      await until(
        `${expected} messages in the stream`,
        async () => (await streamMessages(nats.urls)) >= expected,
      );

      const stream = await streamContents(nats.urls);
      assert.deepEqual(byKind(stream), { radar: 4000, optical: 3000, isl: 2000 });
      const optical = new Set(stream.filter((o) => o.kind === "optical").map((o) => o.id));
      assert.deepEqual(optical, await archiveIds(sims.archive, 3000));
      assert.equal(stream.filter((o) => o.sensor === "XR-A").length, 2000);
      assert.equal(stream.filter((o) => o.sensor === "XR-B").length, 2000);

      // One instance at a time drove the archive and the gateway.
      const archiveClients = sims.archiveRequests().map((r) => r.instance);
      assertOneAtATime(archiveClients, "archive requests");
      // A new tenure polls from a new socket.
      assertOneAtATime(sims.polls.map((p) => p.from), "gateway polls");
      // Whoever drives the archive now is named by both instances' /health
      // and is the one whose lease gauge reads 1.
      const owner = (await health(a)).sources.archive.owner;
      assert.ok(owner === "ingest-a" || owner === "ingest-b", `owner ${owner}`);
      let archiveLogged = 0;
      for (const instance of instances) {
        const doc = await health(instance);
        assert.equal(doc.instance, instance.name);
        assert.equal(doc.sources.archive.owner, owner);
        assert.equal(doc.sources.isl.owner, owner);
        assert.equal(doc.sources.xr1.owner, undefined, "radar is not leased");
        assert.equal(doc.status, "ok", `${instance.name} is healthy as owner or standby`);
        const m = await metrics(instance);
        const mine: number = instance.name === owner ? 1 : 0;
        assert.equal(m.get('sda_ingest_lease_owned{source="archive"}'), mine);
        assert.equal(m.get('sda_ingest_lease_owned{source="isl"}'), mine);
        assert.ok(m.get('sda_ingest_lease_changes_total{source="archive"}')! >= mine);
        assert.ok(sumMetric(m, "sda_ingest_nats_published_total") >= 2000);
        archiveLogged += await logged(instance, "archive");
      }
      // Each instance's log is its own: a page re-read after a lease moved
      // (an owner starved of CPU for leaseMs / 6) is in both, once in the stream.
      assert.ok(archiveLogged >= 3000);
      for (const instance of instances) {
        assert.equal((await instance.child.stop("SIGTERM")).code, 0);
      }
    });
  } finally {
    await Promise.all(instances.map(removeInstance));
    await sims.stop();
    await nats.stop();
  }
});

Deno.test("one of three NATS nodes killed mid-run: ingestion goes on and the stream is complete", async () => {
  const nats = await startNatsCluster();
  const sims = await startSims({ records: 4000, latencyMs: 30, beacons: 4000, beaconMs: 4000 });
  const instances: Instance[] = [];
  try {
    await explained(instances, async () => {
      const common = { servers: nats.urls, archiveUrl: sims.archive.url, islPort: sims.isl.port };
      instances.push(await startInstance({ name: "ingest-a", ...common }));
      instances.push(await startInstance({ name: "ingest-b", ...common }));
      const [a, b] = instances;
      const radars = [a, b].map((instance, i) =>
        new RadarSim({
          hostname: "127.0.0.1",
          port: instance.radarPort,
          count: 4000,
          rate: 1000,
          sensor: `XR-${i}`,
        }).start()
      );
      await until("a part is ingested", async () => (await logged(a, "archive")) >= 1000);
      // The node that leads the stream's Raft group: the hardest one to lose.
      const nc = await connect({ servers: nats.urls });
      const leader = (await (await jetstreamManager(nc)).streams.info(STREAM)).cluster?.leader;
      await nc.close();
      const victim = Math.max(0, nats.nodes.findIndex((n) => n.name === leader));
      await nats.kill(victim);
      const sent = await Promise.all(radars);
      await sims.generated;
      const expected = 4000 + 4000 + sent[0].observations + sent[1].observations;
      const alive = nats.urls.filter((_, i) => i !== victim);
      await until(
        `${expected} messages in the stream`,
        async () => (await streamMessages(alive)) >= expected,
      );
      const stream = await streamContents(alive);
      assert.deepEqual(byKind(stream), { radar: 8000, optical: 4000, isl: 4000 });
      // Losing the leader may let two instances win a lease for a moment;
      // fencing must then have stopped one (see assertOneAtATimeOrFenced).
      assertOneAtATimeOrFenced(
        sims.archiveRequests().map((r) => r.instance),
        "archive requests",
        instances,
        "optical.archive",
      );
      assertOneAtATimeOrFenced(sims.polls.map((p) => p.from), "gateway polls", instances, "isl.");
      for (const instance of instances) {
        assert.equal((await instance.child.stop("SIGTERM")).code, 0);
      }
    });
  } finally {
    await Promise.all(instances.map(removeInstance));
    await sims.stop();
    await nats.stop();
  }
});

Deno.test("owner cut off from NATS: it stops its leased sources before its lease can expire, the other takes over", async () => {
  const leaseMs = 1500;
  // Clients are not told about the other nodes: A stays with its one server.
  const nats = await startNatsCluster({ noAdvertise: true });
  const sims = await startSims({ records: 5000, latencyMs: 30, beacons: 4000, beaconMs: 5000 });
  const instances: Instance[] = [];
  try {
    await explained(instances, async () => {
      const common = { archiveUrl: sims.archive.url, islPort: sims.isl.port, leaseMs };
      const a = await startInstance({ name: "ingest-a", servers: [nats.urls[0]], ...common });
      instances.push(a);
      const b = await startInstance({ name: "ingest-b", servers: nats.urls.slice(1), ...common });
      instances.push(b);
      assert.equal((await health(b)).sources.archive.owner, "ingest-a");
      await until(
        "A has read part of the archive",
        async () => (await logged(a, "archive")) >= 1000,
      );
      const cutAt = Date.now();
      await nats.kill(0);
      const radar = await new RadarSim({
        hostname: "127.0.0.1",
        port: b.radarPort,
        count: 2000,
        rate: 2000,
        sensor: "XR-B",
      }).start();
      await sims.generated;
      const alive = nats.urls.slice(1);
      const expected = 5000 + 4000 + radar.observations;
      await until(
        `${expected} messages in the stream`,
        async () => (await streamMessages(alive)) >= expected,
      );
      const stream = await streamContents(alive);
      assert.deepEqual(byKind(stream), { radar: 2000, optical: 5000, isl: 4000 });

      // A stopped on its own before B could have the lease: no interleaving.
      const requests = sims.archiveRequests();
      assertOneAtATime(requests.map((r) => r.instance), "archive requests");
      assertOneAtATime(sims.polls.map((p) => p.from), "gateway polls");
      const lastOfA = requests.findLast((r) => r.instance === "ingest-a")!;
      const firstOfB = requests.find((r) => r.instance === "ingest-b")!;
      assert.ok(lastOfA.time < firstOfB.time);
      // A's last renewal was at most leaseMs / 3 before the cut, so its
      // lease could expire elsewhere from cut + leaseMs − leaseMs / 3 on; it
      // gives up leaseMs / 2 after that renewal (SPEC §12), well before.
      const expiresFrom = leaseMs - leaseMs / 3;
      assert.ok(
        lastOfA.time - cutAt < expiresFrom,
        `A's last request came ${lastOfA.time - cutAt} ms after the cut; its lease could ` +
          `expire ${expiresFrom} ms after it`,
      );
      // The same for the gateway: A's last poll is the one before B's first.
      const firstPollOfB = sims.polls.findIndex((p) => p.from === sims.polls.at(-1)!.from);
      const lastPollOfA = sims.polls[firstPollOfB - 1];
      assert.ok(
        lastPollOfA.time - cutAt < expiresFrom,
        `A's last poll came ${lastPollOfA.time - cutAt} ms after the cut`,
      );
      const doc = await health(b);
      assert.equal(doc.sources.archive.owner, "ingest-b");
      assert.equal(doc.sources.isl.owner, "ingest-b");
      // A, cut off, drives nothing and says why — once its first attempt to
      // take the lease back has failed: a request to the JetStream API of a
      // server it cannot reach fails at its timeout (seconds), which can
      // come after the stream is complete.
      type Sources = Record<string, { state: string; last_error?: string | null }>;
      let aSources: Sources = {};
      await until("A says why it drives nothing", async () => {
        aSources = (await health(a)).sources as Sources;
        return ["archive", "isl"].every((name) => aSources[name].state !== "stopped");
      });
      for (const name of ["archive", "isl"]) {
        assert.equal(aSources[name].state, "down");
        assert.match(aSources[name].last_error ?? "", /^Lease: cannot take the lease: /);
      }
    });
  } finally {
    await Promise.all(instances.map(removeInstance));
    await sims.stop();
    await nats.stop();
  }
});
