import assert from "node:assert/strict";
import dgram from "node:dgram";
import { configure, type LogRecord, reset } from "@logtape/logtape";
import type { IngestBatch } from "../../../operators/ingest_batch.ts";
import { parseConfig } from "../../../service/config.ts";
import { createSource } from "../../../service/source_factory.ts";
import { StateStore } from "../../../service/state_store.ts";
import { type IslGatewaySim, startIslSim } from "../../../sim/isl.ts";
import { encodeStatus } from "../../../sources/isl/status_packet.ts";
import { IslPollSource } from "../../../sources/isl/isl_poll_source.ts";
import { IslUdpSource, openUdpChannel } from "../../../sources/isl/udp_adapter.ts";
import { canonicalIp } from "../../../sources/ip_address.ts";
import { readAllLines, removeDir } from "../../_observations.ts";
import { testWorkers } from "../../_workers.ts";
import { beaconByHand, crc, statusByHand } from "./_hand_packets.ts";
import {
  loggedObservations,
  memoryCheckpoint,
  notExactlyOnce,
  openPipeline,
  refCounts,
  stateCheckpoints,
  waitFor,
} from "./_helpers.ts";

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/**
 * A simulator on `port` again. Deno may hold a UDP port it has just closed
 * for a moment (seen when an answer was still being sent as the old
 * simulator stopped), so EADDRINUSE is tried again for up to a second.
 */
async function restartOn(
  port: number,
  options: Parameters<typeof startIslSim>[0],
): Promise<IslGatewaySim> {
  for (let attempt = 1;; attempt++) {
    try {
      return await startIslSim({ ...options, port });
    } catch (error) {
      if (attempt === 40 || !String(error).includes("EADDRINUSE")) throw error;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }
}

function gatewayOf(sim: IslGatewaySim) {
  return { hostname: "127.0.0.1", port: sim.port };
}

/**
 * Runs a source against `sims` into a pipeline under `dir` until `done()`,
 * its beacons mapped in decode workers as the service would here (issue 16;
 * `deno task test:workers0` runs this file again without); returns the
 * source.
 */
async function ingest(
  dir: string,
  sims: IslGatewaySim[],
  done: (source: IslUdpSource, logged: () => number) => boolean,
  options: Partial<ConstructorParameters<typeof IslUdpSource>[0]> = {},
): Promise<IslUdpSource> {
  const pipeline = await openPipeline(dir);
  const workers = await testWorkers();
  const source = new IslUdpSource({
    workers,
    name: "isl",
    gateways: sims.map(gatewayOf),
    pollIntervalMs: 5,
    // Long enough that a loaded machine does not time out answers that
    // are on their way (a re-poll makes the late answer stale); the tests
    // with datagram loss set a short one.
    timeoutMs: 1000,
    checkpoint: stateCheckpoints(dir),
    ...options,
  });
  pipeline.add(source.readable);
  try {
    await waitFor(() => done(source, () => pipeline.counts("isl").observations), "the log");
  } finally {
    await source.stop();
    pipeline.close();
    await pipeline.done;
    await source.settled();
    workers?.close();
  }
  return source;
}

Deno.test("IslUdpSource() polls a gateway built by hand and decodes its beacon", async () => {
  const gateway = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => gateway.bind(0, "127.0.0.1", resolve));
  const polls: Uint8Array[] = [];
  gateway.on("message", (poll: Uint8Array, from: dgram.RemoteInfo) => {
    polls.push(new Uint8Array(poll));
    const seq = ((poll[2] & 0x3f) << 8) | poll[3];
    const answer = new Uint8Array(18 + 96);
    answer.set(statusByHand(seq, 123456, 123456, 1), 0);
    answer.set(beaconByHand(0b111, 60006), 18);
    gateway.send(answer, from.port, from.address);
  });
  const port = gateway.address().port;
  const source = new IslUdpSource({
    name: "isl-a",
    gateways: [{ hostname: "127.0.0.1", port }],
    checkpoint: () => memoryCheckpoint(),
    now: () => 1_795_608_000_250_001,
  });
  try {
    const reader = source.readable.getReader();
    const { value } = await reader.read();
    reader.releaseLock();
    // The poll, byte by byte: TC, APID 0x7FE, count 0, data length 7, after 0, max 256.
    const head = [0x17, 0xfe, 0xc0, 0x00, 0x00, 0x07, 0, 0, 0, 0, 0x01, 0x00];
    const c = crc(new Uint8Array(head));
    assert.deepEqual([...polls[0]], [...head, c >> 8, c & 0xff]);
    const [o] = value!.observations;
    assert.equal(o.t_obs, "2026-11-25T12:00:00.071105Z");
    assert.equal(o.t_rx, "2026-11-25T12:00:00.250001Z");
    assert.equal(o.sensor, "isl:60005");
    assert.deepEqual(o.target, { norad: 60006, id: "60006" });
    assert.deepEqual(o.measurement, {
      range_km: 371.123456789,
      range_rate_km_s: -0.0123,
      range_sigma_km: 0.25,
      observer: {
        norad: 60005,
        frame: "GCRF",
        r_km: [1234.5, -6543.25, 1.125],
        v_km_s: [7.5, 0.25, -0.125],
      },
    });
    assert.deepEqual(o.provenance, {
      source: "isl-a",
      format: "isl-spp",
      transport: "udp",
      peer: `127.0.0.1:${port}`,
      ref: "123456",
      time_system: "TAI",
      meta: { apid: 12, seq: 9999 },
    });
    assert.equal(value!.receivedAt, 1_795_608_000_250_001);
    assert.equal(value!.acks.length, 1);
  } finally {
    await source.stop();
    gateway.close();
  }
});

