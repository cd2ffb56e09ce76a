/**
 * A sensor id as long as a radar line allows (SPEC §12 Publishing: every
 * observation the instance logs is published), in a real instance.
 */

import assert from "node:assert/strict";
import { RadarSim } from "../../sim/radar.ts";
import { readNatsLines } from "../../sinks/nats_reader.ts";
import { LocalNats } from "../_nats.ts";
import {
  explained,
  type Instance,
  removeInstance,
  startInstance,
  STREAM,
  streamMessages,
  until,
} from "./_cluster.ts";

Deno.test("an observation of a 4,070-character sensor id is published under a cut subject, and the ones after it too", async () => {
  const nats = await LocalNats.start();
  const instances: Instance[] = [];
  try {
    await explained(instances, async () => {
      const a = await startInstance({ name: "ingest-a", servers: nats.urls, replicas: 1 });
      instances.push(a);
      const send = (count: number, sensor: string) =>
        new RadarSim({ hostname: "127.0.0.1", port: a.radarPort, count, rate: 5000, sensor })
          .start();
      const long = "S".repeat(4070);
      await send(3, long);
      await send(3, "XR9");
      // The long subject made the HPUB line longer than nats-server takes:
      // it closed the connection at every try, and nothing was published
      // after it (0 of 6, /ready 503 for ever).
      await until("6 in the stream", async () => (await streamMessages(nats.urls)) === 6, 30_000);
      const records = await Array.fromAsync(
        readNatsLines({ servers: nats.urls, stream: STREAM }),
      );
      const subjects = records.map((r) => r.subject);
      assert.equal(subjects.length, 6);
      for (const subject of subjects.slice(0, 3)) {
        assert.match(subject, /^sda\.obs\.radar\.S{111}_[0-9a-f]{16}$/);
      }
      assert.deepEqual(subjects.slice(3), Array(3).fill("sda.obs.radar.XR9"));
      assert.equal(JSON.parse(records[0].line).sensor, long); // the envelope keeps it whole
      assert.equal((await a.child.stop("SIGTERM")).code, 0);
    });
  } finally {
    await Promise.all(instances.map(removeInstance));
    await nats.stop();
  }
});
