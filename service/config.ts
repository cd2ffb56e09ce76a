/**
 * The service configuration (SPEC §9): JSON, validated with zod; unknown keys
 * are errors; relative paths resolve against the config file's directory.
 *
 * @module
 */

import { z } from "zod";
import { natsServerProblem } from "../sinks/nats_servers.ts";
import { AllowList } from "../sources/radar/allow_list.ts";
import { gatewayPeer } from "../sources/isl/datagram_channel.ts";
import { islStateKey, stateFileKey } from "./state_keys.ts";

// Dots only between other characters: a source name is a NATS KV key in
// cluster mode (its lease), and KV refuses `a.`, `.a` and `a..b`.
const NAME = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

const name = z.string().regex(NAME, {
  message: "must be letters, digits, '_', '-', and '.' between them (not first, last or twice)",
});
const port = z.number().int({ message: "must be an integer port number 0–65535" }).min(0, {
  message: "must be an integer port number 0–65535",
}).max(65535, { message: "must be an integer port number 0–65535" });
const hostname = z.string().min(1, { message: "must not be empty" });
const millis = z.number().int({ message: "must be a whole number of milliseconds" }).min(0, {
  message: "must not be negative",
});
const positiveInt = (max = Number.MAX_SAFE_INTEGER) =>
  z.number().int({ message: "must be a whole number" }).min(1, { message: "must be at least 1" })
    .max(max, { message: `must be at most ${max}` });

const file = z.string().min(1, { message: "must be a file path" });
const sensorIds = z.array(z.string().min(1, { message: "must not be empty" })).min(1, {
  message: "must list at least one sensor id",
});
const cidr = z.string().refine((value) => AllowList.problem(value) === undefined, {
  error: (issue) =>
    `must be a CIDR range such as "10.20.0.0/16" or "::1/128": ${
      AllowList.problem(issue.input as string) ?? "invalid"
    }`,
});

/** A radar source: TDM over TCP (SPEC §4), optionally TLS with client certificates (§15). */
export const RadarSourceConfigSchema = z.strictObject({
  name,
  kind: z.literal("radar"),
  hostname: hostname.default("127.0.0.1"),
  port,
  maxLineBytes: z.number().int().min(64, { message: "must be at least 64" }).max(1 << 24)
    .default(4096),
  groupIdleMs: millis.default(20),
  maxConnections: positiveInt(65535).default(64),
  idleTimeoutMs: positiveInt().default(600_000),
  tls: z.strictObject({
    certFile: file,
    keyFile: file,
    clientCaFile: file.optional(),
  }).optional(),
  allow: z.array(cidr).min(1, { message: "must list at least one CIDR range" }).optional(),
  sensors: sensorIds.optional(),
  clients: z.record(z.string().min(1, { message: "must be a certificate CN" }), sensorIds)
    .optional(),
});

/** An optical source: a UDL-style archive over HTTP (SPEC §5). */
export const OpticalSourceConfigSchema = z.strictObject({
  name,
  kind: z.literal("optical"),
  url: z.string().refine((u) => /^https?:\/\/[^/]+/.test(u) && URL.canParse(u), {
    message: "must be an http:// or https:// URL",
  }),
  accept: z.enum(["csv", "json"]).default("csv"),
  pageSize: positiveInt(100_000).default(1000),
  pollIntervalMs: millis.default(1000),
  timeoutMs: positiveInt().default(10_000),
  tokenEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
    message: "must be an environment variable name",
  }).optional(),
  startTime: z.string().refine(isIsoTime, {
    message: "must be an ISO-8601 time such as 2026-11-25T00:00:00Z",
  }).optional(),
  // SPEC §15: a private CA for an https: archive, the page bound (after
  // decompression) and the sensor ids this source accepts.
  caFile: z.string().min(1, { message: "must be a file path" }).optional(),
  maxPageBytes: z.number().int({ message: "must be a whole number of bytes" }).min(1024, {
    message: "must be at least 1024 bytes",
  }).max(1 << 30, { message: "must be at most 1073741824 bytes (1 GiB)" }).default(
    64 * 1024 * 1024,
  ),
  sensors: z.array(z.string().min(1, { message: "must not be empty" })).min(1, {
    message: "must list at least one sensor id (leave it out to accept any)",
  }).optional(),
}).refine((s) => s.caFile === undefined || s.url.startsWith("https:"), {
  message: "is only used with an https:// url",
  path: ["caFile"],
}).refine((s) => s.tokenEnv === undefined || !hasUserinfo(s.url), {
  // Both would go into one Authorization header, which no archive accepts.
  message: "cannot be used with a user name or password in url: give the archive one credential",
  path: ["tokenEnv"],
});

