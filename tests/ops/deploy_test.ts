/**
 * deploy/: the Prometheus rules (promtool and a real Prometheus scraping the
 * service), the Grafana dashboard, the systemd unit.
 */

import assert from "node:assert/strict";
import { freePort } from "../../bench/_processes.ts";
import { removeDir } from "../_observations.ts";
import { eventually, makeCertificate, startService } from "./_service.ts";

const root = new URL("../../", import.meta.url).pathname;
const RULES = `${root}deploy/prometheus/sda-ingest.rules.yml`;
const RULES_TEST = `${root}deploy/prometheus/sda-ingest.rules.test.yml`;
const DASHBOARD = `${root}deploy/grafana/sda-ingest.dashboard.json`;
const UNIT = `${root}deploy/systemd/sda-ingest.service`;

function which(command: string): string | undefined {
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    try {
      if (Deno.statSync(`${dir}/${command}`).isFile) return `${dir}/${command}`;
    } catch {
      // Not here.
    }
  }
  return undefined;
}

async function run(command: string, args: string[], cwd?: string) {
  const output = await new Deno.Command(command, {
    args,
    cwd,
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(60_000),
  }).output();
  const text = new TextDecoder().decode(output.stdout) + new TextDecoder().decode(output.stderr);
  return { code: output.code, text };
}

/** `sda_ingest_*` metric names in PromQL text. */
function metricNames(text: string): Set<string> {
  return new Set(text.match(/\bsda_ingest_[a-z0-9_]+/g) ?? []);
}

/** Names a histogram's series add to its family name. */
function family(name: string, histograms: Set<string>): string {
  const base = name.replace(/_(bucket|sum|count)$/, "");
  return histograms.has(base) ? base : name;
}

Deno.test({
  name: "promtool accepts the alerting rules and their unit tests pass",
  ignore: !which("promtool"),
  async fn() {
    const check = await run("promtool", ["check", "rules", RULES]);
    assert.equal(check.code, 0, check.text);
    assert.match(check.text, /SUCCESS: 10 rules found/);
    const test = await run("promtool", ["test", "rules", RULES_TEST]);
    assert.equal(test.code, 0, test.text);
    assert.match(test.text, /SUCCESS/);
  },
});

