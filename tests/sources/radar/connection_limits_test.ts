/**
 * RadarTcpSource against connections that hold slots or send junk (issue 11:
 * idle timeout, rate-limited refusal logs, "not a TDM stream").
 */

import assert from "node:assert/strict";
import type { DeadLetter } from "../../../envelope/dead_letter.ts";
import type { Observation } from "../../../envelope/observation.ts";
import { DedupeWindow } from "../../../operators/dedupe_window.ts";
import { Pipeline } from "../../../service/pipeline.ts";
import { openDeadLetterLog, openEventLog } from "../../../sinks/event_log.ts";
import {
  NOT_TDM_DEAD_LETTERS,
  RadarTcpSource,
  type RadarTcpSourceOptions,
} from "../../../sources/radar/tcp_adapter.ts";
import { logText as text, withLogs } from "../../_logs.ts";
import { readAllLines, removeDir } from "../../_observations.ts";
import { testWorkers } from "../../_workers.ts";

const enc = new TextEncoder();

const MESSAGE = [
  "CCSDS_TDM_VERS = 2.0",
  "MESSAGE_ID = LATE-1",
  "META_START",
  "TIME_SYSTEM = UTC",
  "PARTICIPANT_1 = XR1",
  "META_STOP",
  "DATA_START",
  "RANGE = 2026-11-25T12:00:00.000000 1234.5",
  "DATA_STOP",
  "",
].join("\n");

async function setup(options: Partial<RadarTcpSourceOptions> = {}) {
  const dir = await Deno.makeTempDir({ prefix: "sda-radar-limits-" });
  const source = new RadarTcpSource({ name: "xr", port: 0, ...options });
  await source.started;
  const pipeline = new Pipeline({
    events: await openEventLog({ dir: `${dir}/events`, fsync: "never" }),
    deadLetters: await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "never" }),
    dedupe: new DedupeWindow(1_000_000),
  });
  pipeline.add(source.readable);
  return {
    dir,
    source,
    async finish(): Promise<{ observations: Observation[]; deadLetters: DeadLetter[] }> {
      await source.stop();
      pipeline.close();
      await pipeline.done;
      return {
        observations: (await readAllLines(`${dir}/events`)).map((l) => JSON.parse(l)),
        deadLetters: (await readAllLines(`${dir}/dead`)).map((l) => JSON.parse(l)),
      };
    },
  };
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

