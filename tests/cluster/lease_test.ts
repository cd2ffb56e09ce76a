import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { Lease } from "../../service/cluster/lease.ts";
import { LeasedSource } from "../../service/cluster/leased_source.ts";
import { OpticalHttpSource } from "../../sources/optical/http_adapter.ts";
import { LeaseThread } from "../../service/cluster/lease_thread.ts";
import { LocalNats, startNatsCluster } from "../_nats.ts";

async function leaseOn(nc: NatsConnection, instance: string, leaseMs: number): Promise<Lease> {
  const kv = await new Kvm(jetstream(nc)).open("SDA_OBS_leases", { timeout: 500 });
  return new Lease({ kv, jsm: await jetstreamManager(nc), key: "archive", instance, leaseMs });
}

Deno.test("Lease() gives the lease up leaseMs / 2 after its last renewal when NATS is gone, before the entry can expire", async () => {
  const leaseMs = 2000;
  const nats = await LocalNats.start();
  const nc = await connect({
    servers: nats.urls,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  try {
    await new Kvm(jetstream(nc)).create("SDA_OBS_leases", { ttl: leaseMs, storage: "memory" });
    const lease = await leaseOn(nc, "ingest-a", leaseMs);
    const lost = Promise.withResolvers<string>();
    lease.onLose = (reason) => lost.resolve(reason);
    await lease.start();
    assert.ok(lease.owned && lease.valid());
    // The entry was last written no earlier than validUntil − leaseMs / 2.
    await nats.kill(0);
    const cutAt = performance.timeOrigin + performance.now();
    const lastWriteSentAt = lease.validUntil - leaseMs / 2;
    const reason = await lost.promise;
    const lostAt = performance.timeOrigin + performance.now();
    assert.match(reason, /not renewed for/);
    assert.equal(lease.owned, false);
    // Who holds it now is not known (it named itself, for /health).
    assert.equal(lease.owner, undefined);
    assert.equal(lease.valid(), false);
    assert.equal(lease.changes, 2);
    assert.ok(lastWriteSentAt <= cutAt);
    assert.ok(
      lostAt < lastWriteSentAt + leaseMs,
      `gave up ${
        Math.round(lostAt - lastWriteSentAt)
      } ms after its last write (lease ${leaseMs} ms)`,
    );
    lease.stop();
  } finally {
    await nc.close();
    await nats.stop();
  }
});

Deno.test("Lease() is won by one standby at a time when owners release it again and again (R3)", async () => {
  const leaseMs = 3000;
  const nats = await startNatsCluster();
  const connections = await Promise.all(
    [0, 1, 2, 3].map((i) => connect({ servers: nats.urls[i % 3] })),
  );
  try {
    await new Kvm(jetstream(connections[0])).create("SDA_OBS_leases", {
      ttl: leaseMs,
      storage: "memory",
      replicas: 3,
    });
    const leases = await Promise.all(
      connections.map((nc, i) => leaseOn(nc, `ingest-${i}`, leaseMs)),
    );
    let wins = 0;
    let most = 0;
    const won = (lease: Lease) => () => {
      wins++;
      most = Math.max(most, leases.filter((l) => l.owned).length);
      // Hand it on at once: the others race to create it again.
      queueMicrotask(async () => {
        if (wins >= 12) return;
        await lease.release();
        const again = await leaseOn(connections[leases.indexOf(lease)], lease.instance, leaseMs);
        again.onAcquire = won(again);
        leases[leases.indexOf(lease)] = again;
        await again.start();
      });
    };
    for (const lease of leases) lease.onAcquire = won(lease);
    await Promise.all(leases.map((l) => l.start()));
    const deadline = Date.now() + 60_000;
    while (wins < 12 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(wins >= 12, `only ${wins} hand-overs`);
    assert.equal(most, 1, "two leases were owned at once");
    await Promise.all(leases.map((l) => l.release()));
  } finally {
    await Promise.all(connections.map((nc) => nc.close()));
    await nats.stop();
  }
});

Deno.test("Lease() tries again at once when its create failed on a delete marker that is gone by the time it looks", async () => {
  const leaseMs = 9000;
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  try {
    await new Kvm(jetstream(nc)).create("SDA_OBS_leases", { ttl: leaseMs, storage: "memory" });
    const kv = await new Kvm(jetstream(nc)).open("SDA_OBS_leases", { timeout: 500 });
    // The first create fails as on the marker of an owner's graceful stop
    // (wrong last sequence); the owner then removed the marker: the key is empty.
    let puts = 0;
    const racing = new Proxy(kv, {
      get: (target, key) => {
        if (key === "put") {
          return (k: string, data: Uint8Array, options?: { previousSeq?: number }) =>
            ++puts === 1
              ? target.put(k, data, { previousSeq: 123_456 })
              : target.put(k, data, options);
        }
        const value = Reflect.get(target, key, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const lease = new Lease({
      kv: racing,
      jsm: await jetstreamManager(nc),
      key: "archive",
      instance: "ingest-b",
      leaseMs,
    });
    const startedAt = performance.now();
    await lease.start();
    while (!lease.owned && performance.now() - startedAt < leaseMs) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    const tookMs = performance.now() - startedAt;
    assert.ok(lease.owned);
    assert.ok(puts >= 2);
    // Not the next periodic attempt, leaseMs / 3 = 3 s later.
    assert.ok(tookMs < leaseMs / 6, `owned after ${Math.round(tookMs)} ms`);
    await lease.release();
  } finally {
    await nc.close();
    await nats.stop();
  }
});

Deno.test("LeasedSource() whose source cannot be created leaves the lease alone 1 s, 2 s, … before it tries again", async () => {
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  try {
    await new Kvm(jetstream(nc)).create("SDA_OBS_leases", { ttl: 1500, storage: "memory" });
    const lease = await leaseOn(nc, "ingest-a", 1500);
    const creates: number[] = [];
    const startedAt = performance.now();
    const source = new LeasedSource({
      name: "archive",
      kind: "optical",
      lease,
      create: () => {
        creates.push(Math.round(performance.now() - startedAt));
        throw new Error("Cannot parse state optical.archive");
      },
    });
    await new Promise((resolve) => setTimeout(resolve, 3500));
    await source.stop();
    await lease.release();
    // At 0, ~1 s and ~3 s: the old source was created, failed and won back
    // at once, ~35 times a second.
    assert.ok(creates.length >= 2 && creates.length <= 3, `created at ${creates.join(", ")} ms`);
    assert.ok(creates[1] >= 900, `created again after ${creates[1]} ms`);
    assert.equal(
      source.status().lastError,
      "Cannot create the source: Cannot parse state optical.archive",
    );
  } finally {
    await nc.close();
    await nats.stop();
  }
});

Deno.test("LeasedSource() whose source fails to start counts that once: it tries again after 1 s, then 2 s", async () => {
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  try {
    await new Kvm(jetstream(nc)).create("SDA_OBS_leases", { ttl: 1500, storage: "memory" });
    const lease = await leaseOn(nc, "ingest-a", 1500);
    const creates: number[] = [];
    const startedAt = performance.now();
    const source = new LeasedSource({
      name: "archive",
      kind: "optical",
      lease,
      // A real optical source whose saved cursor it refuses: its start fails,
      // and so does its readable.
      create: () => {
        creates.push(Math.round(performance.now() - startedAt));
        return new OpticalHttpSource({
          name: "archive",
          url: "http://127.0.0.1:9/udl/eoobservation",
          checkpoint: {
            load: () => Promise.resolve(12345 as unknown as string),
            save: () => Promise.resolve(),
          },
        });
      },
    });
    const reading = (async () => {
      for await (const batch of source.readable) for (const ack of batch.acks) ack.release();
    })();
    await new Promise((resolve) => setTimeout(resolve, 3600));
    await source.stop();
    await reading;
    await lease.release();
    // Counted twice (the failed start, then its failed readable), the holds
    // were 2 s, 8 s, … while the log said 1 s, 4 s.
    assert.equal(creates.length, 3, `created at ${creates.join(", ")} ms`);
    assert.ok(creates[1] >= 900 && creates[1] < 1900, `created again after ${creates[1]} ms`);
    assert.ok(creates[2] - creates[1] >= 1900, `then after ${creates[2] - creates[1]} ms`);
  } finally {
    await nc.close();
    await nats.stop();
  }
});

Deno.test("Lease() says why it can neither take the lease nor name its holder: an entry naming no instance, the bucket deleted", async () => {
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  try {
    const kvm = new Kvm(jetstream(nc));
    const kv = await kvm.create("SDA_OBS_leases", { ttl: 1500, storage: "memory" });
    await kv.put("archive", new TextEncoder().encode('{"instance":{"$gt":""}}'));
    const lease = new Lease({
      kv,
      jsm: await jetstreamManager(nc),
      key: "archive",
      instance: "ingest-a",
      leaseMs: 1500,
    });
    const source = new LeasedSource({
      name: "archive",
      kind: "optical",
      lease,
      create: () => {
        throw new Error("not reached");
      },
    });
    await source.started; // the lease's first attempt
    assert.equal(lease.owned, false);
    assert.equal(
      lease.error,
      'the lease is held by an entry that names no instance: "{\\"instance\\":{\\"$gt\\":\\"\\"}}"',
    );
    // The old /health: state "stopped", owner null, no error at all.
    assert.equal(source.status().state, "down");
    assert.match(source.status().lastError ?? "", /^Lease: the lease is held by an entry/);
    await (await jetstreamManager(nc)).streams.delete("KV_SDA_OBS_leases");
    for (let i = 0; i < 200 && !lease.error?.startsWith("cannot take the lease: "); i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.match(lease.error ?? "", /^cannot take the lease: /);
    await source.stop();
    await lease.release();
  } finally {
    await nc.close();
    await nats.stop();
  }
});

Deno.test("Lease() names a live process of the same instance name that holds the lease, not a dead one's leftover entry", async () => {
  const leaseMs = 900;
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  const leases: Lease[] = [];
  try {
    await new Kvm(jetstream(nc)).create("SDA_OBS_leases", { ttl: leaseMs, storage: "memory" });
    const a = await leaseOn(nc, "ingest-a", leaseMs);
    leases.push(a);
    await a.start();
    assert.equal(a.owned, true);
    // Another process configured with the same nats.instance.
    const twin = await leaseOn(nc, "ingest-a", leaseMs);
    leases.push(twin);
    await twin.start();
    assert.equal(twin.owned, false);
    for (let i = 0; i < 200 && twin.error === undefined; i++) {
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // The old /health: owner "ingest-a" on the standby, as if it ran the source, and no error.
    assert.match(
      twin.error ?? "",
      /^another process named "ingest-a" like this one holds the lease \(since \d{4}-.*Z\); nats.instance must be unique per instance/,
    );
    assert.equal(a.error, undefined);

    // What a crashed process of the same name left is waited out without that error.
    const kv = await new Kvm(jetstream(nc)).open("SDA_OBS_leases");
    await kv.put(
      "optical-2",
      new TextEncoder().encode('{"instance":"ingest-b","since":"2026-12-04T00:00:00.000Z"}'),
    );
    const b = new Lease({
      kv,
      jsm: await jetstreamManager(nc),
      key: "optical-2",
      instance: "ingest-b",
      leaseMs,
    });
    leases.push(b);
    const won = Promise.withResolvers<void>();
    b.onAcquire = () => won.resolve();
    await b.start();
    assert.equal(b.owned, false);
    const errors = new Set<string | undefined>();
    const probe = setInterval(() => errors.add(b.error), 20);
    await won.promise;
    clearInterval(probe);
    assert.deepEqual([...errors], [undefined]);
  } finally {
    for (const lease of leases.reverse()) await lease.release();
    await nc.close();
    await nats.stop();
  }
});

Deno.test("LeaseThread() holds leases on its own thread and shares their deadline", async () => {
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  try {
    await new Kvm(jetstream(nc)).create("SDA_OBS_leases", { ttl: 1500, storage: "memory" });
    const a = await LeaseThread.start({
      servers: nats.urls,
      bucket: "SDA_OBS_leases",
      instance: "ingest-a",
      leaseMs: 1500,
    });
    const b = await LeaseThread.start({
      servers: nats.urls,
      bucket: "SDA_OBS_leases",
      instance: "ingest-b",
      leaseMs: 1500,
    });
    const leaseA = a.lease("archive");
    const leaseB = b.lease("archive");
    const acquired: string[] = [];
    leaseA.onAcquire = () => acquired.push("a");
    leaseB.onAcquire = () => acquired.push("b");
    await leaseA.start();
    await leaseB.start();
    assert.deepEqual(acquired, ["a"]);
    assert.ok(leaseA.owned && leaseA.valid());
    assert.ok(!leaseB.owned && !leaseB.valid());
    // The main thread is blocked for longer than leaseMs / 6: the thread
    // renews regardless.
    const until = Date.now() + 1200;
    while (Date.now() < until) { /* busy */ }
    await new Promise((r) => setTimeout(r, 100));
    assert.ok(leaseA.owned && leaseA.valid(), "renewed while this thread was busy");
    assert.equal(leaseA.changes, 1);
    const taken = Promise.withResolvers<void>();
    leaseB.onAcquire = () => taken.resolve();
    await leaseA.release();
    assert.equal(leaseA.valid(), false);
    await taken.promise;
    assert.equal(leaseB.owner, "ingest-b");
    await leaseB.release();
    await Promise.all([a.close(), b.close()]);
  } finally {
    await nc.close();
    await nats.stop();
  }
});
