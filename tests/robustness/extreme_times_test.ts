/**
 * Issue 11, first "done when": every timetag year from 0000 to 9999
 * (sampled, plus the boundaries) in a radar stream, an optical page and ISL
 * beacons (CUC seconds 0 and 2^32 − 1) yields a dead letter or an
 * observation, the next good observation on the same connection / page /
 * datagram is logged, and the process never exits. One `main.ts serve`
 * process, its three sources fed over real loopback sockets: a TCP radar
 * sender, a tiny HTTP archive and a tiny UDP gateway in this test.
 */

import assert from "node:assert/strict";
import dgram from "node:dgram";
import { type Child, freePort, spawnMain, waitForOk } from "../../bench/_processes.ts";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import { encodeBeacon } from "../../sources/isl/beacon.ts";
import { decodePoll } from "../../sources/isl/poll_request.ts";
import { encodeStatus } from "../../sources/isl/status_packet.ts";
import { readAllLines, removeDir } from "../_observations.ts";
import { handBeacon } from "../sources/isl/_make_fixtures.ts";

/** The boundaries, every 250th year, and a seeded sample of the rest: 0000–9999. */
function sampleYears(): number[] {
  const years = new Set([
    0,
    1,
    99,
    100,
    999,
    1000,
    1582,
    1683,
    1684,
    1685,
    1899,
    1900,
    1956,
    1957,
    1958,
    1969,
    1970,
    1971,
    1972,
    2000,
    2016,
    2017,
    2254,
    2255,
    2256,
    2300,
    9998,
    9999,
  ]);
  const now = new Date().getUTCFullYear();
  for (const y of [now - 1, now, now + 1]) years.add(y);
  for (let y = 0; y <= 9999; y += 250) years.add(y);
  let seed = 11;
  for (let k = 0; k < 40; k++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    years.add(seed % 10000);
  }
  return [...years].sort((a, b) => a - b);
}

/** Timestamps of year `y` in the forms a timestamp field can take, valid or not. */
function forms(y: number): string[] {
  const yyyy = String(y).padStart(4, "0");
  return [
    `${yyyy}-01-01T00:00:00`,
    `${yyyy}-12-31T23:59:59.999999`,
    `${yyyy}-001T00:00:00.5`,
    `${yyyy}-366T12:00:00`,
    `${yyyy}-02-29T12:00:00`,
    `${yyyy}-06-30T23:59:60`,
    `${yyyy}-12-31T23:59:60.25`,
  ];
}

/** A good instant a little in the past, distinct per `k`. */
function good(k: number): string {
  return new Date(Date.now() - 7_200_000 + k * 10).toISOString().slice(0, 23);
}

function radarText(): { text: string; lines: number; goodValues: number[] } {
  let text = "";
  let lines = 0;
  let k = 0;
  const goodValues: number[] = [];
  for (const timeSystem of ["UTC", "TAI", "GPS"]) {
    text += `CCSDS_TDM_VERS = 2.0\nMESSAGE_ID = YEARS-${timeSystem}\nMETA_START\n` +
      `TIME_SYSTEM = ${timeSystem}\nPARTICIPANT_1 = XR1\nMETA_STOP\nDATA_START\n`;
    for (const y of sampleYears()) {
      for (const t of forms(y)) {
        // One bad (or merely extreme) line, then a good one: each its own group.
        text += `RANGE = ${t} 1000.0\n`;
        const value = 5000 + k;
        text += `RANGE = ${good(k++)} ${value}\n`;
        goodValues.push(value);
        lines += 2;
      }
    }
    text += "DATA_STOP\n";
  }
  return { text, lines, goodValues };
}

