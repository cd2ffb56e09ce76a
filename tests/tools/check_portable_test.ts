import assert from "node:assert/strict";
import { checkPortable, isPortable } from "../../tools/check_portable.ts";

const root = new URL("../../", import.meta.url).pathname;

async function copyProject(to: string): Promise<void> {
  for (const file of ["deno.json", "deno.lock", "tools/portable.json"]) {
    await Deno.mkdir(`${to}/${file}`.replace(/\/[^/]+$/, ""), { recursive: true });
    await Deno.copyFile(`${root}${file}`, `${to}/${file}`);
  }
  for (const dir of ["envelope", "operators"]) {
    await Deno.mkdir(`${to}/${dir}`, { recursive: true });
    for (const entry of Deno.readDirSync(`${root}${dir}`)) {
      if (entry.isFile) {
        await Deno.copyFile(`${root}${dir}/${entry.name}`, `${to}/${dir}/${entry.name}`);
      }
    }
  }
}

Deno.test("isPortable() covers envelope/, operators/, edge/ and sources/ except *_adapter.ts", () => {
  assert.equal(isPortable("envelope/time.ts"), true);
  assert.equal(isPortable("operators/merge_stream.ts"), true);
  assert.equal(isPortable("sources/radar/tdm_decoder.ts"), true);
  assert.equal(isPortable("sources/radar/tcp_adapter.ts"), false);
  assert.equal(isPortable("edge/worker.ts"), true);
  assert.equal(isPortable("sinks/segment_log.ts"), false);
  assert.equal(isPortable("service/pipeline.ts"), false);
});

Deno.test("checkPortable() passes on the project as it is", async () => {
  assert.deepEqual(await checkPortable(root), []);
});

Deno.test("checkPortable() fails when envelope/ uses Deno.*, a node: import or a Node global", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "sda-portable-" });
  try {
    await copyProject(tmp);
    assert.deepEqual(await checkPortable(tmp), []);

    await Deno.writeTextFile(`${tmp}/envelope/clock.ts`, "export const pid = Deno.pid;\n");
    let problems = await checkPortable(tmp);
    assert.equal(problems.length, 1);
    assert.match(problems[0], /Deno/);

    await Deno.writeTextFile(
      `${tmp}/envelope/clock.ts`,
      'import { hostname } from "node:os";\nexport const host = hostname;\n',
    );
    problems = await checkPortable(tmp);
    assert.deepEqual(problems, ["envelope/clock.ts imports node:os: Node APIs are not portable"]);

    await Deno.writeTextFile(`${tmp}/envelope/clock.ts`, 'export const b = Buffer.from("x");\n');
    problems = await checkPortable(tmp);
    assert.match(problems.join("\n"), /Buffer/);

    await Deno.remove(`${tmp}/envelope/clock.ts`);
    assert.deepEqual(await checkPortable(tmp), []);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
