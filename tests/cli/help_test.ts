import assert from "node:assert/strict";
import { runMain } from "./_run_main.ts";

const run = (args: string[]) => runMain(args, ["--allow-read", "--allow-env"]);

Deno.test("--help on every command and simulator prints its usage and exits 0 (SPEC §9)", async () => {
  const top = await run(["--help"]);
  assert.equal(top.code, 0, top.stderr);
  // The commands as the top-level help lists them.
  const commands = [...top.stdout.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((m) => m[1]);
  assert.ok(commands.includes("serve") && commands.includes("sim"), top.stdout);
  const invocations = [
    ...commands.map((c) => [c]),
    ...["radar", "archive", "isl"].map((s) => ["sim", s]),
  ];
  for (const invocation of invocations) {
    for (const flag of ["--help", "-h"]) {
      const result = await run([...invocation, flag]);
      const what = [...invocation, flag].join(" ");
      assert.equal(result.code, 0, `${what}: ${result.stderr}`);
      assert.match(result.stdout, /Usage: /, what);
      assert.equal(result.stderr, "", what);
    }
  }
});
