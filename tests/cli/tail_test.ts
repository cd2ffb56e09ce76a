import assert from "node:assert/strict";
import { removeDir } from "../_observations.ts";
import { runMain } from "./_run_main.ts";

const tail = (args: string[]) => runMain(["tail", ...args], ["--allow-read"]);

Deno.test("tail --dir prints a log's records from an offset, and a directory that does not exist is bad usage", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-tail-" });
  try {
    const lines = ['{"v":1,"n":0}', '{"v":1,"n":1}', '{"v":1,"n":2}'];
    await Deno.writeTextFile(`${dir}/00000000000000000000.jsonl`, lines.join("\n") + "\n");
    const all = await tail(["--dir", dir]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, lines.join("\n") + "\n");
    const from = await tail(["--dir", dir, "--from", "1", "--offsets"]);
    assert.equal(from.stdout, `1\t${lines[1]}\n2\t${lines[2]}\n`);
    const missing = await tail(["--dir", `${dir}/nowhere`]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--dir does not exist: .*nowhere/);
    assert.equal(missing.stdout, "");
    const file = await tail(["--dir", `${dir}/00000000000000000000.jsonl`]);
    assert.equal(file.code, 2);
    assert.match(file.stderr, /--dir is not a directory: /);
  } finally {
    await removeDir(dir);
  }
});
