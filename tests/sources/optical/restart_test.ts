import assert from "node:assert/strict";
import { ArchiveSim } from "../../../sim/archive.ts";
import { readAllObservations, removeDir } from "../../_observations.ts";

const HARNESS = new URL("./_restart_harness.ts", import.meta.url).pathname;

/** Runs the harness; calls `onLine` for each stdout line until it returns true (then SIGKILL). */
async function runHarness(
  url: string,
  dir: string,
  onLine: (line: string) => boolean,
): Promise<{ killed: boolean; lines: string[] }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-net=127.0.0.1",
      HARNESS,
      url,
      dir,
      "500",
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines: string[] = [];
  let killed = false;
  let rest = "";
  for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) {
    rest += chunk;
    let newline;
    while (!killed && (newline = rest.indexOf("\n")) >= 0) {
      const line = rest.slice(0, newline);
      rest = rest.slice(newline + 1);
      lines.push(line);
      if (onLine(line)) {
        child.kill("SIGKILL");
        killed = true;
      }
    }
  }
  const status = await child.status;
  assert.equal(status.success, !killed, `harness exit ${status.code}`);
  return { killed, lines };
}

Deno.test("OpticalHttpSource() killed mid-pull and restarted logs every observation exactly once, resuming from the saved cursor", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-optical-restart-" });
  const sim = new ArchiveSim({ count: 20_000, latencyMs: 10 });
  try {
    // First run: SIGKILL once a quarter of the archive is durable.
    let loggedAtKill = 0;
    const first = await runHarness(sim.url, dir, (line) => {
      const match = /^logged (\d+)$/.exec(line);
      if (match && Number(match[1]) >= 5000) {
        loggedAtKill = Number(match[1]);
        return true;
      }
      return false;
    });
    assert.ok(first.killed);
    assert.ok(loggedAtKill >= 5000 && loggedAtKill < 20_000, `killed after ${loggedAtKill}`);
    const state = JSON.parse(await Deno.readTextFile(`${dir}/state/optical.archive.json`));
    const saved: string = state.value;
    assert.match(saved, /^v1\.\d+$/);
    const requestsBefore = sim.requests.length;

    // Second run, to the end of the archive.
    const second = await runHarness(sim.url, dir, () => false);
    assert.equal(second.lines[0], `started ${saved}`);
    assert.equal(second.lines.at(-1), "done");
    // The archive saw the restart resume from the checkpointed cursor.
    assert.equal(sim.requests[requestsBefore].cursor, saved);
    assert.ok(sim.requests.slice(0, requestsBefore).some((r) => r.nextCursor === saved));

    const logged = await readAllObservations(`${dir}/events`);
    assert.equal(logged.length, 20_000);
    assert.equal(new Set(logged.map((o) => o.id)).size, 20_000);
    assert.equal(new Set(logged.map((o) => o.provenance.ref)).size, 20_000);
  } finally {
    await sim.stop();
    await removeDir(dir);
  }
});
