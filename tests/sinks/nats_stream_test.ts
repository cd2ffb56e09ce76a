import assert from "node:assert/strict";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { ensureObservationStream } from "../../sinks/nats_stream.ts";
import { LocalNats } from "../_nats.ts";

Deno.test("ensureObservationStream() says which stream is in the way, and refuses one that would not store the observations", async () => {
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  try {
    const jsm = await jetstreamManager(nc);
    const options = { stream: "SDA_OBS", subjectPrefix: "sda.obs" };
    // Another stream takes the subjects: JetStream said only "subjects overlap
    // with an existing stream", and the instance retried that for ever.
    await jsm.streams.add({ name: "OTHER", subjects: ["sda.obs.>"] });
    await assert.rejects(
      ensureObservationStream(jsm, options),
      /^Error: Cannot create JetStream stream SDA_OBS for sda\.obs\.>: stream OTHER takes some of those subjects/,
    );
    await jsm.streams.delete("OTHER");
    // The stream exists without the subjects: every publish was refused
    // (503) with no word at start.
    await jsm.streams.add({ name: "SDA_OBS", subjects: ["sda.obs.radar.>"] });
    await assert.rejects(
      ensureObservationStream(jsm, options),
      /^Error: JetStream stream SDA_OBS takes sda\.obs\.radar\.>, not sda\.obs\.optical\.\*, sda\.obs\.isl\.\*: those observations would not be stored/,
    );
    // Wider subjects store them.
    // Any subjects that take every <prefix>.<kind>.<sensor> (no dot in a sensor).
    for (
      const subjects of [
        ["sda.>"],
        ["sda.*.>"],
        ["x.y", "sda.obs.>"],
        ["sda.obs.*.*"],
        ["sda.obs.radar.>", "sda.obs.optical.*", "sda.obs.isl.>"],
      ]
    ) {
      await jsm.streams.update("SDA_OBS", { subjects });
      assert.deepEqual(
        (await ensureObservationStream(jsm, options)).config.subjects,
        subjects,
        subjects.join(" "),
      );
    }
  } finally {
    await nc.close();
    await nats.stop();
  }
});
