/**
 * `deno task compile`: the service as one self-contained executable
 * (`deno compile`), with the same least-privilege permissions as
 * `deno task serve` — read from that task in `deno.json`, so the two cannot
 * drift apart. A site whose configuration listens on other addresses or pulls
 * other archives overrides a permission by passing it, e.g.
 * `deno task compile --allow-net=0.0.0.0,udl.example:443`.
 *
 * `deno compile` builds on a `denort` runtime binary for the target. Deno
 * downloads it from its release server the first time (then caches it under
 * DENO_DIR); where that server cannot be reached, point `DENORT_BIN` at a
 * denort binary of the same Deno version.
 *
 * Usage: `deno run --allow-read --allow-write --allow-run --allow-env
 * tools/compile.ts [--allow-…=…] [--output PATH] [--target TRIPLE]`.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * The `--allow-*` flags of a `deno run …` task line, in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { permissionFlags } from "./compile.ts";
 *
 * assert.deepEqual(
 *   permissionFlags("deno run --allow-net=127.0.0.1 --allow-read=. main.ts serve"),
 *   ["--allow-net=127.0.0.1", "--allow-read=."],
 * );
 * ```
 */
export function permissionFlags(task: string): string[] {
  return task.split(/\s+/).filter((word) => /^--allow-[a-z-]+(=.*)?$/.test(word));
}

/**
 * `base` with every flag of `overrides` replacing the one of the same
 * permission (or added).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { overridePermissions } from "./compile.ts";
 *
 * assert.deepEqual(
 *   overridePermissions(["--allow-net=127.0.0.1", "--allow-read=."], ["--allow-net=0.0.0.0"]),
 *   ["--allow-net=0.0.0.0", "--allow-read=."],
 * );
 * ```
 */
export function overridePermissions(base: string[], overrides: string[]): string[] {
  const name = (flag: string) => flag.split("=")[0];
  const out = base.map((flag) => overrides.find((o) => name(o) === name(flag)) ?? flag);
  for (const o of overrides) if (!out.some((f) => name(f) === name(o))) out.push(o);
  return out;
}

/** The `deno compile` arguments for the options. */
export async function compileArgs(
  options: { output: string; overrides?: string[]; target?: string },
): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`)) as {
    tasks: Record<string, string>;
  };
  const permissions = overridePermissions(
    permissionFlags(config.tasks.serve),
    options.overrides ?? [],
  );
  return [
    "compile",
    "--quiet",
    ...permissions,
    ...(options.target ? ["--target", options.target] : []),
    "--output",
    options.output,
    // Loaded with `new Worker(url)`, so not found by following imports (cluster mode's lease
    // thread, the decode workers).
    "--include",
    `${ROOT}service/cluster/_lease_worker.ts`,
    "--include",
    `${ROOT}service/workers/_decode_worker.ts`,
    `${ROOT}main.ts`,
  ];
}

if (import.meta.main) {
  const overrides: string[] = [];
  let output = `${ROOT}dist/sda-ingest`;
  let target: string | undefined;
  for (let i = 0; i < Deno.args.length; i++) {
    const arg = Deno.args[i];
    if (arg.startsWith("--allow-")) overrides.push(arg);
    else if (arg === "--output" || arg === "-o") output = Deno.args[++i];
    else if (arg === "--target") target = Deno.args[++i];
    else {
      console.error(
        `compile: unknown argument "${arg}"\nUsage: deno task compile [--allow-…=…] [--output PATH] [--target TRIPLE]`,
      );
      Deno.exit(2);
    }
  }
  const args = await compileArgs({ output, overrides, target });
  console.error(`compile: deno ${args.join(" ")}`);
  const result = await new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (!result.success) {
    console.error(stderr.trim());
    if (/denort|dl\.deno\.land/.test(stderr)) {
      console.error(
        "\ncompile: deno compile needs the denort runtime of this Deno version and could not " +
          "download it (above). On a machine without access to Deno's release server, set " +
          "DENORT_BIN to a denort binary of the same version (from a machine that has one in " +
          "DENO_DIR, or from the release archive) and run again.",
      );
    }
    Deno.exit(1);
  }
  console.error(`compile: wrote ${output}`);
}
