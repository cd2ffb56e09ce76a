import assert from "node:assert/strict";
import type { Observation } from "../../envelope/observation.ts";
import { readAllLines, removeDir } from "../_observations.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("demo runs for 10 s and leaves a log with all three kinds and a summary", async () => {
  const out = await Deno.makeTempDir({ prefix: "sda-demo-" });
  try {
    const result = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-net=127.0.0.1",
        "--allow-read",
        "--allow-write",
        main,
        "demo",
        "--duration",
        "10",
        "--out",
        out,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const stdout = new TextDecoder().decode(result.stdout);
    assert.equal(result.code, 0, new TextDecoder().decode(result.stderr));
    // One summary line per second, then the summary of what was written.
    const ticks = stdout.split("\n").filter((l) => /│ total [\d,]+ │ dead letters/.test(l));
    assert.ok(ticks.length >= 8, stdout);
    assert.match(stdout, /demo: stopped after/);
    assert.match(stdout, new RegExp(`event log\\s+${out}/events`));
    assert.match(stdout, /deno task tail --dir/);
    const kinds = new Set(
      (await readAllLines(`${out}/events`)).map((l) => (JSON.parse(l) as Observation).kind),
    );
    assert.deepEqual(kinds, new Set(["radar", "optical", "isl"]));
  } finally {
    await removeDir(out);
  }
});
