import assert from "node:assert/strict";
import { parseTimestamp } from "../../envelope/time.ts";
import { ArchiveSim, archiveSim } from "../../sim/archive.ts";
import { OPTICAL_SITE, Orbits } from "../../sim/orbits.ts";
import { decodeOpticalPage } from "../../sources/optical/decode_optical_page.ts";

const ctx = { source: "archive", transport: "http" as const, peer: "sim" };

async function page(
  sim: ArchiveSim,
  query: string,
  accept = "text/csv",
  headers: Record<string, string> = {},
): Promise<Response> {
  return await fetch(`${sim.url}?${query}`, { headers: { accept, ...headers } });
}

Deno.test("ArchiveSim() pages through every observation once, oldest first, with unique ids", async () => {
  const sim = new ArchiveSim({ count: 5000 });
  try {
    const ids = new Set<string>();
    const refs: string[] = [];
    let last = -Infinity;
    let cursor: string | null = null;
    for (;;) {
      const response = await page(sim, `maxResults=1000${cursor ? `&cursor=${cursor}` : ""}`);
      assert.equal(response.headers.get("content-type"), "text/csv; charset=utf-8");
      const decoded = decodeOpticalPage(await response.text(), "text/csv", ctx);
      assert.deepEqual(decoded.deadLetters, []);
      cursor = response.headers.get("x-next-cursor");
      if (decoded.observations.length === 0) break;
      for (const o of decoded.observations) {
        ids.add(o.id);
        refs.push(o.provenance.ref);
        const t = parseTimestamp(o.t_obs);
        assert.ok(t >= last, "oldest first");
        last = t;
      }
    }
    assert.equal(refs.length, 5000);
    assert.equal(new Set(refs).size, 5000);
    assert.equal(ids.size, 5000);
    assert.equal(cursor, ArchiveSim.cursorAt(5000));
    assert.deepEqual(sim.requests.map((r) => r.records), [1000, 1000, 1000, 1000, 1000, 0]);
  } finally {
    await sim.stop();
  }
});

Deno.test("ArchiveSim() serves physically plausible observations from the optical site", async () => {
  const sim = new ArchiveSim({ count: 2000 });
  try {
    const text = await (await page(sim, "maxResults=2000")).text();
    const { observations } = decodeOpticalPage(text, "text/csv", ctx);
    assert.equal(observations.length, 2000);
    const objects = new Set(observations.map((o) => o.target.norad ?? o.target.id));
    assert.ok(objects.size >= 3, `several objects in view (${objects.size})`);
    for (const o of observations) {
      const m = o.measurement;
      assert.ok(m.ra_deg >= 0 && m.ra_deg < 360);
      assert.ok(m.dec_deg >= -90 && m.dec_deg <= 90);
      assert.deepEqual(m.site, OPTICAL_SITE);
      assert.ok(m.mag! > 0 && m.mag! < 20);
      assert.equal(o.provenance.meta.dataMode, "SIMULATED");
    }
    // Consecutive observations of one object move smoothly (a track, not noise).
    const byObject = new Map<string, number[]>();
    for (const o of observations) {
      const key = String(o.target.norad ?? o.target.id);
      byObject.set(key, [...(byObject.get(key) ?? []), o.measurement.dec_deg]);
    }
    for (const decs of byObject.values()) {
      for (let i = 1; i < decs.length; i++) assert.ok(Math.abs(decs[i] - decs[i - 1]) < 5);
    }
  } finally {
    await sim.stop();
  }
});

Deno.test("ArchiveSim() answers JSON by Accept with the same records as CSV", async () => {
  const sim = new ArchiveSim({ count: 300 });
  try {
    const csv = await page(sim, "maxResults=100&cursor=v1.100");
    const json = await page(sim, "maxResults=100&cursor=v1.100", "application/json");
    assert.equal(json.headers.get("content-type"), "application/json");
    assert.equal(json.headers.get("x-next-cursor"), "v1.200");
    const a = decodeOpticalPage(await csv.text(), "text/csv", ctx).observations;
    const b = decodeOpticalPage(await json.text(), "application/json", ctx).observations;
    assert.equal(b.length, 100);
    assert.deepEqual(b.map((o) => o.id), a.map((o) => o.id));
  } finally {
    await sim.stop();
  }
});

