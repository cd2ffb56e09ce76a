/**
 * The `radar` scenario's comparison with a C-based collector: when
 * `syslog-ng` is installed, it receives the same KVN bytes from the same
 * `sim radar` sender over TCP and writes one JSON line per KVN line to a
 * file, with flow control (so it blocks the sender instead of dropping, as
 * the service does). Both are compared on input bytes per second.
 *
 * @module
 */

import { type Child, freePort, spawnMain } from "./_processes.ts";
import type { Measurement } from "./scenarios.ts";

/** Observations the sender pushes into syslog-ng (~17 s at ~35k obs/s). */
const COUNT = 600_000;

/** The syslog-ng binary, its version and config version, or undefined when not installed. */
async function findSyslogNg(): Promise<
  { path: string; version: string; configVersion: string } | undefined
> {
  for (const path of ["syslog-ng", "/usr/sbin/syslog-ng", "/usr/local/sbin/syslog-ng"]) {
    try {
      const output = await new Deno.Command(path, { args: ["--version"], stdout: "piped" })
        .output();
      const text = new TextDecoder().decode(output.stdout);
      const configVersion = /^Config version: (\d+\.\d+)/m.exec(text)?.[1];
      const version = /^Installer-Version: (\S+)/m.exec(text)?.[1] ?? configVersion;
      if (output.success && configVersion !== undefined && version !== undefined) {
        return { path, version, configVersion };
      }
    } catch {
      // Not at this path.
    }
  }
  return undefined;
}

/** A syslog-ng configuration: TCP on `port`, one JSON line per received line into `out`. */
function config(version: string, port: number, out: string): string {
  return `@version: ${version}
options { stats_freq(0); };
source s_kvn {
  network(ip("127.0.0.1") port(${port}) transport("tcp") flags(no-parse)
    log-msg-size(65536) log-iw-size(100000));
};
destination d_json { file("${out}" template("$(format-json --scope none line=$MSG)\\n")); };
log { source(s_kvn); destination(d_json); flags(flow-control); };
`;
}

/**
 * Runs the same sender against syslog-ng and returns its KVN lines/s and the
 * ratio of the service's input bytes/s (from `serviceRate` obs/s) to
 * syslog-ng's; only a note when syslog-ng is not installed.
 */
export async function compareWithSyslogNg(
  serviceRate: number,
  log: (line: string) => void,
): Promise<{ measurements: Measurement[]; notes: string[] }> {
  const syslogNg = await findSyslogNg();
  if (syslogNg === undefined) {
    return { measurements: [], notes: ["syslog-ng not installed: comparison skipped"] };
  }
  const dir = await Deno.makeTempDir({ prefix: "sda-bench-syslog-ng-" });
  const port = freePort();
  const out = `${dir}/out.jsonl`;
  await Deno.writeTextFile(`${dir}/syslog-ng.conf`, config(syslogNg.configVersion, port, out));
  const daemon = new Deno.Command(syslogNg.path, {
    args: [
      "-F",
      "--no-caps",
      "--stderr",
      "-f",
      `${dir}/syslog-ng.conf`,
      "-R",
      `${dir}/persist`,
      "-p",
      `${dir}/pid`,
      "-c",
      `${dir}/ctl`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = daemon.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let said = "";
  let sender: Child | undefined;
  try {
    while (!said.includes("Accepting connections")) {
      const { done, value } = await stderr.read();
      if (done) throw new Error(`syslog-ng did not start:\n${said}`);
      said += value;
    }
    // Keep draining its stderr so it never blocks on a full pipe.
    (async () => {
      while (!(await stderr.read()).done) { /* discard */ }
    })().catch(() => {});

    sender = spawnMain(["sim", "radar", "--to", `127.0.0.1:${port}`, "--count", String(COUNT)]);
    // Output size over time until the sender is done and the file stops growing.
    const samples: { t: number; size: number }[] = [];
    let senderDone = false;
    let senderFailed = false;
    sender.status.then((status) => {
      senderDone = true;
      senderFailed = !status.success;
    });
    let stableSince = performance.now();
    while (true) {
      const size = await Deno.stat(out).then((s) => s.size, () => 0);
      const t = performance.now();
      if (samples.length === 0 || size !== samples[samples.length - 1].size) stableSince = t;
      samples.push({ t, size });
      if (senderFailed) throw new Error(`sim radar failed:\n${sender.stderr()}`);
      if (senderDone && size > 0 && t - stableSince > 1000) break;
      if (samples.length > 3000) throw new Error("syslog-ng comparison took over 5 minutes");
      await new Promise((r) => setTimeout(r, 100));
    }
    const summary = /sent (\d+) observations \(([\d.]+) MB/.exec(sender.stderr());
    if (summary === null) throw new Error(`sim radar said:\n${sender.stderr()}`);
    const bytesPerObservation = Number(summary[2]) * 1e6 / Number(summary[1]);
    const text = await Deno.readTextFile(out);
    let lines = 0;
    for (let at = text.indexOf("\n"); at >= 0; at = text.indexOf("\n", at + 1)) lines++;
    // The steady window between 10 % and 90 % of the output, as for the service.
    const final = samples[samples.length - 1].size;
    const at = (fraction: number) => samples.find((s) => s.size >= final * fraction)!.t;
    const seconds = (at(0.9) - at(0.1)) / 1000;
    const linesPerSecond = 0.8 * lines / seconds;
    const syslogBytes = 0.8 * Number(summary[2]) * 1e6 / seconds;
    const serviceBytes = serviceRate * bytesPerObservation;
    log(
      `  syslog-ng ${syslogNg.version}: ${Math.round(linesPerSecond).toLocaleString("en-US")} ` +
        `KVN lines/s, ${(syslogBytes / 1e6).toFixed(1)} MB/s in; service ${
          (serviceBytes / 1e6).toFixed(1)
        } MB/s in (${(serviceBytes / syslogBytes).toFixed(2)}×)`,
    );
    return {
      measurements: [
        {
          name: `syslog-ng ${syslogNg.version}, same KVN bytes → one JSON line per KVN line`,
          value: linesPerSecond,
          unit: "lines/s",
          runs: [linesPerSecond],
        },
        {
          name: "input bytes/s, service ÷ syslog-ng",
          value: serviceBytes / syslogBytes,
          unit: "×",
          runs: [serviceBytes / syslogBytes],
          // Issue 16: at least 5× syslog-ng's rate on the same bytes.
          budget: "≥ 5",
          pass: serviceBytes / syslogBytes >= 5,
        },
      ],
      notes: [],
    };
  } finally {
    await sender?.stop("SIGTERM");
    try {
      daemon.kill("SIGTERM");
    } catch {
      // Already gone.
    }
    await daemon.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}
