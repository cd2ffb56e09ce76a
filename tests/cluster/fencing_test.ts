import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { Kvm } from "@nats-io/kv";
import { connect } from "@nats-io/transport-node";
import { Cluster } from "../../service/cluster/cluster.ts";
import { parseConfig } from "../../service/config.ts";
import { KvStateStore, StateConflictError } from "../../service/kv_state_store.ts";
import { createSource } from "../../service/source_factory.ts";
import { ArchiveSim } from "../../sim/archive.ts";
import { LocalNats } from "../_nats.ts";
import { until } from "./_cluster.ts";

Deno.test("a stale owner's compare-and-set write of a cursor fails and stops its source", async () => {
  const nats = await LocalNats.start();
  const archive = new ArchiveSim({ port: 0, count: 20_000, latencyMs: 20 });
  const config = parseConfig({
    sources: [{ name: "archive", kind: "optical", url: archive.url, pageSize: 50 }],
    nats: { servers: nats.urls, instance: "ingest-a", leaseMs: 3000, duplicateWindowMs: 60_000 },
  });
  const cluster = await Cluster.connect(config.nats!);
  const nc = await connect({ servers: nats.urls });
  try {
    await archive.ready;
    // Each tenure's requests carry its number, to tell them apart in the archive's log.
    let tenures = 0;
    const source = cluster.leasedSource(config.sources[0], (c, store, tenure) => {
      tenures++;
      return createSource(c, store, {
        userAgent: `sda-ingest (tenure-${tenures})`,
        mayRequest: tenure.valid,
      });
    });
    // The pipeline's part: every page is durable at once.
    const reading = (async () => {
      for await (const batch of source.readable) for (const ack of batch.acks) ack.release();
    })();
    await source.started;
    assert.equal(source.status().owner, "ingest-a");
    const kv = await new Kvm(jetstream(nc)).open("SDA_OBS_state");
    const saved = async () => (await kv.get("optical.archive"))?.json<{ value?: string }>().value;
    await until("A saves a cursor", async () => (await saved()) !== undefined, 30_000);

    // Another instance takes the state over (what a new owner does first);
    // if A saves between its read and its claim, it tries again, as a new
    // owner would.
    let cursor: string | undefined;
    for (let attempt = 1;; attempt++) {
      assert.ok(attempt <= 100, "B could not take the state over in 100 attempts");
      try {
        cursor = await new KvStateStore(kv, "ingest-b").checkpoint<string>("optical.archive")
          .load();
        break;
      } catch (error) {
        if (!(error instanceof StateConflictError)) throw error;
      }
    }
    const claimedAt = Date.now();
    assert.ok(cursor !== undefined);
    // Without compare-and-set A would go on, unfenced: a bound, not a hang.
    await until("A is fenced and starts a second tenure", () => source.tenures >= 2, 30_000);

    const status = source.status();
    assert.match(
      status.lastError ?? "",
      /^Fenced: Cannot save state optical\.archive: instance ingest-b wrote it/,
    );
    assert.ok(source.lease.changes >= 3, "won, given up, won again");
    // The fenced tenure sent nothing more once its write failed (a request
    // already in flight may have arrived just after the claim).
    const first = archive.requests.filter((r) => r.userAgent === "sda-ingest (tenure-1)");
    const late = first.filter((r) => r.time > claimedAt + 1000);
    assert.deepEqual(late, [], "tenure 1 kept requesting after it was fenced");
    // The next tenure resumed from the state in KV, not from its own memory.
    const second = () => archive.requests.filter((r) => r.userAgent === "sda-ingest (tenure-2)");
    await until("tenure 2 requests a page", () => second().length > 0, 30_000);
    const inKv = (await kv.get("optical.archive"))!.json<{ instance: string }>();
    assert.equal(inKv.instance, "ingest-a", "tenure 2 claimed the key back");
    const resumed = second()[0];
    assert.ok(resumed.cursor !== null);
    assert.ok(
      first.some((r) => r.nextCursor === resumed.cursor),
      "tenure 2 starts at a cursor tenure 1 reached and saved",
    );
    await source.stop();
    await reading;
    await source.settled();
  } finally {
    await cluster.close();
    await nc.close();
    await archive.stop();
    await nats.stop();
  }
});

Deno.test("KvStateStore() says which key it cannot save, why and since when, while it retries (the bucket deleted)", async () => {
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  try {
    const kv = await new Kvm(jetstream(nc)).create("SDA_OBS_state");
    const store = new KvStateStore(kv, "ingest-a", 20);
    const stop = new AbortController();
    const checkpoint = store.checkpoint<string>("optical.archive", { signal: stop.signal });
    assert.equal(checkpoint.where, "state key optical.archive in NATS KV");
    await checkpoint.load();
    await checkpoint.save("c1");
    assert.equal(store.problem, undefined);
    await (await jetstreamManager(nc)).streams.delete("KV_SDA_OBS_state");
    const saving = checkpoint.save("c2");
    saving.catch(() => {});
    await until("the failing save is reported", () => store.problem !== undefined, 10_000);
    // The old store only logged a warning every tenth attempt ("jetstream is not enabled").
    assert.equal(store.problem!.key, "optical.archive");
    assert.ok(store.problem!.error.length > 0);
    assert.ok(Date.now() - store.problem!.since < 10_000);
    stop.abort();
    await assert.rejects(saving);
    assert.equal(store.problem, undefined, "an abandoned save is no problem any more");
  } finally {
    await nc.close();
    await nats.stop();
  }
});
