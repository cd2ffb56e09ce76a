/**
 * `main.ts demo`: the three simulators and the service, with a live summary
 * (SPEC §11).
 *
 * @module
 */

import { ArchiveSim } from "../sim/archive.ts";
import { startIslSim } from "../sim/isl.ts";
import { RadarSim } from "../sim/radar.ts";
import { builtInConfig } from "../service/config.ts";
import { validateConfig } from "../service/config_file.ts";
import { closeLogging, setupLogging } from "../service/logging.ts";
import { IngestService } from "../service/service.ts";
import { RadarTcpSource } from "../sources/radar/tcp_adapter.ts";
import { type Command, EXIT, numberOption, parseOptions } from "./_args.ts";
import { demoCluster } from "./demo_cluster.ts";
import { printFinalReport, printSummaryLines, WarningCounter } from "./_demo_report.ts";
import { StopSignals } from "./_signals.ts";

const HELP = `Usage: main.ts demo [--duration S] [--out DIR]
       main.ts demo --cluster [--duration S] [--out DIR]   (see demo --cluster --help)

Starts three simulators — a radar pushing CCSDS TDM over TCP (2,000 obs/s), an
optical archive served over HTTP (1,000 obs/s, 2 % of requests failing), an
ISL gateway polled over UDP (1,000 beacons/s, 5 % of datagrams lost) — with
measurements from SGP4 orbits, and the service with its built-in
configuration writing under DIR. Prints one summary line per second (rate per
source, total logged, dead letters, p99 receive → durable lag, warnings in the
service log) and, at the end, what was written where.

Options:
  --duration S  stop after S seconds (default 30; Ctrl-C stops earlier)
  --out DIR     data directory: DIR/events, DIR/dead-letter, and the service's
                log lines in DIR/service.log (default ./data); the logs grow
                from run to run. The cursor and watermark of the run's own
                simulators are kept in DIR/.demo-state-*, removed at the end
                (an earlier run's mean nothing to new simulators)
  --verbose     also print the service's log lines on stderr
  --cluster     cluster mode instead: a 3-node JetStream cluster, two service
                instances, the owner of the archive and gateway leases killed
                half-way (needs nats-server; README "Running a cluster")
  --help        show this help
`;

function httpPort(): number {
  // The built-in port if it is free, else any free one.
  for (const port of [9464, 0]) {
    try {
      const listener = Deno.listen({ hostname: "127.0.0.1", port });
      const bound = (listener.addr as Deno.NetAddr).port;
      listener.close();
      return bound;
    } catch {
      // In use: try the next.
    }
  }
  return 0;
}

/** The `demo` command. */
export const demo: Command = {
  help: HELP,
  async run(args) {
    // Cluster mode on loopback has a demo of its own.
    if (args.includes("--cluster")) {
      return await demoCluster.run(args.filter((a) => a !== "--cluster"));
    }
    const { values } = parseOptions(args, {
      duration: { type: "string" },
      out: { type: "string" },
      verbose: { type: "boolean" },
    });
    const duration = numberOption(values.duration, "duration", 30);
    const out = values.out ?? "data";
    // The service's own log lines go to a file, not between the summary lines.
    await Deno.mkdir(out, { recursive: true });
    // A new archive and gateway each run, so a state directory of this run
    // alone: an earlier run's saved cursor lay beyond everything the new
    // archive holds (a second demo into the same directory logged no
    // optical observation), and DIR/state may be a real service's.
    // Under DIR: `deno task demo` may write there only.
    const state = await Deno.makeTempDir({ dir: out, prefix: ".demo-state-" });
    const logFile = `${out}/service.log`;
    const warnings = new WarningCounter();
    await setupLogging({
      level: "info",
      file: logFile,
      stderr: values.verbose ?? false,
      onRecord: warnings.onRecord,
    });
    const archive = new ArchiveSim({
      port: 0,
      count: 2000,
      rate: 1000,
      failRate: 0.02,
      startMs: Date.now() - 10_000,
    });
    const isl = await startIslSim({ port: 0, rate: 1000, loss: 0.05 });
    let service: IngestService | undefined;
    let radar: RadarSim | undefined;
    let onSignal: (() => void) | undefined;
    try {
      const config = await validateConfig(
        {
          ...builtInConfig(out, {
            radar: 0,
            archive: archive.port,
            isl: isl.port,
            http: httpPort(),
          }),
          state: { dir: state },
        },
        Deno.cwd(),
        { checkEnv: false },
      );
      service = await IngestService.start(config);
      const radarSource = service.sources.find((s) =>
        s instanceof RadarTcpSource
      ) as RadarTcpSource;
      radar = new RadarSim({
        hostname: "127.0.0.1",
        port: radarSource.port,
        rate: 2000,
        badRate: 0.001,
      });
      const radarDone = radar.start().catch((error) => console.error(`demo: radar sim: ${error}`));

      console.log(
        `demo: radar → 127.0.0.1:${radarSource.port} (TCP), archive ${archive.url} (HTTP), ISL gateway 127.0.0.1:${isl.port} (UDP)`,
      );
      console.log(
        `demo: status page http://127.0.0.1:${service.httpPort}/ (metrics: /metrics) — writing under ${out}/, service log ${logFile}, for ${duration} s (Ctrl-C stops)`,
      );
      const stop = new AbortController();
      const signals = new StopSignals();
      // The first Ctrl-C ends the demo with its report; its echo under
      // `deno task` is ignored, and only one sent again exits at once.
      onSignal = () => {
        const meaning = signals.next();
        if (meaning === "first") stop.abort();
        else if (meaning === "again") Deno.exit(EXIT.failure);
      };
      Deno.addSignalListener("SIGINT", onSignal);
      const timer = setTimeout(() => stop.abort(), duration * 1000);
      const t0 = performance.now();
      await printSummaryLines(service, warnings, stop.signal);
      clearTimeout(timer);
      radar.stop();
      await radarDone;
      await service.stop();
      printFinalReport(service, config, (performance.now() - t0) / 1000, logFile, warnings);
      return EXIT.ok;
    } finally {
      if (onSignal !== undefined) Deno.removeSignalListener("SIGINT", onSignal);
      radar?.stop();
      await service?.stop().catch(() => {});
      await Promise.all([archive.stop(), isl.stop()]);
      await Deno.remove(state, { recursive: true }).catch(() => {});
      await closeLogging();
    }
  },
};
