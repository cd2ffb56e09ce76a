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
  /** Force JSON lines (default: when stderr is not a terminal; always in a file). */
  json?: boolean;
  /** Write to this file (appending, JSON lines) instead of stderr (the demo's service log). */
  file?: string;
  /** Also write to stderr when writing to a file. */
  stderr?: boolean;
  /** Called with every record written (e.g. to count warnings). */
  onRecord?: (record: LogRecord) => void;
}

/** Sends every `sda-ingest` log record to stderr. Call once per process. */
export async function setupLogging(options: LoggingOptions = {}): Promise<void> {
  const json = options.json ?? !Deno.stderr.isTerminal();
  const formatter = json ? jsonLinesFormatter : ansiColorFormatter;
  const encoder = new TextEncoder();
  // A synchronous sink: log lines are few (never one per observation), and
  // unlike a stream sink it neither locks nor closes the process's stderr.
  const writeAll = (out: { writeSync(p: Uint8Array): number }, bytes: Uint8Array) => {
    let written = 0;
    while (written < bytes.length) written += out.writeSync(bytes.subarray(written));
  };
  const stderr = (record: LogRecord) => writeAll(Deno.stderr, encoder.encode(formatter(record)));
  const sinks: Record<string, (record: LogRecord) => void> = {};
  if (options.file !== undefined) {
    const file = Deno.openSync(options.file, { append: true, create: true });
    logFile = file;
    const text = options.stderr ? stderr : undefined;
    sinks.out = (record) => {
      options.onRecord?.(record);
      writeAll(file, encoder.encode(jsonLinesFormatter(record)));
      text?.(record);
    };
  } else {
    sinks.out = (record) => {
      options.onRecord?.(record);
      stderr(record);
    };
  }
  await configure({
    reset: true,
    sinks,
    loggers: [
      { category: ["sda-ingest"], lowestLevel: options.level ?? "info", sinks: ["out"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["out"] },
    ],
  });
}

let logFile: Deno.FsFile | undefined;

/** Flushes and closes the log sinks (before the process exits). */
export async function closeLogging(): Promise<void> {
  await dispose();
  logFile?.close();
  logFile = undefined;
}