/** Whether a URL carries a user name or password. */
function hasUserinfo(url: string): boolean {
  if (!URL.canParse(url)) return false;
  const parsed = new URL(url);
  return parsed.username !== "" || parsed.password !== "";
}

/** An ISL source: gateways polled over UDP (SPEC §6). */
export const IslSourceConfigSchema = z.strictObject({
  name,
  kind: z.literal("isl"),
  gateways: z.array(z.strictObject({ hostname, port })).min(1, {
    message: "must list at least one gateway",
  }),
  pollIntervalMs: millis.default(250),
  timeoutMs: positiveInt().default(1000),
  maxPackets: positiveInt(65535).default(256),
  maxLossJump: z.number().int({ message: "must be a whole number" }).min(0, {
    message: "must not be negative",
  }).max(0xffffffff, { message: "must be at most 4294967295" }).default(100_000),
  // SPEC §15: the sensor ids ("isl:" + observer NORAD) this source accepts.
  sensors: z.array(z.string().min(1, { message: "must not be empty" })).min(1, {
    message: "must list at least one sensor id (leave it out to accept any)",
  }).optional(),
});

/** Any source. */
export const SourceConfigSchema = z.discriminatedUnion("kind", [
  RadarSourceConfigSchema,
  OpticalSourceConfigSchema,
  IslSourceConfigSchema,
], { message: 'must have "kind" "radar", "optical" or "isl"' });

/** The whole configuration, with defaults filled in. */
export const ConfigSchema = z.strictObject({
  sources: z.array(SourceConfigSchema).default([]),
  log: z.strictObject({
    dir: z.string().min(1).default("data/events"),
    segmentBytes: z.number().int().min(1024, { message: "must be at least 1024" }).default(
      64 * 1024 * 1024,
    ),
    fsync: z.enum(["always", "interval", "never"]).default("always"),
    fsyncIntervalMs: millis.default(100),
  }).default({
    dir: "data/events",
    segmentBytes: 64 * 1024 * 1024,
    fsync: "always",
    fsyncIntervalMs: 100,
  }),
  deadLetter: z.strictObject({ dir: z.string().min(1).default("data/dead-letter") }).default({
    dir: "data/dead-letter",
  }),
  state: z.strictObject({ dir: z.string().min(1).default("data/state") }).default({
    dir: "data/state",
  }),
  dedupe: z.strictObject({ capacity: positiveInt(100_000_000).default(1_000_000) }).default({
    capacity: 1_000_000,
  }),
  // Decode workers (issue 16): absent means one per core but one, or
  // SDA_INGEST_WORKERS when set; 0 decodes on the main thread.
  workers: z.number().int({ message: "must be a whole number" }).min(0, {
    message: "must be 0 or more",
  }).max(64, { message: "must be at most 64" }).optional(),
  http: z.strictObject({
    hostname: hostname.default("127.0.0.1"),
    port: port.default(9464),
    // SPEC §15: a bearer token on every endpoint but /ready, and HTTPS.
    tokenEnv: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, {
      message: "must be an environment variable name",
    }).optional(),
    tls: z.strictObject({
      certFile: z.string().min(1, { message: "must not be empty" }),
      keyFile: z.string().min(1, { message: "must not be empty" }),
    }).optional(),
  }).default({ hostname: "127.0.0.1", port: 9464 }),
  nats: z.strictObject({
    servers: z.array(
      z.string().min(1).superRefine((url, context) => {
        const problem = natsServerProblem(url);
        if (problem) context.addIssue({ code: "custom", message: problem });
      }),
    ).min(1, { message: "must list at least one server" }),
    stream: z.string().regex(/^[A-Za-z0-9_-]+$/, {
      message: "must be letters, digits, '_' or '-'",
    }).default("SDA_OBS"),
    subjectPrefix: z.string().regex(/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/, {
      message: "must be dot-separated tokens of letters, digits, '_' or '-'",
    }).default("sda.obs"),
    // Cluster mode (SPEC §12).
    instance: name.default(defaultInstance),
    replicas: z.number().int({ message: "must be 1, 3 or 5" }).refine(
      (n) => n === 1 || n === 3 || n === 5,
      { message: "must be 1, 3 or 5 (a Raft group needs an odd number of replicas)" },
    ).default(1),
    duplicateWindowMs: positiveInt(7 * 24 * 3600 * 1000).default(120_000),
    leaseMs: z.number().int({ message: "must be a whole number of milliseconds" }).min(300, {
      message: "must be at least 300",
    }).max(3_600_000, { message: "must be at most 3600000" }).default(5000),
  }).optional(),
});

