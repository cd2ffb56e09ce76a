/**
 * What a valid configuration may still get wrong about exposure (SPEC §15):
 * listeners on non-loopback addresses that anyone on the network can reach.
 *
 * @module
 */

import { type Config, type ConfigProblem, jsonPath } from "./config.ts";

/**
 * Whether `hostname` binds only the loopback interface: `localhost`,
 * `127.0.0.0/8` or `::1`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isLoopback } from "./config_warnings.ts";
 *
 * assert.equal(isLoopback("127.0.0.1"), true);
 * assert.equal(isLoopback("[::1]"), true);
 * assert.equal(isLoopback("0.0.0.0"), false);
 * assert.equal(isLoopback("10.20.0.5"), false);
 * ```
 */
export function isLoopback(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  if (host === "localhost" || host === "::1" || /^0*:(0*:)*0*1$/.test(host)) return true;
  const octets = host.split(".");
  return octets.length === 4 && octets[0] === "127" &&
    octets.every((o) => /^\d{1,3}$/.test(o) && Number(o) <= 255);
}

/**
 * Warnings about a valid configuration: a radar source bound to a
 * non-loopback address with neither `tls` nor an `allow` list, and an HTTP
 * port bound to a non-loopback address without `tls` (or without a
 * `tokenEnv`, which leaves `/metrics`, `/health` and the status page to
 * anyone who can reach it). `validate` prints them and still exits 0;
 * `serve` logs them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "./config.ts";
 * import { configWarnings } from "./config_warnings.ts";
 *
 * const config = parseConfig({
 *   sources: [{ name: "xr1", kind: "radar", hostname: "0.0.0.0", port: 7001 }],
 * });
 * assert.deepEqual(configWarnings(config).map((w) => w.path), ["$.sources[0].hostname"]);
 * ```
 */
export function configWarnings(config: Config): ConfigProblem[] {
  const warnings: ConfigProblem[] = [];
  config.sources.forEach((source, i) => {
    if (source.kind !== "radar" || isLoopback(source.hostname)) return;
    // Read as raw keys: the radar listener's `tls` and `allow` (SPEC §15).
    const raw = source as unknown as { tls?: unknown; allow?: unknown[] };
    if (raw.tls === undefined && !(Array.isArray(raw.allow) && raw.allow.length > 0)) {
      warnings.push({
        path: jsonPath(["sources", i, "hostname"]),
        message: `radar source "${source.name}" listens on ${source.hostname}, not loopback, ` +
          "without tls or an allow list: anyone who can reach port " +
          `${source.port} can send observations for any sensor`,
      });
    }
  });
  const http = config.http;
  if (!isLoopback(http.hostname)) {
    if (http.tls === undefined) {
      warnings.push({
        path: jsonPath(["http", "hostname"]),
        message: `the HTTP port listens on ${http.hostname}, not loopback, without tls: ` +
          "requests and any token cross the network in clear text",
      });
    }
    if (http.tokenEnv === undefined) {
      warnings.push({
        path: jsonPath(["http", "tokenEnv"]),
        message: `the HTTP port listens on ${http.hostname}, not loopback, without tokenEnv: ` +
          "anyone who can reach it reads /metrics, /health and the status page",
      });
    }
  }
  return warnings;
}
