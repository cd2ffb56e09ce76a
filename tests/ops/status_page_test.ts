/**
 * The status page at `GET /`, rendered by headless Chromium against a real
 * `serve` fed by the three simulators.
 */

import assert from "node:assert/strict";
import { scrape, sumMetric } from "../../bench/_processes.ts";
import { ServiceMetrics } from "../../service/metrics.ts";
import { StatusBoard } from "../../service/status_board.ts";
import { STATUS_PAGE_HTML } from "../../service/status_page.ts";
import { chromium, hasChromium } from "./_chromium.ts";
import { eventually, startService } from "./_service.ts";

const root = new URL("../../", import.meta.url).pathname;
const STAGES = ["framing", "decoding", "validation", "transport"];

/** `data-field` values of the card of `source` in a dumped DOM. */
function fields(dom: string, source: string): Map<string, string> {
  const start = dom.indexOf(`data-source="${source}"`);
  assert.ok(start >= 0, `no card for ${source} in the page`);
  const end = dom.indexOf("</section>", start);
  const card = dom.slice(start, end);
  const values = new Map<string, string>();
  for (const m of card.matchAll(/data-field="([^"]+)"[^>]*>([^<]*)</g)) values.set(m[1], m[2]);
  return values;
}

const number = (text: string | undefined) => Number((text ?? "NaN").replaceAll(",", ""));

Deno.test({
  name:
    "GET / in headless Chromium shows every source with a live rate and the dead letters /metrics reports",
  ignore: !hasChromium(),
  async fn() {
    const service = await startService({ faults: false });
    try {
      // Known bad input: the radar fixture of malformed TDM, once, on its own connection.
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: service.radarPort });
      await conn.write(await Deno.readFile(`${root}fixtures/radar/bad_input.kvn`));
      conn.close();
      const sources = ["xr1", "archive", "isl"];
      const settled = await eventually("every source logging, dead letters settled", async () => {
        const before = await scrape(`${service.http}/metrics`);
        await new Promise((r) => setTimeout(r, 1500));
        const after = await scrape(`${service.http}/metrics`);
        const dead = (m: Map<string, number>) => sumMetric(m, "sda_ingest_dead_letters_total");
        const flowing = sources.every((s) =>
          sumMetric(after, "sda_ingest_observations_total", `source="${s}"`) >
            sumMetric(before, "sda_ingest_observations_total", `source="${s}"`)
        );
        return flowing && dead(after) > 0 && dead(after) === dead(before) ? after : undefined;
      });
      const dom = await chromium(`${service.http}/`, { dumpDom: true });
      const metrics = await scrape(`${service.http}/metrics`);
      assert.equal(
        sumMetric(metrics, "sda_ingest_dead_letters_total"),
        sumMetric(settled, "sda_ingest_dead_letters_total"),
        "dead letters changed while the page was rendered",
      );
      for (const source of sources) {
        const card = fields(dom, source);
        assert.ok(number(card.get("rate")) > 0, `${source}: rate ${card.get("rate")}`);
        assert.ok(number(card.get("observations")) > 0, `${source}: no observations shown`);
        for (const stage of STAGES) {
          const expected = metrics.get(
            `sda_ingest_dead_letters_total{source="${source}",stage="${stage}"}`,
          ) ?? 0;
          assert.equal(
            number(card.get(`dead-letters-${stage}`)),
            expected,
            `${source} ${stage}: page ${card.get(`dead-letters-${stage}`)}, /metrics ${expected}`,
          );
        }
      }
      assert.ok(number(fields(dom, "xr1").get("dead-letters-decoding")) > 0);
      assert.match(dom, /recent dead letters/);
      assert.match(dom, /data-logs=""/);
      assert.match(dom, /fsync interval every 50 ms/);
      assert.match(dom, /<span class="meta" id="conn">updated /);

      // The picture in the README: a phone-wide and a desktop-wide rendering.
      const shot = await Deno.makeTempFile({ suffix: ".png" });
      try {
        await chromium(`${service.http}/`, { screenshot: shot, width: 1280, height: 1000 });
        const png = await Deno.readFile(shot);
        assert.deepEqual([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
        assert.ok(png.length > 10_000, `screenshot of ${png.length} bytes`);
        if (Deno.env.get("UPDATE_SCREENSHOT") === "1") {
          // Let the five-minute charts fill for a while first.
          await new Promise((r) => setTimeout(r, 90_000));
          await chromium(`${service.http}/`, { screenshot: shot, width: 1280, height: 1000 });
          await Deno.copyFile(shot, `${root}docs/status-page.png`);
          await chromium(`${service.http}/`, { screenshot: shot, width: 390, height: 1400 });
          await Deno.copyFile(shot, `${root}docs/status-page-phone.png`);
        }
      } finally {
        await Deno.remove(shot);
      }
    } finally {
      await service.stop();
    }
  },
});

Deno.test({
  name: "the status page says, in its title, summary and a banner, that the service went away",
  ignore: !hasChromium(),
  async fn() {
    // The page and its first /status from a real StatusBoard, then no
    // answer: the service stopped.
    const board = new StatusBoard({
      metrics: new ServiceMetrics(),
      sources: () => [],
      pipeline: () => undefined,
      offsets: () => ({ events: 0, deadLetters: 0 }),
      ready: () => true,
      phase: () => "running",
      logs: { events: "e", deadLetters: "d", fsync: "always", fsyncIntervalMs: 100 },
      startedAt: Date.now(),
    });
    board.sample();
    let statuses = 0;
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (r) => {
      const path = new URL(r.url).pathname;
      if (path === "/") {
        return new Response(STATUS_PAGE_HTML, { headers: { "content-type": "text/html" } });
      }
      if (path === "/status" && ++statuses === 1) return Response.json(await board.document());
      return new Response("gone", { status: 503 });
    });
    try {
      const dom = await chromium(`http://127.0.0.1:${server.addr.port}/`, { dumpDom: true });
      assert.ok(statuses >= 2, `${statuses} requests for /status`);
      assert.match(dom, /<title>✖ SDA ingest — unreachable<\/title>/);
      assert.match(
        dom,
        /id="summary">unreachable since \d\d:\d\d:\d\d UTC · below: as it was then</,
      );
      assert.match(
        dom,
        /class="banner error" role="alert" data-unreachable="">Cannot reach the service since \d\d:\d\d:\d\d UTC \(HTTP 503\)/,
      );
      assert.match(dom, /<main id="main" class="stale">/);
    } finally {
      await server.shutdown();
    }
  },
});
