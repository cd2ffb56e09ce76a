/**
 * The lease bucket across NATS restarts and configuration changes (SPEC §12
 * Faults: everything resumes when NATS returns).
 */

import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ArchiveSim } from "../../sim/archive.ts";
import { LocalNats } from "../_nats.ts";
import {
  explained,
  health,
  type Instance,
  removeInstance,
  startInstance,
  STREAM,
  until,
} from "./_cluster.ts";

const BUCKET = `KV_${STREAM}_leases`;

Deno.test("the lease bucket survives a NATS restart, is created again when it is gone, and takes a shorter leaseMs", async () => {
  const nats = await LocalNats.start();
  const archive = new ArchiveSim({ port: 0, count: 1_000_000, latencyMs: 20 });
  await archive.ready;
  const instances: Instance[] = [];
  try {
    await explained(instances, async () => {
      const start = async (leaseMs: number) => {
        const instance = await startInstance({
          name: "ingest-a",
          servers: nats.urls,
          replicas: 1,
          leaseMs,
          archiveUrl: archive.url,
        });
        instances.push(instance);
        return instance;
      };
      const owned = (instance: Instance) => async () => {
        const doc = await health(instance);
        return doc.sources.archive.owner === "ingest-a" && doc.sources.archive.state === "up";
      };
      const a = await start(3000);
      await until("ingest-a drives the archive", owned(a), 30_000);
      const nc = await connect({ servers: nats.urls });
      try {
        const jsm = await jetstreamManager(nc);
        // On disk: a memory bucket was gone after a restart of the whole
        // cluster, and the optical and ISL sources stayed down for ever.
        assert.equal((await jsm.streams.info(BUCKET)).config.storage, "file");
        await jsm.streams.delete(BUCKET);
        await until(
          "the archive stops without its lease",
          async () => (await health(a)).sources.archive.state !== "up",
          30_000,
        );
        await until("the bucket is back and ingest-a drives the archive again", owned(a), 30_000);
        assert.match(a.child.stderr(), /Lease bucket SDA_OBS_leases was gone: created it again/);
      } finally {
        await nc.close();
      }
      await nats.restart(0);
      await until("after a NATS restart ingest-a drives the archive again", owned(a), 30_000);
      assert.equal((await a.child.stop("SIGTERM")).code, 0);

      // A shorter lease: the bucket's duplicate window (its first ttl)
      // made JetStream refuse the new max_age, and serve waited for ever.
      const shorter = await start(1500);
      await until("ingest-a drives the archive with leaseMs 1500", owned(shorter), 30_000);
      const check = await connect({ servers: nats.urls });
      try {
        const info = await (await jetstreamManager(check)).streams.info(BUCKET);
        assert.equal(info.config.max_age, 1500 * 1_000_000);
      } finally {
        await check.close();
      }
      assert.equal((await shorter.child.stop("SIGTERM")).code, 0);
    });
  } finally {
    await Promise.all(instances.map(removeInstance));
    await archive.stop();
    await nats.stop();
  }
});
