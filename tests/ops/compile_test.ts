/**
 * `deno task compile`: one executable that runs `serve` and `demo` from a
 * directory without the source tree and without Deno on the PATH.
 */

import assert from "node:assert/strict";
import { compileArgs } from "../../tools/compile.ts";
import { freePort } from "../../bench/_processes.ts";
import { removeDir } from "../_observations.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("compileArgs() carries exactly the permissions of deno task serve, with site overrides", async () => {
  const serve = JSON.parse(await Deno.readTextFile(`${root}deno.json`)).tasks.serve as string;
  const flags = serve.split(" ").filter((w) => w.startsWith("--allow-"));
  assert.ok(flags.length >= 4, serve);
  const args = await compileArgs({ output: "/tmp/x" });
  assert.deepEqual(args.filter((a) => a.startsWith("--allow-")), flags);
  assert.ok(!args.includes("-A") && !args.includes("--allow-all"));
  const site = await compileArgs({ output: "/tmp/x", overrides: ["--allow-net=0.0.0.0"] });
  assert.ok(site.includes("--allow-net=0.0.0.0"));
  assert.equal(site.filter((a) => a.startsWith("--allow-net")).length, 1);
});

/**
 * `deno compile` needs the `denort` runtime of this Deno version: from
 * DENORT_BIN, or downloaded once from Deno's release server into DENO_DIR.
 * Where neither is possible (no route to that server) the end-to-end test
 * cannot run, and says so.
 */
async function denortAvailable(): Promise<string | undefined> {
  if (Deno.env.get("DENORT_BIN")) return "DENORT_BIN";
  const info = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const denoDir = JSON.parse(new TextDecoder().decode(info.stdout)).denoDir as string;
  const cached = `${denoDir}/dl/release/v${Deno.version.deno}/denort-${Deno.build.target}.zip`;
  try {
    await Deno.stat(cached);
    return cached;
  } catch {
    return undefined;
  }
}

const denort = await denortAvailable();
if (!denort) {
  console.error(
    `compile_test: the compiled-binary test is ignored: no denort ${Deno.version.deno} ` +
      `for ${Deno.build.target} (DENORT_BIN unset, none cached in DENO_DIR, and deno compile ` +
      "downloads it from Deno's release server)",
  );
}

Deno.test({
  name: "the compiled binary runs serve and demo from a bare directory without deno on the PATH",
  ignore: !denort,
  async fn() {
    const build = await Deno.makeTempDir({ prefix: "sda-compile-" });
    const site = await Deno.makeTempDir({ prefix: "sda-site-" });
    try {
      const compiled = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "--allow-read",
          "--allow-write",
          "--allow-run",
          "--allow-env",
          `${root}tools/compile.ts`,
          "--output",
          `${build}/sda-ingest`,
        ],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(300_000),
      }).output();
      assert.equal(compiled.code, 0, new TextDecoder().decode(compiled.stderr));
      await Deno.copyFile(`${build}/sda-ingest`, `${site}/sda-ingest`);
      await Deno.chmod(`${site}/sda-ingest`, 0o755);
      const env = { PATH: "/usr/bin:/bin", HOME: site, NO_COLOR: "1" };
      const noDeno = await new Deno.Command("sh", {
        args: ["-c", "command -v deno || echo none"],
        env,
        clearEnv: true,
        stdout: "piped",
      }).output();
      assert.equal(new TextDecoder().decode(noDeno.stdout).trim(), "none");

      const demo = await new Deno.Command(`${site}/sda-ingest`, {
        args: ["demo", "--duration", "5", "--out", "data"],
        cwd: site,
        env,
        clearEnv: true,
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(120_000),
      }).output();
      const out = new TextDecoder().decode(demo.stdout);
      assert.equal(demo.code, 0, out + new TextDecoder().decode(demo.stderr));
      assert.match(out, /demo: stopped after/);
      assert.ok((await Deno.stat(`${site}/data/events`)).isDirectory);

      const http = freePort();
      await Deno.writeTextFile(
        `${site}/ingest.json`,
        JSON.stringify({
          sources: [{ name: "xr1", kind: "radar", port: freePort() }],
          log: { dir: "data/serve-events" },
          deadLetter: { dir: "data/serve-dead-letter" },
          state: { dir: "data/serve-state" },
          http: { port: http },
        }),
      );
      const serve = new Deno.Command(`${site}/sda-ingest`, {
        args: ["serve"],
        cwd: site,
        env,
        clearEnv: true,
        stdout: "null",
        stderr: "piped",
      }).spawn();
      let ready = false;
      for (let i = 0; i < 300 && !ready; i++) {
        try {
          const response = await fetch(`http://127.0.0.1:${http}/ready`);
          await response.body?.cancel();
          ready = response.ok;
        } catch {
          // Not yet.
        }
        if (!ready) await new Promise((r) => setTimeout(r, 100));
      }
      serve.kill("SIGTERM");
      const [status, stderr] = await Promise.all([
        serve.status,
        new Response(serve.stderr).text(),
      ]);
      assert.ok(ready, stderr);
      assert.equal(status.code, 0, stderr);
    } finally {
      await removeDir(build);
      await removeDir(site);
    }
  },
});
