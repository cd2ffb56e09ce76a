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
  // `demo --help` points at `demo --cluster --help`: the cluster demo's own.
  const cluster = await run(["demo", "--cluster", "--help"]);
  assert.equal(cluster.code, 0, cluster.stderr);
  assert.match(cluster.stdout, /^Usage: main\.ts demo --cluster/);
});

Deno.test("a simulator's bad --port is bad usage in one line, exit 2, not a stack", async () => {
  for (const kind of ["archive", "isl"]) {
    const result = await runMain(["sim", kind, "--port", "99999"], [
      "--allow-read",
      "--allow-net=127.0.0.1",
    ]);
    assert.equal(result.code, 2, result.stderr);
    assert.equal(
      result.stderr.split("\n")[0],
      `sim ${kind}: --port must be at most 65535: "99999"`,
    );
    assert.doesNotMatch(result.stderr, /\bat .*\.ts:\d+/, "no stack trace");
  }
});
