/**
 * End-to-end: `main.ts serve` as a subprocess against the three simulators
 * on loopback.
 */

import assert from "node:assert/strict";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import { ArchiveSim } from "../../sim/archive.ts";
import { startIslSim } from "../../sim/isl.ts";
import { RadarSim } from "../../sim/radar.ts";
import {
  type Child,
  freePort,
  scrape,
  spawnMain,
  sumMetric,
  waitForOk,
} from "../../bench/_processes.ts";
import { jetstreamManager } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";
import { startNatsServer } from "../_nats.ts";
import { removeDir } from "../_observations.ts";

interface Running {
  child: Child;
  http: string;
}

/**
 * Radar sources here use groupIdleMs 500: on a loaded 2-core machine a
 * sender can be descheduled for more than 20 ms inside an observation, and
 * the idle rule (SPEC §4) would then split it — these tests count exactly.
 */
async function writeConfig(dir: string, sources: unknown[], extra: Record<string, unknown> = {}) {
  const httpPort = freePort();
  await Deno.writeTextFile(
    `${dir}/ingest.json`,
    JSON.stringify({
      sources,
      log: { dir: "events", fsync: "interval", fsyncIntervalMs: 20 },
      deadLetter: { dir: "dead-letter" },
      state: { dir: "state" },
      http: { port: httpPort },
      ...extra,
    }),
  );
  return httpPort;
}

async function serve(dir: string, httpPort: number): Promise<Running> {
  const child = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
  const http = `http://127.0.0.1:${httpPort}`;
  await waitForOk(`${http}/ready`, 30_000, child);
  return { child, http };
}

