import assert from "node:assert/strict";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { observationId } from "../../envelope/observation_id.ts";
import { serializeObservation } from "../../envelope/serialize.ts";
import { Ack } from "../../operators/ack.ts";
import { type IngestBatch, ingestBatch } from "../../operators/ingest_batch.ts";
import { packObservations } from "../../operators/pack_observations.ts";
import { NatsPublisher } from "../../sinks/nats_publisher.ts";
import { NatsSink } from "../../sinks/nats_sink.ts";
import { ensureObservationStream } from "../../sinks/nats_stream.ts";
import { LocalNats, startNatsServer } from "../_nats.ts";
import { radarObservation } from "../_observations.ts";

Deno.test("NatsSink() publishes each observation once to <prefix>.<kind>.<sensor>, then releases acks", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
    const publisher = new NatsPublisher(nc, { maxInFlight: 64 });
    const sink = new NatsSink({ publisher, subjectPrefix: "sda.obs" });
    const observations = Array.from({ length: 500 }, (_, i) => radarObservation(i));
    const ack = new Ack();
    const writer = sink.getWriter();
    await writer.write([ingestBatch("xr1", observations, [], [ack])]);
    await ack.done;
    // A re-delivery: JetStream's duplicate window drops it by Nats-Msg-Id.
    await writer.write([ingestBatch("xr1", observations.slice(0, 100))]);
    await writer.close();
    assert.deepEqual(publisher.stats, { published: 600, duplicates: 100, errors: 0, refused: 0 });
    assert.equal(publisher.inFlight, 0);

    const info = await jsm.streams.info("SDA_TEST");
    assert.equal(info.state.messages, 500);
    assert.deepEqual(info.config.subjects, ["sda.obs.>"]);
    const first = (await jsm.streams.getMessage("SDA_TEST", { seq: 1 }))!;
    assert.equal(first.subject, "sda.obs.radar.XR1");
    assert.equal(first.header.get("Nats-Msg-Id"), observations[0].id);
    assert.equal(first.json<{ id: string }>().id, observations[0].id);
  } finally {
    await nc.close();
    await server.stop();
  }
});

Deno.test("NatsSink() publishes a decode worker's packed batch: each line with its id as Nats-Msg-Id", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
    const publisher = new NatsPublisher(nc);
    const sink = new NatsSink({ publisher, subjectPrefix: "sda.obs" });
    const observations = Array.from({ length: 50 }, (_, i) => radarObservation(i));
    const batch: IngestBatch = {
      ...ingestBatch("xr1", []),
      packed: packObservations(observations),
    };
    const writer = sink.getWriter();
    await writer.write([batch]);
    await writer.close();
    for (const [i, o] of observations.entries()) {
      const message = (await jsm.streams.getMessage("SDA_TEST", { seq: i + 1 }))!;
      assert.equal(new TextDecoder().decode(message.data), serializeObservation(o));
      assert.equal(message.header.get("Nats-Msg-Id"), o.id);
      assert.equal(message.subject, "sda.obs.radar.XR1");
    }
  } finally {
    await nc.close();
    await server.stop();
  }
});

Deno.test("NatsSink() publishes lines with characters beyond ASCII byte for byte", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
    const publisher = new NatsPublisher(nc);
    const sink = new NatsSink({ publisher, subjectPrefix: "sda.obs" });
    const observations = Array.from({ length: 3 }, (_, i) => radarObservation(i));
    observations[1].provenance.meta = { ORIGINATOR: "Ørsted 站 🛰" };
    observations[1].id = observationId(observations[1]);
    const writer = sink.getWriter();
    await writer.write([ingestBatch("xr1", observations)]);
    await writer.close();
    for (const [i, o] of observations.entries()) {
      const message = (await jsm.streams.getMessage("SDA_TEST", { seq: i + 1 }))!;
      assert.equal(new TextDecoder().decode(message.data), serializeObservation(o));
      assert.equal(message.header.get("Nats-Msg-Id"), o.id);
    }
  } finally {
    await nc.close();
    await server.stop();
  }
});