function opticalPage(): { csv: string; rows: number; goodIds: string[] } {
  let csv = "id,obTime,idSensor,ra,declination\n";
  let rows = 0;
  let k = 0;
  const goodIds: string[] = [];
  for (const y of sampleYears()) {
    for (const t of forms(y)) {
      csv += `X-${k},${t}Z,SBO-2,10.5,20.5\n`;
      const id = `G-${k}`;
      csv += `${id},${good(k++)}Z,SBO-2,10.5,20.5\n`;
      goodIds.push(id);
      rows += 2;
    }
  }
  return { csv, rows, goodIds };
}

/** 2^32 − 1 and 0 coarse seconds, and a few between, each followed by a good beacon. */
const CUC_EXTREMES = [0, 1, 2 ** 31, 2 ** 32 - 2, 2 ** 32 - 1];

function islBeacons(): Uint8Array[] {
  const beacons: Uint8Array[] = [];
  let index = 1;
  for (const coarse of CUC_EXTREMES) {
    for (const fine of [0, 0xffff]) {
      beacons.push(encodeBeacon({ ...handBeacon(index, 1, index), coarse, fine }));
      index++;
      beacons.push(encodeBeacon(handBeacon(index, 1, index)));
      index++;
    }
  }
  return beacons;
}

/** A gateway answering every poll with a status and the beacons after `after`, ten at most. */
function startGateway(beacons: Uint8Array[]): Promise<{ port: number; close(): void }> {
  const socket = dgram.createSocket("udp4");
  socket.on("message", (message: Uint8Array, from: { address: string; port: number }) => {
    let poll;
    try {
      poll = decodePoll(new Uint8Array(message));
    } catch {
      return;
    }
    const first = poll.after; // beacon i has index i + 1
    const take = beacons.slice(first, first + Math.min(10, poll.max));
    const status = encodeStatus({
      seq: poll.seq,
      oldest: 1,
      newest: beacons.length,
      count: take.length,
    });
    const datagram = new Uint8Array(status.length + take.length * 96);
    datagram.set(status);
    take.forEach((b, i) => datagram.set(b, status.length + i * 96));
    socket.send(datagram, from.port, from.address);
  });
  return new Promise((resolve) => {
    socket.bind(0, "127.0.0.1", () => {
      resolve({ port: socket.address().port, close: () => socket.close() });
    });
  });
}

async function health(http: string): Promise<Record<string, unknown>> {
  return await (await fetch(`${http}/health`)).json();
}

function total(counts: { observations: number; dead_letters: Record<string, number> }): number {
  return counts.observations + Object.values(counts.dead_letters).reduce((a, b) => a + b, 0);
}

