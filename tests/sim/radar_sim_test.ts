/** `sim radar`: what it renders, how it sends, and its command line. */

import assert from "node:assert/strict";
import { ObservationSchema } from "../../envelope/observation.ts";
import { Orbits } from "../../sim/orbits.ts";
import { RadarRenderer } from "../../sim/_radar_render.ts";
import { RadarSim, radarSim, runRadarSim } from "../../sim/radar.ts";
import { decodeTdm } from "../../sources/radar/decode_tdm.ts";

const START = Date.parse("2026-11-25T12:00:00Z");
const ctx = { source: "sim", transport: "tcp" as const, peer: "p" };
const orbits = new Orbits();

/** A listener that keeps the text of every connection until it closes. */
function sink() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const texts: Promise<string>[] = [];
  const accepting = (async () => {
    for await (const conn of listener) texts.push(new Response(conn.readable).text());
  })();
  return {
    port: listener.addr.port,
    async close(): Promise<string[]> {
      listener.close();
      await accepting;
      return await Promise.all(texts);
    },
  };
}

Deno.test("RadarRenderer() renders TDM that decodes without a dead letter into plausible, time-ordered observations", () => {
  const renderer = new RadarRenderer({ orbits, startMs: START, seed: 3 });
  const text = renderer.render(2500) + renderer.finish();
  const { observations, deadLetters } = decodeTdm(text, ctx);
  assert.deepEqual(deadLetters, []);
  assert.equal(observations.length, 2500);
  assert.equal(renderer.messages, 3);
  assert.equal(new Set(observations.map((o) => o.id)).size, 2500);
  for (const o of observations.slice(0, 300)) assert.ok(ObservationSchema.safeParse(o).success);
  for (let i = 0; i < observations.length; i++) {
    const o = observations[i];
    const m = o.measurement as Record<string, number>;
    assert.deepEqual(Object.keys(m), ["range_km", "range_rate_km_s", "az_deg", "el_deg", "rcs_m2"]);
    assert.ok(m.range_km > 200 && m.range_km < 45_000, `range ${m.range_km}`);
    assert.ok(Math.abs(m.range_rate_km_s) < 8, `range rate ${m.range_rate_km_s}`);
    assert.ok(m.az_deg >= 0 && m.az_deg < 360 && m.el_deg >= 5 && m.el_deg <= 90);
    assert.ok(m.rcs_m2 > 0);
    assert.equal(orbits.object(o.target.norad!)?.norad, o.target.norad);
    if (i > 0) assert.ok(o.t_obs > observations[i - 1].t_obs, "timetags advance");
  }
  // One millisecond of sim time per observation by default.
  assert.equal(observations[0].t_obs, "2026-11-25T12:00:00.000000Z");
  assert.equal(observations[2499].t_obs, "2026-11-25T12:00:02.499000Z");
  // A segment per track of 100 observations, ten tracks per message.
  assert.equal(observations[100].provenance.ref.split("#")[1].split("@")[0], "1");
  // The second message: segment 0, its first group on line 18 (after header and metadata).
  assert.equal(observations[1000].provenance.ref.split("#")[1], "0@18");
});

Deno.test("RadarRenderer() lanes share one timeline without sharing a timetag", () => {
  const lanes = [0, 1, 2].map((lane) => {
    const r = new RadarRenderer({ orbits, startMs: START, lane, lanes: 3, stepUs: 10 });
    return decodeTdm(r.render(50) + r.finish(), ctx).observations.map((o) => o.t_obs);
  });
  const all = lanes.flat().sort();
  assert.equal(new Set(all).size, 150);
  assert.equal(all[0], "2026-11-25T12:00:00.000000Z");
  assert.equal(all[149], "2026-11-25T12:00:00.001490Z");
  assert.equal(lanes[1][0], "2026-11-25T12:00:00.000010Z");
});

Deno.test("RadarRenderer() corrupts the RCS line of the chosen fraction of observations", () => {
  const renderer = new RadarRenderer({ orbits, startMs: START, badRate: 0.1, seed: 9 });
  const text = renderer.render(1000) + renderer.finish();
  const { observations, deadLetters } = decodeTdm(text, ctx);
  const corrupt = text.split("\n").filter((l) => l.endsWith(" 1.2.3")).length;
  assert.ok(corrupt > 50 && corrupt < 150, `${corrupt} corrupt lines`);
  assert.equal(deadLetters.length, corrupt);
  assert.equal(observations.length, 1000);
  assert.equal(observations.filter((o) => !("rcs_m2" in o.measurement)).length, corrupt);
});

