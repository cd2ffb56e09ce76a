/**
 * consumeNatsStream() against a real nats-server: what a downstream stage
 * gets when its durable consumer already exists.
 */

import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { LocalNats } from "../../service/cluster/local_nats.ts";
import { consumeNatsStream } from "../../sinks/nats_consumer.ts";
import { ensureObservationStream } from "../../sinks/nats_stream.ts";

Deno.test("consumeNatsStream() refuses a durable consumer that exists with another filterSubject, instead of handing out the other subjects' records", async () => {
  const nats = await LocalNats.start();
  const nc = await connect({ servers: nats.urls });
  try {
    await ensureObservationStream(await jetstreamManager(nc), {
      stream: "SDA_OBS",
      subjectPrefix: "sda.obs",
    });
    const js = jetstream(nc);
    await js.publish("sda.obs.isl.isl_1", JSON.stringify({ id: "i1" }));
    await js.publish("sda.obs.optical.archive", JSON.stringify({ id: "o1" }));
    const take = async (filterSubject: string) => {
      const stop = new AbortController();
      const options = {
        connection: nc,
        stream: "SDA_OBS",
        durable: "fusion",
        filterSubject,
        signal: stop.signal,
      };
      // Bounded: a consumer with nothing for this filter would wait for ever.
      const timer = setTimeout(() => stop.abort(), 5000);
      try {
        for await (const record of consumeNatsStream(options)) {
          record.ack();
          stop.abort();
          return record.observation.id;
        }
      } finally {
        clearTimeout(timer);
      }
    };
    assert.equal(await take("sda.obs.isl.>"), "i1");
    await assert.rejects(
      take("sda.obs.optical.>"),
      {
        message:
          'The durable consumer fusion of SDA_OBS exists with filterSubject "sda.obs.isl.>", not "sda.obs.optical.>": use another durable name, or delete it (nats consumer rm SDA_OBS fusion) to start over',
      },
    );
  } finally {
    await nc.close();
    await nats.stop();
  }
});