/** Polls /metrics until `check` holds (or fails after `timeoutMs`). */
async function until(
  http: string,
  check: (m: Map<string, number>) => boolean,
  timeoutMs = 60_000,
): Promise<Map<string, number>> {
  const t0 = Date.now();
  while (true) {
    const metrics = await scrape(`${http}/metrics`);
    if (check(metrics)) return metrics;
    if (Date.now() - t0 > timeoutMs) {
      throw new Error(
        `Condition not met within ${timeoutMs} ms: ${
          [...metrics].filter(([k]) =>
            k.startsWith("sda_ingest_observations") || k.startsWith("sda_ingest_dead")
          ).map(([k, v]) => `${k}=${v}`).join(", ")
        }`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function logLines(dir: string): Promise<string[]> {
  const names = [...Deno.readDirSync(dir)].map((e) => e.name).filter((n) => n.endsWith(".jsonl"))
    .sort();
  let text = "";
  for (const name of names) text += await Deno.readTextFile(`${dir}/${name}`);
  assert.ok(text === "" || text.endsWith("\n"), "the log ends in a partial line");
  return text.split("\n").filter((l) => l !== "");
}

/** Properties of the JSON log lines (stderr) whose message matches. */
function logRecords(stderr: string, message: RegExp): Record<string, unknown>[] {
  return stderr.split("\n").flatMap((line) => {
    try {
      const record = JSON.parse(line);
      return message.test(record.message) ? [record.properties] : [];
    } catch {
      return [];
    }
  });
}

const observations = (m: Map<string, number>, source: string) =>
  sumMetric(m, "sda_ingest_observations_total", `source="${source}"`);

Deno.test("serve logs what the three simulators sent, once each, and exits 0 on SIGTERM", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-serve-" });
  const archive = new ArchiveSim({ port: 0, count: 3000 });
  const isl = await startIslSim({ port: 0, rate: 0, prefill: 2000, ring: 8192 });
  try {
    await archive.ready;
    const radarPort = freePort();
    const httpPort = await writeConfig(dir, [
      { name: "xr1", kind: "radar", port: radarPort, groupIdleMs: 500 },
      { name: "archive", kind: "optical", url: archive.url, pollIntervalMs: 50 },
      {
        name: "isl",
        kind: "isl",
        gateways: [{ hostname: "127.0.0.1", port: isl.port }],
        pollIntervalMs: 20,
      },
    ]);
    const { child, http } = await serve(dir, httpPort);
    const health0 = await (await fetch(`${http}/health`)).json();
    assert.deepEqual(Object.keys(health0.sources), ["xr1", "archive", "isl"]);
    const radar = new RadarSim({ hostname: "127.0.0.1", port: radarPort, count: 5000 });
    const sent = await radar.start();
    assert.equal(sent.observations, 5000);
    const metrics = await until(
      http,
      (m) =>
        observations(m, "xr1") === 5000 && observations(m, "archive") === 3000 &&
        observations(m, "isl") === 2000,
    );
    assert.equal(metrics.get("sda_ingest_log_offset"), 10_000);
    assert.equal(sumMetric(metrics, "sda_ingest_duplicates_total"), 0);
    assert.equal(sumMetric(metrics, "sda_ingest_source_up"), 3);
    // Connections now are a gauge (a counter that goes down reads as resets).
    const held = await Deno.connect({ hostname: "127.0.0.1", port: radarPort });
    try {
      const now = await until(
        http,
        (m) => sumMetric(m, "sda_ingest_connections", 'source="xr1",state="open"') === 1,
      );
      assert.equal(sumMetric(now, "sda_ingest_connections", 'state="handshake"'), 0);
      assert.equal(sumMetric(now, "sda_ingest_source_events_total", "connections_open"), 0);
    } finally {
      held.close();
    }
    const health = await (await fetch(`${http}/health`)).json();
    assert.equal(health.status, "ok");
    assert.equal(health.sources.archive.counts.observations, 3000);
    assert.equal((await child.stop("SIGTERM")).code, 0);
    // The final line of the ISL source says what was lost (the metrics die with the process).
    const [final] = logRecords(
      child.stderr(),
      /^Source isl final: 2000 observations logged, 0 duplicates dropped, 0 dead letters, 0 beacons lost \(gateway 0, link 0, corrupt 0\)$/,
    );
    assert.deepEqual(final?.lost, { gateway: 0, link: 0, corrupt: 0 }, child.stderr());

    const lines = await logLines(`${dir}/events`);
    assert.equal(lines.length, 10_000);
    const logged = lines.map((l) => JSON.parse(l) as Observation);
    assert.equal(new Set(logged.map((o) => o.id)).size, 10_000);
    const byKind = (kind: string) => logged.filter((o) => o.kind === kind);
    assert.equal(byKind("radar").length, 5000);
    assert.equal(byKind("optical").length, 3000);
    assert.equal(byKind("isl").length, 2000);
    assert.deepEqual(
      new Set(byKind("radar").map((o) => o.provenance.peer)),
      new Set(radar.localAddresses),
    );
    assert.deepEqual(
      new Set(byKind("optical").map((o) => o.provenance.peer)),
      new Set([archive.url]),
    );
    assert.deepEqual(
      new Set(byKind("isl").map((o) => o.provenance.peer)),
      new Set([`127.0.0.1:${isl.port}`]),
    );
  } finally {
    await Promise.all([archive.stop(), isl.stop()]);
    await removeDir(dir);
  }
});

Deno.test("SIGTERM during a high-rate run: exit 0, everything the radar source read is logged, no partial line", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-serve-" });
  try {
    const radarPort = freePort();
    const httpPort = await writeConfig(dir, [{
      name: "xr1",
      kind: "radar",
      port: radarPort,
      groupIdleMs: 500,
    }]);
    const { child, http } = await serve(dir, httpPort);
    const radar = new RadarSim({ hostname: "127.0.0.1", port: radarPort, count: 10_000_000 });
    const sending = radar.start().catch(() => radar.counters);
    await until(http, (m) => observations(m, "xr1") > 50_000);
    const status = await child.stop("SIGTERM");
    radar.stop();
    await sending;
    assert.equal(status.code, 0);
    const [final] = logRecords(child.stderr(), /^Source xr1 final:/);
    const counters = final.counters as Record<string, number>;
    // Every observation decoded from what was read off the socket is in the log.
    assert.equal(final.logged, counters.observations - (final.duplicates as number));
    // Stopping mid-stream cuts the sender off inside a line or a message —
    // a segment's data or, now and then, its metadata: what was read of it
    // is a dead letter, not lost.
    const letters = await logLines(`${dir}/dead-letter`);
    assert.equal(letters.length, final.deadLetters);
    assert.ok(letters.length <= 2, letters.join("\n"));
    for (const letter of letters) {
      assert.match(JSON.parse(letter).reason, /[Ii]ncomplete|ended|not closed by META_STOP/);
    }
    const lines = await logLines(`${dir}/events`);
    assert.equal(lines.length, final.logged);
    assert.ok(lines.length > 50_000 && lines.length < 10_000_000);
    for (const line of [lines[0], lines[lines.length - 1]]) JSON.parse(line);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("kill -9 mid-run, restart: no partial line, no duplicate id, optical and ISL resume from their state", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-serve-" });
  const archive = new ArchiveSim({ port: 0, count: 20_000, latencyMs: 5 });
  const isl = await startIslSim({ port: 0, rate: 0, prefill: 20_000, ring: 65_536 });
  try {
    await archive.ready;
    const httpPort = await writeConfig(dir, [
      { name: "archive", kind: "optical", url: archive.url, pageSize: 500, pollIntervalMs: 50 },
      {
        name: "isl",
        kind: "isl",
        gateways: [{ hostname: "127.0.0.1", port: isl.port }],
        maxPackets: 256,
        pollIntervalMs: 20,
      },
    ], { log: { dir: "events", fsync: "always" } });
    const first = await serve(dir, httpPort);
    await until(
      first.http,
      (m) => observations(m, "archive") >= 4000 && observations(m, "isl") >= 4000,
    );
    await first.child.stop("SIGKILL");
    const cursorSaved =
      JSON.parse(await Deno.readTextFile(`${dir}/state/optical.archive.json`)).value;
    const islSaved =
      JSON.parse(await Deno.readTextFile(`${dir}/state/isl.isl.127.0.0.1_${isl.port}.json`)).value;
    assert.ok(islSaved.after > 0);
    const requestsBefore = archive.requests.length;

    const second = await serve(dir, httpPort);
    await until(second.http, (m) => m.get("sda_ingest_log_offset") === 40_000);
    // Settle: nothing more arrives.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal((await scrape(`${second.http}/metrics`)).get("sda_ingest_log_offset"), 40_000);
    assert.equal((await second.child.stop("SIGTERM")).code, 0);

    // The archive saw the restart resume from the checkpointed cursor.
    assert.equal(archive.requests[requestsBefore].cursor, cursorSaved);
    const lines = await logLines(`${dir}/events`);
    const logged = lines.map((l) => JSON.parse(l) as Observation);
    assert.equal(logged.length, 40_000);
    assert.equal(new Set(logged.map((o) => o.id)).size, 40_000);
    assert.equal(logged.filter((o) => o.kind === "isl").length, 20_000);
    // ISL: the second run polled from the saved watermark, not from 0.
    const islRefs = logged.filter((o) => o.kind === "isl").map((o) => Number(o.provenance.ref));
    assert.deepEqual(new Set(islRefs).size, 20_000);
  } finally {
    await Promise.all([archive.stop(), isl.stop()]);
    await removeDir(dir);
  }
});

Deno.test("dead letters of every stage reach the dead-letter log with reasons, and /metrics agrees with it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-serve-" });
  const archive = new ArchiveSim({ port: 0, count: 2000, failRate: 0.3, seed: 7 });
  const isl = await startIslSim({ port: 0, rate: 0, prefill: 300, ring: 8192 });
  try {
    await archive.ready;
    isl.corrupt(5, 1);
    const radarPort = freePort();
    const httpPort = await writeConfig(dir, [
      { name: "xr1", kind: "radar", port: radarPort, maxLineBytes: 512 },
      { name: "archive", kind: "optical", url: archive.url, pollIntervalMs: 50 },
      {
        name: "isl",
        kind: "isl",
        gateways: [{ hostname: "127.0.0.1", port: isl.port }],
        pollIntervalMs: 20,
      },
    ]);
    const { child, http } = await serve(dir, httpPort);
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: radarPort });
    const tdm = [
      "CCSDS_TDM_VERS = 2.0",
      "CREATION_DATE = 2026-11-25T12:00:00",
      "ORIGINATOR = TEST",
      "MESSAGE_ID = DL-1",
      "META_START",
      "TIME_SYSTEM = UTC",
      "PARTICIPANT_1 = XR9",
      "PARTICIPANT_2 = 25544",
      "ANGLE_TYPE = AZEL",
      "META_STOP",
      "DATA_START",
      "RANGE = 2026-11-25T12:00:00.000 1000.5",
      `COMMENT ${"x".repeat(600)}`,
      "RANGE = 2026-11-25T12:00:01.000 12.3.4",
      "ANGLE_2 = 2026-11-25T12:00:02.000 95.0",
      "RANGE = 2026-11-25T12:00:03.000 1001.5",
      "DATA_STOP",
      "",
    ].join("\n");
    await conn.write(new TextEncoder().encode(tdm));
    conn.close();
    const metrics = await until(
      http,
      (m) =>
        observations(m, "archive") === 2000 && observations(m, "isl") === 300 &&
        observations(m, "xr1") === 2 &&
        sumMetric(m, "sda_ingest_dead_letters_total", 'stage="framing"') >= 2,
    );
    assert.equal((await child.stop("SIGTERM")).code, 0);

    const letters = (await logLines(`${dir}/dead-letter`)).map((l) => JSON.parse(l) as DeadLetter);
    const count = (source: string, stage: string) =>
      letters.filter((d) => d.source === source && d.stage === stage).length;
    // The archive keeps failing 30 % of its polls after the scrape, so compare
    // the log with the counters the service held when it stopped — the ones
    // /metrics serves — and the quiet sources with the scrape itself.
    const finals = new Map(
      logRecords(child.stderr(), /final:/).map((
        r,
      ) => [r.source as string, r.deadLettersByStage as Record<string, number>]),
    );
    for (const source of ["xr1", "archive", "isl"]) {
      for (const stage of ["framing", "decoding", "validation", "transport"]) {
        assert.equal(count(source, stage), finals.get(source)![stage], `${source}/${stage}`);
        if (source !== "archive") {
          assert.equal(
            count(source, stage),
            metrics.get(`sda_ingest_dead_letters_total{source="${source}",stage="${stage}"}`),
            `${source}/${stage} in /metrics`,
          );
        }
      }
    }
    assert.ok(
      count("archive", "transport") >=
        metrics.get('sda_ingest_dead_letters_total{source="archive",stage="transport"}')!,
    );
    assert.equal(count("xr1", "framing"), 1);
    assert.equal(count("xr1", "decoding"), 1);
    assert.equal(count("xr1", "validation"), 1);
    assert.ok(count("archive", "transport") > 0);
    assert.equal(count("isl", "framing"), 1);
    const reasons = letters.filter((d) => d.source === "xr1").map((d) => d.reason);
    assert.ok(reasons.some((r) => /12\.3\.4/.test(r)), reasons.join(" | "));
    assert.ok(letters.every((d) => d.reason.length > 10));
  } finally {
    await Promise.all([archive.stop(), isl.stop()]);
    await removeDir(dir);
  }
});

