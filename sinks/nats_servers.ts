/**
 * NATS server URLs as a configuration writes them, credentials included.
 *
 * @module
 */

/** What `connect()` takes from server URLs: the URLs without credentials, and the credentials. */
export interface NatsServerOptions {
  /** The server URLs, credentials removed. */
  servers: string[];
  /** From `nats://user:password@host`. */
  user?: string;
  /** From `nats://user:password@host`. */
  pass?: string;
  /** From `nats://token@host`. */
  token?: string;
}

/**
 * Scheme, userinfo, host: the userinfo runs to the last `@`, so that a
 * password written with `@` or `/` in it, unencoded, is still all of it
 * (`[^/@]*` took `nats://u:p@ss@host` for the host `ss@host`, and printed
 * `ss` in the log; `/` in it matched nothing, and the whole URL was printed).
 */
const USERINFO = /^((?:[A-Za-z][A-Za-z0-9+.-]*:\/\/)?)(.*)@([^@]*)$/;

/**
 * Connection options for `servers`: credentials written into a URL
 * (`nats://user:password@host`, percent-encoded as in any URL, or
 * `nats://token@host`) become `user` and `pass`, or `token`, because the
 * NATS client (3.x) does not read them from the URL — it connected without
 * them and was refused. The first URL with credentials gives them for all
 * (a client has one identity).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { natsServerOptions } from "./nats_servers.ts";
 *
 * assert.deepEqual(
 *   natsServerOptions(["nats://ingest:s%40cret@10.0.0.1:4222", "nats://10.0.0.2:4222"]),
 *   { servers: ["nats://10.0.0.1:4222", "nats://10.0.0.2:4222"], user: "ingest", pass: "s@cret" },
 * );
 * assert.deepEqual(natsServerOptions(["tls://t0ken@nats.example:4222"]), {
 *   servers: ["tls://nats.example:4222"],
 *   token: "t0ken",
 * });
 * // Written without percent-encoding: the password is all up to the last "@".
 * assert.deepEqual(natsServerOptions(["nats://ingest:p@ss/w0rd@10.0.0.1:4222"]), {
 *   servers: ["nats://10.0.0.1:4222"],
 *   user: "ingest",
 *   pass: "p@ss/w0rd",
 * });
 * ```
 */
export function natsServerOptions(servers: readonly string[]): NatsServerOptions {
  const options: NatsServerOptions = { servers: [] };
  let found = false;
  for (const url of servers) {
    const match = USERINFO.exec(url);
    if (match === null) {
      options.servers.push(url);
      continue;
    }
    options.servers.push(match[1] + match[3]);
    if (found) continue;
    found = true;
    const colon = match[2].indexOf(":");
    if (colon < 0) {
      options.token = decode(match[2]);
    } else {
      options.user = decode(match[2].slice(0, colon));
      options.pass = decode(match[2].slice(colon + 1));
    }
  }
  return options;
}

/**
 * What is wrong with a server URL as the NATS client would take it
 * (`nats://host:port`, `tls://host:port`, or `host:port`), or undefined
 * when nothing is; never quoting it, as it may hold credentials. The client
 * itself would retry a URL it cannot parse for ever.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { natsServerProblem } from "./nats_servers.ts";
 *
 * assert.equal(natsServerProblem("nats://ingest:p@ss@10.0.0.1:4222"), undefined);
 * assert.equal(natsServerProblem("10.0.0.1:4222"), undefined);
 * assert.equal(natsServerProblem("nats://[fe80::1]:4222"), undefined);
 * assert.equal(natsServerProblem("::1"), undefined); // the client brackets it
 * assert.equal(
 *   natsServerProblem("nats://10.0.0.1:99999"),
 *   "is not a server URL (nats://host:port, tls://host:port or host:port)",
 * );
 * assert.equal(natsServerProblem("http://10.0.0.1:4222"), "must use nats:// or tls://, not http://");
 * ```
 */
export function natsServerProblem(url: string): string | undefined {
  // The client trims a URL and reads its scheme in any case.
  const bare = url.trim().replace(USERINFO, "$1$3");
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(bare)?.[1]?.toLowerCase();
  if (scheme !== undefined && scheme !== "nats" && scheme !== "tls") {
    return `must use nats:// or tls://, not ${scheme}://`;
  }
  // The client reads host and port as an http:// URL's (so `%20` in a
  // host name is refused, which a nats:// URL's opaque host lets through)
  // and brackets an IPv6 address written bare (`::1`, `fe80::1`).
  let host = scheme === undefined ? bare : bare.slice(scheme.length + 3);
  if (!host.includes("[") && (host.includes("::") || host.split(":").length > 2)) {
    host = `[${host}]`;
  }
  const parsed = URL.parse(`http://${host}`);
  if (parsed === null || parsed.hostname === "") {
    return "is not a server URL (nats://host:port, tls://host:port or host:port)";
  }
  return undefined;
}

/**
 * Server URLs for a log line or an error: credentials written into a URL
 * (`nats://user:password@host`, `nats://token@host`) show as `***`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serversForLog } from "./nats_servers.ts";
 *
 * assert.equal(
 *   serversForLog(["nats://ingest:s3cret@10.0.0.1:4222", "nats://10.0.0.2:4222"]),
 *   "nats://***@10.0.0.1:4222, nats://10.0.0.2:4222",
 * );
 * assert.equal(serversForLog(["nats://ingest:p@ss/w0rd@10.0.0.1:4222"]), "nats://***@10.0.0.1:4222");
 * ```
 */
export function serversForLog(servers: readonly string[]): string {
  return servers.map((url) => url.replace(USERINFO, "$1***@$3")).join(", ");
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