Deno.test("serve turns every year 0000–9999 in a radar stream, an optical page and ISL beacons into a dead letter or an observation, logs the good one after each, and never exits", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-years-" });
  const radar = radarText();
  const page = opticalPage();
  const beacons = islBeacons();
  let pages = 0;
  const archive = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const cursor = new URL(request.url).searchParams.get("cursor");
    pages++;
    return new Response(cursor === null ? page.csv : "id,obTime,idSensor,ra,declination\n", {
      headers: { "content-type": "text/csv", "x-next-cursor": "end" },
    });
  });
  const gateway = await startGateway(beacons);
  let child: Child | undefined;
  try {
    const radarPort = freePort();
    const httpPort = freePort();
    const http = `http://127.0.0.1:${httpPort}`;
    await Deno.writeTextFile(
      `${dir}/ingest.json`,
      JSON.stringify({
        sources: [
          { name: "xr1", kind: "radar", port: radarPort, groupIdleMs: 500 },
          {
            name: "archive",
            kind: "optical",
            url: `http://127.0.0.1:${archive.addr.port}/udl/eoobservation`,
            pageSize: 10_000,
            pollIntervalMs: 200,
          },
          {
            name: "isl",
            kind: "isl",
            gateways: [{ hostname: "127.0.0.1", port: gateway.port }],
            pollIntervalMs: 100,
          },
        ],
        log: { dir: "events", fsync: "interval" },
        deadLetter: { dir: "dead-letter" },
        state: { dir: "state" },
        http: { port: httpPort },
      }),
    );
    child = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
    await waitForOk(`${http}/ready`, 30_000, child);

    const conn = await Deno.connect({ hostname: "127.0.0.1", port: radarPort });
    const bytes = new TextEncoder().encode(radar.text);
    for (let at = 0; at < bytes.length;) at += await conn.write(bytes.subarray(at));
    conn.close();

    const deadline = Date.now() + 60_000;
    let doc: Record<string, unknown>;
    const counts = (name: string) =>
      (doc.sources as Record<string, { counts: Parameters<typeof total>[0] }>)[name].counts;
    for (;;) {
      doc = await health(http);
      if (
        total(counts("xr1")) >= radar.lines && total(counts("archive")) >= page.rows &&
        total(counts("isl")) >= beacons.length
      ) break;
      if (Date.now() > deadline) {
        throw new Error(`Not everything arrived: ${JSON.stringify(doc)}\n${child.stderr()}`);
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    // One result per input, no more.
    assert.equal(total(counts("xr1")), radar.lines);
    assert.equal(total(counts("archive")), page.rows);
    assert.equal(total(counts("isl")), beacons.length);
    assert.ok(pages >= 1);
    const status = await child.stop("SIGTERM");
    child = undefined;
    assert.equal(status.code, 0, "the service exits only when told, and cleanly");

    const observations: Observation[] = (await readAllLines(`${dir}/events`)).map((l) =>
      JSON.parse(l)
    );
    const deadLetters: DeadLetter[] = (await readAllLines(`${dir}/dead-letter`)).map((l) =>
      JSON.parse(l)
    );
    // The good one after each extreme one is logged.
    const ranges = new Set(
      observations.filter((o) => o.kind === "radar").map((o) =>
        (o.measurement as { range_km: number }).range_km
      ),
    );
    for (const value of radar.goodValues) assert.ok(ranges.has(value), `radar ${value}`);
    const refs = new Set(observations.map((o) => o.provenance.ref));
    for (const id of page.goodIds) assert.ok(refs.has(id), `optical ${id}`);
    for (let index = 2; index <= beacons.length; index += 2) {
      assert.ok(refs.has(String(index)), `isl beacon ${index}`);
    }
    // Every extreme instant that was logged is admissible; the rest are
    // decoding or validation dead letters, never anything else.
    for (const o of observations) {
      assert.ok(
        o.t_obs >= "1957-10-04" && o.t_obs < new Date(Date.now() + 86_400_000).toISOString(),
      );
    }
    for (const d of deadLetters) {
      assert.ok(d.stage === "decoding" || d.stage === "validation", `${d.stage}: ${d.reason}`);
      assert.ok(!d.reason.startsWith("Internal error"), d.reason);
    }
    // The leap second at the end of 2016 is logged as second 60 (SPEC §14);
    // second 60 at the end of June 2017 is a decoding dead letter.
    assert.ok(
      observations.some((o) => o.kind === "radar" && o.t_obs === "2016-12-31T23:59:60.250000Z"),
    );
    assert.ok(
      observations.some((o) => o.kind === "optical" && o.t_obs === "2016-12-31T23:59:60.250000Z"),
    );
    const june = deadLetters.filter((d) => d.raw === "RANGE = 2017-06-30T23:59:60 1000.0");
    assert.deepEqual(june.map((d) => d.stage), ["decoding", "decoding", "decoding"]);
    // CUC 0 is before the leap-second table, 2^32 − 1 (2094) far in the future.
    const isl = deadLetters.filter((d) => d.source === "isl").map((d) => [d.stage, d.ref]);
    assert.deepEqual(isl.slice(0, 2), [["decoding", "1"], ["decoding", "3"]]);
    assert.deepEqual(isl.slice(-2), [["validation", "17"], ["validation", "19"]]);
  } finally {
    await child?.stop("SIGKILL");
    gateway.close();
    await archive.shutdown();
    await removeDir(dir);
  }
});