Deno.test("NatsSink() with then writes the log only after JetStream acknowledged, and acks wait for both", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
    const publisher = new NatsPublisher(nc);
    const inStreamWhenLogged: number[] = [];
    const logged: IngestBatch[][] = [];
    const log = new WritableStream<IngestBatch[]>({
      async write(batches) {
        inStreamWhenLogged.push((await jsm.streams.info("SDA_TEST")).state.messages);
        logged.push(batches);
      },
    });
    const sink = new NatsSink({ publisher, subjectPrefix: "sda.obs", then: log });
    const ack = new Ack();
    const writer = sink.getWriter();
    await writer.write([ingestBatch("xr1", [radarObservation(1), radarObservation(2)], [], [ack])]);
    while (logged.length === 0) await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual(inStreamWhenLogged, [2]);
    assert.equal(ack.state, "pending", "the log has not released its hold");
    for (const batch of logged[0]) for (const a of batch.acks) a.release();
    await ack.done;
    await writer.close();
  } finally {
    await nc.close();
    await server.stop();
  }
});

Deno.test("NatsSink() hands chunks to the log in order while the next one is being published", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    await ensureObservationStream(await jetstreamManager(nc), {
      stream: "SDA_TEST",
      subjectPrefix: "sda.obs",
    });
    const publisher = new NatsPublisher(nc, { maxInFlight: 100 });
    const order: number[] = [];
    const log = new WritableStream<IngestBatch[]>({
      write(batches) {
        order.push(batches[0].observations.length);
        for (const batch of batches) for (const a of batch.acks) a.release();
      },
    });
    const acks = Array.from({ length: 20 }, () => new Ack());
    await ReadableStream.from(acks.map((ack, i) => [
      ingestBatch(
        "xr1",
        Array.from({ length: i + 1 }, (_, j) => radarObservation(i * 100 + j)),
        [],
        [ack],
      ),
    ])).pipeTo(new NatsSink({ publisher, subjectPrefix: "sda.obs", then: log }));
    await Promise.all(acks.map((a) => a.done));
    assert.deepEqual(order, Array.from({ length: 20 }, (_, i) => i + 1));
    assert.equal(publisher.stats.published, 210);
    publisher.close();
  } finally {
    await nc.close();
    await server.stop();
  }
});

Deno.test("NatsPublisher() keeps at most maxInFlight publishes outstanding", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
    const publisher = new NatsPublisher(nc, { maxInFlight: 32 });
    let most = 0;
    const timer = setInterval(() => (most = Math.max(most, publisher.inFlight)), 0);
    const messages = Array.from({ length: 2000 }, (_, i) => ({
      subject: "sda.obs.radar.XR1",
      payload: new TextEncoder().encode(`{"n":${i}}`),
      id: `m${i}`,
    }));
    await Promise.all([
      publisher.publish(messages.slice(0, 1000)),
      publisher.publish(messages.slice(1000)),
    ]);
    clearInterval(timer);
    assert.ok(most <= 32, `at most 32 in flight, saw ${most}`);
    assert.ok(most > 1, `several in flight at once, saw ${most}`);
    assert.equal((await jsm.streams.info("SDA_TEST")).state.messages, 2000);
  } finally {
    await nc.close();
    await server.stop();
  }
});