Deno.test("serve counts a radar connection from outside allow by reason in /metrics and logs nothing it sent", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-serve-" });
  const radarPort = freePort();
  const httpPort = await writeConfig(dir, [
    { name: "xr1", kind: "radar", port: radarPort, allow: ["192.0.2.0/24"] },
  ]);
  const running = await serve(dir, httpPort);
  try {
    for (let i = 0; i < 3; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: radarPort });
      await conn.write(new TextEncoder().encode("CCSDS_TDM_VERS = 2.0\n")).catch(() => 0);
      // Closed by the service before a line is read.
      assert.equal(await conn.read(new Uint8Array(16)).catch(() => null), null);
      conn.close();
    }
    const metrics = await until(
      running.http,
      (m) => sumMetric(m, "sda_ingest_connections_refused_total", 'reason="not_allowed"') === 3,
    );
    assert.equal(
      metrics.get('sda_ingest_connections_refused_total{source="xr1",reason="not_allowed"}'),
      3,
    );
    assert.equal(sumMetric(metrics, "sda_ingest_connections_refused_total", "source="), 3);
    assert.equal(observations(metrics, "xr1"), 0);
    assert.equal(sumMetric(metrics, "sda_ingest_dead_letters_total", 'source="xr1"'), 0);
    await running.child.stop("SIGTERM");
    assert.deepEqual(await logLines(`${dir}/events`), []);
  } finally {
    await running.child.stop("SIGKILL");
    await removeDir(dir);
  }
});

