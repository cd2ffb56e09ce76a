import assert from "node:assert/strict";
import dgram from "node:dgram";
import { islSim, startIslSim } from "../../sim/isl.ts";
import { decodeDatagram } from "../../sources/isl/decode_datagram.ts";
import { decodeIslPackets } from "../../sources/isl/decode_isl_packets.ts";
import { encodePoll } from "../../sources/isl/poll_request.ts";

/** A client socket that collects answer datagrams. */
async function client() {
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const datagrams: Uint8Array[] = [];
  socket.on("message", (message: Uint8Array) => datagrams.push(new Uint8Array(message)));
  return { socket, datagrams };
}

async function until(condition: () => boolean): Promise<void> {
  const start = performance.now();
  while (!condition()) {
    if (performance.now() - start > 5000) throw new Error("Timed out");
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

Deno.test("startIslSim() answers a poll with a status and consecutive beacons in datagrams of ≤ 1400 bytes", async () => {
  const sim = await startIslSim({ rate: 0, prefill: 1000 });
  const { socket, datagrams } = await client();
  try {
    socket.send(encodePoll({ seq: 77, after: 100, max: 256 }), sim.port, "127.0.0.1");
    await until(() => datagrams.length === 19);
    assert.ok(datagrams.every((d) => d.length <= 1400));
    assert.deepEqual(datagrams.map((d) => d.length), [
      ...Array(18).fill(18 + 14 * 96).map((n, i) => i === 0 ? n : 14 * 96),
      4 * 96,
    ]);
    const first = decodeDatagram(datagrams[0]).packets[0];
    assert.deepEqual(first.type === "status" && first.status, {
      seq: 77,
      oldest: 1,
      newest: 1000,
      count: 256,
    });
    const indexes = datagrams.flatMap((d) =>
      decodeDatagram(d).packets.flatMap((p) => p.type === "beacon" ? [p.beacon.index] : [])
    );
    assert.deepEqual(indexes, Array.from({ length: 256 }, (_, i) => 101 + i));
  } finally {
    socket.close();
    await sim.stop();
  }
});

Deno.test("startIslSim() beacons are plausible ranging between formation satellites", async () => {
  const sim = await startIslSim({ rate: 0, prefill: 64, links: 8 });
  const { socket, datagrams } = await client();
  try {
    socket.send(encodePoll({ seq: 1, after: 0, max: 64 }), sim.port, "127.0.0.1");
    await until(() => datagrams.length === 5);
    const ctx = { source: "t", transport: "udp" as const, peer: "sim" };
    const observations = datagrams.flatMap((d) => decodeIslPackets(d, ctx).observations);
    assert.equal(observations.length, 64);
    assert.deepEqual(new Set(observations.map((o) => o.provenance.meta.apid)).size, 8);
    for (const o of observations) {
      const m = o.measurement as {
        range_km: number;
        range_rate_km_s: number;
        observer: { r_km?: number[]; v_km_s?: number[] };
      };
      // Pairs 3° apart on one orbit: a few hundred km, nearly constant.
      assert.ok(m.range_km > 300 && m.range_km < 450, `range ${m.range_km}`);
      assert.ok(Math.abs(m.range_rate_km_s) < 0.5);
      if (m.observer.r_km) {
        const r = Math.hypot(...m.observer.r_km);
        const v = Math.hypot(...m.observer.v_km_s!);
        assert.ok(r > 6600 && r < 7100, `radius ${r}`); // LEO
        assert.ok(v > 7.3 && v < 7.9, `speed ${v}`);
      }
    }
    assert.equal(new Set(observations.map((o) => o.id)).size, 64);
  } finally {
    socket.close();
    await sim.stop();
  }
});

Deno.test("startIslSim() drops the fraction of answer datagrams asked for, and what a hook picks", async () => {
  const sim = await startIslSim({ rate: 0, prefill: 14 * 100, loss: 0.25, seed: 9 });
  sim.dropDatagram = (d) => d.answer === 2 && d.datagram === 0;
  const { socket } = await client();
  try {
    for (let seq = 1; seq <= 20; seq++) {
      socket.send(encodePoll({ seq, after: 0, max: 1400 }), sim.port, "127.0.0.1");
    }
    await until(() => sim.counters.polls === 20);
    const { datagrams_sent: sent, datagrams_dropped: dropped } = sim.counters;
    assert.equal(sent + dropped, 20 * 100); // 1400 beacons, 14 per datagram
    const fraction = dropped / (sent + dropped);
    assert.ok(fraction > 0.2 && fraction < 0.3, `dropped ${fraction}`);
  } finally {
    socket.close();
    await sim.stop();
  }
});

Deno.test("startIslSim() with dropStatus sends every beacon but no status packet", async () => {
  const sim = await startIslSim({ rate: 0, prefill: 30, dropStatus: true });
  const { socket, datagrams } = await client();
  try {
    socket.send(encodePoll({ seq: 3, after: 0, max: 256 }), sim.port, "127.0.0.1");
    await until(() => datagrams.length === 3);
    await new Promise((resolve) => setTimeout(resolve, 20));
    const packets = datagrams.flatMap((d) => decodeDatagram(d).packets);
    assert.equal(packets.filter((p) => p.type === "status").length, 0);
    assert.deepEqual(
      packets.map((p) => p.type === "beacon" && p.beacon.index),
      Array.from({ length: 30 }, (_, i) => i + 1),
    );
    assert.deepEqual(datagrams.map((d) => d.length), [14 * 96, 14 * 96, 2 * 96]);
    assert.equal(sim.counters.datagrams_dropped, 1);
  } finally {
    socket.close();
    await sim.stop();
  }
});

Deno.test("startIslSim() ring overwrites the oldest beacons and counts them", async () => {
  const sim = await startIslSim({ rate: 0, ring: 50 });
  try {
    sim.generate(30);
    assert.deepEqual(sim.held, { oldest: 1, newest: 30 });
    sim.generate(45);
    assert.deepEqual(sim.held, { oldest: 26, newest: 75 });
    assert.equal(sim.counters.ring_dropped, 25);
    assert.equal(sim.counters.ring_dropped_unsent, 25);
  } finally {
    await sim.stop();
  }
});

Deno.test("startIslSim() generates at --rate", async () => {
  const sim = await startIslSim({ rate: 2000 });
  try {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const made = sim.counters.beacons;
    assert.ok(made >= 200 && made <= 900, `generated ${made}`);
  } finally {
    await sim.stop();
  }
});

Deno.test("islSim --help describes every option", () => {
  for (
    const option of [
      "--port",
      "--hostname",
      "--rate",
      "--loss",
      "--ring",
      "--links",
      "--seed",
      "--prefill",
      "--duration",
      "--drop-status",
    ]
  ) {
    assert.match(islSim.help, new RegExp(`^  ${option} `, "m"));
  }
});

Deno.test("islSim rejects bad usage", async () => {
  await assert.rejects(() => islSim.run(["--loss", "1.5"]), { name: "UsageError" });
  await assert.rejects(() => islSim.run(["--links", "0"]), { name: "UsageError" });
  await assert.rejects(() => islSim.run(["--bogus"]), { name: "UsageError" });
});

Deno.test("islSim runs as a process and prints a summary when it stops", async () => {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-net=127.0.0.1",
      new URL("../../sim/isl.ts", import.meta.url).pathname,
      "--port",
      "0",
      "--rate",
      "0",
      "--prefill",
      "10",
      "--duration",
      "0.2",
    ],
    stdout: "null",
    stderr: "piped",
  });
  const { code, stderr } = await child.output();
  const text = new TextDecoder().decode(stderr);
  assert.equal(code, 0);
  assert.match(text, /^sim isl: gateway listening on udp:\/\/127\.0\.0\.1:\d+$/m);
  assert.match(text, /generated 10 beacons/);
});