for (const via of ["its own frames", "nc.publish()"]) {
  Deno.test(`NatsPublisher() through ${via} gives each of thousands of messages its own Nats-Msg-Id`, async () => {
    const server = await startNatsServer();
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
      // Without the client's protocol handler, the publisher falls back to nc.publish().
      const client = via === "nc.publish()"
        ? new Proxy(nc, {
          get: (target, key) => {
            if (key === "protocol") return undefined;
            const value = Reflect.get(target, key, target);
            return typeof value === "function" ? value.bind(target) : value;
          },
        })
        : nc;
      const publisher = new NatsPublisher(client);
      // Ids of different lengths, as text or as bytes, one beyond ASCII;
      // a few thousand, so reply tokens of one to four digits.
      const ids = Array.from(
        { length: 3000 },
        (_, i) => i === 7 ? "id-ü-7" : `${i.toString(16).padStart(32, "0")}${"x".repeat(i % 7)}`,
      );
      const encoder = new TextEncoder();
      await publisher.publish(ids.map((id, i) => ({
        subject: i % 2 ? "sda.obs.radar.XR1" : "sda.obs.isl.isl_60001",
        payload: encoder.encode(`{"id":"${id}"}`),
        id: i % 3 ? id : encoder.encode(id),
      })));
      assert.equal((await jsm.streams.info("SDA_TEST")).state.messages, 3000);
      for (const seq of [1, 8, 10, 100, 1000, 1075, 1076, 2222, 3000]) {
        const message = (await jsm.streams.getMessage("SDA_TEST", { seq }))!;
        assert.equal(message.header.get("Nats-Msg-Id"), ids[seq - 1]);
        assert.equal(message.json<{ id: string }>().id, ids[seq - 1]);
        assert.equal(message.subject, seq % 2 ? "sda.obs.isl.isl_60001" : "sda.obs.radar.XR1");
      }
      // A repeat of each is dropped by id: every stored id was its own.
      await publisher.publish(
        ids.map((id) => ({ subject: "sda.obs.radar.XR1", payload: new Uint8Array(1), id })),
      );
      assert.equal(publisher.stats.duplicates, 3000);
      assert.equal(publisher.stats.errors, 0);
    } finally {
      await nc.close();
      await server.stop();
    }
  });
}

Deno.test("NatsPublisher() retries while the stream is missing and completes once it exists", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    const publisher = new NatsPublisher(nc, { retryMs: 20, timeoutMs: 500 });
    const done = publisher.publish([{
      subject: "sda.obs.radar.XR1",
      payload: new TextEncoder().encode("{}"),
      id: "late",
    }]);
    while (publisher.stats.errors < 2) await new Promise((r) => setTimeout(r, 10));
    await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
    await done;
    assert.equal(publisher.stats.published, 1);
    assert.equal((await jsm.streams.info("SDA_TEST")).state.messages, 1);
  } finally {
    await nc.close();
    await server.stop();
  }
});

Deno.test("NatsPublisher() warns once when publishing starts failing, not at every retry, and says when it works again", async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [{ category: ["sda-ingest"], lowestLevel: "info", sinks: ["memory"] }],
  });
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    const publisher = new NatsPublisher(nc, { retryMs: 20, timeoutMs: 500 });
    const message = (i: number) => ({
      subject: "sda.obs.radar.XR1",
      payload: new TextEncoder().encode("{}"),
      id: `m${i}`,
    });
    // Two callers, each retrying its batch while the stream is missing.
    const done = [publisher.publish([message(1)]), publisher.publish([message(2)])];
    while (publisher.stats.errors < 20) await new Promise((r) => setTimeout(r, 10));
    await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
    await Promise.all(done);
    assert.equal((await jsm.streams.info("SDA_TEST")).state.messages, 2);
    const said = records.map((r) => `${r.level} ${r.rawMessage}`).filter((m) =>
      /NATS publish/.test(m)
    );
    assert.deepEqual(said, [
      "warning NATS publish failed for {count} messages, retrying in {delay} ms: {error}",
      "info NATS publishing works again after {seconds} s",
    ]);
  } finally {
    await nc.close();
    await server.stop();
    await reset();
  }
});