Deno.test("IslUdpSource() with --loss 0.2 and 20,000 beacons logs each exactly once and counts no loss", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const sim = await startIslSim({ rate: 0, prefill: 20_000, ring: 20_000, loss: 0.2, seed: 5 });
  try {
    const source = await ingest(dir, [sim], (_, logged) => logged() >= 20_000, {
      timeoutMs: 25,
    });
    const counts = refCounts(await loggedObservations(dir));
    assert.equal(counts.size, 20_000);
    assert.deepEqual(notExactlyOnce(counts, 1, 20_000), []);
    const status = source.status();
    assert.deepEqual(status.lost, { gateway: 0, link: 0, corrupt: 0 });
    // The loss was real: datagrams were dropped and the gaps asked for again.
    assert.ok(sim.counters.datagrams_dropped > 100);
    assert.ok(status.counters.timeouts + status.counters.retries > 50);
    assert.equal((await readAllLines(`${dir}/dead`)).length, 0);
    assert.equal(status.counters.polls, sim.counters.polls);
  } finally {
    await sim.stop();
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() counts as gateway loss exactly what the ring dropped while it was stopped", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const sim = await startIslSim({ rate: 0, ring: 1000, prefill: 500 });
  try {
    await ingest(dir, [sim], (_, logged) => logged() >= 500);
    // While the service is down, 2000 more arrive: the ring keeps 1501…2500.
    sim.generate(2000);
    assert.deepEqual(sim.held, { oldest: 1501, newest: 2500 });
    assert.equal(sim.counters.ring_dropped, 1500); // 1…1500, of which 1…500 were polled
    assert.equal(sim.counters.ring_dropped_unsent, 1000);
    const source = await ingest(dir, [sim], (s) => s.status().counters.answers >= 4, {
      pollIntervalMs: 50,
    });
    assert.equal(source.status().lost!.gateway, sim.counters.ring_dropped_unsent);
    const counts = refCounts(await loggedObservations(dir));
    assert.deepEqual(notExactlyOnce(counts, 1, 500), []);
    assert.deepEqual(notExactlyOnce(counts, 1501, 2500), []);
    assert.equal(counts.size, 1500);
    // The checkpoint moved past the lost indexes.
    assert.equal((await stateCheckpoints(dir)(`127.0.0.1:${sim.port}`).load())!.after, 2500);
  } finally {
    await sim.stop();
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() counts a link gap of k counts as k lost and not the 16383 → 0 wrap", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const sim = await startIslSim({ rate: 0, links: 2, loss: 0.1, seed: 11 });
  try {
    sim.setSequence(1, 16370); // link 1 wraps after 14 beacons
    sim.setSequence(2, 500);
    sim.generate(100);
    sim.skipSequence(2, 7); // 7 counts of link 2 never reach the gateway
    sim.generate(900);
    const source = await ingest(dir, [sim], (_, logged) => logged() >= 1000, {
      maxPackets: 64,
      timeoutMs: 25,
    });
    assert.deepEqual(source.status().lost, { gateway: 0, link: 7, corrupt: 0 });
    const logged = await loggedObservations(dir);
    const link1 = logged.filter((o) => o.provenance.meta.apid === 1)
      .sort((a, b) => Number(a.provenance.ref) - Number(b.provenance.ref))
      .map((o) => o.provenance.meta.seq);
    assert.deepEqual(link1.slice(12, 16), [16382, 16383, 0, 1]);
    assert.ok(source.status().counters.timeouts + source.status().counters.retries > 0);
  } finally {
    await sim.stop();
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() logs one dead letter and every good beacon when one packet of a datagram is corrupt", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const sim = await startIslSim({ rate: 0, prefill: 300 });
  sim.corrupt(30);
  try {
    const source = await ingest(dir, [sim], (_, logged) => logged() >= 300);
    assert.equal(sim.counters.beacons_corrupted, 1);
    const counts = refCounts(await loggedObservations(dir));
    assert.deepEqual(notExactlyOnce(counts, 1, 300), []);
    const dead = (await readAllLines(`${dir}/dead`)).map((line) => JSON.parse(line));
    assert.deepEqual(dead.map((d) => [d.stage, d.ref, d.peer]), [
      ["framing", "30", `127.0.0.1:${sim.port}`],
    ]);
    assert.match(dead[0].reason, /^Bad CRC: packet says 0x[0-9a-f]{4}, computed 0x[0-9a-f]{4}$/);
    assert.equal(atob(dead[0].raw.base64).length, 96);
    assert.deepEqual(source.status().lost, { gateway: 0, link: 0, corrupt: 0 });
  } finally {
    await sim.stop();
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() counts a beacon delivered corrupt by 3 answers in a row as lost and moves on", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const sim = await startIslSim({ rate: 0, prefill: 300 });
  sim.corrupt(40, 3);
  try {
    const source = await ingest(
      dir,
      [sim],
      (s, logged) => logged() >= 299 && s.status().lost!.corrupt === 1,
    );
    const counts = refCounts(await loggedObservations(dir));
    assert.equal(counts.has(40), false);
    assert.deepEqual(notExactlyOnce(counts, 1, 39), []);
    assert.deepEqual(notExactlyOnce(counts, 41, 300), []);
    const dead = (await readAllLines(`${dir}/dead`)).map((line) => JSON.parse(line));
    assert.deepEqual(dead.map((d) => d.ref), ["40", "40", "40"]);
    assert.deepEqual(source.status().lost, { gateway: 0, link: 0, corrupt: 1 });
    assert.equal((await stateCheckpoints(dir)(`127.0.0.1:${sim.port}`).load())!.after, 300);
  } finally {
    await sim.stop();
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() polls only when its reader has demand", async () => {
  const sim = await startIslSim({ rate: 0, prefill: 10_000 });
  const source = new IslUdpSource({
    name: "isl",
    gateways: [gatewayOf(sim)],
    pollIntervalMs: 0,
    checkpoint: () => memoryCheckpoint(),
  });
  try {
    await source.started;
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(sim.counters.polls, 0); // nobody has read yet
    const reader = source.readable.getReader();
    const first = await reader.read();
    // A full answer asks for the next poll at once, but nothing has read
    // the batches of this one: the source waits.
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(sim.counters.polls, 1);
    assert.equal(source.status().counters.polls, 1);
    const batches: IngestBatch[] = [first.value!];
    let beacons = first.value!.observations.length;
    while (beacons < 256) {
      const { value } = await reader.read();
      batches.push(value!);
      beacons += value!.observations.length;
    }
    assert.equal(beacons, 256); // one answer of max = 256
    await reader.read(); // demand again: the second poll
    assert.equal(sim.counters.polls, 2);
    reader.releaseLock();
  } finally {
    await source.stop();
    await sim.stop();
  }
});

Deno.test("IslUdpSource() cancelled stops polling and closes its sockets", async () => {
  const sim = await startIslSim({ rate: 0, prefill: 5000 });
  const source = new IslUdpSource({
    name: "isl",
    gateways: [gatewayOf(sim)],
    checkpoint: () => memoryCheckpoint(),
  });
  const reader = source.readable.getReader();
  await reader.read();
  await reader.cancel("done");
  const polls = sim.counters.polls;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(sim.counters.polls, polls);
  assert.equal(source.status().state, "stopped");
  await sim.stop();
  // The test sanitizers fail the test if a socket or timer were left open.
});

Deno.test("IslUdpSource() polls several gateways at once, each with its own watermark", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const a = await startIslSim({ rate: 0, prefill: 700, seed: 1 });
  const b = await startIslSim({ rate: 0, prefill: 300, seed: 2 });
  try {
    await ingest(dir, [a, b], (_, logged) => logged() >= 1000);
    const logged = await loggedObservations(dir);
    const byPeer = Map.groupBy(logged, (o) => o.provenance.peer);
    assert.equal(byPeer.get(`127.0.0.1:${a.port}`)!.length, 700);
    assert.equal(byPeer.get(`127.0.0.1:${b.port}`)!.length, 300);
    const checkpoint = stateCheckpoints(dir);
    assert.equal((await checkpoint(`127.0.0.1:${a.port}`).load())!.after, 700);
    assert.equal((await checkpoint(`127.0.0.1:${b.port}`).load())!.after, 300);
  } finally {
    await a.stop();
    await b.stop();
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() polls a silent gateway again from the same watermark after each timeout", async () => {
  const silent = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
  const afters: number[] = [];
  silent.on("message", (poll: Uint8Array) => {
    afters.push(new DataView(poll.buffer, poll.byteOffset).getUint32(6));
  });
  const checkpoint = memoryCheckpoint();
  await checkpoint.save({ after: 41 });
  const source = new IslUdpSource({
    name: "isl",
    gateways: [{ hostname: "127.0.0.1", port: silent.address().port }],
    timeoutMs: 10,
    checkpoint: () => checkpoint,
  });
  const reader = source.readable.getReader();
  const read = reader.read();
  try {
    await waitFor(() => afters.length >= 4, "four polls");
    assert.deepEqual(afters.slice(0, 4), [41, 41, 41, 41]);
    const status = source.status();
    assert.ok(status.counters.timeouts >= 3);
    assert.equal(status.state, "degraded");
    assert.match(status.lastError!, /did not complete an answer within 10 ms/);
    const ago = Date.now() * 1000 - status.lastErrorAt!;
    assert.ok(ago >= 0 && ago < 5_000_000, `the last error's time, ${ago} µs ago`);
  } finally {
    await source.stop();
    assert.deepEqual(await read, { done: true, value: undefined });
    silent.close();
  }
});

Deno.test("IslUdpSource() is starting, not up, until its gateway answers, and up once it has", async () => {
  const silent = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => silent.bind(0, "127.0.0.1", resolve));
  let polls = 0;
  silent.on("message", () => polls++);
  const sim = await startIslSim({ rate: 0, prefill: 10, ring: 100 });
  const quiet = new IslUdpSource({
    name: "isl",
    gateways: [{ hostname: "127.0.0.1", port: silent.address().port }],
    timeoutMs: 5000,
    checkpoint: () => memoryCheckpoint(),
  });
  const answering = new IslUdpSource({
    name: "isl2",
    gateways: [gatewayOf(sim)],
    checkpoint: () => memoryCheckpoint(),
  });
  const reader = quiet.readable.getReader();
  const read = reader.read();
  try {
    await waitFor(() => polls >= 1, "the first poll");
    assert.equal(quiet.status().state, "starting");
    const first = await answering.readable.getReader().read();
    assert.equal(first.value!.observations.length + (first.value!.packed?.count ?? 0), 10);
    assert.equal(answering.status().state, "up");
  } finally {
    await quiet.stop();
    await answering.stop();
    assert.deepEqual(await read, { done: true, value: undefined });
    silent.close();
    await sim.stop();
  }
});

Deno.test("IslUdpSource() does not act on forged status packets from the gateway's address with the poll's sequence count", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const sim = await startIslSim({ rate: 0, prefill: 3000, ring: 65536 });
  // At the fourth poll, 200 forged status packets claim the ring holds only
  // 4,000,000,000: ahead of the real answer, from the gateway's own socket.
  sim.beforeAnswer = (poll) =>
    sim.counters.polls === 4
      ? Array.from(
        { length: 200 },
        () =>
          encodeStatus({ seq: poll.seq, oldest: 4_000_000_000, newest: 4_000_000_000, count: 0 }),
      )
      : undefined;
  try {
    const source = await ingest(dir, [sim], (_, logged) => logged() >= 3000, { maxPackets: 256 });
    const status = source.status();
    assert.equal(status.counters.suspect_status, 1);
    assert.equal(status.counters.gateway_resets, 0);
    assert.deepEqual(status.lost, { gateway: 0, link: 0, corrupt: 0 });
    const counts = refCounts(await loggedObservations(dir));
    assert.deepEqual(notExactlyOnce(counts, 1, 3000), []);
    assert.equal(counts.size, 3000);
    assert.equal((await stateCheckpoints(dir)(`127.0.0.1:${sim.port}`).load())!.after, 3000);
  } finally {
    await sim.stop();
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() starts again from index 1 when the next answer confirms that the gateway restarted", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const before = await startIslSim({ rate: 0, prefill: 500, seed: 1 });
  const port = before.port;
  let after: IslGatewaySim | undefined;
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [{ category: ["sda-ingest"], lowestLevel: "info", sinks: ["memory"] }],
  });
  try {
    await ingest(dir, [before], (_, logged) => logged() >= 500);
    await before.stop();
    // The gateway comes back on the same port with an empty ring: index 1 is new.
    after = await restartOn(port, { rate: 0, prefill: 100, seed: 2 });
    const source = await ingest(dir, [after], (_, logged) => logged() >= 100);
    const status = source.status();
    assert.equal(status.counters.suspect_status, 1);
    assert.equal(status.counters.gateway_resets, 1);
    assert.deepEqual(status.lost, { gateway: 0, link: 0, corrupt: 0 });
    const logged = await loggedObservations(dir);
    assert.equal(logged.length, 600);
    assert.deepEqual(notExactlyOnce(refCounts(logged.slice(500)), 1, 100), []);
    assert.equal((await stateCheckpoints(dir)(`127.0.0.1:${port}`).load())!.after, 100);
    // Acted on, and said so once (only the suspect status before it was).
    const restarts = records.filter((r) => String(r.rawMessage).includes("restarted"));
    assert.equal(restarts.length, 1);
    assert.equal(
      restarts[0].rawMessage,
      "ISL gateway {peer} restarted (confirmed by a second answer: its ring ends below the watermark): polling it again from index 0",
    );
    assert.equal(restarts[0].properties.peer, `127.0.0.1:${port}`);
  } finally {
    await reset();
    await before.stop();
    await after?.stop();
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() drops and counts datagrams from any other address or port than the gateway's", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const sim = await startIslSim({ rate: 0, prefill: 1000 });
  // Forgers, one on the gateway's address with another port and (where the
  // permissions allow: `deno task test` grants 127.0.0.1 only) one on
  // another loopback address, each answer every poll first with a sound
  // answer of their own: a status that claims a large loss and a beacon
  // of a satellite that does not exist.
  const other = (await Deno.permissions.query({ name: "net", host: "127.0.0.2" })).state ===
    "granted";
  const addresses = other ? ["127.0.0.1", "127.0.0.2"] : ["127.0.0.1"];
  const forgers = await Promise.all(addresses.map(async (address) => {
    const socket = dgram.createSocket("udp4");
    await new Promise<void>((resolve) => socket.bind(0, address, resolve));
    return socket;
  }));
  const fake = beaconByHand(0b111, 60006);
  new DataView(fake.buffer).setUint32(17, 99_999); // observer
  new DataView(fake.buffer).setUint16(94, crc(fake.subarray(0, 94)));
  sim.onPoll = (poll, from) => {
    const [host, port] = [
      from.slice(0, from.lastIndexOf(":")),
      Number(from.slice(from.lastIndexOf(":") + 1)),
    ];
    const answer = new Uint8Array(18 + 96);
    answer.set(statusByHand(poll.seq, poll.after + 1, poll.after + 1, 1), 0);
    new DataView(fake.buffer).setUint32(13, poll.after + 1); // the index the poll asks for next
    new DataView(fake.buffer).setUint16(94, crc(fake.subarray(0, 94)));
    answer.set(fake, 18);
    for (const forger of forgers) forger.send(answer, port, host);
  };
  try {
    const source = await ingest(dir, [sim], (_, logged) => logged() >= 1000);
    const logged = await loggedObservations(dir);
    assert.equal(logged.length, 1000);
    assert.equal(logged.filter((o) => o.sensor === "isl:99999").length, 0);
    assert.deepEqual(notExactlyOnce(refCounts(logged), 1, 1000), []);
    const status = source.status();
    assert.ok(status.counters.foreign_datagrams >= 2, `${status.counters.foreign_datagrams}`);
    assert.equal(status.counters.foreign_datagrams % forgers.length, 0); // each forger, every poll
    assert.equal(status.counters.suspect_status, 0);
  } finally {
    for (const forger of forgers) forger.close();
    await sim.stop();
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() turns CUC seconds 0 and 2^32 − 1 into a dead letter or an observation and logs the next beacon", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  const gateway = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => gateway.bind(0, "127.0.0.1", resolve));
  const beaconAt = (index: number, coarse?: number) => {
    const bytes = beaconByHand(0b111, 60006);
    const view = new DataView(bytes.buffer);
    if (coarse !== undefined) view.setUint32(7, coarse);
    view.setUint32(13, index);
    view.setUint16(94, crc(bytes.subarray(0, 94)));
    return bytes;
  };
  const port = gateway.address().port;
  gateway.on("message", (poll: Uint8Array, from: dgram.RemoteInfo) => {
    const seq = ((poll[2] & 0x3f) << 8) | poll[3];
    const after = new DataView(poll.buffer, poll.byteOffset).getUint32(6);
    const count = Math.max(0, 3 - after);
    const answer = new Uint8Array(18 + count * 96);
    answer.set(statusByHand(seq, 1, 3, count), 0);
    const beacons = [beaconAt(1, 0), beaconAt(2, 0xffffffff), beaconAt(3)];
    beacons.slice(after).forEach((b, k) => answer.set(b, 18 + k * 96));
    gateway.send(answer, from.port, from.address);
  });
  const pipeline = await openPipeline(dir);
  const workers = await testWorkers();
  const source = new IslUdpSource({
    name: "isl",
    gateways: [{ hostname: "127.0.0.1", port }],
    pollIntervalMs: 5,
    checkpoint: stateCheckpoints(dir),
    workers,
  });
  pipeline.add(source.readable);
  try {
    await waitFor(() => source.status().counters.answers >= 2, "two answers");
  } finally {
    await source.stop();
    pipeline.close();
    await pipeline.done;
    await source.settled();
    workers?.close();
    gateway.close();
  }
  try {
    const logged = await loggedObservations(dir);
    const dead = (await readAllLines(`${dir}/dead`)).map((line) => JSON.parse(line));
    // Each extreme is one or the other, exactly once; the good beacon is logged.
    const refs = [...logged.map((o) => o.provenance.ref), ...dead.map((d) => d.ref)].sort();
    assert.deepEqual(refs, ["1", "2", "3"]);
    assert.equal(
      logged.find((o) => o.provenance.ref === "3")?.t_obs,
      "2026-11-25T12:00:00.071105Z",
    );
    for (const letter of dead) assert.match(letter.stage, /^(decoding|validation)$/);
    for (const letter of dead) assert.doesNotMatch(letter.reason, /^Internal error/);
    // Counted where they ended, wherever they were mapped.
    assert.equal(source.status().counters.beacons, logged.length);
    assert.equal(source.status().counters.rejected_beacons, dead.length);
    assert.equal(
      (await stateCheckpoints(dir)(`127.0.0.1:${port}`).load())!.after,
      3,
    );
  } finally {
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() from a config with sensors dead-letters the beacons of every other observer", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-" });
  // Observers 60001…60008 range each other, one link each (APIDs 1…8).
  const sim = await startIslSim({ rate: 0, prefill: 800, links: 8 });
  const config = parseConfig({
    sources: [{
      name: "isl",
      kind: "isl",
      gateways: [{ hostname: "127.0.0.1", port: sim.port }],
      pollIntervalMs: 5,
      sensors: ["isl:60001", "isl:60002"],
    }],
  });
  const workers = await testWorkers();
  const source = createSource(config.sources[0], new StateStore(`${dir}/state`), {
    workers,
  }) as IslUdpSource;
  const pipeline = await openPipeline(dir);
  pipeline.add(source.readable);
  try {
    await waitFor(() => source.status().counters.answers >= 4, "every beacon");
  } finally {
    await source.stop();
    pipeline.close();
    await pipeline.done;
    await source.settled();
    workers?.close();
    await sim.stop();
  }
  try {
    const logged = await loggedObservations(dir);
    const dead = (await readAllLines(`${dir}/dead`)).map((line) => JSON.parse(line));
    assert.deepEqual(new Set(logged.map((o) => o.sensor)), new Set(["isl:60001", "isl:60002"]));
    assert.equal(logged.length, 200);
    assert.equal(dead.length, 600);
    assert.ok(dead.every((d) => d.stage === "validation"));
    assert.match(dead[0].reason, /^sensor isl:600(0[3-8]) is not permitted for source isl$/);
    // Every index is accounted for once, logged or dead-lettered; W passed them all.
    const refs = [...logged.map((o) => o.provenance.ref), ...dead.map((d) => d.ref)];
    assert.deepEqual(refs.map(Number).sort((a, b) => a - b), range(1, 800));
    assert.deepEqual(source.status().lost, { gateway: 0, link: 0, corrupt: 0 });
    assert.equal((await stateCheckpoints(dir)(`127.0.0.1:${sim.port}`).load())!.after, 800);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("IslUdpSource() refuses a saved state that is not a watermark, naming where it is kept, and polls nothing", async () => {
  const sim = await startIslSim({ rate: 0, prefill: 10 });
  const source = new IslUdpSource({
    name: "isl",
    gateways: [gatewayOf(sim)],
    checkpoint: () => ({
      // An optical cursor copied over the watermark.
      load: () => Promise.resolve("v1.2989" as never),
      save: () => Promise.resolve(),
      where: "state file /s/isl.isl.127.0.0.1_9003.json",
    }),
  });
  try {
    await assert.rejects(
      source.started,
      new RangeError(
        'state file /s/isl.isl.127.0.0.1_9003.json: Cannot resume from a saved state that is not an ISL watermark: "v1.2989"',
      ),
    );
    assert.equal(sim.counters.polls, 0);
  } finally {
    await source.stop().catch(() => {});
    await sim.stop();
  }
});

Deno.test("openUdpChannel() takes answers from a gateway however its address is spelled", async () => {
  // Every answer was dropped as foreign when the configured address was
  // not spelled as the kernel reports the sender (`0:0:0:0:0:0:0:1` for
  // `::1`, an IPv4-mapped address for an IPv4 one).
  assert.deepEqual(canonicalIp("0:0:0:0:0:0:0:1"), {
    address: "::1",
    family: 6,
    loopback: true,
  });
  assert.deepEqual(canonicalIp("2001:DB8:0::1"), {
    address: "2001:db8::1",
    family: 6,
    loopback: false,
  });
  assert.deepEqual(canonicalIp("127.0.0.2"), {
    address: "127.0.0.2",
    family: 4,
    loopback: true,
  });
  const echo = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => echo.bind(0, "127.0.0.1", resolve));
  echo.on("message", (message, from) => echo.send(message, from.port, from.address));
  try {
    for (const hostname of ["::ffff:127.0.0.1", "[::ffff:7f00:1]"]) {
      const channel = await openUdpChannel({ hostname, port: echo.address().port });
      try {
        await channel.send(new Uint8Array([1, 2, 3]));
        assert.deepEqual([...(await channel.receive(2000))!], [1, 2, 3], hostname);
        assert.equal(channel.counters.foreign_datagrams, 0);
      } finally {
        channel.close();
      }
    }
  } finally {
    echo.close();
  }
});

Deno.test("IslUdpSource() says a gateway answers too slowly, not that it is silent, when its answers come after timeoutMs", async () => {
  const slow = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => slow.bind(0, "127.0.0.1", resolve));
  // Every poll answered (an empty ring) 60 ms late, past the 20 ms timeout.
  slow.on("message", (poll: Uint8Array, from) => {
    const seq = new DataView(poll.buffer, poll.byteOffset).getUint16(2) & 0x3fff;
    setTimeout(() => slow.send(statusByHand(seq, 0, 0, 0), from.port, from.address), 60);
  });
  const source = new IslUdpSource({
    name: "isl",
    gateways: [{ hostname: "127.0.0.1", port: slow.address().port }],
    timeoutMs: 20,
    checkpoint: () => memoryCheckpoint(),
  });
  const reader = source.readable.getReader();
  const read = reader.read();
  try {
    await waitFor(() => (source.status().counters.stale_answers ?? 0) >= 3, "three late answers");
    await waitFor(() => source.status().state === "degraded", "degraded");
    assert.match(
      source.status().lastError!,
      /^Gateway 127\.0\.0\.1:\d+ did not complete an answer within 20 ms \d+ times in a row \(\d+ answers came later and were ignored as stale: the gateway answers slower than timeoutMs\)$/,
    );
  } finally {
    await source.stop();
    assert.deepEqual(await read, { done: true, value: undefined });
    slow.close();
  }
});

Deno.test("IslUdpSource() starts when a gateway's host name does not resolve: that gateway is down and asked again", async () => {
  const source = new IslUdpSource({
    name: "isl",
    gateways: [{ hostname: "gw.invalid", port: 7003 }],
    checkpoint: () => memoryCheckpoint(),
  });
  const reader = source.readable.getReader();
  const read = reader.read();
  try {
    await source.started;
    const status = source.status();
    assert.equal(status.state, "down");
    assert.match(
      status.lastError!,
      /^Cannot resolve the host name of gw\.invalid:7003 \(.*\); trying again every 5 s$/,
    );
  } finally {
    await source.stop();
    assert.deepEqual(await read, { done: true, value: undefined });
  }
});

Deno.test("IslPollSource() takes any failed getaddrinfo for a name that may resolve later, not only ENOTFOUND (a sandbox's resolver answers EPERM)", async () => {
  let opens = 0;
  const source = new IslPollSource({
    name: "isl",
    gateways: [{ hostname: "gw.example", port: 7003 }],
    checkpoint: () => memoryCheckpoint(),
    openChannel: () => {
      opens++;
      // The shape node:dns gives a lookup the resolver refused.
      const error = Object.assign(new Error("getaddrinfo EPERM gw.example"), {
        code: "EPERM",
        syscall: "getaddrinfo",
        hostname: "gw.example",
      });
      return Promise.reject(error);
    },
  });
  const reader = source.readable.getReader();
  const read = reader.read();
  try {
    await source.started;
    assert.equal(opens, 1);
    const status = source.status();
    assert.equal(status.state, "down");
    assert.equal(
      status.lastError,
      "Cannot resolve the host name of gw.example:7003 (getaddrinfo EPERM gw.example); trying again every 5 s",
    );
  } finally {
    await source.stop();
    assert.deepEqual(await read, { done: true, value: undefined });
  }
});
