import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { serializeObservation } from "../../envelope/serialize.ts";
import { NatsPublisher } from "../../sinks/nats_publisher.ts";
import { readNatsLines } from "../../sinks/nats_reader.ts";
import { natsSubject } from "../../sinks/nats_sink.ts";
import { ensureObservationStream } from "../../sinks/nats_stream.ts";
import { LocalNats } from "../_nats.ts";
import { radarObservation } from "../_observations.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** `main.ts tail …` with the permissions of `deno task tail`. */
async function tail(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-net", MAIN, "tail", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("tail --config FILE --nats --from 1 prints exactly what the stream holds, in order", async () => {
  const nats = await LocalNats.start();
  const dir = await Deno.makeTempDir({ prefix: "sda-tail-" });
  const nc = await connect({ servers: nats.urls });
  try {
    await ensureObservationStream(await jetstreamManager(nc), {
      stream: "SDA_TAIL",
      subjectPrefix: "sda.obs",
    });
    const observations = Array.from({ length: 120 }, (_, i) => radarObservation(i));
    const publisher = new NatsPublisher(nc);
    await publisher.publish(observations.map((o) => ({
      subject: natsSubject("sda.obs", o.kind, o.sensor),
      payload: new TextEncoder().encode(serializeObservation(o)),
      id: o.id,
    })));
    // A repeat inside the duplicate window is not stored again.
    await publisher.publish([{
      subject: "sda.obs.radar.XR1",
      payload: new TextEncoder().encode(serializeObservation(observations[0])),
      id: observations[0].id,
    }]);
    const config = `${dir}/ingest.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({ nats: { servers: nats.urls, stream: "SDA_TAIL" } }),
    );

    const all = await tail(["--config", config, "--nats", "--from", "1"]);
    assert.equal(all.code, 0, all.stderr);
    const held = await Array.fromAsync(readNatsLines({ connection: nc, stream: "SDA_TAIL" }));
    assert.equal(held.length, 120);
    assert.equal(all.stdout, held.map((m) => m.line + "\n").join(""));
    assert.equal(all.stdout, observations.map((o) => serializeObservation(o) + "\n").join(""));

    const tailEnd = await tail(["--config", config, "--nats", "--from", "118", "--offsets"]);
    assert.equal(tailEnd.code, 0, tailEnd.stderr);
    assert.deepEqual(tailEnd.stdout.trimEnd().split("\n").map((l) => l.split("\t")[0]), [
      "118",
      "119",
      "120",
    ]);

    // The last messages deleted: their sequences stay the stream's last and
    // never come; tail waited for them for ever, printing nothing.
    const jsm = await jetstreamManager(nc);
    await jsm.streams.deleteMessage("SDA_TAIL", 120);
    await jsm.streams.deleteMessage("SDA_TAIL", 119);
    const afterDelete = await tail(["--config", config, "--nats", "--from", "117", "--offsets"]);
    assert.equal(afterDelete.code, 0, afterDelete.stderr);
    assert.deepEqual(afterDelete.stdout.trimEnd().split("\n").map((l) => l.split("\t")[0]), [
      "117",
      "118",
    ]);
    const none = await tail(["--config", config, "--nats", "--from", "119"]);
    assert.equal(none.code, 0, none.stderr);
    assert.equal(none.stdout, "");

    // A stream that is not there is named ("stream not found" named none).
    const otherConfig = `${dir}/other.json`;
    await Deno.writeTextFile(
      otherConfig,
      JSON.stringify({ nats: { servers: nats.urls, stream: "SDA_NONE" } }),
    );
    const missing = await tail(["--config", otherConfig, "--nats"]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^tail: NATS nats:\/\/127\.0\.0\.1:\d+(, nats:\/\/127\.0\.0\.1:\d+)*: No JetStream stream SDA_NONE on this NATS$/m,
    );

    const usage = await tail(["--nats", "--from", "1"]);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--nats needs --config FILE/);
  } finally {
    await nc.close();
    await nats.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("readNatsLines() with follow reads what is published after it started, and errors when the stream is deleted or made again", async () => {
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  try {
    const jsm = await jetstreamManager(nc);
    const options = { stream: "SDA_FOLLOW", subjectPrefix: "sda.obs" };
    await ensureObservationStream(jsm, options);
    const publisher = new NatsPublisher(nc);
    const publish = (from: number, count: number) =>
      publisher.publish(Array.from({ length: count }, (_, i) => {
        const o = radarObservation(from + i);
        return {
          subject: natsSubject("sda.obs", o.kind, o.sensor),
          payload: new TextEncoder().encode(serializeObservation(o)),
          id: o.id,
        };
      }));
    await publish(0, 3);
    const follow = () =>
      readNatsLines({ connection: nc, stream: "SDA_FOLLOW", follow: true, checkEveryMs: 100 })
        .getReader();
    const reader = follow();
    for (const offset of [1, 2, 3]) assert.equal((await reader.read()).value?.offset, offset);
    await publish(3, 2);
    for (const offset of [4, 5]) assert.equal((await reader.read()).value?.offset, offset);
    // A follower of a deleted stream waited for ever, deaf to the stream
    // created again under its name.
    await jsm.streams.delete("SDA_FOLLOW");
    await assert.rejects(reader.read(), /^Error: JetStream stream SDA_FOLLOW was deleted$/);

    await ensureObservationStream(jsm, options);
    await publish(10, 1);
    const again = follow();
    assert.equal((await again.read()).value?.offset, 1);
    const waiting = again.read();
    await jsm.streams.delete("SDA_FOLLOW");
    await ensureObservationStream(jsm, options);
    // Seen as made again, or (should a check fall between the two) as deleted.
    await assert.rejects(
      waiting,
      /^Error: JetStream stream SDA_FOLLOW was deleted( and created again: its sequences started over)?/,
    );
    publisher.close();
  } finally {
    await nc.close();
    await nats.stop();
  }
});

Deno.test("readNatsLines() reads the whole stream right after the node leading the cluster was killed", async () => {
  const nats = await LocalNats.start({ nodes: 3 });
  try {
    const nc = await connect({ servers: nats.urls });
    const jsm = await jetstreamManager(nc);
    await ensureObservationStream(jsm, {
      stream: "SDA_KILLED",
      subjectPrefix: "sda.killed",
      replicas: 3,
    });
    const publisher = new NatsPublisher(nc);
    const lines = Array.from({ length: 300 }, (_, i) => `{"n":${i + 1}}`);
    await publisher.publish(lines.map((line, i) => ({
      subject: "sda.killed.radar.XR1",
      payload: new TextEncoder().encode(line),
      id: `n${i + 1}`,
    })));
    publisher.close();
    await nc.close();
    // The meta leader: the cluster elects another one first (seconds in
    // which the JetStream API does not answer).
    const victim = await nats.metaLeader();
    assert.ok(victim >= 0, "a node logged that it leads the meta group");
    await nats.kill(victim);

    // nats-server 2.9 then places a reader's consumer on any of the
    // stream's nodes, the dead one too, for a while: each read stays whole.
    const alive = nats.urls.filter((_, i) => i !== victim);
    for (let read = 0; read < 4; read++) {
      const got = await Array.fromAsync(readNatsLines({ servers: alive, stream: "SDA_KILLED" }));
      assert.deepEqual(got.map((l) => l.offset), lines.map((_, i) => i + 1), `read ${read}`);
      assert.deepEqual(got.map((l) => l.line), lines);
    }
  } finally {
    await nats.stop();
  }
});

Deno.test("tail --nats names the servers it could not reach, credentials masked", async () => {
  const dir = await Deno.makeTempDir();
  const closed = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = closed.addr.port;
  closed.close();
  try {
    const config = `${dir}/c.json`;
    await Deno.writeTextFile(
      config,
      JSON.stringify({ nats: { servers: [`nats://ingest:s3cret@127.0.0.1:${port}`] } }),
    );
    const result = await tail(["--config", config, "--nats"]);
    assert.equal(result.code, 1);
    assert.equal(result.stdout, "");
    assert.match(
      result.stderr,
      new RegExp(`^tail: NATS nats://\\*\\*\\*@127\\.0\\.0\\.1:${port}: \\S`),
    );
    assert.doesNotMatch(result.stderr, /s3cret/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