Deno.test("NatsPublisher() refuses a message over the server's max_payload at once, counted, and publishes the rest", async () => {
  const nats = await LocalNats.start({ maxPayload: 4096 });
  const nc = await connect({ servers: nats.urls });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
    const publisher = new NatsPublisher(nc, { retryMs: 20, timeoutMs: 500 });
    const message = (id: string, bytes: number) => ({
      subject: "sda.obs.optical.S",
      payload: new TextEncoder().encode(`{"id":"${id}","x":"${"x".repeat(bytes)}"}`),
      id,
    });
    // The old publisher retried the big one for ever: this never resolved.
    const published = publisher.publish([message("a", 10), message("big", 5000), message("c", 10)]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("publish() did not resolve within 10 s")), 10_000);
    });
    try {
      await Promise.race([published, timeout]);
    } finally {
      clearTimeout(timer);
    }
    assert.deepEqual(publisher.stats, { published: 2, duplicates: 0, errors: 0, refused: 1 });
    assert.equal((await jsm.streams.info("SDA_TEST")).state.messages, 2);
    publisher.close();
  } finally {
    await nc.close();
    await nats.stop();
  }
});

Deno.test("NatsPublisher() with a stream publishes only into it, not into another stream that took its subjects", async () => {
  const server = await startNatsServer();
  const nc = await connect({ servers: server.url });
  try {
    const jsm = await jetstreamManager(nc);
    // The service's stream was deleted and another one captures its subjects.
    await ensureObservationStream(jsm, { stream: "OTHER", subjectPrefix: "sda.obs" });
    const publisher = new NatsPublisher(nc, { retryMs: 20, timeoutMs: 500, stream: "SDA_TEST" });
    const done = publisher.publish([{
      subject: "sda.obs.radar.XR1",
      payload: new TextEncoder().encode("{}"),
      id: "one",
    }]);
    for (let i = 0; i < 500 && publisher.stats.errors < 2; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(publisher.stats.published, 0);
    assert.equal((await jsm.streams.info("OTHER")).state.messages, 0);
    assert.ok(publisher.stats.errors >= 2, "refused and retried");
    await jsm.streams.delete("OTHER");
    await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
    await done;
    assert.equal(publisher.stats.published, 1);
    assert.equal((await jsm.streams.info("SDA_TEST")).state.messages, 1);
  } finally {
    await nc.close();
    await server.stop();
  }
});

Deno.test("NatsPublisher() publishes again once the server is back, without piling retries up while it is down, and warns of a cut longer than the duplicate window", async () => {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [{ category: ["sda-ingest"], lowestLevel: "warning", sinks: ["memory"] }],
  });
  const nats = await LocalNats.start();
  const nc = await connect({
    servers: nats.urls,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 100,
  });
  try {
    const jsm = await jetstreamManager(nc);
    await ensureObservationStream(jsm, { stream: "SDA_TEST", subjectPrefix: "sda.obs" });
    const publisher = new NatsPublisher(nc, {
      timeoutMs: 300,
      retryMs: 50,
      duplicateWindowMs: 1000,
    });
    const message = (i: number) => ({
      subject: "sda.obs.radar.XR1",
      payload: new TextEncoder().encode(`{"n":${i}}`),
      id: `m${i}`,
    });
    await publisher.publish([message(0)]);
    await nats.kill(0);
    const done = publisher.publish(Array.from({ length: 100 }, (_, i) => message(i + 1)));
    // Down for a while: more than a few timeouts and backoffs.
    await new Promise((r) => setTimeout(r, 1500));
    assert.ok(
      publisher.stats.errors <= 100,
      `${publisher.stats.errors} failed attempts while down`,
    );
    await nats.restart(0);
    await done;
    assert.equal((await jsm.streams.info("SDA_TEST")).state.messages, 101);
    // Down longer than the window: what it held may be stored twice
    // elsewhere (a leased source read again by another instance).
    const warnings = records.map((r) => r.rawMessage);
    assert.equal(
      warnings.filter((m) => /longer than the \{window\} s duplicate window/.test(String(m)))
        .length,
      1,
      JSON.stringify(warnings),
    );
    publisher.close();
  } finally {
    await nc.close();
    await nats.stop();
    await reset();
  }
});