/**
 * The default `nats.instance`: `<hostname>-<pid>`, unique per process. Without
 * permission to read the hostname it is `ingest-<pid>`.
 */
function defaultInstance(): string {
  let host = "ingest";
  try {
    host = Deno.hostname().replace(/[^A-Za-z0-9_.-]/g, "_") || host;
  } catch {
    // No --allow-sys=hostname: the pid alone still tells processes apart on one machine.
  }
  return `${host}-${Deno.pid}`;
}

/**
 * Checks across sources that the schema cannot express per field: unique
 * names and ports used twice. Works on the raw input, so that its problems are
 * reported together with the schema's.
 */
function crossCheck(input: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const root = isObject(input) ? input : {};
  const sources = Array.isArray(root.sources) ? root.sources : [];
  const names = new Map<string, number>();
  // State keys of ISL gateways as files and KV keys spell them: names and
  // hostnames may hold dots, so two sources can meet on one key
  // (`isl` + `gw1.site-a` and `isl.gw1` + `site-a`) and overwrite each
  // other's watermark.
  const stateKeys = new Map<string, string>();
  const listeners: { host: string; port: number; path: string }[] = [];
  // Two listeners clash on one port when their addresses are the same
  // (`localhost` is 127.0.0.1) or one of them is every address.
  const address = (host: unknown) => {
    const text = typeof host === "string" ? host.toLowerCase() : "127.0.0.1";
    const bare = text.replace(/^\[(.*)\]$/, "$1");
    // An IPv4-mapped IPv6 address is the IPv4 address to the kernel.
    const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(bare)?.[1];
    return bare === "localhost" ? "127.0.0.1" : mapped ?? bare;
  };
  // `::` is every address of both families (dual stack), `0.0.0.0` every IPv4 one.
  const covers = (wide: string, host: string) =>
    wide === "::" || (wide === "0.0.0.0" && !host.includes(":"));
  const listen = (host: unknown, p: unknown, path: (string | number)[]) => {
    if (typeof p !== "number" || p === 0) return;
    const mine = address(host);
    const other = listeners.find((l) =>
      l.port === p && (l.host === mine || covers(l.host, mine) || covers(mine, l.host))
    );
    if (other !== undefined) {
      problems.push({
        path: jsonPath(path),
        message: `port ${p} is already used by ${other.path}${
          other.host === mine ? "" : ` (${other.host} and ${mine} overlap)`
        }`,
      });
    } else {
      listeners.push({ host: mine, port: p, path: jsonPath(path) });
    }
  };
  const http = isObject(root.http) ? root.http : {};
  listen(http.hostname, http.port ?? 9464, ["http", "port"]);
  sources.forEach((source: unknown, i: number) => {
    if (!isObject(source)) return;
    if (typeof source.name === "string") {
      const first = names.get(source.name);
      if (first !== undefined) {
        problems.push({
          path: jsonPath(["sources", i, "name"]),
          message: `duplicate source name "${source.name}" (also $.sources[${first}].name)`,
        });
      } else {
        names.set(source.name, i);
      }
    }
    if (
      source.kind === "isl" && typeof source.name === "string" && Array.isArray(source.gateways)
    ) {
      source.gateways.forEach((gateway: unknown, g: number) => {
        if (!isObject(gateway) || typeof gateway.hostname !== "string") return;
        const peer = gatewayPeer({ hostname: gateway.hostname, port: Number(gateway.port) });
        const key = stateFileKey(islStateKey(source.name as string, peer));
        const path = jsonPath(["sources", i, "gateways", g]);
        const other = stateKeys.get(key);
        if (other !== undefined) {
          problems.push({
            path,
            message:
              `keeps its watermark under the same state key as ${other} (${key}): rename a source`,
          });
        } else {
          stateKeys.set(key, path);
        }
      });
    }
    if (source.kind === "radar") {
      listen(source.hostname, source.port, ["sources", i, "port"]);
      // SPEC §15: only a client certificate names a client.
      const tls = isObject(source.tls) ? source.tls : {};
      if (source.clients !== undefined && tls.clientCaFile === undefined) {
        problems.push({
          path: jsonPath(["sources", i, "clients"]),
          message: "needs tls.clientCaFile: only a client certificate names a client",
        });
      }
    }
  });
  const nats = isObject(root.nats) ? root.nats : undefined;
  if (nats !== undefined) {
    // A standby re-reads what a dead owner published but had not
    // checkpointed up to leaseMs + leaseMs / 3 later: those re-deliveries
    // must still fall in the duplicate window.
    const leaseMs = typeof nats.leaseMs === "number" ? nats.leaseMs : 5000;
    const window = typeof nats.duplicateWindowMs === "number" ? nats.duplicateWindowMs : 120_000;
    const valid = (n: number, min: number) => Number.isInteger(n) && n >= min;
    // Values the schema rejects are reported once, by the schema.
    if (valid(window, 1) && valid(leaseMs, 300) && window < 2 * leaseMs) {
      problems.push({
        path: jsonPath(["nats", "duplicateWindowMs"]),
        message: `must be at least twice leaseMs (${
          2 * leaseMs
        }) so that a failover's re-deliveries are dropped as duplicates (got ${window})`,
      });
    }
  }
  return problems;
}

