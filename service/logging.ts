/**
 * Structured logging with LogTape (SPEC §9): JSON lines on stderr when it is
 * not a terminal, readable coloured lines on a terminal.
 *
 * @module
 */

import {
  ansiColorFormatter,
  configure,
  dispose,
  getStreamSink,
  jsonLinesFormatter,
  type LogLevel,
} from "@logtape/logtape";

/** Options for {@link setupLogging}. */
export interface LoggingOptions {
  /** Lowest level written (default `"info"`). */
  level?: LogLevel;
  /** Force JSON lines (default: when stderr is not a terminal). */
  json?: boolean;
}

/** Sends every `sda-ingest` log record to stderr. Call once per process. */
export async function setupLogging(options: LoggingOptions = {}): Promise<void> {
  const json = options.json ?? !Deno.stderr.isTerminal();
  await configure({
    reset: true,
    sinks: {
      stderr: getStreamSink(Deno.stderr.writable, {
        formatter: json ? jsonLinesFormatter : ansiColorFormatter,
      }),
    },
    loggers: [
      { category: ["sda-ingest"], lowestLevel: options.level ?? "info", sinks: ["stderr"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["stderr"] },
    ],
  });
}

/** Flushes and closes the log sinks (before the process exits). */
export async function closeLogging(): Promise<void> {
  await dispose();
}
