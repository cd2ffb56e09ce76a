/**
 * SPEC §7, disk full: `main.ts serve` with its logs on a small tmpfs. A
 * radar sender fills it; ingestion pauses (the sender blocks, `/ready`
 * answers 503, `/health` says why) instead of the process dying; once the
 * mount is enlarged, everything the sender sent is logged exactly once and
 * no line is torn. Start-up on a full disk reports not ready.
 *
 * Needs root (mount); elsewhere the tests say so and pass without running.
 */

import assert from "node:assert/strict";
import { type Child, freePort, spawnMain, waitForOk } from "../../bench/_processes.ts";
import { removeDir } from "../_observations.ts";

async function run(args: string[]): Promise<{ ok: boolean; text: string }> {
  const out = await new Deno.Command(args[0], { args: args.slice(1), stderr: "piped" }).output();
  return { ok: out.success, text: new TextDecoder().decode(out.stderr).trim() };
}

/** Mounts a tmpfs of `size` at `dir`, or says why not. */
async function mountTmpfs(dir: string, size: string): Promise<string | undefined> {
  try {
    const result = await run(["mount", "-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
    return result.ok ? undefined : result.text || "mount failed";
  } catch (error) {
    return String(error);
  }
}

async function unmount(dir: string): Promise<void> {
  if (!(await run(["umount", dir])).ok) await run(["umount", "-l", dir]);
}

async function writeConfig(dir: string, logs: string, radarPort: number, httpPort: number) {
  await Deno.writeTextFile(
    `${dir}/ingest.json`,
    JSON.stringify({
      sources: [{ name: "xr1", kind: "radar", port: radarPort, groupIdleMs: 500 }],
      log: { dir: `${logs}/events`, fsync: "always" },
      deadLetter: { dir: `${logs}/dead-letter` },
      state: { dir: `${dir}/state` },
      http: { port: httpPort },
    }),
  );
}

async function health(http: string): Promise<{ ready: number; body: Record<string, unknown> }> {
  const ready = await fetch(`${http}/ready`);
  await ready.body?.cancel();
  const body = await (await fetch(`${http}/health`)).json();
  return { ready: ready.status, body };
}

async function until(condition: () => Promise<boolean>, what: string, ms = 60_000) {
  const deadline = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`Not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** KVN of one TDM message with `count` observations, five data lines each, as chunks. */
function* tdmChunks(start: number, count: number, chunkObservations = 200): Generator<string> {
  yield "CCSDS_TDM_VERS = 2.0\nMESSAGE_ID = FILL-1\nMETA_START\nTIME_SYSTEM = UTC\n" +
    "PARTICIPANT_1 = XR1\nPARTICIPANT_2 = 49863\nANGLE_TYPE = AZEL\nMETA_STOP\nDATA_START\n";
  for (let i = 0; i < count; i += chunkObservations) {
    let text = "";
    for (let k = i; k < Math.min(count, i + chunkObservations); k++) {
      const t = new Date(start + k * 10).toISOString().slice(0, 23);
      text += `RANGE = ${t} ${1000 + k / 1000}\nDOPPLER_INSTANTANEOUS = ${t} -1.25\n` +
        `ANGLE_1 = ${t} ${(k % 3600) / 10}\nANGLE_2 = ${t} 45.5\nRCS = ${t} 1.5\n`;
    }
    yield text;
  }
  yield "DATA_STOP\n";
}

async function readLines(dir: string): Promise<{ lines: string[]; torn: boolean }> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.name.endsWith(".jsonl")) names.push(entry.name);
  }
  let text = "";
  for (const name of names.sort()) text += await Deno.readTextFile(`${dir}/${name}`);
  return { lines: text.split("\n").filter((l) => l !== ""), torn: !text.endsWith("\n") };
}

Deno.test("serve with its log on a full tmpfs pauses ingestion (sender blocked, not ready, /health says why) and logs everything once when space returns", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-disk-full-" });
  const logs = `${dir}/logs`;
  await Deno.mkdir(logs);
  const refused = await mountTmpfs(logs, "2m");
  if (refused !== undefined) {
    console.log(`Skipped: cannot mount a tmpfs here (needs root): ${refused}`);
    await removeDir(dir);
    return;
  }
  let child: Child | undefined;
  let conn: Deno.TcpConn | undefined;
  try {
    const radarPort = freePort();
    const httpPort = freePort();
    const http = `http://127.0.0.1:${httpPort}`;
    await writeConfig(dir, logs, radarPort, httpPort);
    child = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
    await waitForOk(`${http}/ready`, 30_000, child);
    assert.equal((await health(http)).body.status, "ok");

    // Send until a write blocks for 3 s: the service stopped reading.
    conn = await Deno.connect({ hostname: "127.0.0.1", port: radarPort });
    const encoder = new TextEncoder();
    const total = 400_000; // at most ~100 MB of KVN; the sender blocks long before
    const chunks = tdmChunks(Date.now() - 3_600_000, total);
    let sentObservations = -200; // the first chunk is the header
    let pending: Promise<void> | undefined;
    const writeAll = async (bytes: Uint8Array) => {
      for (let at = 0; at < bytes.length;) at += await conn!.write(bytes.subarray(at));
    };
    for (const text of chunks) {
      pending = writeAll(encoder.encode(text));
      const blocked = await Promise.race([
        pending.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), 3000)),
      ]);
      if (blocked) break;
      sentObservations += 200;
      pending = undefined;
    }
    assert.ok(pending !== undefined, "the sender never blocked");

    // Paused, not dead: not ready, and /health names the cause.
    await until(async () => (await health(http)).ready === 503, "/ready 503");
    const paused = await health(http);
    assert.equal(paused.body.status, "degraded");
    const logState = paused.body.log as Record<string, unknown>;
    assert.match(String(logState.error), /No space left on device/);
    assert.equal(typeof logState.since, "string");
    // Still blocked a while later: nothing is read while the log cannot write.
    const stillBlocked = await Promise.race([
      pending.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), 2000)),
    ]);
    assert.equal(stillBlocked, true);

    // Room again: the blocked write completes, the rest follows.
    const remount = await run(["mount", "-o", "remount,size=512m", logs]);
    assert.ok(remount.ok, remount.text);
    await pending;
    sentObservations += 200;
    for (const text of chunks) {
      await writeAll(encoder.encode(text));
      if (text !== "DATA_STOP\n") sentObservations += 200;
    }
    sentObservations = Math.min(sentObservations, total);
    conn.close();
    conn = undefined;
    await until(async () => (await health(http)).ready === 200, "/ready 200 again");
    const resumed = await health(http);
    assert.equal(resumed.body.status, "ok");
    const offsets = () => health(http).then((h) => (h.body.log as { events: number }).events);
    await until(async () => (await offsets()) >= sentObservations, "every observation logged");
    const status = await child.stop("SIGTERM");
    child = undefined;
    assert.equal(status.code, 0);

    const { lines, torn } = await readLines(`${logs}/events`);
    assert.equal(torn, false);
    const observations = lines.map((line) => JSON.parse(line));
    assert.equal(observations.length, sentObservations);
    assert.equal(new Set(observations.map((o) => o.id)).size, sentObservations);
    assert.deepEqual((await readLines(`${logs}/dead-letter`)).lines, []);
  } finally {
    conn?.close();
    await child?.stop("SIGKILL");
    await unmount(logs);
    await removeDir(dir);
  }
});

