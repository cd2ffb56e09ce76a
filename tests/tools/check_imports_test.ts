import assert from "node:assert/strict";
import { importSpecifiers, unusedImports } from "../../tools/check_imports.ts";

const root = new URL("../../", import.meta.url).pathname;

Deno.test("unusedImports() finds no unused import-map entry in the project", async () => {
  assert.deepEqual(await unusedImports(root), []);
});

Deno.test("unusedImports() names an entry that only a folder it skips imports", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sda-imports-" });
  try {
    await Deno.writeTextFile(
      `${tmp}/deno.json`,
      JSON.stringify({ imports: { a: "npm:a@1", "b/": "npm:/b@1/", c: "npm:c@1" } }),
    );
    await Deno.mkdir(`${tmp}/src`);
    await Deno.mkdir(`${tmp}/node_modules`);
    await Deno.writeTextFile(`${tmp}/src/x.ts`, 'import a from "a";\nawait import("b/sub.js");\n');
    await Deno.writeTextFile(`${tmp}/node_modules/y.ts`, 'import c from "c";\n');
    assert.deepEqual(await unusedImports(tmp), ["c"]);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("importSpecifiers() reads static, side-effect, re-export and dynamic imports", () => {
  const text = `import x from "one";\nimport "two";\nexport { y } from 'three';\n` +
    `const z = await import( "four" );\nimport type { T } from "five";`;
  assert.deepEqual(importSpecifiers(text), ["one", "two", "three", "four", "five"]);
});
