import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../../service/config.ts";
import { validateConfig } from "../../../service/config_file.ts";
import { removeDir } from "../../_observations.ts";

function problems(input: unknown): string[] {
  try {
    parseConfig(input);
    return [];
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

const optical = (extra: Record<string, unknown>) => ({
  sources: [{ name: "archive", kind: "optical", url: "https://udl.example/eo", ...extra }],
});

Deno.test("parseConfig() takes the optical security keys with their defaults", () => {
  const [source] = parseConfig(optical({ caFile: "tls/ca.crt", sensors: ["SBO-2"] })).sources;
  assert.equal(source.kind, "optical");
  if (source.kind !== "optical") return;
  assert.equal(source.caFile, "tls/ca.crt");
  assert.deepEqual(source.sensors, ["SBO-2"]);
  assert.equal(source.maxPageBytes, 64 * 1024 * 1024);
});

Deno.test("parseConfig() explains bad optical security keys, each with its path", () => {
  assert.deepEqual(problems(optical({ maxPageBytes: 100 })), [
    "$.sources[0].maxPageBytes: must be at least 1024 bytes (got 100)",
  ]);
  assert.deepEqual(problems(optical({ maxPageBytes: 2 ** 31 })), [
    "$.sources[0].maxPageBytes: must be at most 1073741824 bytes (1 GiB) (got 2147483648)",
  ]);
  assert.deepEqual(problems(optical({ sensors: [] })), [
    "$.sources[0].sensors: must list at least one sensor id (leave it out to accept any) (got an empty array)",
  ]);
  assert.deepEqual(
    problems({
      sources: [{ name: "a", kind: "optical", url: "http://h/eo", caFile: "ca.crt" }],
    }),
    ["$.sources[0].caFile: is only used with an https:// url"],
  );
  assert.deepEqual(
    problems({
      sources: [{
        name: "a",
        kind: "optical",
        url: "https://ops:secret@h/eo",
        tokenEnv: "OPTICAL_TOKEN",
      }],
    }),
    [
      "$.sources[0].tokenEnv: cannot be used with a user name or password in url: give the archive one credential",
    ],
  );
});

Deno.test("validateConfig() checks that caFile exists and holds a PEM certificate, relative to the config", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-optical-config-" });
  try {
    await Deno.writeTextFile(`${dir}/not-pem.txt`, "hello");
    await Deno.writeTextFile(
      `${dir}/ca.crt`,
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    const input = (caFile: string) => ({
      ...optical({ caFile }),
      log: { dir: "events" },
      deadLetter: { dir: "dead" },
      state: { dir: "state" },
    });
    const config = await validateConfig(input("ca.crt"), dir);
    assert.equal((config.sources[0] as { caFile: string }).caFile, `${dir}/ca.crt`);
    await assert.rejects(
      validateConfig(input("missing.crt"), dir),
      new RegExp(`\\$\\.sources\\[0\\]\\.caFile: cannot read ${dir}/missing\\.crt: no such file`),
    );
    await assert.rejects(
      validateConfig(input("not-pem.txt"), dir),
      /\$\.sources\[0\]\.caFile: .*not-pem\.txt holds no PEM certificate/,
    );
  } finally {
    await removeDir(dir);
  }
});