Deno.test("ArchiveSim() starts after obTime when asked with no cursor", async () => {
  const sim = new ArchiveSim({ count: 3000 });
  try {
    const all =
      decodeOpticalPage(await (await page(sim, "maxResults=3000")).text(), "text/csv", ctx)
        .observations;
    const pivot = all[1234].t_obs;
    const response = await page(sim, `maxResults=5&obTime=${encodeURIComponent(">" + pivot)}`);
    const after = decodeOpticalPage(await response.text(), "text/csv", ctx).observations;
    assert.ok(after.length > 0);
    assert.ok(after.every((o) => o.t_obs > pivot));
    assert.equal(after[0].t_obs, all.find((o) => o.t_obs > pivot)!.t_obs);
    assert.equal((await page(sim, "obTime=%3Cnope")).status, 400);
    assert.equal((await page(sim, "cursor=bogus")).status, 400);
    assert.equal((await page(sim, "maxResults=0")).status, 400);
    await fetch(`${sim.url.replace("/udl/eoobservation", "/elsewhere")}`).then((r) =>
      r.body?.cancel()
    );
    assert.equal(sim.requests.at(-1)!.status, 404);
  } finally {
    await sim.stop();
  }
});

Deno.test("ArchiveSim() requires the bearer token when it has one", async () => {
  const sim = new ArchiveSim({ count: 10, token: "t0k" });
  try {
    const denied = await page(sim, "maxResults=5");
    await denied.body?.cancel();
    assert.equal(denied.status, 401);
    const allowed = await page(sim, "maxResults=5", "text/csv", { authorization: "Bearer t0k" });
    await allowed.body?.cancel();
    assert.equal(allowed.status, 200);
    assert.equal(sim.counters.unauthorized, 1);
  } finally {
    await sim.stop();
  }
});

Deno.test("ArchiveSim() answers 429 with Retry-After over its rate limit", async () => {
  const sim = new ArchiveSim({ count: 10, rateLimit: 2 });
  try {
    const statuses: number[] = [];
    let retryAfter: string | null = null;
    for (let i = 0; i < 5; i++) {
      const response = await page(sim, "maxResults=1");
      await response.body?.cancel();
      statuses.push(response.status);
      if (response.status === 429) retryAfter ??= response.headers.get("retry-after");
    }
    // Two per second get through (a second boundary may let two more in).
    assert.ok(statuses.filter((s) => s === 429).length >= 1, String(statuses));
    assert.equal(retryAfter, "1");
    assert.equal(sim.counters.rate_limited, statuses.filter((s) => s === 429).length);
  } finally {
    await sim.stop();
  }
});

Deno.test("ArchiveSim() fails about --fail-rate of requests with 5xx, reproducibly by seed", async () => {
  const run = async () => {
    const sim = new ArchiveSim({ count: 10, failRate: 0.3, seed: 42 });
    const statuses: number[] = [];
    try {
      for (let i = 0; i < 60; i++) {
        const response = await page(sim, "maxResults=1");
        await response.body?.cancel();
        statuses.push(response.status);
      }
    } finally {
      await sim.stop();
    }
    return statuses;
  };
  const first = await run();
  const failed = first.filter((s) => s >= 500);
  assert.ok(failed.length >= 8 && failed.length <= 32, `${failed.length} of 60 failed`);
  assert.ok(failed.every((s) => [500, 502, 503].includes(s)));
  assert.deepEqual(await run(), first);
});

Deno.test("ArchiveSim() holds a hanging request until the client gives up", async () => {
  const sim = new ArchiveSim({ count: 10, hangRate: 1 });
  try {
    const abort = new AbortController();
    const pending = fetch(`${sim.url}?maxResults=1`, { signal: abort.signal }).catch((e) => e);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(sim.counters.hung, 1);
    assert.equal(sim.requests[0].status, 0, "not answered");
    abort.abort();
    assert.equal((await pending).name, "AbortError");
  } finally {
    await sim.stop();
  }
});

