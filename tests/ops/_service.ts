/**
 * Helpers of the operations tests: a `serve` process with the three
 * simulators, and a TLS certificate for loopback made with openssl.
 *
 * @module
 */

import { ArchiveSim } from "../../sim/archive.ts";
import { type IslGatewaySim, startIslSim } from "../../sim/isl.ts";
import { RadarSim } from "../../sim/radar.ts";
import { type Child, freePort, spawnMain, waitForOk } from "../../bench/_processes.ts";
import { removeDir } from "../_observations.ts";

/** A running `serve` with its simulators. */
export interface Running {
  /** The radar source's TCP port. */
  radarPort: number;
  /** The service process. */
  child: Child;
  /** Base URL of its HTTP port. */
  http: string;
  /** Its working directory (config, logs). */
  dir: string;
  /** The archive simulator. */
  archive: ArchiveSim;
  /** The ISL gateway simulator. */
  isl: IslGatewaySim;
  /** The radar simulator (pushing until stopped). */
  radar: RadarSim;
  /** Stops everything and removes the directory. */
  stop(): Promise<void>;
}

/** Options of {@link startService}. */
export interface StartOptions {
  /** Extra keys of the `http` section. */
  http?: Record<string, unknown>;
  /** Extra environment of the service. */
  env?: Record<string, string>;
  /** `https` when `http.tls` is set (default `http`). */
  scheme?: "http" | "https";
  /** Radar observations per second (default 200). */
  radarRate?: number;
  /** Inject faults: 1 % bad radar input, 5 % failed archive requests (default true). */
  faults?: boolean;
}

/**
 * Starts the three simulators (radar with 1 % bad input, archive with 5 %
 * failed requests, ISL with 5 % loss) and `main.ts serve` on free loopback
 * ports, and waits for `/ready`.
 */
export async function startService(options: StartOptions = {}): Promise<Running> {
  const dir = await Deno.makeTempDir({ prefix: "sda-ops-" });
  const archive = new ArchiveSim({
    port: 0,
    count: 500,
    rate: 200,
    failRate: options.faults === false ? 0 : 0.05,
  });
  const isl = await startIslSim({ port: 0, rate: 200, loss: 0.05 });
  await archive.ready;
  const radarPort = freePort();
  const httpPort = freePort();
  await Deno.writeTextFile(
    `${dir}/ingest.json`,
    JSON.stringify({
      sources: [
        { name: "xr1", kind: "radar", port: radarPort, groupIdleMs: 500 },
        { name: "archive", kind: "optical", url: archive.url, pollIntervalMs: 200 },
        {
          name: "isl",
          kind: "isl",
          gateways: [{ hostname: "127.0.0.1", port: isl.port }],
          pollIntervalMs: 100,
        },
      ],
      log: { dir: "events", fsync: "interval", fsyncIntervalMs: 50 },
      deadLetter: { dir: "dead-letter" },
      state: { dir: "state" },
      http: { port: httpPort, ...options.http },
    }),
  );
  const child = spawnMain(["serve", "--config", `${dir}/ingest.json`], { env: options.env });
  const http = `${options.scheme ?? "http"}://127.0.0.1:${httpPort}`;
  const radar = new RadarSim({
    hostname: "127.0.0.1",
    port: radarPort,
    rate: options.radarRate ?? 200,
    badRate: options.faults === false ? 0 : 0.01,
  });
  const sending: { done?: Promise<unknown> } = {};
  const stop = async () => {
    radar.stop();
    await sending.done;
    await child.stop("SIGTERM");
    await Promise.all([archive.stop(), isl.stop()]);
    await removeDir(dir);
  };
  try {
    if (options.scheme === "https") await waitForReadyTls(httpPort, child);
    else await waitForOk(`${http}/ready`, 30_000, child);
  } catch (error) {
    await stop();
    throw error;
  }
  sending.done = radar.start().catch(() => {});
  return { child, http, dir, archive, isl, radar, radarPort, stop };
}

async function waitForReadyTls(port: number, child: Child): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < 30_000) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`HTTPS port ${port} not listening\n${child.stderr()}`);
}

/**
 * A test CA and a server certificate it issued for 127.0.0.1, made with
 * openssl in `dir` (a self-signed leaf is refused by rustls as "CA used as
 * end entity", so the chain is the real shape).
 */
export async function makeCertificate(
  dir: string,
): Promise<{ certFile: string; keyFile: string; caFile: string; cert: string; ca: string }> {
  const openssl = async (...args: string[]) => {
    const result = await new Deno.Command("openssl", {
      args,
      cwd: dir,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (!result.success) throw new Error(new TextDecoder().decode(result.stderr));
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await openssl(
    "req",
    "-x509",
    ...ec,
    "-keyout",
    "ca.key",
    "-out",
    "ca.crt",
    "-days",
    "1",
    "-subj",
    "/CN=sda-ingest test CA",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
  );
  await openssl("req", ...ec, "-keyout", "http.key", "-out", "http.csr", "-subj", "/CN=127.0.0.1");
  await Deno.writeTextFile(
    `${dir}/http.ext`,
    "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
  );
  await openssl(
    "x509",
    "-req",
    "-in",
    "http.csr",
    "-CA",
    "ca.crt",
    "-CAkey",
    "ca.key",
    "-CAcreateserial",
    "-out",
    "http.crt",
    "-days",
    "1",
    "-extfile",
    "http.ext",
  );
  return {
    certFile: `${dir}/http.crt`,
    keyFile: `${dir}/http.key`,
    caFile: `${dir}/ca.crt`,
    cert: await Deno.readTextFile(`${dir}/http.crt`),
    ca: await Deno.readTextFile(`${dir}/ca.crt`),
  };
}

/** Polls `probe` every 200 ms until it returns a value, or throws after `timeoutMs`. */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < timeoutMs) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`${what}: not within ${timeoutMs} ms${last ? ` (last error: ${last})` : ""}`);
}
