/**
 * Errors as one line, for findings — in its own file so that the worker
 * loads nothing heavy before the target it runs.
 *
 * @module
 */

/** An error as one line: its class, message and where it was thrown. */
export function describe(error: unknown): string {
  if (!(error instanceof Error)) return `${typeof error}: ${String(error).slice(0, 200)}`;
  const where = (error.stack ?? "").split("\n").find((l) => l.includes("at ")) ?? "";
  return `${error.name}: ${error.message.slice(0, 300)} ${where.trim()}`;
}
