import assert from "node:assert/strict";

const main = new URL("../../main.ts", import.meta.url).pathname;

async function run(args: string[]) {
  const result = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", main, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code: result.code,
    stdout: new TextDecoder().decode(result.stdout),
    stderr: new TextDecoder().decode(result.stderr),
  };
}

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
