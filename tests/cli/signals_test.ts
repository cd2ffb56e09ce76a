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
