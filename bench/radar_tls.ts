/**
 * The `radar-tls` benchmark scenario (issue 13): the radar scenario over TLS
 * with client certificates, beside plain TCP in the same run — one service
 * with two radar listeners, each fed by `sim radar` in its own process, one
 * after the other — and the connection set-up time (TLS handshake +
 * certificate verification).
 *
 * @module
 */

import { ClientCertificateVerifier } from "../sources/radar/client_certificate_verifier.ts";
import { makePki } from "../tests/sources/radar/_pki.ts";
import { freePort, memoryOf, scrape, spawnMain, sumMetric, waitForOk } from "./_processes.ts";
import type { Scenario } from "./scenarios.ts";

const OBSERVATIONS = 600_000;
const HANDSHAKES = 200;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const p99 = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil(sorted.length * 0.99) - 1)];
};

/** Observations of `source` durable in the log, per the service's /metrics. */
async function logged(metricsUrl: string, source: string): Promise<number> {
  return sumMetric(await scrape(metricsUrl), "sda_ingest_observations_total", `source="${source}"`);
}

/** Runs `sim radar` with `args` and measures the rate at which `source` logs `count` observations. */
async function throughput(
  metricsUrl: string,
  source: string,
  args: string[],
  count: number,
): Promise<number> {
  const before = await logged(metricsUrl, source);
  const sim = spawnMain(["sim", "radar", ...args, "--count", String(count)]);
  const samples: { t: number; n: number }[] = [];
  const t0 = performance.now();
  for (;;) {
    const n = (await logged(metricsUrl, source)) - before;
    samples.push({ t: performance.now(), n });
    if (n >= count) break;
    if (performance.now() - t0 > 180_000) {
      throw new Error(
        `Only ${n} of ${count} ${source} observations logged after 180 s:\n${
          sim.stderr().slice(-2000)
        }`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const status = await sim.status;
  if (!status.success) throw new Error(`sim radar failed:\n${sim.stderr().slice(-2000)}`);
  const at = (target: number) => {
    for (let i = 1; i < samples.length; i++) {
      if (samples[i].n >= target) {
        const a = samples[i - 1];
        const b = samples[i];
        return a.t + (b.t - a.t) * ((target - a.n) / Math.max(1, b.n - a.n));
      }
    }
    return samples[samples.length - 1].t;
  };
  // The steady rate between 10 % and 90 %, as the other throughput scenarios.
  return (count * 0.8) / ((at(count * 0.9) - at(count * 0.1)) / 1000);
}

/** The `radar-tls` scenario. */
export const radarTlsScenario: Scenario = {
  name: "radar-tls",
  description: "the radar scenario over TLS 1.3 with client certificates beside plain TCP " +
    "(same service, same run), and TLS connection set-up time",
  async run({ runs, log }) {
    const dir = await Deno.makeTempDir({ prefix: "sda-bench-tls-" });
    const pki = await makePki();
    const client = await pki.client("XR1-OPS");
    await Deno.writeTextFile(`${dir}/server.crt`, pki.server.cert);
    await Deno.writeTextFile(`${dir}/server.key`, pki.server.key);
    await Deno.writeTextFile(`${dir}/ca.crt`, pki.ca);
    await Deno.writeTextFile(`${dir}/client.crt`, client.cert);
    await Deno.writeTextFile(`${dir}/client.key`, client.key);
    const plainPort = freePort();
    const tlsPort = freePort();
    const httpPort = freePort();
    await Deno.writeTextFile(
      `${dir}/ingest.json`,
      JSON.stringify({
        sources: [
          { name: "plain", kind: "radar", port: plainPort },
          {
            name: "tls",
            kind: "radar",
            port: tlsPort,
            tls: { certFile: "server.crt", keyFile: "server.key", clientCaFile: "ca.crt" },
            clients: { "XR1-OPS": ["XR1"] },
          },
        ],
        log: { dir: `${dir}/events`, fsync: "interval" },
        deadLetter: { dir: `${dir}/dead-letter` },
        state: { dir: `${dir}/state` },
        http: { port: httpPort },
      }),
    );
    const service = spawnMain(["serve", "--config", `${dir}/ingest.json`]);
    const metricsUrl = `http://127.0.0.1:${httpPort}/metrics`;
    const plainRates: number[] = [];
    const tlsRates: number[] = [];
    const ratios: number[] = [];
    try {
      await waitForOk(`http://127.0.0.1:${httpPort}/ready`, 60_000, service);
      const tlsArgs = [
        "--to",
        `127.0.0.1:${tlsPort}`,
        "--cert",
        `${dir}/client.crt`,
        "--key",
        `${dir}/client.key`,
        "--ca",
        `${dir}/ca.crt`,
      ];
      // Run 0 warms both paths up; the order alternates so neither always goes first.
      for (let run = 0; run <= runs; run++) {
        const plainFirst = run % 2 === 0;
        let plain = 0;
        let tls = 0;
        for (const which of plainFirst ? ["plain", "tls"] : ["tls", "plain"]) {
          if (which === "plain") {
            plain = await throughput(
              metricsUrl,
              "plain",
              ["--to", `127.0.0.1:${plainPort}`],
              OBSERVATIONS,
            );
          } else {
            tls = await throughput(metricsUrl, "tls", tlsArgs, OBSERVATIONS);
          }
        }
        const line = `plain ${Math.round(plain).toLocaleString("en-US")} obs/s, TLS ${
          Math.round(tls).toLocaleString("en-US")
        } obs/s (${(tls / plain * 100).toFixed(0)} %)`;
        if (run === 0) {
          log(`  warm-up: ${line}`);
          continue;
        }
        log(`  run ${run}: ${line}`);
        plainRates.push(plain);
        tlsRates.push(tls);
        ratios.push(tls / plain * 100);
      }
      // Connection set-up: connect + TLS handshake as the client sees it, and
      // the service's verification of the client certificate (the same code,
      // timed here on the same certificate: the service verifies after the
      // handshake, where the client cannot see it). Their p99s are added: an
      // upper bound of the p99 of the sum.
      const handshakes: number[] = [];
      for (let i = 0; i < HANDSHAKES; i++) {
        const t0 = performance.now();
        const conn = await Deno.connectTls({
          hostname: "127.0.0.1",
          port: tlsPort,
          caCerts: [pki.ca],
          cert: client.cert,
          key: client.key,
        });
        await conn.handshake();
        handshakes.push(performance.now() - t0);
        conn.close();
      }
      const verifier = new ClientCertificateVerifier(pki.ca);
      const der = Uint8Array.from(
        atob(client.cert.replace(/-----[^-]+-----|\s/g, "")),
        (c) => c.charCodeAt(0),
      );
      const verifications: number[] = [];
      for (let i = 0; i < HANDSHAKES; i++) {
        const t0 = performance.now();
        const verdict = await verifier.verify([der]);
        verifications.push(performance.now() - t0);
        if (!verdict.ok) {
          throw new Error(`The client certificate did not verify: ${verdict.detail}`);
        }
      }
      const setup = p99(handshakes) + p99(verifications);
      log(
        `  set-up: handshake p99 ${p99(handshakes).toFixed(2)} ms (median ${
          median(handshakes).toFixed(2)
        }), verification p99 ${p99(verifications).toFixed(2)} ms`,
      );
      const { peak } = await memoryOf(service.pid);
      const ratio = median(ratios);
      return {
        scenario: "radar-tls",
        measurements: [
          {
            name: "TLS throughput",
            value: median(tlsRates),
            unit: "obs/s",
            runs: tlsRates,
          },
          {
            name: "plain TCP throughput",
            value: median(plainRates),
            unit: "obs/s",
            runs: plainRates,
          },
          {
            name: "TLS / plain TCP",
            value: ratio,
            unit: "%",
            runs: ratios,
            budget: "≥ 70",
            pass: ratio >= 70,
          },
          {
            name: "connection set-up p99",
            value: setup,
            unit: "ms",
            runs: [setup],
            budget: "≤ 20",
            pass: setup <= 20,
          },
        ],
        notes: [
          `${OBSERVATIONS.toLocaleString("en-US")} observations per path per run; ` +
          `set-up over ${HANDSHAKES} sequential connections (TLS 1.3, ECDSA P-256)`,
          `service peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB`,
        ],
      };
    } finally {
      await service.stop("SIGTERM");
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  },
};
