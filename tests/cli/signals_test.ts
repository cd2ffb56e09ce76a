import assert from "node:assert/strict";
import { freePort, spawnMain, waitForOk } from "../../bench/_processes.ts";
import { removeDir } from "../_observations.ts";

Deno.test("serve stops gracefully, exit 0, on a SIGINT delivered twice at once (Ctrl-C under deno task)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-signals-" });
  const httpPort = freePort();
  await Deno.writeTextFile(
    `${dir}/ingest.json`,
    JSON.stringify({
      sources: [{ name: "xr1", kind: "radar", port: freePort() }],
      log: { dir: "events" },
      deadLetter: { dir: "dead-letter" },
      state: { dir: "state" },
      http: { port: httpPort },
    }),
  );
  const child = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
  try {
    await waitForOk(`http://127.0.0.1:${httpPort}/ready`, 30_000, child);
    // What the terminal and `deno task` together deliver for one Ctrl-C:
    // two SIGINTs, the second just after the first was taken (sent at
    // once, the kernel would merge them into one).
    child.process.kill("SIGINT");
    const deadline = performance.now() + 10_000;
    while (!/stopping gracefully/.test(child.stderr()) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    try {
      child.process.kill("SIGINT");
    } catch {
      // Stopped already: nothing to echo to (rare; the stop takes ~10 ms).
    }
    const status = await child.status;
    assert.equal(status.code, 0, child.stderr().slice(-2000));
    assert.doesNotMatch(child.stderr(), /Second signal/);
    assert.match(child.stderr(), /Stopped: event log at offset 0/);
  } finally {
    await child.stop("SIGKILL");
    await removeDir(dir);
  }
});

Deno.test("serve gives up at a SIGTERM while it rebuilds the dedupe window from a big log: no source started, exit 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-signals-" });
  const httpPort = freePort();
  // 3,000,000 id-first lines (as the serializer writes them) in three
  // segments: a second or more of rebuilding with a window that holds them
  // all. Random ids, as SHA-256 makes them.
  await Deno.mkdir(`${dir}/events`);
  const perSegment = 1_000_000;
  const hex = (bytes: Uint8Array) =>
    Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  const random = new Uint8Array(16 * perSegment);
  for (let segment = 0; segment < 3; segment++) {
    for (let at = 0; at < random.length; at += 65_536) {
      crypto.getRandomValues(random.subarray(at, at + 65_536));
    }
    const lines: string[] = [];
    for (let i = 0; i < perSegment; i++) {
      const id = hex(random.subarray(16 * i, 16 * i + 16));
      lines.push(`{"v":1,"id":"${id}","kind":"radar"}\n`);
    }
    const base = String(segment * perSegment).padStart(20, "0");
    await Deno.writeTextFile(`${dir}/events/${base}.jsonl`, lines.join(""));
  }
  await Deno.writeTextFile(
    `${dir}/ingest.json`,
    JSON.stringify({
      sources: [{ name: "xr1", kind: "radar", port: freePort() }],
      log: { dir: "events" },
      deadLetter: { dir: "dead-letter" },
      state: { dir: "state" },
      http: { port: httpPort },
      dedupe: { capacity: 3_000_000 },
    }),
  );
  const child = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
  try {
    const deadline = performance.now() + 30_000;
    while (!/rebuilding the dedupe window/.test(await health()) && performance.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    child.process.kill("SIGTERM");
    const status = await child.status;
    const stderr = child.stderr();
    assert.equal(status.code, 0, stderr.slice(-2000));
    assert.match(stderr, /Signal received while starting: giving up/);
    assert.match(stderr, /Signal received while starting: not started/);
    assert.doesNotMatch(stderr, /Dedupe window rebuilt|listening on/, "it went on starting");
  } finally {
    await child.stop("SIGKILL");
    await removeDir(dir);
  }

  async function health(): Promise<string> {
    try {
      return await (await fetch(`http://127.0.0.1:${httpPort}/health`)).text();
    } catch {
      return ""; // not listening yet
    }
  }
});
