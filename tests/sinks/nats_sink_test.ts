import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { Ack } from "../../operators/ack.ts";
import { ingestBatch } from "../../operators/ingest_batch.ts";
import { NatsSink } from "../../sinks/nats_sink.ts";
import { startNatsServer } from "../_nats.ts";
import { radarObservation } from "../_observations.ts";

Deno.test("NatsSink() publishes each observation once to <prefix>.<kind>.<sensor>, creating the stream, then releases acks", async () => {
  const server = await startNatsServer();
  try {
    const sink = await NatsSink.connect({
      servers: [server.url],
      stream: "SDA_TEST",
      subjectPrefix: "sda.obs",
    });
    const observations = Array.from({ length: 500 }, (_, i) => radarObservation(i));
    const ack = new Ack();
    const writer = sink.writable.getWriter();
    await writer.write([ingestBatch("xr1", observations, [], [ack])]);
    await ack.done;
    // A re-delivery: JetStream's duplicate window drops it by Nats-Msg-Id.
    await writer.write([ingestBatch("xr1", observations.slice(0, 100))]);
    await writer.close();
    assert.equal(sink.stats.published, 600);
    assert.equal(sink.stats.duplicates, 100);
    await sink.close();

    const nc = await connect({ servers: server.url });
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info("SDA_TEST");
    assert.equal(info.state.messages, 500);
    assert.deepEqual(info.config.subjects, ["sda.obs.>"]);
    const first = (await jsm.streams.getMessage("SDA_TEST", { seq: 1 }))!;
    assert.equal(first.subject, "sda.obs.radar.XR1");
    assert.equal(first.header.get("Nats-Msg-Id"), observations[0].id);
    assert.equal(first.json<{ id: string }>().id, observations[0].id);
    await nc.close();
  } finally {
    await server.stop();
  }
});
