/**
 * The portable-core check (SPEC §1): `envelope/`, `operators/` and every
 * decoder/normaliser in `sources/` must use web APIs only, so they run
 * unchanged in an edge worker and a browser.
 *
 * Two checks, because each alone has a hole:
 *
 * 1. `deno check` against web-only libs (`tools/portable.json`): any use of
 *    `Deno.*` or of Node globals such as `Buffer` fails to type-check.
 * 2. The module graph (`deno info --json`): a `node:` import type-checks
 *    even against web libs, so any `node:` specifier reached from a portable
 *    file fails, as does an npm package outside {@link PORTABLE_NPM} or a
 *    local module outside the portable set.
 *
 * Portable files: everything under `envelope/`, `operators/` and `edge/` (the
 * edge-worker module, SPEC §13), and every file under `sources/` except
 * runtime adapters, which are named
 * `*_adapter.ts` (e.g. `sources/radar/tcp_adapter.ts`). Tests and benches are
 * not part of the core.
 *
 * Usage: `deno run --allow-read --allow-write --allow-run tools/check_portable.ts [ROOT]`
 * — exits 1 and lists every violation.
 *
 * @module
 */

/** npm packages that are themselves web-portable. */
export const PORTABLE_NPM = [
  "zod",
  "@logtape/logtape",
  "papaparse",
  // Pure JS over WebCrypto: radar allow lists and client certificates (SPEC §15).
  "ipaddr.js",
  "@peculiar/x509",
  "reflect-metadata",
];

/** Whether a path (relative to the project root) belongs to the portable core. */
export function isPortable(path: string): boolean {
  if (!path.endsWith(".ts") || path.endsWith("_test.ts") || path.endsWith("_bench.ts")) {
    return false;
  }
  if (
    path.startsWith("envelope/") || path.startsWith("operators/") || path.startsWith("edge/")
  ) {
    return true;
  }
  return path.startsWith("sources/") && !path.endsWith("_adapter.ts");
}

async function walk(root: string, dir: string, out: string[]): Promise<void> {
  for await (const entry of Deno.readDir(`${root}/${dir}`)) {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory) await walk(root, path, out);
    else if (entry.isFile && isPortable(path)) out.push(path);
  }
}

/** The portable files under `root`, sorted. */
export async function portableFiles(root: string): Promise<string[]> {
  const files: string[] = [];
  for (const dir of ["envelope", "operators", "sources", "edge"]) {
    try {
      await walk(root, dir, files);
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }
  return files.sort();
}

interface Dependency {
  specifier: string;
  code?: { specifier: string };
  type?: { specifier: string };
}

interface GraphModule {
  specifier: string;
  dependencies?: Dependency[];
}

/** `npm:@scope/name@^1/sub` → `@scope/name`; `npm:/name@1.2.3/x` → `name`. */
function npmName(specifier: string): string {
  const parts = specifier.replace(/^npm:\/?/, "").split("/");
  const strip = (part: string) => part.replace(/(.)@.*$/, "$1");
  return parts[0].startsWith("@") ? `${parts[0]}/${strip(parts[1])}` : strip(parts[0]);
}

/** Runs both checks; returns the violations found (empty when clean). */
export async function checkPortable(root: string): Promise<string[]> {
  const files = await portableFiles(root);
  const problems: string[] = [];
  const check = await new Deno.Command(Deno.execPath(), {
    args: ["check", "--quiet", "--config", "tools/portable.json", ...files],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!check.success) {
    const text = new TextDecoder().decode(check.stderr) +
      new TextDecoder().decode(check.stdout);
    problems.push(`deno check against web-only libs failed:\n${text.trim()}`);
  }
  const rootUrl = new URL(`file://${await Deno.realPath(root)}/`);
  const portable = new Set(files.map((f) => new URL(f, rootUrl).href));
  const tmp = await Deno.makeTempDir();
  try {
    const entry = `${tmp}/entry.ts`;
    await Deno.writeTextFile(
      entry,
      [...portable].map((url) => `import ${JSON.stringify(url)};`).join("\n"),
    );
    const info = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", "deno.json", entry],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!info.success) {
      problems.push(`deno info failed: ${new TextDecoder().decode(info.stderr)}`);
      return problems;
    }
    const graph = JSON.parse(new TextDecoder().decode(info.stdout)) as {
      modules: GraphModule[];
    };
    for (const module of graph.modules) {
      if (!portable.has(module.specifier)) continue;
      const from = module.specifier.slice(rootUrl.href.length);
      for (const dep of module.dependencies ?? []) {
        const target = dep.code?.specifier ?? dep.type?.specifier ?? dep.specifier;
        if (target.startsWith("node:")) {
          problems.push(`${from} imports ${target}: Node APIs are not portable`);
        } else if (target.startsWith("npm:")) {
          const name = npmName(target);
          if (!PORTABLE_NPM.includes(name)) {
            problems.push(`${from} imports npm package ${name}, which is not in PORTABLE_NPM`);
          }
        } else if (target.startsWith("file:") && !portable.has(target)) {
          problems.push(
            `${from} imports ${target.slice(rootUrl.href.length)}, which is not portable`,
          );
        } else if (!target.startsWith("file:")) {
          problems.push(`${from} imports ${target}: only local and npm modules are allowed`);
        }
      }
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  return problems;
}

if (import.meta.main) {
  const root = Deno.args[0] ?? ".";
  const problems = await checkPortable(root);
  if (problems.length > 0) {
    for (const problem of problems) console.error(`portable core: ${problem}`);
    Deno.exit(1);
  }
  const count = (await portableFiles(root)).length;
  console.error(`portable core: ${count} files use web APIs only`);
}
