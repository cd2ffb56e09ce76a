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
import { type LatencySnapshot, quantileBetween } from "../service/metrics.ts";
import { IngestService } from "../service/service.ts";
import { RadarTcpSource } from "../sources/radar/tcp_adapter.ts";
import { type Command, EXIT, numberOption, parseOptions } from "./_args.ts";

const HELP = `Usage: main.ts demo [--duration S] [--out DIR]

Starts three simulators — a radar pushing CCSDS TDM over TCP (2,000 obs/s), an
optical archive served over HTTP (1,000 obs/s, 2 % of requests failing), an
ISL gateway polled over UDP (1,000 beacons/s, 5 % of datagrams lost) — with
measurements from SGP4 orbits, and the service with its built-in
configuration writing under DIR. Prints one summary line per second (rate per
source, total logged, dead letters, p99 receive → durable lag) and, at the
end, what was written where.

Options:
  --duration S  stop after S seconds (default 30; Ctrl-C stops earlier)
  --out DIR     data directory: DIR/events, DIR/dead-letter, DIR/state (default ./data)
  --verbose     also print the service's log lines (stderr)
  --help        show this help
`;

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

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
    const { values } = parseOptions(args, {
      duration: { type: "string" },
      out: { type: "string" },
      verbose: { type: "boolean" },
    });
    const duration = numberOption(values.duration, "duration", 30);
    const out = values.out ?? "data";
    await setupLogging({ level: values.verbose ? "info" : "warning" });
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
    try {
      const config = await validateConfig(
        builtInConfig(out, {
          radar: 0,
          archive: archive.port,
          isl: isl.port,
          http: httpPort(),
        }),
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
        `demo: service metrics on http://127.0.0.1:${service.httpPort}/metrics — writing under ${out}/ for ${duration} s (Ctrl-C stops)`,
      );
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      Deno.addSignalListener("SIGINT", onSignal);
      const timer = setTimeout(() => stop.abort(), duration * 1000);
      const previous = new Map<string, number>();
      let lastLatency: LatencySnapshot = service.metrics.latency.snapshot();
      const t0 = performance.now();
      while (!stop.signal.aborted) {
        await new Promise<void>((resolve) => {
          const tick = setTimeout(resolve, 1000);
          stop.signal.addEventListener("abort", () => {
            clearTimeout(tick);
            resolve();
          }, { once: true });
        });
        if (stop.signal.aborted) break;
        const parts: string[] = [];
        for (const source of service.sources) {
          const n = service.pipeline.counts(source.name).observations;
          parts.push(`${source.name} ${fmt(n - (previous.get(source.name) ?? 0))}/s`);
          previous.set(source.name, n);
        }
        const latency = service.metrics.latency.snapshot();
        const p99 = quantileBetween(lastLatency, latency, 0.99);
        lastLatency = latency;
        const clock = new Date().toISOString().slice(11, 19);
        console.log(
          `${clock}  ${parts.join("  ")} │ total ${fmt(service.events.nextOffset)} │ dead letters ${
            fmt(service.deadLetters.nextOffset)
          } │ p99 lag ${p99 === undefined ? "–" : `${(p99 * 1000).toFixed(1)} ms`}`,
        );
      }
      clearTimeout(timer);
      Deno.removeSignalListener("SIGINT", onSignal);
      radar.stop();
      await radarDone;
      await service.stop();
      const seconds = (performance.now() - t0) / 1000;
      console.log(`\ndemo: stopped after ${seconds.toFixed(1)} s. Written:`);
      for (const source of service.sources) {
        const c = service.pipeline.counts(source.name);
        const dead = Object.entries(c.deadLetters).filter(([, n]) => n > 0).map(([stage, n]) =>
          `${n} ${stage}`
        );
        const lost = source.status().lost;
        console.log(
          `  ${source.name.padEnd(8)} (${source.kind.padEnd(7)}) ${
            fmt(c.observations).padStart(8)
          } observations, ${fmt(c.duplicates)} duplicates dropped, dead letters: ${
            dead.join(", ") || "none"
          }${
            lost
              ? `, lost: ${lost.gateway} gateway / ${lost.link} link / ${lost.corrupt} corrupt`
              : ""
          }`,
        );
      }
      console.log(
        `  event log        ${config.log.dir}  (${fmt(service.events.nextOffset)} records)`,
      );
      console.log(
        `  dead-letter log  ${config.deadLetter.dir}  (${
          fmt(service.deadLetters.nextOffset)
        } records)`,
      );
      console.log(`  state            ${config.state.dir}  (optical cursor, ISL watermark)`);
      console.log(`\nLook at it:\n  deno task tail --dir ${config.log.dir} --from 0 | head`);
      console.log(`  deno task tail --dir ${config.deadLetter.dir}`);
      return EXIT.ok;
    } finally {
      radar?.stop();
      await service?.stop().catch(() => {});
      await Promise.all([archive.stop(), isl.stop()]);
      await closeLogging();
    }
  },
};