Deno.test("every metric the rules and the dashboard use is in the service's /metrics, with samples", async () => {
  const dashboard = JSON.parse(await Deno.readTextFile(DASHBOARD));
  const exprs: string[] = [];
  const walk = (panels: { targets?: { expr: string }[]; panels?: unknown[] }[]) => {
    for (const panel of panels) {
      for (const target of panel.targets ?? []) exprs.push(target.expr);
      walk((panel.panels ?? []) as typeof panels);
    }
  };
  walk(dashboard.panels);
  assert.ok(exprs.length >= 15, `only ${exprs.length} dashboard queries`);
  for (const v of dashboard.templating.list) exprs.push(v.definition ?? "");
  const used = new Set([
    ...metricNames(await Deno.readTextFile(RULES)),
    ...metricNames(exprs.join("\n")),
  ]);

  const service = await startService();
  try {
    const text = await eventually("every source logging", async () => {
      const text = await (await fetch(`${service.http}/metrics`)).text();
      const ok = ["xr1", "archive", "isl"].every((s) =>
        new RegExp(`sda_ingest_observation_age_seconds_count\\{source="${s}"\\} [1-9]`).test(text)
      );
      return ok ? text : undefined;
    });
    const histograms = new Set(
      [...text.matchAll(/^# TYPE (\S+) histogram$/gm)].map((m) => m[1]),
    );
    const declared = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
    const sampled = new Set(
      [...text.matchAll(/^(sda_ingest_[a-z0-9_]+)[{ ]/gm)].map((m) => family(m[1], histograms)),
    );
    const missing = [...used].filter((name) => !declared.has(family(name, histograms)));
    assert.deepEqual(missing, [], `not exported: ${missing.join(", ")}`);
    // Samples for all but the NATS counters, which exist only with nats configured.
    const silent = [...used].filter((name) =>
      !sampled.has(family(name, histograms)) && name !== "sda_ingest_component_value"
    );
    assert.deepEqual(silent, [], `exported without samples: ${silent.join(", ")}`);
  } finally {
    await service.stop();
  }
});

Deno.test({
  name:
    "a real Prometheus scrapes the service over HTTPS with its token: up 1, observations, and the source-down alert goes pending",
  ignore: !which("prometheus"),
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "sda-prometheus-" });
    const token = "prom-scrape-token-5f1e";
    let prometheus: Deno.ChildProcess | undefined;
    let service: Awaited<ReturnType<typeof startService>> | undefined;
    try {
      const { certFile, keyFile, caFile } = await makeCertificate(dir);
      service = await startService({
        http: { tokenEnv: "INGEST_HTTP_TOKEN", tls: { certFile, keyFile } },
        env: { INGEST_HTTP_TOKEN: token },
        scheme: "https",
      });
      const target = new URL(service.http).host;
      // The documented example configuration, pointed at this service.
      await Deno.writeTextFile(`${dir}/sda-ingest.token`, token);
      await Deno.copyFile(RULES, `${dir}/sda-ingest.rules.yml`);
      const config = (await Deno.readTextFile(`${root}deploy/prometheus/prometheus.yml`))
        .replace(/scrape_interval: \S+/, "scrape_interval: 1s")
        .replace(/evaluation_interval: \S+/, "evaluation_interval: 1s")
        .replace("/etc/prometheus/sda-ingest.token", `${dir}/sda-ingest.token`)
        .replace("/etc/prometheus/sda-ingest-ca.crt", caFile)
        .replace("sensor-site-1.example:9464", target);
      assert.match(config, /authorization:\s+type: Bearer/);
      await Deno.writeTextFile(`${dir}/prometheus.yml`, config);
      const port = freePort();
      prometheus = new Deno.Command("prometheus", {
        args: [
          `--config.file=${dir}/prometheus.yml`,
          `--storage.tsdb.path=${dir}/tsdb`,
          `--web.listen-address=127.0.0.1:${port}`,
        ],
        stdout: "null",
        stderr: "null",
      }).spawn();
      const api = `http://127.0.0.1:${port}/api/v1`;
      const query = async (q: string) => {
        const response = await fetch(`${api}/query?query=${encodeURIComponent(q)}`);
        const body = await response.json();
        return body.data?.result as { metric: Record<string, string>; value: [number, string] }[];
      };
      await eventually('up{job="sda-ingest"} == 1', async () => {
        const result = await query('up{job="sda-ingest"}');
        return result?.[0]?.value[1] === "1" ? true : undefined;
      }, 90_000);
      const total = await eventually("observations in Prometheus", async () => {
        const result = await query("sum(sda_ingest_observations_total)");
        const n = Number(result?.[0]?.value[1] ?? 0);
        return n > 0 ? n : undefined;
      }, 60_000);
      assert.ok(total > 0);
      // The archive goes away: the optical source stops being up.
      await service.archive.stop();
      const alert = await eventually("SdaIngestSourceDown pending for archive", async () => {
        const body = await (await fetch(`${api}/alerts`)).json();
        const alerts = body.data.alerts as { labels: Record<string, string>; state: string }[];
        return alerts.find((a) =>
          a.labels.alertname === "SdaIngestSourceDown" && a.labels.source === "archive"
        );
      }, 90_000);
      assert.ok(["pending", "firing"].includes(alert.state), alert.state);
      assert.equal(alert.labels.severity, "page");
    } finally {
      if (prometheus) {
        try {
          prometheus.kill("SIGTERM");
        } catch {
          // Gone.
        }
        await prometheus.status;
      }
      await service?.stop();
      await removeDir(dir);
    }
  },
});

Deno.test({
  name: "systemd-analyze verifies the unit and rates its exposure at most 2.0",
  ignore: !which("systemd-analyze"),
  async fn() {
    // verify resolves ExecStart and the targets under --root: a root with the
    // system's units and an executable where the binary is installed.
    const fake = await Deno.makeTempDir({ prefix: "sda-systemd-" });
    try {
      await Deno.mkdir(`${fake}/usr/local/bin`, { recursive: true });
      await Deno.mkdir(`${fake}/etc/systemd/system`, { recursive: true });
      await Deno.mkdir(`${fake}/usr/lib/systemd`, { recursive: true });
      await Deno.symlink("/usr/lib/systemd/system", `${fake}/usr/lib/systemd/system`);
      await Deno.writeTextFile(`${fake}/usr/local/bin/sda-ingest`, "#!/bin/sh\n", { mode: 0o755 });
      await Deno.copyFile(UNIT, `${fake}/etc/systemd/system/sda-ingest.service`);
      const verify = await run("systemd-analyze", [
        "verify",
        `--root=${fake}`,
        "sda-ingest.service",
      ]);
      assert.equal(verify.code, 0, verify.text);
      // systemd will not follow the system units' own aliases out of --root
      // (they resolve through the symlink above): noise about those, not ours.
      const problems = verify.text.split("\n").filter((line) =>
        line.trim() !== "" &&
        !/^Failed to resolve symlink .*: Too many levels of symbolic links$/.test(line)
      );
      assert.deepEqual(problems, []);
      const security = await run("systemd-analyze", [
        "security",
        "--offline=yes",
        "--threshold=20",
        UNIT,
      ]);
      assert.equal(security.code, 0, security.text);
      assert.doesNotMatch(security.text, /Unknown key|ignoring/);
      assert.match(security.text, /Overall exposure level for sda-ingest\.service: 1\.\d OK/);
    } finally {
      await removeDir(fake);
    }
  },
});
