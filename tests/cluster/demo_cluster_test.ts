import assert from "node:assert/strict";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
/** The permissions of `deno task demo`. */
const DEMO = [
  "--allow-net=127.0.0.1",
  "--allow-read=.",
  "--allow-write=.",
  "--allow-sys=statfs",
  "--allow-run",
];

async function demo(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...DEMO, MAIN, "demo", "--cluster", ...args],
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
    cwd,
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("demo --cluster without nats-server on the PATH says how to install it and exits 2", async () => {
  const empty = await Deno.makeTempDir({ prefix: "sda-nopath-" });
  try {
    const result = await demo([], { PATH: empty }, empty);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /apt-get install -y nats-server/);
  } finally {
    await Deno.remove(empty, { recursive: true });
  }
});

Deno.test("demo --cluster kills the owner half-way, the other takes over, and the stream has no id twice", async () => {
  const cwd = await Deno.makeTempDir({ prefix: "sda-demo-cluster-" });
  try {
    const result = await demo(["--duration", "16", "--out", "out"], {}, cwd);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const out = result.stdout;
    // One owner, one standby (usually ingest-a, started first, owns; a
    // starved machine may hand the lease over before the first line).
    assert.match(
      out,
      /ingest-a: .*\[owns archive, isl\] │ ingest-b: .*\[standby\]|ingest-a: .*\[standby\] │ ingest-b: .*\[owns archive, isl\]/,
    );
    const [, killed] =
      /✂ killed (ingest-[ab]) \(owner of the archive and the gateway\) with SIGKILL/
        .exec(out)!;
    const survivor = killed === "ingest-a" ? "ingest-b" : "ingest-a";
    const after = out.slice(out.indexOf("✂"));
    assert.match(after, new RegExp(`${survivor}: [^│]*\\[owns archive, isl\\]`));
    assert.match(out, /↻ archive taken over after [\d.]+ s, from saved cursor v1\.\d+/);
    assert.match(out, /↻ gateway taken over after [\d.]+ s, polling after index [1-9]\d*/);
    const [, count] = /the stream SDA_OBS holds ([\d,]+) observations .*, 0 ids twice/.exec(out)!;
    assert.ok(Number(count.replaceAll(",", "")) > 1000);
    assert.match(
      out,
      new RegExp(`takeover after killing ${killed}: archive [\\d.]+ s, gateway [\\d.]+ s`),
    );
    // Each instance's configuration and log are left for a look.
    for (const name of ["ingest-a", "ingest-b"]) {
      const config = JSON.parse(await Deno.readTextFile(`${cwd}/out/${name}/ingest.json`));
      assert.equal(config.nats.instance, name);
      assert.equal(config.nats.replicas, 3);
    }
  } finally {
    await Deno.remove(cwd, { recursive: true });
  }
});
