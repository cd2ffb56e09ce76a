import assert from "node:assert/strict";
import { freePort, waitForOk } from "../../bench/_processes.ts";
import { removeDir } from "../_observations.ts";

const repo = new URL("../../", import.meta.url).pathname;

/** `deno task serve`'s `deno run` flags, as deno.json has them. */
async function serveTaskFlags(): Promise<string[]> {
  const { tasks } = JSON.parse(await Deno.readTextFile(`${repo}deno.json`));
  const words = (tasks.serve as string).split(/\s+/);
  assert.deepEqual(words.slice(0, 2), ["deno", "run"]);
  assert.deepEqual(words.slice(-2), ["main.ts", "serve"]);
  return words.slice(2, -2);
}

/** `deno task serve` as the task runs it, in `cwd` (with the repository's import map). */
async function serveTask(cwd: string, env: Record<string, string> = {}): Promise<Deno.Command> {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--config",
      `${repo}deno.json`,
      ...await serveTaskFlags(),
      `${repo}main.ts`,
      "serve",
    ],
    cwd,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  });
}

Deno.test("serve with `deno task serve`'s permissions starts where no data/ exists yet (a fresh checkout) and creates its directories", async () => {
  const cwd = await Deno.realPath(await Deno.makeTempDir({ prefix: "sda-fresh-" }));
  const httpPort = freePort();
  try {
    await Deno.writeTextFile(
      `${cwd}/ingest.json`,
      JSON.stringify({
        sources: [{ name: "xr1", kind: "radar", port: freePort() }],
        http: { port: httpPort },
      }),
    );
    const child = (await serveTask(cwd)).spawn();
    const stderr = new Response(child.stderr).text();
    const ready = await waitForOk(`http://127.0.0.1:${httpPort}/ready`, 30_000).then(
      () => true,
      () => false,
    );
    try {
      child.kill("SIGTERM");
    } catch {
      // It has exited: its status and output say why.
    }
    const { code } = await child.status;
    assert.ok(ready && code === 0, `ready: ${ready}, exit ${code}\n${await stderr}`);
    for (const dir of ["events", "dead-letter", "state"]) {
      assert.ok((await Deno.stat(`${cwd}/data/${dir}`)).isDirectory, dir);
    }
  } finally {
    await removeDir(cwd);
  }
});

Deno.test("serve with `deno task serve`'s permissions and another problem says only that one, and creates nothing", async () => {
  const cwd = await Deno.realPath(await Deno.makeTempDir({ prefix: "sda-fresh-" }));
  try {
    await Deno.writeTextFile(
      `${cwd}/ingest.json`,
      JSON.stringify({ http: { port: freePort(), tokenEnv: "INGEST_HTTP_TOKEN" } }),
    );
    // INGEST_HTTP_TOKEN set to nothing: no token.
    const output = await (await serveTask(cwd, { INGEST_HTTP_TOKEN: "" })).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 2, stderr);
    // The data directories would have been created: no problem of theirs.
    assert.deepEqual(stderr.split("\n").filter((line) => line.startsWith("  $")), [
      "  $.http.tokenEnv: environment variable INGEST_HTTP_TOKEN is not set",
    ]);
    assert.deepEqual([...Deno.readDirSync(cwd)].map((entry) => entry.name), ["ingest.json"]);
  } finally {
    await removeDir(cwd);
  }
});