Deno.test("RadarRenderer() tracks only the given target when asked", () => {
  const renderer = new RadarRenderer({ orbits, startMs: START, target: 25544 });
  const { observations } = decodeTdm(renderer.render(300) + renderer.finish(), ctx);
  assert.deepEqual(new Set(observations.map((o) => o.target.norad)), new Set([25544]));
  assert.throws(() => new RadarRenderer({ orbits, target: 1 }), RangeError);
});

Deno.test("RadarSim() splits count over its connections, each carrying whole messages", async () => {
  const server = sink();
  const sim = new RadarSim({
    hostname: "127.0.0.1",
    port: server.port,
    count: 1001,
    connections: 3,
    startMs: START,
  });
  const counters = await sim.start();
  const texts = await server.close();
  assert.equal(texts.length, 3);
  assert.equal(counters.connections, 3);
  assert.equal(sim.localAddresses.length, 3);
  const decoded = texts.map((text) => decodeTdm(text, ctx));
  assert.deepEqual(decoded.map((d) => d.observations.length).sort(), [333, 334, 334]);
  assert.ok(decoded.every((d) => d.deadLetters.length === 0));
  assert.ok(texts.every((t) => t.endsWith("DATA_STOP\n")));
  const ids = decoded.flatMap((d) => d.observations.map((o) => o.id));
  assert.equal(new Set(ids).size, 1001);
  assert.equal(counters.observations, 1001);
  assert.equal(counters.bytes, texts.reduce((n, t) => n + t.length, 0));
});

Deno.test("RadarSim() at a given rate takes the time the rate implies", async () => {
  const server = sink();
  const t0 = performance.now();
  const result = await runRadarSim({
    hostname: "127.0.0.1",
    port: server.port,
    count: 60,
    rate: 300,
  });
  const elapsed = performance.now() - t0;
  await server.close();
  assert.equal(result.observations, 60);
  // Observation 60 is due 59/300 s after the first: a lower bound only.
  assert.ok(elapsed >= 190, `done after ${elapsed} ms`);
});

Deno.test("RadarSim() stop() ends an unbounded run and closes its connections", async () => {
  const server = sink();
  const sim = new RadarSim({ hostname: "127.0.0.1", port: server.port, rate: 1000 });
  const running = sim.start();
  while (sim.counters.observations < 20) await new Promise((r) => setTimeout(r, 10));
  sim.stop();
  const counters = await running;
  const [text] = await server.close();
  assert.ok(counters.observations >= 20);
  assert.equal(decodeTdm(text, ctx).observations.length, counters.observations);
});

Deno.test("RadarSim() rejects when nobody listens, after its connect timeout", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  await assert.rejects(
    runRadarSim({ hostname: "127.0.0.1", port, count: 1, connectTimeoutMs: 200 }),
    Deno.errors.ConnectionRefused,
  );
});

Deno.test("radarSim.run() sends --count observations to --to and reports usage errors", async () => {
  const server = sink();
  const status = await radarSim.run([
    "--to",
    `127.0.0.1:${server.port}`,
    "--count",
    "25",
    "--sensor",
    "XR5",
    "--start",
    "2026-11-25T12:00:00Z",
  ]);
  const [text] = await server.close();
  assert.equal(status, 0);
  const { observations } = decodeTdm(text, ctx);
  assert.equal(observations.length, 25);
  assert.equal(observations[0].sensor, "XR5");
  assert.equal(observations[0].t_obs, "2026-11-25T12:00:00.000000Z");
  await assert.rejects(radarSim.run([]), { name: "UsageError" });
  await assert.rejects(radarSim.run(["--to", "nowhere"]), { name: "UsageError" });
  await assert.rejects(radarSim.run(["--to", "127.0.0.1:1", "--bad-rate", "2"]), {
    name: "UsageError",
  });
  await assert.rejects(radarSim.run(["--to", "127.0.0.1:1", "--wat"]), { name: "UsageError" });
});

Deno.test("sim/radar.ts run as a process explains every option in --help and exits 2 on bad usage", async () => {
  const run = (args: string[]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", new URL("../../sim/radar.ts", import.meta.url).pathname, ...args],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
  const help = await run(["--help"]);
  assert.equal(help.code, 0);
  const text = new TextDecoder().decode(help.stdout);
  for (const option of radarSim.help.match(/--[a-z-]+/g)!) assert.ok(text.includes(option));
  for (const option of ["--to", "--rate", "--count", "--sensor", "--connections", "--target"]) {
    assert.ok(text.includes(option), option);
  }
  const bad = await run(["--count", "5"]);
  assert.equal(bad.code, 2);
  assert.match(new TextDecoder().decode(bad.stderr), /--to HOST:PORT is required/);
});