Deno.test("serve with nats publishes every logged observation to JetStream once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-serve-" });
  const nats = await startNatsServer();
  try {
    const radarPort = freePort();
    const httpPort = await writeConfig(dir, [{
      name: "xr1",
      kind: "radar",
      port: radarPort,
      groupIdleMs: 500,
    }], {
      nats: { servers: [nats.url], stream: "SDA_E2E", subjectPrefix: "sda.obs" },
    });
    const { child, http } = await serve(dir, httpPort);
    const radar = new RadarSim({
      hostname: "127.0.0.1",
      port: radarPort,
      count: 3000,
      sensor: "XR-9",
    });
    await radar.start();
    await until(http, (m) => observations(m, "xr1") === 3000);
    assert.equal((await child.stop("SIGTERM")).code, 0);
    const nc = await connect({ servers: nats.url });
    try {
      const info = await (await jetstreamManager(nc)).streams.info("SDA_E2E");
      assert.equal(info.state.messages, 3000);
      assert.deepEqual(info.config.subjects, ["sda.obs.>"]);
      const first = (await (await jetstreamManager(nc)).streams.getMessage("SDA_E2E", { seq: 1 }))!;
      assert.equal(first.subject, "sda.obs.radar.XR-9");
      const logged = (await logLines(`${dir}/events`)).map((l) => JSON.parse(l) as Observation);
      assert.equal(first.header.get("Nats-Msg-Id"), logged[0].id);
    } finally {
      await nc.close();
    }
  } finally {
    await nats.stop();
    await removeDir(dir);
  }
});

