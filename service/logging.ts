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

/** A string that reads unambiguously without quotes: not empty, no white space or quote. */
const TOKEN = /^[^\s"]+$/;

/**
 * The record with the one-word strings in its message as plain text —
 * `HTTP on http://127.0.0.1:9464`, not `HTTP on "http"://"127.0.0.1":9464`
 * as LogTape renders a string value — their control characters escaped, so
 * that a value cannot start a line of its own on a terminal. An empty
 * string, or one with white space or a quote in it (an error's text, say),
 * keeps LogTape's quotes: without them it would blend into the message.
 * Other values (numbers, objects) are rendered by LogTape; `properties`
 * keep every value as it was.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { LogRecord } from "@logtape/logtape";
 * import { plainStrings } from "./logging.ts";
 *
 * const record = {
 *   category: ["sda-ingest"],
 *   level: "info",
 *   message: ["HTTP on ", "http", "://", "127.0.0.1", ":", 9464, " (", "a b", ", ", "\x1b[2J", ")"],
 *   rawMessage: "HTTP on {scheme}://{hostname}:{port} ({note}, {other})",
 *   properties: { scheme: "http", hostname: "127.0.0.1", port: 9464, note: "a b", other: "\x1b[2J" },
 *   timestamp: 0,
 * } as LogRecord;
 * assert.deepEqual(
 *   plainStrings(record).message,
 *   ["HTTP on http://127.0.0.1:", 9464, " (", "a b", ", \\u001b[2J)"],
 * );
 * assert.equal(plainStrings(record).properties, record.properties);
 * ```
 */
export function plainStrings(record: LogRecord): LogRecord {
  const parts = record.message;
  if (!parts.some((part, i) => i % 2 === 1 && typeof part === "string")) return record;
  const message: unknown[] = [parts[0]];
  for (let i = 1; i < parts.length; i += 2) {
    const value = parts[i];
    if (typeof value === "string" && TOKEN.test(value)) {
      const text = escapeControls(value);
      message[message.length - 1] = `${message[message.length - 1]}${text}${parts[i + 1]}`;
    } else {
      message.push(value, parts[i + 1]);
    }
  }
  return { ...record, message };
}

/** `text` with its C0 control characters and DEL written as JSON escapes (`\n`, `\u001b`). */
function escapeControls(text: string): string {
  let out = "";
  let from = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code >= 0x20 && code !== 0x7f) continue;
    out += text.slice(from, i) + (code === 0x7f ? "\\u007f" : JSON.stringify(text[i]).slice(1, -1));
    from = i + 1;
  }
  return from === 0 ? text : out + text.slice(from);
}

/** Sends every `sda-ingest` log record to stderr. Call once per process. */
export async function setupLogging(options: LoggingOptions = {}): Promise<void> {
  const json = options.json ?? !Deno.stderr.isTerminal();
  const format = json ? jsonLinesFormatter : ansiColorFormatter;
  const formatter = (record: LogRecord) => format(plainStrings(record));
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
      writeAll(file, encoder.encode(jsonLinesFormatter(plainStrings(record))));
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