/** `2026-11-25T00:00:00Z` or with a fraction or an offset, naming a real day and time (`Date.parse` also takes `1`, `March 7` and `2026-02-30`). */
function isIsoTime(text: string): boolean {
  const match =
    /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?(Z|[+-](\d{2}):(\d{2}))$/
      .exec(text);
  if (match === null) return false;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number);
  const days = new Date(Date.UTC(year, month, 0)).getUTCDate(); // of that month
  return month >= 1 && month <= 12 && day >= 1 && day <= days && hour <= 23 &&
    minute <= 59 && second <= 59 && (match[9] === undefined ||
      (Number(match[9]) <= 23 && Number(match[10]) <= 59));
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** A validated configuration. */
export type Config = z.infer<typeof ConfigSchema>;
/** A validated source configuration. */
export type SourceConfig = z.infer<typeof SourceConfigSchema>;
/** A radar source configuration. */
export type RadarSourceConfig = z.infer<typeof RadarSourceConfigSchema>;
/** An optical source configuration. */
export type OpticalSourceConfig = z.infer<typeof OpticalSourceConfigSchema>;
/** An ISL source configuration. */
export type IslSourceConfig = z.infer<typeof IslSourceConfigSchema>;

/** One problem of a configuration, with where it is. */
export interface ConfigProblem {
  /** JSON path, e.g. `$.sources[1].port`. */
  path: string;
  /** What is wrong, as a plain sentence. */
  message: string;
}

/** A configuration that cannot be used; `problems` lists every reason. */
export class ConfigError extends TypeError {
  /** Every problem found. */
  readonly problems: ConfigProblem[];

  /** @param problems every problem found, at least one */
  constructor(problems: ConfigProblem[], options?: ErrorOptions) {
    super(problems.map((p) => `${p.path}: ${p.message}`).join("\n"), options);
    this.name = "ConfigError";
    this.problems = problems;
  }
}

/**
 * `$.a.b[2].c` for a path of keys and indexes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { jsonPath } from "./config.ts";
 *
 * assert.equal(jsonPath(["sources", 1, "port"]), "$.sources[1].port");
 * assert.equal(jsonPath([]), "$");
 * ```
 */
export function jsonPath(path: readonly PropertyKey[]): string {
  let out = "$";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else if (typeof key === "string" && /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(key)) out += `.${key}`;
    else out += `[${JSON.stringify(String(key))}]`;
  }
  return out;
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) {
    return value.length === 0 ? "an empty array" : `an array of ${value.length}`;
  }
  switch (typeof value) {
    case "string":
      return `the string ${JSON.stringify(value.length > 40 ? value.slice(0, 40) + "…" : value)}`;
    case "number":
    case "boolean":
      return String(value);
    case "object":
      return "an object";
    default:
      return typeof value;
  }
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

