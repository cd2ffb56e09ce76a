import assert from "node:assert/strict";
import type { Observation } from "../../envelope/observation.ts";
import { readAllLines, removeDir } from "../_observations.ts";

const child = new URL("../../bench/child.ts", import.meta.url).pathname;

async function run(args: string[]) {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", child, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return { code: result.code, stderr: new TextDecoder().decode(result.stderr) };
}

Deno.test("bench/child.ts write-log writes --count radar observations with distinct ids", async () => {
  const out = await Deno.makeTempDir({ prefix: "sda-bench-child-" });
  try {
    const result = await run(["write-log", "--out", `${out}/events`, "--count", "20000"]);
    assert.equal(result.code, 0, result.stderr);
    const lines = await readAllLines(`${out}/events`);
    assert.equal(lines.length, 20_000);
    const observations = lines.map((line) => JSON.parse(line) as Observation);
    assert.ok(observations.every((o) => o.kind === "radar" && o.provenance.source === "xr1"));
    assert.equal(new Set(observations.map((o) => o.id)).size, 20_000);
  } finally {
    await removeDir(out);
  }
});

Deno.test("bench/child.ts names the children it has when given another, and exits 2", async () => {
  const result = await run(["no-such-child"]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /unknown child "no-such-child": replay-10m, stalled-service, write-log/,
  );
});

Deno.test("bench/child.ts reports a child's missing option and exits 2", async () => {
  const result = await run(["write-log"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /--out is required/);
});
