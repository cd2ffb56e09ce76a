/**
 * Log capture for tests: the service's log records, kept in memory while a
 * test body runs.
 *
 * @module
 */

import { configure, type LogRecord, reset } from "@logtape/logtape";

/** Captures every `sda-ingest` log record (and LogTape's own warnings) while `body` runs. */
export async function withLogs<T>(body: (records: LogRecord[]) => Promise<T>): Promise<T> {
  const records: LogRecord[] = [];
  await configure({
    reset: true,
    sinks: { memory: (record) => records.push(record) },
    loggers: [
      { category: ["sda-ingest"], lowestLevel: "debug", sinks: ["memory"] },
      { category: ["logtape", "meta"], lowestLevel: "warning", sinks: ["memory"] },
    ],
  });
  try {
    return await body(records);
  } finally {
    await reset();
  }
}

/** A record's message with its values filled in. */
export function logText(record: LogRecord): string {
  return record.message.map((part) => typeof part === "string" ? part : String(part)).join("");
}
