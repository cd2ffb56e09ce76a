/**
 * An instance started before its NATS servers (SPEC §12 Faults: everything
 * resumes when NATS returns) waits for them, saying why, and a signal while
 * it waits ends it cleanly.
 */

import assert from "node:assert/strict";
import { RadarSim } from "../../sim/radar.ts";
import { LocalNats } from "../_nats.ts";
import {
  byKind,
  explained,
  type Instance,
  removeInstance,
  startInstance,
  streamContents,
  streamMessages,
  until,
} from "./_cluster.ts";
import { waitForOk } from "../../bench/_processes.ts";

/**
 * Runs `test` with a single-node NATS that is down and one instance started
 * against it, once that instance says it waits; cleans both up.
 */
async function withWaitingInstance(
  test: (a: Instance, nats: LocalNats) => Promise<void>,
): Promise<void> {
  const nats = await LocalNats.start();
  await nats.kill(0);
  const instances: Instance[] = [];
  try {
    await explained(instances, async () => {
      const a = await startInstance({
        name: "ingest-a",
        servers: nats.urls,
        replicas: 1,
        waitReady: false,
      });
      instances.push(a);
      await until(
        "the instance says it waits for NATS",
        () => a.child.stderr().includes("not ready"),
        30_000,
      );
      await test(a, nats);
    });
  } finally {
    await Promise.all(instances.map(removeInstance));
    await nats.stop();
  }
}

Deno.test("serve started while NATS is down waits for it, then ingests into the stream", async () => {
  await withWaitingInstance(async (a, nats) => {
    // Why it waits: the servers and the reason.
    assert.match(
      a.child.stderr(),
      /"servers":"nats:\/\/127\.0\.0\.1:\d+","reason":"connection refused","delay":0\.25,"attempt":1/,
    );
    const exited = await Promise.race([
      a.child.status.then(() => true),
      new Promise<false>((r) => setTimeout(() => r(false), 1000)),
    ]);
    assert.equal(exited, false, "the instance exited instead of waiting for NATS");
    // HTTP is up meanwhile: not ready, and /health and the status page say why.
    await waitForOk(`${a.http}/health`, 30_000, a.child);
    const doc = await (await fetch(`${a.http}/health`)).json();
    assert.equal(doc.status, "starting");
    assert.equal(doc.ready, false);
    assert.match(doc.waiting, /^waiting for NATS nats:\/\/127\.0\.0\.1:\d+: connection refused$/);
    const ready = await fetch(`${a.http}/ready`);
    await ready.body?.cancel();
    assert.equal(ready.status, 503);
    const board = await (await fetch(`${a.http}/status`)).json();
    assert.ok(
      board.banners.some((b: { text: string }) => b.text.startsWith("Starting: waiting for NATS")),
      JSON.stringify(board.banners),
    );

    await nats.restart(0);
    await waitForOk(`${a.http}/ready`, 30_000, a.child);
    assert.match(a.child.stderr(), /NATS ready after \d+ attempts/);
    assert.equal((await (await fetch(`${a.http}/health`)).json()).waiting, undefined);
    const radar = new RadarSim({
      hostname: "127.0.0.1",
      port: a.radarPort,
      count: 500,
      rate: 5000,
      sensor: "XR-W",
    });
    const sent = await radar.start();
    assert.equal(sent.observations, 500);
    await until(
      "500 messages in the stream",
      async () => (await streamMessages(nats.urls)) >= 500,
    );
    assert.deepEqual(byKind(await streamContents(nats.urls)), { radar: 500 });
    assert.equal((await a.child.stop("SIGTERM")).code, 0);
  });
});

Deno.test("SIGTERM while serve waits for NATS: it exits 0 at once without starting", async () => {
  await withWaitingInstance(async (a) => {
    const t0 = Date.now();
    const status = await a.child.stop("SIGTERM");
    assert.equal(status.code, 0, a.child.stderr());
    assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms to stop`);
    assert.match(a.child.stderr(), /Signal received while starting: not started/);
  });
});

Deno.test("serve waiting for a NATS that refuses its credentials keeps waiting when that NATS goes away, and logs in with URL credentials", async () => {
  const authorization = { user: "ingest", password: "s3cret" };
  const nats = await LocalNats.start({ authorization });
  const port = nats.nodes[0].port;
  const instances: Instance[] = [];
  try {
    await explained(instances, async () => {
      const wrong = await startInstance({
        name: "ingest-a",
        servers: [`nats://ingest:wrong@127.0.0.1:${port}`],
        replicas: 1,
        waitReady: false,
      });
      instances.push(wrong);
      await until(
        "the instance says NATS refused it",
        () => /not ready \(.*Authorization Violation/.test(wrong.child.stderr()),
        30_000,
      );
      assert.doesNotMatch(wrong.child.stderr(), /wrong/, "the password is never printed");
      // The old service died here: "Uncaught Error: read ECONNRESET" from the
      // socket of a refused connection, once the server went away.
      await nats.kill(0);
      const exited = await Promise.race([
        wrong.child.status.then(() => true),
        new Promise<false>((resolve) => setTimeout(() => resolve(false), 4000)),
      ]);
      assert.equal(exited, false, wrong.child.stderr());
      assert.equal((await wrong.child.stop("SIGTERM")).code, 0);

      await nats.restart(0);
      const right = await startInstance({
        name: "ingest-b",
        servers: [`nats://ingest:s3cret@127.0.0.1:${port}`],
        replicas: 1,
      });
      instances.push(right);
      assert.match(
        right.child.stderr(),
        /Cluster mode: instance .*ingest-b.* on NATS .*nats:\/\/\*\*\*@127/,
      );
      assert.doesNotMatch(right.child.stderr(), /s3cret/);
    });
  } finally {
    await Promise.all(instances.map(removeInstance));
    await nats.stop();
  }
});
