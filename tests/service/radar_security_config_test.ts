/** The radar security keys of the configuration (SPEC §15): tls, allow, sensors, clients. */

import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../service/config.ts";
import { validateConfig } from "../../service/config_file.ts";
import { makePki } from "../sources/radar/_pki.ts";

function problems(input: unknown): string[] {
  try {
    parseConfig(input);
    return [];
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
}

Deno.test("parseConfig() accepts a radar source with tls, allow, sensors and clients", () => {
  const config = parseConfig({
    sources: [{
      name: "xr1",
      kind: "radar",
      hostname: "0.0.0.0",
      port: 7001,
      tls: { certFile: "tls/ingest.crt", keyFile: "tls/ingest.key", clientCaFile: "tls/ca.crt" },
      allow: ["10.20.0.0/16", "::1/128", "::ffff:192.0.2.0/120", "192.0.2.7"],
      sensors: ["XR1", "XR2"],
      clients: { "XR1-OPS": ["XR1"] },
    }],
  });
  const radar = config.sources[0];
  assert.equal(radar.kind, "radar");
  if (radar.kind === "radar") assert.deepEqual(radar.clients, { "XR1-OPS": ["XR1"] });
});

Deno.test("parseConfig() names every bad radar security key by its JSON path", () => {
  assert.deepEqual(
    problems({
      sources: [{
        name: "xr1",
        kind: "radar",
        port: 7001,
        tls: { certFile: "a.crt" },
        allow: ["10.20.0.0/33", "radar.example"],
        sensors: [],
        clients: { "XR1-OPS": ["XR1"] },
      }],
    }),
    [
      "$.sources[0].tls.keyFile: is required (expected string)",
      '$.sources[0].allow[0]: must be a CIDR range such as "10.20.0.0/16" or "::1/128": prefix length /33 is out of range for IPv4 (0–32)',
      '$.sources[0].allow[1]: must be a CIDR range such as "10.20.0.0/16" or "::1/128": "radar.example" is not an IPv4 or IPv6 address',
      "$.sources[0].sensors: must list at least one sensor id (got an empty array)",
      "$.sources[0].clients: needs tls.clientCaFile: only a client certificate names a client",
    ],
  );
});

Deno.test("validateConfig() reports radar TLS files that cannot be read, with paths resolved against the config", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-config-tls-" });
  try {
    await Deno.writeTextFile(`${dir}/server.crt`, "x");
    const input = {
      sources: [{
        name: "xr1",
        kind: "radar",
        port: 7001,
        tls: { certFile: "server.crt", keyFile: "server.key", clientCaFile: "/nonexistent/ca.crt" },
      }],
      log: { dir: `${dir}/events` },
      deadLetter: { dir: `${dir}/dead` },
      state: { dir: `${dir}/state` },
    };
    const error = await validateConfig(input, dir).then(() => undefined, (e) => e);
    assert.ok(error instanceof ConfigError);
    assert.deepEqual(error.problems.map((p) => `${p.path}: ${p.message}`), [
      `$.sources[0].tls.keyFile: cannot read ${dir}/server.key: no such file`,
      "$.sources[0].tls.clientCaFile: cannot read /nonexistent/ca.crt: no such file",
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validateConfig() reports the TLS and CA files a configuration names also when its schema has problems: every problem in one run", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-config-tls-" });
  try {
    const input = {
      sources: [
        {
          name: "archive",
          kind: "optical",
          url: "https://udl.example/x",
          pageSize: 0,
          caFile: "ca.crt",
        },
        { name: "xr1", kind: "radar", port: 7001, tls: { certFile: "r.crt", keyFile: "r.key" } },
      ],
      log: { dir: `${dir}/events` },
      deadLetter: { dir: `${dir}/dead` },
      state: { dir: `${dir}/state` },
      http: { tls: { certFile: "h.crt", keyFile: "h.key" } },
    };
    const error = await validateConfig(input, dir).then(() => undefined, (e) => e);
    assert.ok(error instanceof ConfigError);
    const paths = error.problems.map((p) => p.path);
    assert.ok(paths.includes("$.sources[0].pageSize"), paths.join(", "));
    for (
      const path of [
        "$.sources[1].tls.certFile",
        "$.sources[1].tls.keyFile",
        "$.http.tls.certFile",
        "$.http.tls.keyFile",
        "$.sources[0].caFile",
      ]
    ) {
      assert.ok(paths.includes(path), `${path} missing from ${paths.join(", ")}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("validateConfig() refuses a radar or HTTP key that is not its certificate's, a swapped pair and a client CA that is no certificate, quoting no key", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-config-tls-" });
  try {
    const pki = await makePki();
    const other = await pki.client("XR1-OPS");
    await Deno.writeTextFile(`${dir}/server.crt`, pki.server.cert);
    await Deno.writeTextFile(`${dir}/server.key`, pki.server.key);
    await Deno.writeTextFile(`${dir}/other.key`, other.key);
    await Deno.writeTextFile(`${dir}/ca.crt`, pki.ca);
    const dirs = {
      log: { dir: `${dir}/events` },
      deadLetter: { dir: `${dir}/dead` },
      state: { dir: `${dir}/state` },
    };
    const radar = (tls: Record<string, string>) => ({
      sources: [{ name: "xr1", kind: "radar", port: 7001, tls }],
      ...dirs,
    });
    // The right pair: valid.
    await validateConfig(
      radar({ certFile: "server.crt", keyFile: "server.key", clientCaFile: "ca.crt" }),
      dir,
    );
    const problemsOf = async (input: unknown) => {
      const error = await validateConfig(input, dir).then(() => undefined, (e) => e);
      assert.ok(error instanceof ConfigError);
      const lines = error.problems.map((p) => `${p.path}: ${p.message}`);
      assert.doesNotMatch(lines.join("\n"), /PRIVATE KEY|MII/, "no key material");
      return lines;
    };
    assert.deepEqual(
      await problemsOf(
        radar({ certFile: "server.crt", keyFile: "other.key", clientCaFile: "server.key" }),
      ),
      [
        `$.sources[0].tls.keyFile: the private key does not belong to the certificate (their public keys differ) (certFile ${dir}/server.crt, keyFile ${dir}/other.key)`,
        `$.sources[0].tls.clientCaFile: ${dir}/server.key holds no PEM certificate (-----BEGIN CERTIFICATE-----)`,
      ],
    );
    assert.deepEqual(
      await problemsOf({
        http: { port: 9464, tls: { certFile: "server.key", keyFile: "server.crt" } },
        ...dirs,
      }),
      [
        `$.http.tls.certFile: the certificate file holds no PEM certificate that can be read (certFile ${dir}/server.key, keyFile ${dir}/server.crt)`,
      ],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