Deno.test("RadarTcpSource() closes 64 idle connections after idleTimeoutMs, so a radar connecting next is logged", async () => {
  await withLogs(async (records) => {
    const t = await setup({ idleTimeoutMs: 1000 });
    const idle: Deno.TcpConn[] = [];
    try {
      for (let i = 0; i < 64; i++) {
        idle.push(await Deno.connect({ hostname: "127.0.0.1", port: t.source.port }));
      }
      await until(() => t.source.status().counters.connections_open === 64);
      // Every slot is held: the next 30 connections are refused, and the
      // log says so once for this peer, with the count following later.
      for (let i = 0; i < 30; i++) {
        const refused = await Deno.connect({ hostname: "127.0.0.1", port: t.source.port });
        assert.equal(await refused.read(new Uint8Array(16)).catch(() => null), null);
        refused.close();
      }
      await until(() => t.source.status().counters.connections_refused_max_connections === 30);
      const refusals = records.filter((r) => /refused a connection/.test(text(r)));
      assert.equal(refusals.length, 1, refusals.map(text).join("\n"));
      assert.equal(refusals[0].level, "warning");
      assert.equal(refusals[0].properties.host, "127.0.0.1");
      assert.equal(refusals[0].properties.reason, "max_connections");
      // The idle ones are closed by the service (their reads end) ...
      await until(() => t.source.status().counters.connections_closed_idle === 64, 5000);
      for (const conn of idle) {
        assert.equal(await conn.read(new Uint8Array(16)).catch(() => null), null);
      }
      // ... and a radar connecting now is read and logged.
      const radar = await Deno.connect({ hostname: "127.0.0.1", port: t.source.port });
      await radar.write(enc.encode(MESSAGE));
      radar.close();
      await until(() => t.source.status().counters.observations === 1, 2000);
      const idleLines = records.filter((r) => /closed a connection/.test(text(r)));
      assert.equal(idleLines.length, 1, idleLines.map(text).join("\n"));
      assert.match(text(idleLines[0]), /idle: no byte arrived for idleTimeoutMs/);
      const { observations } = await t.finish();
      assert.deepEqual(observations.map((o) => o.provenance.ref), ["LATE-1#0@8"]);
      assert.equal(t.source.status().counters.connections_refused, 30);
      // stop() writes the counts that were held back, one line per peer and reason.
      const withCount = records.filter((r) => r.properties.count === 29);
      assert.equal(withCount.length, 1);
      assert.match(text(withCount[0]), /refused a connection from 127\.0\.0\.1 \(29 times/);
    } finally {
      for (const conn of idle) {
        try {
          conn.close();
        } catch {
          // Closed by the service already.
        }
      }
      await t.source.stop();
      await removeDir(t.dir);
    }
  });
});

Deno.test("RadarTcpSource() closes a connection of random bytes as not a TDM stream, with fewer dead-letter bytes than it sent", async () => {
  await withLogs(async (records) => {
    const t = await setup();
    try {
      const junk = new Uint8Array(10 * 1024 * 1024);
      for (let i = 0; i < junk.length; i += 65_536) {
        crypto.getRandomValues(junk.subarray(i, i + 65_536));
      }
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.source.port });
      let sent = 0;
      try {
        while (sent < junk.length) sent += await conn.write(junk.subarray(sent));
      } catch {
        // The service closed the connection under the writes.
      }
      try {
        conn.close();
      } catch {
        // Closed already.
      }
      await until(() => t.source.status().counters.connections_closed_not_tdm === 1);
      const { observations, deadLetters } = await t.finish();
      assert.equal(observations.length, 0);
      assert.ok(deadLetters.length >= NOT_TDM_DEAD_LETTERS, `${deadLetters.length} dead letters`);
      let deadBytes = 0;
      for await (const entry of Deno.readDir(`${t.dir}/dead`)) {
        deadBytes += (await Deno.stat(`${t.dir}/dead/${entry.name}`)).size;
      }
      assert.ok(deadBytes <= 1.1 * junk.length, `${deadBytes} dead-letter bytes`);
      // The service stopped reading: far less than the 10 MB was read.
      assert.ok(t.source.status().counters.bytes < junk.length / 4);
      assert.equal(t.source.status().counters.connections_closed_peer, 0);
      const closed = records.filter((r) => r.properties.reason === "not_tdm");
      assert.equal(closed.length, 1);
      assert.match(
        text(closed[0]),
        /not a TDM stream: 1000 dead letters in a row and no observation/,
      );
    } finally {
      await t.source.stop();
      await removeDir(t.dir);
    }
  });
});

Deno.test("RadarTcpSource() closes a junk connection that then waits, as not a TDM stream, with a decode worker and without", async () => {
  for (const workers of [undefined, await testWorkers(1)]) {
    const t = await setup({ workers });
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.source.port });
    try {
      // One burst, then the sender waits for an answer: no further read
      // would come to look at the count.
      await conn.write(enc.encode(
        Array.from({ length: 1200 }, (_, i) => `JUNK ${i}\n`).join(""),
      ));
      await until(() => t.source.status().counters.connections_closed_not_tdm === 1, 5000);
      // The peer sees the close.
      assert.equal(await conn.read(new Uint8Array(16)), null);
      const { observations, deadLetters } = await t.finish();
      assert.equal(observations.length, 0);
      assert.equal(deadLetters.length, 1200);
    } finally {
      conn.close();
      workers?.close();
      await removeDir(t.dir);
    }
  }
});

Deno.test("RadarTcpSource() keeps a connection whose dead letters are broken by observations", async () => {
  const t = await setup();
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: t.source.port });
    // 1,500 bad lines, but an observation after every 500: never 1,000 in a row.
    let body = "";
    for (let round = 0; round < 3; round++) {
      body += "junk\n".repeat(500) +
        MESSAGE.replace("LATE-1", `M-${round}`).replace("12:00:00", `12:00:0${round}`);
    }
    await conn.write(enc.encode(body));
    conn.close();
    await until(() => t.source.status().counters.connections_closed_peer === 1);
    const { observations, deadLetters } = await t.finish();
    assert.equal(observations.length, 3);
    assert.equal(deadLetters.length, 1500);
    assert.equal(t.source.status().counters.connections_closed_not_tdm, 0);
  } finally {
    await removeDir(t.dir);
  }
});
