/**
 * The stream deleted under a running instance (SPEC §12 Faults: the
 * pipeline stalls with bounded memory and resumes when NATS can take the
 * publishes again): the stall shows in /health, /ready and the status page.
 */

import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { RadarSim } from "../../sim/radar.ts";
import { ensureObservationStream } from "../../sinks/nats_stream.ts";
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

Deno.test("stream deleted under a running instance: /health and /ready say publishing stalls, and it resumes once the stream is back", async () => {
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  const instances: Instance[] = [];
  try {
    await explained(instances, async () => {
      const a = await startInstance({ name: "ingest-a", servers: nats.urls, replicas: 1 });
      instances.push(a);
      const send = (count: number, sensor: string) =>
        new RadarSim({ hostname: "127.0.0.1", port: a.radarPort, count, rate: 5000, sensor })
          .start();
      await send(100, "XR-A");
      await until("100 in the stream", async () => (await streamMessages(nats.urls)) === 100);

      const jsm = await jetstreamManager(nc);
      await jsm.streams.delete(STREAM);
      await send(100, "XR-B");
      // Not ready once publishing has failed for 10 s; the old service said "ok" for ever.
      let doc: { status: string; ready: boolean; nats?: { error: string; since: string } } = {
        status: "",
        ready: true,
      };
      await until("/health says publishing stalls", async () => {
        doc = await (await fetch(`${a.http}/health`)).json();
        return doc.nats !== undefined;
      }, 30_000);
      assert.equal(doc.status, "degraded");
      assert.equal(doc.ready, false);
      assert.match(doc.nats!.error, new RegExp(`^Cannot publish to NATS stream ${STREAM}: `));
      const ready = await fetch(`${a.http}/ready`);
      await ready.body?.cancel();
      assert.equal(ready.status, 503);
      const board = await (await fetch(`${a.http}/status`)).json();
      assert.ok(
        board.banners.some((b: { text: string }) =>
          b.text.includes(`cannot publish to NATS stream ${STREAM}`)
        ),
        JSON.stringify(board.banners),
      );

      await ensureObservationStream(jsm, { stream: STREAM, subjectPrefix: "sda.obs" });
      await until(
        "the 100 held back reach the stream",
        async () => (await streamMessages(nats.urls)) === 100,
        30_000,
      );
      await until("ready again", async () => {
        const response = await fetch(`${a.http}/ready`);
        await response.body?.cancel();
        return response.status === 200;
      }, 30_000);
      assert.equal((await (await fetch(`${a.http}/health`)).json()).nats, undefined);
      assert.match(a.child.stderr(), /NATS publishing works again after \d+ s/);
      assert.equal((await a.child.stop("SIGTERM")).code, 0);
    });
  } finally {
    await Promise.all(instances.map(removeInstance));
    await nc.close();
    await nats.stop();
  }
});
