/**
 * SPEC §9: `/ready` answers 503 until the service is ready — also while a
 * long log's dedupe window is rebuilt at start-up, when /health says so.
 */

import assert from "node:assert/strict";
import { freePort, spawnMain } from "../../bench/_processes.ts";
import { removeDir } from "../_observations.ts";

Deno.test("serve answers /ready 503, and /health says why, while it rebuilds the dedupe window of a long log", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-ready-" });
  try {
    // 1,000,000 records: the window takes a moment to rebuild.
    await Deno.mkdir(`${dir}/events`);
    const file = await Deno.open(`${dir}/events/00000000000000000000.jsonl`, {
      write: true,
      create: true,
    });
    const encoder = new TextEncoder();
    for (let block = 0; block < 100; block++) {
      let text = "";
      for (let i = 0; i < 10_000; i++) {
        // Spread like SHA-256 ids.
        const n = block * 10_000 + i;
        const word = (Math.imul(n + 1, 0x9e3779b1) >>> 0).toString(16).padStart(8, "0");
        text += `{"v":1,"id":"${word}${n.toString(16).padStart(24, "0")}"}\n`;
      }
      const bytes = encoder.encode(text);
      for (let at = 0; at < bytes.length;) at += await file.write(bytes.subarray(at));
    }
    file.close();
    const httpPort = freePort();
    await Deno.writeTextFile(
      `${dir}/ingest.json`,
      JSON.stringify({
        sources: [],
        log: { dir: "events" },
        deadLetter: { dir: "dead-letter" },
        state: { dir: "state" },
        http: { port: httpPort },
      }),
    );
    const child = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
    try {
      const statuses: number[] = [];
      const waiting: string[] = [];
      const deadline = Date.now() + 60_000;
      while (statuses.at(-1) !== 200) {
        assert.ok(Date.now() < deadline, `not ready within 60 s: ${child.stderr()}`);
        try {
          const ready = await fetch(`http://127.0.0.1:${httpPort}/ready`);
          await ready.body?.cancel();
          statuses.push(ready.status);
          if (ready.status === 503) {
            const health = await (await fetch(`http://127.0.0.1:${httpPort}/health`)).json();
            if (health.waiting !== undefined) waiting.push(health.waiting);
          }
        } catch {
          // Not listening yet: the logs are being opened.
          await new Promise((resolve) => setTimeout(resolve, 5));
        }
      }
      assert.ok(statuses.includes(503), `statuses ${[...new Set(statuses)]}`);
      assert.ok(waiting.includes("rebuilding the dedupe window from the log"), waiting.join());
      assert.match(child.stderr(), /Dedupe window rebuilt from the log: 1000000 ids/);
    } finally {
      await child.stop("SIGTERM");
    }
  } finally {
    await removeDir(dir);
  }
});