/** Every zod issue as a {@link ConfigProblem} with a plain sentence. */
function problemsOf(error: z.ZodError, input: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of error.issues) {
    const value = valueAt(input, issue.path);
    if (issue.code === "unrecognized_keys") {
      for (const key of issue.keys) {
        problems.push({
          path: jsonPath([...issue.path, key]),
          message: "unknown key (not in the configuration schema)",
        });
      }
      continue;
    }
    let message = issue.message;
    if (issue.code === "invalid_type") {
      message = value === undefined
        ? `is required (expected ${issue.expected})`
        : `must be ${article(issue.expected)}, not ${describe(value)}`;
    } else if (issue.code === "invalid_value") {
      message = `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(", ")}, not ${
        describe(value)
      }`;
    } else if (issue.code === "invalid_union" && value !== undefined) {
      message = `${issue.message}, not ${describe(value)}`;
    } else if (value !== undefined && issue.code !== "custom") {
      message = `${message} (got ${describe(value)})`;
    }
    problems.push({ path: jsonPath(issue.path), message });
  }
  return problems;
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/**
 * Validates a parsed configuration object. Throws a {@link ConfigError}
 * listing every problem with its JSON path.
 *
 * @example Every mistake is reported, each with its path
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError, parseConfig } from "./config.ts";
 *
 * try {
 *   parseConfig({ sources: [{ name: "a", kind: "radar", port: 70000 }], log: { fsynk: "always" } });
 *   assert.fail("accepted a bad config");
 * } catch (error) {
 *   assert.ok(error instanceof ConfigError);
 *   assert.deepEqual(error.problems.map((p) => p.path), ["$.sources[0].port", "$.log.fsynk"]);
 * }
 * ```
 */
export function parseConfig(input: unknown): Config {
  const result = ConfigSchema.safeParse(input);
  const problems = result.success ? [] : problemsOf(result.error, input);
  problems.push(...crossCheck(input));
  if (problems.length > 0) throw new ConfigError(problems);
  return result.data!;
}

/** Where relative paths of a configuration resolve from. */
export function resolvePaths(config: Config, baseDir: string): Config {
  const resolve = (path: string) =>
    path.startsWith("/") ? path : `${baseDir.replace(/\/$/, "")}/${path}`;
  return {
    ...config,
    log: { ...config.log, dir: resolve(config.log.dir) },
    deadLetter: { dir: resolve(config.deadLetter.dir) },
    state: { dir: resolve(config.state.dir) },
    sources: config.sources.map((source) =>
      source.kind === "optical" && source.caFile !== undefined
        ? { ...source, caFile: resolve(source.caFile) }
        : source.kind === "radar" && source.tls
        ? {
          ...source,
          tls: {
            certFile: resolve(source.tls.certFile),
            keyFile: resolve(source.tls.keyFile),
            ...(source.tls.clientCaFile === undefined
              ? {}
              : { clientCaFile: resolve(source.tls.clientCaFile) }),
          },
        }
        : source
    ),
    http: config.http.tls
      ? {
        ...config.http,
        tls: {
          certFile: resolve(config.http.tls.certFile),
          keyFile: resolve(config.http.tls.keyFile),
        },
      }
      : config.http,
  };
}

/** Schema defaults only: no sources, logs under `./data`. */
export function defaultConfig(): Config {
  return parseConfig({});
}

/** Ports of the built-in configuration. */
export interface BuiltInPorts {
  /** Radar TCP listener (default 7001). */
  radar?: number;
  /** Optical archive HTTP port (default 7002). */
  archive?: number;
  /** ISL gateway UDP port (default 7003). */
  isl?: number;
  /** The service's HTTP port (default 9464). */
  http?: number;
}

/**
 * The built-in configuration (`serve` without a config file, `demo`): the
 * SPEC §9 example — a radar listener on 7001, an archive polled on
 * 127.0.0.1:7002, an ISL gateway polled on 127.0.0.1:7003 — with data under
 * `dataDir`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { builtInConfig } from "./config.ts";
 *
 * const config = builtInConfig("data");
 * assert.deepEqual(config.sources.map((s) => s.kind), ["radar", "optical", "isl"]);
 * assert.equal(config.log.dir, "data/events");
 * ```
 */
export function builtInConfig(dataDir = "data", ports: BuiltInPorts = {}): Config {
  return parseConfig({
    sources: [
      { name: "xr1", kind: "radar", hostname: "127.0.0.1", port: ports.radar ?? 7001 },
      {
        name: "archive",
        kind: "optical",
        url: `http://127.0.0.1:${ports.archive ?? 7002}/udl/eoobservation`,
      },
      { name: "isl", kind: "isl", gateways: [{ hostname: "127.0.0.1", port: ports.isl ?? 7003 }] },
    ],
    log: { dir: `${dataDir}/events` },
    deadLetter: { dir: `${dataDir}/dead-letter` },
    state: { dir: `${dataDir}/state` },
    http: { hostname: "127.0.0.1", port: ports.http ?? 9464 },
  });
}
