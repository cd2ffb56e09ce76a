/**
 * A graceful stop that cannot drain (SPEC §12: on graceful stop the owner
 * deletes its leases so a standby takes over at once).
 */

import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ArchiveSim } from "../../sim/archive.ts";
import { ensureObservationStream } from "../../sinks/nats_stream.ts";
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

Deno.test("SIGTERM while NATS refuses publishes: the owner says what it waits for and releases its leases, a standby takes over, and it exits once the stream is back", async () => {
  const nats = await LocalNats.start();
  const archive = new ArchiveSim({ port: 0, count: 1_000_000, latencyMs: 20 });
  await archive.ready;
  const nc = await connect({ servers: nats.urls });
  const instances: Instance[] = [];
  try {
    await explained(instances, async () => {
      const start = async (name: string) => {
        const instance = await startInstance({
          name,
          servers: nats.urls,
          replicas: 1,
          archiveUrl: archive.url,
        });
        instances.push(instance);
        return instance;
      };
      const a = await start("ingest-a");
      await until(
        "ingest-a drives the archive",
        async () => (await health(a)).sources.archive.owner === "ingest-a",
        30_000,
      );
      const b = await start("ingest-b");
      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(STREAM);
      await until(
        "ingest-a's publishes fail",
        async () => (await (await fetch(`${a.http}/health`)).json()).nats !== undefined,
        30_000,
      );
      const exited = a.child.stop("SIGTERM");
      // The old service kept the lease, renewing it, for as long as the
      // drain took (10 minutes and more); no standby could take over.
      await until(
        "ingest-b drives the archive while ingest-a is still stopping",
        async () => (await health(b)).sources.archive.owner === "ingest-b",
        30_000,
      );
      assert.match(
        a.child.stderr(),
        /Stopping: what the sources read is not all written after 5 s: .*releasing the leases for a standby; send the signal again to exit now/,
      );
      await ensureObservationStream(jsm, { stream: STREAM, subjectPrefix: "sda.obs" });
      assert.equal((await exited).code, 0);
      assert.equal((await b.child.stop("SIGTERM")).code, 0);
    });
  } finally {
    await Promise.all(instances.map(removeInstance));
    await nc.close();
    await archive.stop();
    await nats.stop();
  }
});