Deno.test("ArchiveSim() appends --rate new observations per second to what it holds", async () => {
  const sim = new ArchiveSim({ count: 10, rate: 1000 });
  try {
    await new Promise((resolve) => setTimeout(resolve, 120));
    assert.ok(sim.available >= 10 + 100, `available ${sim.available}`);
    const response = await page(sim, "maxResults=10000");
    const { observations } = decodeOpticalPage(await response.text(), "text/csv", ctx);
    assert.ok(observations.length >= 110);
    // R observations per second of obTime, the newest about now: a live feed.
    const times = observations.map((o) => parseTimestamp(o.t_obs) / 1000);
    const span = times.at(-1)! - times[0];
    assert.ok(Math.abs(span - (observations.length - 1)) < 5, `span ${span} ms`);
    assert.ok(Math.abs(times.at(-1)! - Date.now()) < 2000);
  } finally {
    await sim.stop();
  }
});

Deno.test("ArchiveSim() with --rate keeps pace through a minute when nothing is 10° up from its site", async () => {
  // About one minute in twenty from this site and catalogue (it failed a CI
  // run at such a minute: the records lay a minute ahead of the clock).
  const orbits = new Orbits();
  let start = Date.parse("2026-11-25T00:00:00Z");
  while (orbits.visible(OPTICAL_SITE, start, 10).length > 0) start += 60_000;
  const sim = new ArchiveSim({ count: 1000, rate: 100, startMs: start });
  try {
    const response = await page(sim, "maxResults=1000");
    const { observations } = decodeOpticalPage(await response.text(), "text/csv", ctx);
    assert.equal(observations.length, 1000);
    // 1,000 records at 100 per second of obTime: the first 10 s from start.
    const times = observations.map((o) => parseTimestamp(o.t_obs) / 1000 - start);
    assert.ok(times[0] >= 0 && times[0] < 100, `first at +${times[0]} ms`);
    assert.ok(Math.abs(times.at(-1)! - 9990) < 100, `last at +${times.at(-1)} ms`);
  } finally {
    await sim.stop();
  }
});

Deno.test("archiveSim.run() serves until --duration, then prints a summary; bad options are usage errors", async () => {
  assert.equal(await archiveSim.run(["--port", "0", "--count", "10", "--duration", "0.1"]), 0);
  await assert.rejects(() => archiveSim.run(["--fail-rate", "2"]), /--fail-rate must be at most 1/);
  await assert.rejects(() => archiveSim.run(["--bogus"]), /Unknown option/);
  for (
    const option of [
      "--hostname",
      "--port",
      "--path",
      "--count",
      "--rate",
      "--fail-rate",
      "--rate-limit",
      "--latency-ms",
      "--hang-rate",
      "--token",
      "--seed",
      "--start",
      "--max-page-size",
      "--duration",
      "--gzip",
    ]
  ) {
    assert.ok(archiveSim.help.includes(option), option);
  }
});

Deno.test("ArchiveSim() with gzip compresses pages for clients that accept gzip, and only for them", async () => {
  const sim = new ArchiveSim({ count: 50, gzip: true });
  const plain = new ArchiveSim({ count: 50 });
  try {
    const headers = { accept: "text/csv", "accept-encoding": "gzip" };
    const compressed = await fetch(`${sim.url}?maxResults=50`, { headers });
    assert.equal(compressed.headers.get("content-encoding"), "gzip");
    const expected = await (await fetch(`${plain.url}?maxResults=50`)).text();
    // fetch inflates gzip itself: the same page as the uncompressed archive's.
    assert.equal(await compressed.text(), expected);
    assert.equal(sim.counters.compressed, 1);

    // A client that does not accept gzip gets the page as it is (raw HTTP, so
    // that no client library adds Accept-Encoding).
    const conn = await Deno.connect({ hostname: "127.0.0.1", port: sim.port });
    await conn.write(
      new TextEncoder().encode(
        "GET /udl/eoobservation?maxResults=50 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
      ),
    );
    const raw = new TextDecoder().decode(
      new Uint8Array(await new Response(conn.readable).arrayBuffer()),
    );
    assert.doesNotMatch(raw, /content-encoding/i);
    assert.ok(raw.includes(expected.split("\n")[1]), "the first record, uncompressed");
    assert.equal(sim.counters.compressed, 1);
  } finally {
    await Promise.all([sim.stop(), plain.stop()]);
  }
});
