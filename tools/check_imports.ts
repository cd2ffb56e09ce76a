/**
 * Import-map hygiene: every entry of `deno.json`'s `imports` must be used by
 * some module of the project. An unused entry still pins a package in
 * `deno.lock` and is installed by `deno install`, so it costs every machine a
 * download and hides what the project really depends on.
 *
 * A module uses an entry when one of its import specifiers is the entry's
 * key, or starts with it for a key ending in `/` (a key `pkg/` is used by an
 * import of `pkg/sub.js`). Specifiers are read from
 * `import … from "…"`, `export … from "…"`, `import "…"` and `import("…")` in
 * every `.ts`, `.tsx`, `.js` and `.mjs` file outside `node_modules/`, `data/`
 * and `scratch/` — JSDoc examples included, since `deno test --doc` runs them.
 *
 * Usage: `deno run --allow-read tools/check_imports.ts [ROOT]` — exits 1 and
 * names every unused entry.
 *
 * @module
 */

const SKIP = new Set(["node_modules", "data", "scratch", "fixtures", ".git", "dist"]);
const SOURCE = /\.(ts|tsx|js|mjs)$/;
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"'\n]+)\1/g;

async function walk(root: string, dir: string, out: string[]): Promise<void> {
  for await (const entry of Deno.readDir(dir === "" ? root : `${root}/${dir}`)) {
    const path = dir === "" ? entry.name : `${dir}/${entry.name}`;
    if (entry.isDirectory && !SKIP.has(entry.name)) await walk(root, path, out);
    else if (entry.isFile && SOURCE.test(entry.name)) out.push(path);
  }
}

/** The import specifiers written in `text`. */
export function importSpecifiers(text: string): string[] {
  return [...text.matchAll(SPECIFIER)].map((m) => m[2]);
}

/**
 * The keys of the import map in `ROOT/deno.json` that no module under `root`
 * uses, sorted.
 *
 * @example An entry nothing imports is reported
 * ```ts
 * import assert from "node:assert/strict";
 * import { unusedImports } from "./check_imports.ts";
 *
 * const root = await Deno.makeTempDir();
 * await Deno.writeTextFile(
 *   `${root}/deno.json`,
 *   JSON.stringify({ imports: { zod: "npm:zod@^4", "left-pad": "npm:left-pad@1" } }),
 * );
 * await Deno.writeTextFile(`${root}/mod.ts`, 'import { z } from "zod";\nexport const s = z.string();\n');
 * assert.deepEqual(await unusedImports(root), ["left-pad"]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function unusedImports(root: string): Promise<string[]> {
  const config = JSON.parse(await Deno.readTextFile(`${root}/deno.json`)) as {
    imports?: Record<string, string>;
  };
  const keys = Object.keys(config.imports ?? {});
  const files: string[] = [];
  await walk(root, "", files);
  const used = new Set<string>();
  for (const file of files) {
    for (const specifier of importSpecifiers(await Deno.readTextFile(`${root}/${file}`))) {
      for (const key of keys) {
        if (specifier === key || (key.endsWith("/") && specifier.startsWith(key))) used.add(key);
      }
    }
  }
  return keys.filter((key) => !used.has(key)).sort();
}

if (import.meta.main) {
  const root = Deno.args[0] ?? ".";
  const unused = await unusedImports(root);
  if (unused.length > 0) {
    for (const key of unused) {
      console.error(`import map: "${key}" is in deno.json but no module imports it`);
    }
    Deno.exit(1);
  }
  console.error("import map: every entry is used");
}
