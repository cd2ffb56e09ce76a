/**
 * The demo's console output: one summary line per second and the final
 * report of what was written where. Shared by every demo topology.
 *
 * @module
 */

import type { LogRecord } from "@logtape/logtape";
import type { Config } from "../service/config.ts";
import { type LatencySnapshot, quantileBetween } from "../service/metrics.ts";
import type { IngestService } from "../service/service.ts";

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");

/** Counts the service's log records of level warning and above (the demo's log file). */
export class WarningCounter {
  /** Warnings and errors so far. */
  count = 0;
  /** Pass as `setupLogging({ onRecord })`. */
  readonly onRecord = (record: LogRecord): void => {
    if (record.level === "warning" || record.level === "error" || record.level === "fatal") {
      this.count++;
    }
  };
}

/**
 * Prints one line a second until `signal` aborts: rate per source, total
 * logged, dead letters, p99 receive → durable lag, warnings in the service
 * log.
 */
export async function printSummaryLines(
  service: IngestService,
  warnings: WarningCounter,
  signal: AbortSignal,
): Promise<void> {
  const previous = new Map<string, number>();
  let lastLatency: LatencySnapshot = service.metrics.latency.snapshot();
  while (!signal.aborted) {
    await new Promise<void>((resolve) => {
      const tick = setTimeout(resolve, 1000);
      signal.addEventListener("abort", () => {
        clearTimeout(tick);
        resolve();
      }, { once: true });
    });
    if (signal.aborted) break;
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
      } │ p99 lag ${p99 === undefined ? "–" : `${(p99 * 1000).toFixed(1)} ms`} │ warnings ${
        fmt(warnings.count)
      }`,
    );
  }
}

/** Prints what a stopped service wrote, where, and how to look at it. */
export function printFinalReport(
  service: IngestService,
  config: Config,
  seconds: number,
  logFile: string,
  warnings: WarningCounter,
): void {
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
        lost ? `, lost: ${lost.gateway} gateway / ${lost.link} link / ${lost.corrupt} corrupt` : ""
      }`,
    );
  }
  console.log(`  event log        ${config.log.dir}  (${fmt(service.events.nextOffset)} records)`);
  console.log(
    `  dead-letter log  ${config.deadLetter.dir}  (${fmt(service.deadLetters.nextOffset)} records)`,
  );
  console.log(
    `  state            ${config.state.dir}  (optical cursor, ISL watermark; this run's own, removed at exit)`,
  );
  console.log(
    `  service log      ${logFile}  (warnings and errors: ${fmt(warnings.count)})`,
  );
  console.log(`\nLook at it:\n  deno task tail --dir ${config.log.dir} --from 0 | head`);
  console.log(`  deno task dead-letters --dir ${config.deadLetter.dir}`);
  console.log(`  less ${logFile}`);
}
