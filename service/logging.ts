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
  jsonLinesFormatter,
  type LogLevel,
  type LogRecord,
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
  const formatter = json ? jsonLinesFormatter : ansiColorFormatter;
  const encoder = new TextEncoder();
  // A synchronous sink: log lines are few (never one per observation), and
  // unlike a stream sink it neither locks nor closes the process's stderr.
  const stderr = (record: LogRecord) => {
    const bytes = encoder.encode(formatter(record));
    let written = 0;
    while (written < bytes.length) written += Deno.stderr.writeSync(bytes.subarray(written));
  };
  await configure({
    reset: true,
    sinks: { stderr },
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
