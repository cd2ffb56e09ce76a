import assert from "node:assert/strict";
import { ConfigError, parseConfig } from "../../service/config.ts";

function problems(input: unknown): string[] {
  try {
    parseConfig(input);
  } catch (error) {
    assert.ok(error instanceof ConfigError);
    return error.problems.map((p) => `${p.path}: ${p.message}`);
  }
  return [];
}

Deno.test("parseConfig() fills the cluster defaults of SPEC §12", () => {
  const nats = parseConfig({ nats: { servers: ["nats://127.0.0.1:4222"] } }).nats!;
  assert.equal(nats.stream, "SDA_OBS");
  assert.equal(nats.subjectPrefix, "sda.obs");
  assert.match(nats.instance, new RegExp(`-${Deno.pid}$`));
  assert.equal(nats.replicas, 1);
  assert.equal(nats.duplicateWindowMs, 120_000);
  assert.equal(nats.leaseMs, 5000);
  assert.equal(parseConfig({}).nats, undefined, "without nats there is no cluster mode");
});

Deno.test("parseConfig() reports bad cluster settings by JSON path", () => {
  const found = problems({
    nats: {
      servers: ["nats://127.0.0.1:4222"],
      instance: "ingest a",
      replicas: 2,
      leaseMs: 100,
      duplicateWindowMs: 0,
      leases: true,
    },
  });
  assert.deepEqual(found.map((p) => p.slice(0, p.indexOf(":"))), [
    "$.nats.instance",
    "$.nats.replicas",
    "$.nats.duplicateWindowMs",
    "$.nats.leaseMs",
    "$.nats.leases",
  ]);
  assert.match(found[1], /must be 1, 3 or 5/);
  assert.match(found[3], /must be at least 300/);
});

Deno.test("parseConfig() wants a duplicate window of at least twice the lease", () => {
  const found = problems({
    nats: { servers: ["nats://127.0.0.1:4222"], leaseMs: 5000, duplicateWindowMs: 8000 },
  });
  assert.equal(found.length, 1);
  assert.match(found[0], /^\$\.nats\.duplicateWindowMs: must be at least twice leaseMs \(10000\)/);
});

Deno.test("parseConfig() refuses NATS server URLs the client could never use, without quoting them, and takes what it takes (a bare IPv6 address)", () => {
  const found = problems({
    nats: {
      servers: [
        "nats://ingest:s3cret@127.0.0.1:99999",
        "[::1",
        "http://127.0.0.1:4222",
        "nats://ingest:p@ss@127.0.0.1:4222",
        "127.0.0.1:4222",
        "NATS://127.0.0.1:4222",
        " tls://127.0.0.1:4222",
        "nats://nats%20one:4222",
        "::1",
        "nats://[::1]:4222",
        "fe80::1",
      ],
    },
  });
  assert.deepEqual(found, [
    "$.nats.servers[0]: is not a server URL (nats://host:port, tls://host:port or host:port)",
    "$.nats.servers[1]: is not a server URL (nats://host:port, tls://host:port or host:port)",
    "$.nats.servers[2]: must use nats:// or tls://, not http://",
    "$.nats.servers[7]: is not a server URL (nats://host:port, tls://host:port or host:port)",
  ]);
});
