import assert from "node:assert/strict";
import { type ConfigError, defaultConfig, parseConfig } from "../../service/config.ts";
import { loadConfig } from "../../service/config_file.ts";
import { removeDir } from "../_observations.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

async function validate(path: string) {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      main,
      "validate",
      "--config",
      path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: new TextDecoder().decode(output.stdout),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

Deno.test("validate prints three distinct mistakes with their JSON paths and exits 2", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-config-" });
  try {
    const path = `${dir}/ingest.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        sources: [
          { name: "xr1", kind: "radar", port: 70000 },
          { name: "xr1", kind: "isl", gateways: [{ hostname: "127.0.0.1", port: 7003 }] },
        ],
        log: { dir: "events", fsynk: "always" },
      }),
    );
    const { code, stderr } = await validate(path);
    assert.equal(code, 2);
    assert.match(stderr, /3 problems/);
    assert.match(
      stderr,
      /\$\.sources\[0\]\.port: must be an integer port number 0–65535 \(got 70000\)/,
    );
    assert.match(stderr, /\$\.log\.fsynk: unknown key/);
    assert.match(
      stderr,
      /\$\.sources\[1\]\.name: duplicate source name "xr1" \(also \$\.sources\[0\]\.name\)/,
    );
  } finally {
    await removeDir(dir);
  }
});

Deno.test("validate accepts the SPEC's example config and exits 0", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-config-" });
  try {
    const path = `${dir}/ingest.json`;
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        sources: [
          {
            name: "xr1",
            kind: "radar",
            hostname: "127.0.0.1",
            port: 7001,
            maxLineBytes: 4096,
            groupIdleMs: 20,
            maxConnections: 64,
          },
          {
            name: "archive",
            kind: "optical",
            url: "http://127.0.0.1:7002/udl/eoobservation",
            accept: "csv",
            pageSize: 1000,
            pollIntervalMs: 1000,
            timeoutMs: 10000,
            startTime: "2026-11-25T00:00:00Z",
          },
          {
            name: "isl",
            kind: "isl",
            gateways: [{ hostname: "127.0.0.1", port: 7003 }],
            pollIntervalMs: 250,
            timeoutMs: 1000,
            maxPackets: 256,
          },
        ],
        log: { dir: "data/events", segmentBytes: 67108864, fsync: "always", fsyncIntervalMs: 100 },
        deadLetter: { dir: "data/dead-letter" },
        state: { dir: "data/state" },
        dedupe: { capacity: 1000000 },
        http: { hostname: "127.0.0.1", port: 9464 },
        nats: { servers: ["nats://127.0.0.1:4222"], stream: "SDA_OBS", subjectPrefix: "sda.obs" },
      }),
    );
    const { code, stdout } = await validate(path);
    assert.equal(code, 0);
    assert.match(stdout, /valid — sources: xr1 \(radar\), archive \(optical\), isl \(isl\)/);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("loadConfig() resolves relative paths against the config file's directory", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "sda-config-" }));
  try {
    await Deno.writeTextFile(
      `${dir}/ingest.json`,
      JSON.stringify({ log: { dir: "logs/events" }, state: { dir: "/tmp/abs-state" } }),
    );
    const config = await loadConfig(`${dir}/ingest.json`);
    assert.equal(config.log.dir, `${dir}/logs/events`);
    assert.equal(config.deadLetter.dir, `${dir}/data/dead-letter`);
    assert.equal(config.state.dir, "/tmp/abs-state");
  } finally {
    await removeDir(dir);
  }
});

Deno.test("loadConfig() reports a directory that is a file and invalid JSON with its position", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-config-" });
  try {
    await Deno.writeTextFile(`${dir}/blocker`, "");
    await Deno.writeTextFile(`${dir}/a.json`, JSON.stringify({ state: { dir: "blocker" } }));
    await assert.rejects(loadConfig(`${dir}/a.json`), (error: ConfigError) => {
      assert.equal(error.problems[0].path, "$.state.dir");
      assert.match(error.problems[0].message, /is not a directory/);
      return true;
    });
    await Deno.writeTextFile(`${dir}/b.json`, '{\n  "log": {,\n}');
    await assert.rejects(loadConfig(`${dir}/b.json`), /not valid JSON at line 2/);
    await assert.rejects(
      loadConfig(`${dir}/missing.json`),
      /cannot read .*missing\.json: no such file/,
    );
  } finally {
    await removeDir(dir);
  }
});

Deno.test("loadConfig() refuses data directories that are one another or inside one another", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir({ prefix: "sda-config-" }));
  try {
    await Deno.writeTextFile(
      `${dir}/a.json`,
      JSON.stringify({
        log: { dir: "same" },
        deadLetter: { dir: "same/" },
        state: { dir: "same/state" },
      }),
    );
    await assert.rejects(loadConfig(`${dir}/a.json`), (error: ConfigError) => {
      assert.deepEqual(error.problems, [
        {
          path: "$.deadLetter.dir",
          message:
            `is the same directory as $.log.dir (${dir}/same): each needs a directory of its own`,
        },
        {
          path: "$.state.dir",
          message: `is inside $.log.dir (${dir}/same): each needs a directory of its own`,
        },
        {
          path: "$.state.dir",
          message: `is inside $.deadLetter.dir (${dir}/same): each needs a directory of its own`,
        },
      ]);
      return true;
    });
    // With a schema problem beside it: reported too, in one run (SPEC §9:
    // every problem); it was found only once the rest was fixed.
    await Deno.writeTextFile(
      `${dir}/e.json`,
      JSON.stringify({ log: { dir: "same", fsynk: "always" }, deadLetter: { dir: "same" } }),
    );
    await assert.rejects(loadConfig(`${dir}/e.json`), (error: ConfigError) => {
      assert.deepEqual(error.problems.map((p) => p.path), ["$.log.fsynk", "$.deadLetter.dir"]);
      return true;
    });
    // A section that is no object is its own problem, not the default's
    // directory ("log": "oops" was taken for data/events).
    await Deno.writeTextFile(
      `${dir}/f.json`,
      JSON.stringify({ log: "oops", deadLetter: { dir: "data/events" } }),
    );
    await assert.rejects(loadConfig(`${dir}/f.json`), (error: ConfigError) => {
      assert.deepEqual(error.problems.map((p) => p.path), ["$.log"]);
      return true;
    });
    // Written with "..": the same directory.
    await Deno.writeTextFile(
      `${dir}/c.json`,
      JSON.stringify({ log: { dir: "x/../same" }, deadLetter: { dir: "./same" } }),
    );
    await assert.rejects(loadConfig(`${dir}/c.json`), /is the same directory as \$\.log\.dir/);
    // In cluster mode state.dir is not used: it may hold the logs.
    await Deno.writeTextFile(
      `${dir}/d.json`,
      JSON.stringify({
        log: { dir: "data/events" },
        deadLetter: { dir: "data/dead-letter" },
        state: { dir: "data" },
        nats: { servers: ["nats://127.0.0.1:4222"] },
      }),
    );
    assert.equal((await loadConfig(`${dir}/d.json`)).state.dir, `${dir}/data`);
    // Nor is it checked or created: one that cannot be is no problem there.
    await Deno.writeTextFile(`${dir}/blocker`, "");
    await Deno.writeTextFile(
      `${dir}/g.json`,
      JSON.stringify({
        log: { dir: "g/events" },
        deadLetter: { dir: "g/dead-letter" },
        state: { dir: "blocker/state" },
        nats: { servers: ["nats://127.0.0.1:4222"] },
      }),
    );
    await loadConfig(`${dir}/g.json`, { createDirs: true });
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(`${dir}/g`))).map((e) => e.name).sort(),
      ["dead-letter", "events"],
    );
    await Deno.writeTextFile(
      `${dir}/h.json`,
      JSON.stringify({
        log: { dir: "h/events" },
        deadLetter: { dir: "h/dead-letter" },
        nats: { servers: ["nats://127.0.0.1:4222"] },
      }),
    );
    await loadConfig(`${dir}/h.json`, { createDirs: true });
    assert.equal(await Deno.stat(`${dir}/data/state`).then(() => true, () => false), false);
    // Names that only share a prefix are different directories.
    await Deno.writeTextFile(
      `${dir}/b.json`,
      JSON.stringify({ log: { dir: "events" }, deadLetter: { dir: "events-dead" } }),
    );
    assert.equal((await loadConfig(`${dir}/b.json`)).deadLetter.dir, `${dir}/events-dead`);
  } finally {
    await removeDir(dir);
  }
});

Deno.test("loadConfig() reports an unset token variable", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-config-" });
  try {
    await Deno.writeTextFile(
      `${dir}/c.json`,
      JSON.stringify({
        sources: [{
          name: "a",
          kind: "optical",
          url: "http://127.0.0.1:1/x",
          tokenEnv: "SDA_TEST_SURELY_UNSET",
        }],
      }),
    );
    await assert.rejects(
      loadConfig(`${dir}/c.json`),
      /\$\.sources\[0\]\.tokenEnv: environment variable SDA_TEST_SURELY_UNSET is not set/,
    );
  } finally {
    await removeDir(dir);
  }
});

Deno.test("parseConfig() fills the SPEC defaults", () => {
  const config = defaultConfig();
  assert.deepEqual(config.log, {
    dir: "data/events",
    segmentBytes: 67108864,
    fsync: "always",
    fsyncIntervalMs: 100,
  });
  assert.equal(config.dedupe.capacity, 1_000_000);
  assert.deepEqual(config.http, { hostname: "127.0.0.1", port: 9464 });
  const radar = parseConfig({ sources: [{ name: "xr1", kind: "radar", port: 7001 }] }).sources[0];
  assert.deepEqual(radar, {
    name: "xr1",
    kind: "radar",
    hostname: "127.0.0.1",
    port: 7001,
    maxLineBytes: 4096,
    groupIdleMs: 20,
    maxConnections: 64,
    idleTimeoutMs: 600_000,
  });
  assert.throws(
    () => parseConfig({ sources: [{ name: "a", kind: "sonar" }] }),
    /\$\.sources\[0\]\.kind/,
  );
});

Deno.test("parseConfig() reports listeners that would clash on a port: the same address, localhost for 127.0.0.1, or a wildcard over it", () => {
  const radar = (name: string, hostname: string, port: number) => ({
    name,
    kind: "radar",
    hostname,
    port,
  });
  let error: unknown;
  try {
    parseConfig({
      sources: [
        radar("a", "127.0.0.1", 17603),
        radar("b", "localhost", 17603),
        radar("c", "0.0.0.0", 17604),
        radar("d", "127.0.0.2", 17604),
        radar("e", "::1", 17605),
        radar("f", "0.0.0.0", 17605),
        radar("g", "127.0.0.1", 9464),
        radar("h", "::ffff:127.0.0.1", 17603),
      ],
    });
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof Error && error.name === "ConfigError", String(error));
  assert.deepEqual((error as ConfigError).problems, [
    { path: "$.sources[1].port", message: "port 17603 is already used by $.sources[0].port" },
    {
      path: "$.sources[3].port",
      message: "port 17604 is already used by $.sources[2].port (0.0.0.0 and 127.0.0.2 overlap)",
    },
    { path: "$.sources[6].port", message: "port 9464 is already used by $.http.port" },
    // An IPv4-mapped address is the IPv4 address to the kernel.
    { path: "$.sources[7].port", message: "port 17603 is already used by $.sources[0].port" },
  ]);
});

Deno.test("parseConfig() takes startTime only as an ISO-8601 time of a real day, with its zone", () => {
  const optical = (startTime: string) => ({
    sources: [{ name: "o", kind: "optical", url: "http://127.0.0.1:1/x", startTime }],
  });
  for (const good of ["2026-11-25T00:00:00Z", "2024-02-29T23:59:59.5+05:30"]) {
    assert.equal(parseConfig(optical(good)).sources[0].kind, "optical", good);
  }
  // Date.parse takes them all, and the archive was asked for obTime=>1 or >March 7.
  for (
    const bad of [
      "1",
      "March 7",
      "2026-02-30T00:00:00Z",
      "2026-11-25T24:00:00Z",
      "2026-11-25T00:00:00",
    ]
  ) {
    assert.throws(() => parseConfig(optical(bad)), (error: ConfigError) => {
      assert.deepEqual(error.problems, [{
        path: "$.sources[0].startTime",
        message: "must be an ISO-8601 time such as 2026-11-25T00:00:00Z",
      }]);
      return true;
    }, bad);
  }
});

Deno.test("parseConfig() refuses source names NATS KV cannot take as keys and ISL sources that share a state key", () => {
  const problems = (input: unknown) => {
    try {
      parseConfig(input);
      return [];
    } catch (error) {
      assert.ok(error instanceof Error && error.name === "ConfigError", String(error));
      return (error as ConfigError).problems;
    }
  };
  const optical = (name: string) => ({ name, kind: "optical", url: "http://127.0.0.1:1/eo" });
  // A lease key in cluster mode: `a.` passed validate, and the source never
  // ran ("cannot take the lease: invalid key: a.").
  for (const bad of [".", "a.", ".a", "a..b"]) {
    assert.deepEqual(problems({ sources: [optical(bad)] }).map((p) => p.path), [
      "$.sources[0].name",
    ], bad);
  }
  for (const good of ["a", "a.b", "archive-2.site_a"]) {
    assert.deepEqual(problems({ sources: [optical(good)] }), [], good);
  }
  // `isl` + `gw1.site-a:7003` and `isl.gw1` + `site-a:7003`: one state key,
  // each overwriting the other's watermark.
  assert.deepEqual(
    problems({
      sources: [
        { name: "isl", kind: "isl", gateways: [{ hostname: "gw1.site-a", port: 7003 }] },
        { name: "isl.gw1", kind: "isl", gateways: [{ hostname: "site-a", port: 7003 }] },
      ],
    }),
    [{
      path: "$.sources[1].gateways[0]",
      message:
        "keeps its watermark under the same state key as $.sources[0].gateways[0] (isl.isl.gw1.site-a_7003): rename a source",
    }],
  );
});