Deno.test("serve started on a full disk reports not ready, and becomes ready when there is room", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-disk-full-" });
  const logs = `${dir}/logs`;
  await Deno.mkdir(logs);
  const refused = await mountTmpfs(logs, "1m");
  if (refused !== undefined) {
    console.log(`Skipped: cannot mount a tmpfs here (needs root): ${refused}`);
    await removeDir(dir);
    return;
  }
  let child: Child | undefined;
  try {
    // Fill the disk to the last byte.
    await Deno.mkdir(`${logs}/events`);
    const filler = await Deno.open(`${logs}/filler`, { create: true, write: true });
    try {
      for (;;) await filler.write(new Uint8Array(65536));
    } catch {
      // Full.
    } finally {
      filler.close();
    }
    const httpPort = freePort();
    const http = `http://127.0.0.1:${httpPort}`;
    await writeConfig(dir, logs, freePort(), httpPort);
    child = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
    // The HTTP port is up while the service starts (/ready 503, status
    // "starting"); the full disk shows once it has started.
    await until(
      () =>
        fetch(`${http}/health`).then((r) => r.json()).then(
          (doc) => doc.status !== "starting",
          () => false,
        ),
      "started",
    );
    const full = await health(http);
    assert.equal(full.ready, 503);
    assert.equal(full.body.status, "degraded");
    assert.match(String((full.body.log as Record<string, unknown>).error), /No space left/);
    // The log says so too ("Ready: 1 sources started" it said).
    assert.match(child.stderr(), /Started 1 sources, not ready yet: .*No space left/);
    assert.doesNotMatch(child.stderr(), /"message":"Ready: /);
    // Room again (the filler goes): ready within a few probes, and alive.
    await Deno.remove(`${logs}/filler`);
    await until(async () => (await health(http)).ready === 200, "/ready 200 once there is room");
    assert.equal((await health(http)).body.status, "ok");
    assert.equal((await child.stop("SIGTERM")).code, 0);
    child = undefined;
  } finally {
    await child?.stop("SIGKILL");
    await unmount(logs);
    await removeDir(dir);
  }
});
