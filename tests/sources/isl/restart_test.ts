import assert from "node:assert/strict";
import { startIslSim } from "../../../sim/isl.ts";
import type { PollRequest } from "../../../sources/isl/poll_request.ts";
import { openEventLog } from "../../../sinks/event_log.ts";
import { removeDir } from "../../_observations.ts";
import {
  loggedObservations,
  notExactlyOnce,
  refCounts,
  stateCheckpoints,
  waitFor,
} from "./_helpers.ts";

const HARNESS = new URL("./_service_harness.ts", import.meta.url).pathname;

function spawnService(port: number, dir: string): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-net=127.0.0.1",
      HARNESS,
      String(port),
      dir,
    ],
    stdout: "piped",
    stderr: "null",
  }).spawn();
}

async function started(child: Deno.ChildProcess): Promise<void> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!text.includes("started")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("The service exited before it started");
    text += value;
  }
  reader.cancel();
}

/** Complete lines in the event log so far (the writer may be mid-line). */
async function loggedLines(dir: string): Promise<number> {
  let count = 0;
  try {
    for await (const entry of Deno.readDir(`${dir}/events`)) {
      const text = await Deno.readTextFile(`${dir}/events/${entry.name}`);
      for (let i = text.indexOf("\n"); i !== -1; i = text.indexOf("\n", i + 1)) count++;
    }
  } catch {
    return 0;
  }
  return count;
}

async function kill(child: Deno.ChildProcess): Promise<void> {
  child.kill("SIGKILL");
  await child.status;
}

Deno.test("IslUdpSource() killed mid-run and restarted logs every beacon the gateway holds exactly once", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-isl-restart-" });
  // 5,000 beacons/s: a loaded test machine must drain what piles up
  // while the service restarts well within the wait below.
  const sim = await startIslSim({ rate: 5_000, ring: 1_000_000, seed: 3 });
  const polls: PollRequest[] = [];
  sim.onPoll = (poll) => polls.push(poll);
  try {
    const first = spawnService(sim.port, dir);
    await started(first);
    const checkpoint = stateCheckpoints(dir)(`127.0.0.1:${sim.port}`);
    await waitFor(
      async () => (await loggedLines(dir)) >= 5_000 && ((await checkpoint.load())?.after ?? 0) > 0,
      "5,000 beacons and a saved watermark",
    );
    await kill(first); // SIGKILL mid-run: no flush, no last checkpoint
    const saved = (await checkpoint.load())!;
    assert.ok(saved.after > 0 && saved.after <= sim.held.newest);
    // The gateway goes on relaying while the service is down.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const pollsBefore = polls.length;
    const second = spawnService(sim.port, dir);
    try {
      await started(second);
      await waitFor(() => polls.length > pollsBefore, "the first poll after the restart");
      // It resumed from the saved watermark, not from 0 and not from what it had polled.
      assert.equal(polls[pollsBefore].after, saved.after);
      await new Promise((resolve) => setTimeout(resolve, 200));
      sim.run(0); // stop generating; everything held must end in the log
      const newest = sim.held.newest;
      await waitFor(
        async () => (await loggedLines(dir)) >= newest,
        `every held beacon (${newest})`,
        60_000,
      );
    } finally {
      await kill(second);
    }
    // Recover the log as the next start would (a torn last line is cut), then check.
    await (await openEventLog({ dir: `${dir}/events` })).close();
    const { oldest, newest } = sim.held;
    assert.equal(oldest, 1);
    const observations = await loggedObservations(dir);
    const counts = refCounts(observations);
    assert.deepEqual(notExactlyOnce(counts, oldest, newest), []);
    assert.equal(observations.length, newest);
    assert.equal(new Set(observations.map((o) => o.id)).size, newest);
  } finally {
    await sim.stop();
    await removeDir(dir);
  }
});
