/**
 * The simulators are independent peers of the service (SPEC §11, the
 * developers' guide): a simulator that shared the service's codec or time
 * code would agree with it on the same mistake, so nothing under `sim/` may
 * reach the service's code — only npm packages of the import map, web /
 * Deno / `node:` built-ins and other files of `sim/`.
 */

import assert from "node:assert/strict";
import { main } from "../../main.ts";

const ROOT = new URL("../../", import.meta.url);
const SIM = new URL("sim/", ROOT);

/** Folders of the service that a simulator must never reach. */
const SERVICE = ["envelope/", "sources/", "operators/", "service/", "sinks/", "cli/", "edge/"];

interface GraphModule {
  specifier: string;
  dependencies?: {
    specifier: string;
    code?: { specifier?: string };
    type?: { specifier?: string };
  }[];
}

/** `importer → imported` for every import (code or type) in the graph of `entry`. */
async function edges(entry: URL): Promise<[string, string][]> {
  const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "--config", new URL("deno.json", ROOT).pathname, entry.pathname],
    cwd: ROOT.pathname,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  const graph = JSON.parse(new TextDecoder().decode(stdout)) as { modules: GraphModule[] };
  return graph.modules.flatMap((module) =>
    (module.dependencies ?? []).flatMap((dependency) =>
      [dependency.code?.specifier, dependency.type?.specifier]
        .filter((to): to is string => to !== undefined)
        .map((to): [string, string] => [module.specifier, to])
    )
  );
}

function relative(specifier: string): string {
  return specifier.startsWith(ROOT.href) ? specifier.slice(ROOT.href.length) : specifier;
}

/** The sim modules, every `sim/*.ts`. */
async function simModules(): Promise<URL[]> {
  const files: URL[] = [];
  for await (const entry of Deno.readDir(SIM)) {
    if (entry.isFile && entry.name.endsWith(".ts")) files.push(new URL(entry.name, SIM));
  }
  return files.sort((a, b) => a.href.localeCompare(b.href));
}

/** Why `from` (in sim/) may not import `to`, or undefined when it may. */
function simImportProblem(from: string, to: string): string | undefined {
  if (to.startsWith("npm:") || to.startsWith("node:") || to.startsWith(SIM.href)) return undefined;
  const path = relative(to);
  const folder = SERVICE.find((f) => path.startsWith(f));
  return `${relative(from)} imports ${path}: ` +
    (folder === undefined
      ? "neither a sim module nor an npm package or a built-in"
      : `the service's code (${folder})`);
}

Deno.test("sim/*.ts reach no module of envelope/, sources/, operators/, service/, sinks/ or cli/", async () => {
  const files = await simModules();
  assert.ok(files.length >= 9, `found only ${files.length} sim modules`);
  const problems = new Set<string>();
  for (const graph of await Promise.all(files.map((file) => edges(file)))) {
    // The first step out of sim/ is the culprit; what the service's modules
    // import in turn is noise.
    for (const [from, to] of graph) {
      const problem = from.startsWith(SIM.href) ? simImportProblem(from, to) : undefined;
      if (problem !== undefined) problems.add(problem);
    }
  }
  assert.deepEqual([...problems].sort(), []);
});

Deno.test("sim/*.ts doc examples import only the sims' own files, built-ins and import-map packages", async () => {
  const imports = Object.keys(
    JSON.parse(await Deno.readTextFile(new URL("deno.json", ROOT))).imports,
  );
  const specifier = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(["'])([^"'\n]+)\1/g;
  const problems: string[] = [];
  for (const file of await simModules()) {
    const text = await Deno.readTextFile(file);
    for (const [, , written] of text.matchAll(specifier)) {
      const ok = written.startsWith("node:") || imports.includes(written) ||
        (written.startsWith("./") && !written.includes("/", 2));
      if (!ok) problems.push(`${relative(file.href)}: "${written}"`);
    }
  }
  assert.deepEqual(problems, []);
});

Deno.test("the service's modules do not import sim/ at run time (doc examples may use it)", async () => {
  // One entry that imports every module of the service's folders, so one
  // `deno info` sees the whole graph.
  const files: string[] = [];
  const walk = async (dir: URL) => {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isDirectory) await walk(new URL(`${entry.name}/`, dir));
      else if (entry.name.endsWith(".ts")) files.push(new URL(entry.name, dir).href);
    }
  };
  for (const folder of ["envelope/", "sources/", "operators/", "service/", "sinks/"]) {
    await walk(new URL(folder, ROOT));
  }
  const dir = await Deno.makeTempDir();
  const entry = new URL(`file://${dir}/service.ts`);
  await Deno.writeTextFile(entry, files.map((f) => `import "${f}";\n`).join(""));
  try {
    const problems = (await edges(entry))
      .filter(([from, to]) => from !== entry.href && to.startsWith(SIM.href))
      .map(([from, to]) => `${relative(from)} imports ${relative(to)}`);
    assert.deepEqual(problems, []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main.ts sim recognises a simulator's own usage error: exit status 2", async () => {
  const error = console.error;
  const printed: string[] = [];
  console.error = (...args: unknown[]) => printed.push(args.join(" "));
  try {
    assert.equal(await main(["sim", "isl", "--loss", "1.5"]), 2);
    assert.equal(await main(["sim", "archive", "--bogus"]), 2);
    assert.equal(await main(["sim", "radar", "--to", "nowhere"]), 2);
  } finally {
    console.error = error;
  }
  assert.match(
    printed[0],
    /^sim isl: --loss must be at most 1: "1\.5"\n\nUsage: main\.ts sim isl /,
  );
  assert.match(printed[1], /^sim archive: Unknown option '--bogus'/);
  assert.match(printed[2], /^sim radar: --to must be HOST:PORT: "nowhere"/);
});
