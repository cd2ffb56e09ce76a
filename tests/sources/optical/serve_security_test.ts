/**
 * End to end: `main.ts serve` as a subprocess pulling from hostile archives
 * on loopback (SPEC §15): a gzip bomb must not swell the process, and the
 * archive URL's credentials must not come out anywhere.
 */

import assert from "node:assert/strict";
import type { DeadLetter } from "../../../envelope/dead_letter.ts";
import type { Observation } from "../../../envelope/observation.ts";
import {
  freePort,
  memoryOf as processMemory,
  scrape,
  sumMetric,
  waitForOk,
} from "../../../bench/_processes.ts";
import { readAllLines, removeDir } from "../../_observations.ts";
import { csvPage, gzipBomb, scriptedArchive, until } from "./_helpers.ts";

const MAIN = new URL("../../../main.ts", import.meta.url).pathname;
const MiB = 1024 * 1024;

const ROOT = new URL("../../../", import.meta.url).pathname;

/**
 * `serve --config <dir>/ingest.json` with `deno task serve`'s permissions
 * (reading the code too with `readCode`: its decode workers load from
 * there), all stderr kept.
 */
function serve(dir: string, { readCode = false } = {}) {
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      `--allow-read=${dir}${readCode ? `,${ROOT}` : ""}`,
      `--allow-write=${dir}`,
      "--allow-env",
      MAIN,
      "serve",
      "--config",
      `${dir}/ingest.json`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let stderr = "";
  const decoder = new TextDecoder();
  const drained = (async () => {
    for await (const chunk of process.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  return {
    pid: process.pid,
    stderr: () => stderr,
    async stop(): Promise<number> {
      process.kill("SIGTERM");
      const status = await process.status;
      await drained;
      return status.code;
    },
  };
}

async function writeConfig(dir: string, sources: unknown[]): Promise<string> {
  const port = freePort();
  await Deno.writeTextFile(
    `${dir}/ingest.json`,
    JSON.stringify({
      sources,
      log: { dir: "events", fsync: "interval", fsyncIntervalMs: 20 },
      deadLetter: { dir: "dead-letter" },
      state: { dir: "state" },
      http: { port },
    }),
  );
  return `http://127.0.0.1:${port}`;
}

/** Resident and peak resident memory of a process, bytes (`/proc/<pid>/status`, read through `cat`). */
async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const { current, peak } = await processMemory(pid);
  return { rss: current, peak };
}

const mb = (bytes: number) => `${Math.round(bytes / MiB)} MB`;

Deno.test("serve refuses 2 GiB gzip bombs at maxPageBytes with bounded memory, given back after, and keeps the cursor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-optical-bomb-" });
  const bomb = gzipBomb(2048 * MiB); // 2 GiB of CSV in ~6 MB
  const BOMBS = 3;
  const archive = scriptedArchive((_request, n) =>
    n <= BOMBS
      ? new Response(bomb, {
        headers: {
          "content-type": "text/csv",
          "content-encoding": "gzip",
          "x-next-cursor": "boom",
        },
      })
      : csvPage(0, 5, "c-good")
  );
  let child: ReturnType<typeof serve> | undefined;
  try {
    const http = await writeConfig(dir, [
      { name: "archive", kind: "optical", url: archive.url, pollIntervalMs: 50 },
    ]);
    child = serve(dir, { readCode: true });
    await waitForOk(`${http}/ready`, 30_000);
    const before = await memoryOf(child.pid);
    await until(() => archive.seen.length > BOMBS, 60_000, "the bombs and a good page");
    const metrics = await (async () => {
      const deadline = performance.now() + 60_000;
      for (;;) {
        const m = await scrape(`${http}/metrics`);
        if (sumMetric(m, "sda_ingest_observations_total", 'source="archive"') === 5) return m;
        if (performance.now() > deadline) {
          const lines = [...m].filter(([k]) => k.includes('source="archive"')).map((e) =>
            e.join(" ")
          );
          throw new Error(
            `The good page's 5 observations were not logged in 60 s.\n${lines.join("\n")}\n` +
              child?.stderr(),
          );
        }
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    let during = await memoryOf(child.pid);
    assert.equal(
      sumMetric(metrics, "sda_ingest_dead_letters_total", 'source="archive",stage="transport"'),
      BOMBS,
    );
    // The bombs were refused and retried from where the source was: no cursor yet.
    assert.deepEqual(
      archive.seen.slice(0, BOMBS + 1).map((s) => s.url.searchParams.get("cursor")),
      [
        ...Array(BOMBS + 1).fill(null),
      ],
    );
    const health = await (await fetch(`${http}/health`)).json();
    assert.equal(health.sources.archive.state, "up");
    assert.equal(health.sources.archive.counters.too_large, BOMBS);
    assert.match(
      health.sources.archive.last_error,
      /exceeds maxPageBytes \(67108864 bytes\) after gzip/,
    );
    // Up again, the error is dated: an operator sees it is past.
    const at = Date.parse(health.sources.archive.last_error_at);
    assert.ok(at <= Date.now() && at > Date.now() - 120_000, health.sources.archive.last_error_at);
    // Bounded: 64 MiB of page at most, whatever the bomb inflates to
    // (today's main peaked above 1 GB, and stayed there).
    assert.ok(
      during.peak < 300 * MiB,
      `peak RSS ${mb(during.peak)} (before ${mb(before.rss)}, after ${mb(during.rss)})`,
    );
    // Given back: the page buffer is released as soon as the page is refused.
    // (A 64 MiB page kept would hold RSS above before + 64 MiB; the rest of
    // the process settles within a second or two — one CI run read 142 MB
    // against 94 MB before, at once.)
    for (
      const deadline = performance.now() + 3000;
      during.rss >= before.rss + 48 * MiB && performance.now() < deadline;
    ) {
      await new Promise((r) => setTimeout(r, 200));
      during = await memoryOf(child.pid);
    }
    assert.ok(
      during.rss < before.rss + 48 * MiB && during.rss < during.peak,
      `RSS ${mb(during.rss)} after the bombs, ${mb(before.rss)} before, peak ${mb(during.peak)}`,
    );
    assert.equal(await child.stop(), 0);
    child = undefined;
    // The cursor saved is the good page's: the bombs moved nothing.
    const state = JSON.parse(await Deno.readTextFile(`${dir}/state/optical.archive.json`));
    assert.equal(state.value, "c-good");
  } finally {
    await child?.stop();
    await archive.close();
    await removeDir(dir);
  }
});

Deno.test("serve prints the archive URL's password and api_key nowhere: logs, /health, /metrics, /status, dead letters, events", async () => {
  const password = "pw-S3NTINEL-4711";
  const apiKey = "ak-S3NTINEL-0815";
  const dir = await Deno.makeTempDir({ prefix: "sda-optical-secret-" });
  const elsewhere = scriptedArchive(() => csvPage(0, 1, "x"));
  let page = 0;
  let asked = 0;
  const good = () => csvPage(page * 5, 5, `c${++page}`);
  const paths: string[] = [];
  // Every kind of failure an archive can answer, each followed by a good page.
  const archive = scriptedArchive((request) => {
    const url = new URL(request.url);
    paths.push(url.pathname);
    if (url.pathname === "/moved") return good();
    const n = ++asked;
    const step = [
      () => new Response("oops", { status: 500 }),
      () => new Response("slow down", { status: 429, headers: { "retry-after": "0" } }),
      () =>
        new Response("<html/>", {
          headers: { "content-type": "text/html", "x-next-cursor": `h${n}` },
        }),
      () =>
        new Response('{"not":"an array"}', {
          headers: { "content-type": "application/json", "x-next-cursor": `j${n}` },
        }),
      () => new Response("x", { headers: { "x-next-cursor": "v".repeat(5000) } }),
      () =>
        new Response(null, { status: 302, headers: { location: `${elsewhere.url}${url.search}` } }),
      () => new Response(null, { status: 302, headers: { location: `/moved${url.search}` } }),
      () => csvPage(0, 500, "too-big"), // over maxPageBytes
      () =>
        new Response(new Uint8Array([1, 2, 3]), {
          headers: { "content-encoding": "zstd", "x-next-cursor": "z" },
        }),
      () =>
        new Promise<Response>((resolve) =>
          request.signal.addEventListener("abort", () => resolve(new Response("late")))
        ), // hangs until timeoutMs
    ];
    // Odd requests fail in turn, even ones are good pages; then nothing newer.
    const i = (n - 1) / 2;
    if (n > 2 * step.length) return csvPage(0, 0, `c${page}`);
    return n % 2 === 1 ? step[i]() : good();
  });
  let child: ReturnType<typeof serve> | undefined;
  try {
    const port = new URL(archive.url).port;
    const credentials = `ops:${password}@127.0.0.1`;
    const http = await writeConfig(dir, [
      {
        name: "archive",
        kind: "optical",
        url: `http://${credentials}:${port}/udl/eoobservation?api_key=${apiKey}`,
        pageSize: 5,
        pollIntervalMs: 10,
        timeoutMs: 1000,
        maxPageBytes: 8192,
      },
      {
        // Nobody listening: the connection error names the URL.
        name: "closed",
        kind: "optical",
        url: `http://${credentials}:${freePort()}/eo?api_key=${apiKey}&token=${apiKey}`,
        pollIntervalMs: 10,
      },
    ]);
    child = serve(dir);
    await waitForOk(`${http}/ready`, 30_000);
    await until(() => asked > 20, 60_000, "every failure and the good pages after them");
    const health = await (await fetch(`${http}/health`)).text();
    const metrics = await (await fetch(`${http}/metrics`)).text();
    const status = await (await fetch(`${http}/status`)).text();
    assert.match(status, /"archive"/);
    assert.equal(await child.stop(), 0);
    const stderr = child.stderr();
    child = undefined;
    const dead = (await readAllLines(`${dir}/dead-letter`)).map((l) => JSON.parse(l) as DeadLetter);
    const events = (await readAllLines(`${dir}/events`)).map((l) => JSON.parse(l) as Observation);

    // The run went through every path: not a vacuous pass.
    const reasons = dead.filter((d) => d.source === "archive").map((d) => d.reason).join("\n");
    for (
      const expected of [
        /HTTP 500/,
        /HTTP 429/,
        /Unsupported Content-Type/,
        /array/,
        /X-Next-Cursor is 5000 characters long/,
        /refused a redirect to another origin/,
        /exceeds maxPageBytes/,
        /Unsupported Content-Encoding/,
        /timed out/,
      ]
    ) {
      assert.match(reasons, expected);
    }
    assert.ok(
      dead.some((d) => d.source === "closed" && /Cannot fetch from the archive: /.test(d.reason)),
    );
    assert.ok(paths.includes("/moved"), "the same-origin redirect was followed");
    assert.equal(elsewhere.seen.length, 0);
    assert.ok(events.some((o) => o.provenance.peer.endsWith("/moved?api_key=***")));
    assert.match(stderr, /api_key=\*\*\*/, "the URL is logged, redacted");
    // Not allowed to read the code, the decode workers cannot load: the
    // service says so once and decodes on the main thread.
    assert.match(stderr, /Decode workers cannot start|"message":"Decoding on the main thread"/);
    assert.doesNotMatch(stderr, /crashed/);
    assert.ok(dead.every((d) => d.peer.includes("ops:***@") && d.peer.includes("api_key=***")));

    for (const [where, text] of Object.entries({ stderr, health, metrics, status })) {
      assert.ok(!text.includes(password), `the password is in ${where}`);
      assert.ok(!text.includes(apiKey), `the api_key is in ${where}`);
    }
    for (const [where, text] of Object.entries({ dead, events })) {
      const json = JSON.stringify(text);
      assert.ok(!json.includes(password), `the password is in the ${where}`);
      assert.ok(!json.includes(apiKey), `the api_key is in the ${where}`);
    }
  } finally {
    await child?.stop();
    await Promise.all([archive.close(), elsewhere.close()]);
    await removeDir(dir);
  }
});