Deno.test("serve refuses a state directory another running service keeps its cursors in", async () => {
  const a = await Deno.makeTempDir({ prefix: "sda-serve-" });
  const b = await Deno.makeTempDir({ prefix: "sda-serve-" });
  const archive = new ArchiveSim({ port: 0, count: 100 });
  try {
    await archive.ready;
    const source = { name: "archive", kind: "optical", url: archive.url, pollIntervalMs: 50 };
    const first = await serve(a, await writeConfig(a, [source]));
    // Its own logs, the first one's state: it would start from the first one's cursor.
    await writeConfig(b, [source], { state: { dir: `${a}/state` } });
    const second = spawnMain(["serve", "--config", `${b}/ingest.json`]);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const status = await Promise.race([
      second.status,
      new Promise<undefined>((resolve) => timer = setTimeout(() => resolve(undefined), 30_000)),
    ]);
    clearTimeout(timer);
    if (status === undefined) await second.stop("SIGKILL");
    assert.equal(status?.code, 1, second.stderr());
    assert.match(
      second.stderr(),
      new RegExp(
        `${a}/state is in use by another running service: only one service may keep its cursors and watermarks there \\(give each its own state.dir\\)`,
      ),
    );
    assert.equal((await first.child.stop("SIGTERM")).code, 0);
    // Let go at exit: a service started now takes it.
    const again = await serve(b, await writeConfig(b, [source], { state: { dir: `${a}/state` } }));
    assert.equal((await again.child.stop("SIGTERM")).code, 0);
  } finally {
    await archive.stop();
    await removeDir(a);
    await removeDir(b);
  }
});

Deno.test("serve with a damaged state file stops at start naming it, without saying the other sources go on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-serve-" });
  try {
    await writeConfig(dir, [
      { name: "xr1", kind: "radar", port: freePort() },
      { name: "isl", kind: "isl", gateways: [{ hostname: "127.0.0.1", port: 7 }] },
    ]);
    await Deno.mkdir(`${dir}/state`);
    await Deno.writeTextFile(`${dir}/state/isl.isl.127.0.0.1_7.json`, "garbage{");
    const child = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
    assert.equal((await child.status).code, 1, child.stderr());
    assert.match(child.stderr(), /Cannot start: .*state file .*isl\.isl\.127\.0\.0\.1_7\.json/);
    assert.doesNotMatch(child.stderr(), /the other sources go on/);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("serve warns at start when the events log ends below what the saved positions cover (a segment lost)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-serve-" });
  const archive = new ArchiveSim({ port: 0, count: 100 });
  try {
    await archive.ready;
    const httpPort = await writeConfig(dir, [
      { name: "archive", kind: "optical", url: archive.url, pollIntervalMs: 50 },
    ]);
    const warning =
      /^The events log ends at offset (\d+), but .*optical\.archive\.json was saved when it held (\d+) records: (\d+) records the saved positions cover are missing/;
    const run = async () => {
      const { child, http } = await serve(dir, httpPort);
      await until(
        http,
        (m) => observations(m, "archive") === 100 || m.get("sda_ingest_log_offset") === 100,
      );
      assert.equal((await child.stop("SIGTERM")).code, 0);
      return child.stderr().split("\n").flatMap((line) => {
        try {
          const match = warning.exec(JSON.parse(line).message);
          return match ? [match.slice(1).map(Number)] : [];
        } catch {
          return [];
        }
      });
    };
    assert.deepEqual(await run(), []);
    // A restart with the log as it was: nothing to say.
    assert.deepEqual(await run(), []);
    // The log lost its (only) segment: the cursor covers 100 records it no longer holds.
    for (const entry of Deno.readDirSync(`${dir}/events`)) {
      await Deno.remove(`${dir}/events/${entry.name}`);
    }
    const { child } = await serve(dir, httpPort);
    assert.equal((await child.stop("SIGTERM")).code, 0);
    const lines = child.stderr().split("\n").filter((line) =>
      warning.test(line.slice(line.indexOf('"message":"') + 11))
    );
    assert.equal(lines.length, 1, child.stderr());
    assert.deepEqual(warning.exec(JSON.parse(lines[0]).message)!.slice(1).map(Number), [
      0,
      100,
      100,
    ]);
  } finally {
    await archive.stop();
    await removeDir(dir);
  }
});
