/**
 * The `--dir` of the commands that read a log (`tail`, `dead-letters`):
 * a mistyped or wrong directory is bad usage, said at once, rather than
 * read as an empty log.
 *
 * @module
 */

import { listSegments } from "../sinks/segment_log.ts";
import { UsageError } from "./_args.ts";

/**
 * Throws a {@link UsageError} unless `dir` is a directory holding a log
 * segment. A log always has one (its writer makes the first at once): a
 * directory without one is not a log — the data directory above the logs,
 * say, which the message then names.
 */
export async function requireLogDir(dir: string): Promise<void> {
  try {
    if (!(await Deno.stat(dir)).isDirectory) {
      throw new UsageError(`--dir is not a directory: ${dir}`);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) throw new UsageError(`--dir does not exist: ${dir}`);
    throw error;
  }
  if ((await listSegments(dir)).length > 0) return;
  const logs = [];
  for (const name of ["events", "dead-letter"]) {
    if ((await listSegments(`${dir}/${name}`)).length > 0) logs.push(name);
  }
  const below = logs.length === 0
    ? ""
    : ` (its ${logs.join(" and ")} director${logs.length > 1 ? "ies are logs" : "y is a log"})`;
  throw new UsageError(
    `--dir holds no log segment (a file named like 00000000000000000000.jsonl): ${dir}${below}`,
  );
}
