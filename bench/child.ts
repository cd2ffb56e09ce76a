/**
 * Entry of the benchmark's child processes: `deno run … bench/child.ts NAME
 * [options]` (started by `spawnChild`). Each child loads only its own
 * modules, so what a child's memory measures is the child — the
 * `replay-10m` child holds the replay, as `deno task replay` does, and not
 * the scenarios and the service, NATS and X.509 modules the bench harness
 * imports (measured after loading: 18 against 7 MiB of heap, 94 against
 * 65 MiB resident).
 *
 * @module
 */

import { EXIT, UsageError } from "../cli/_args.ts";

type Child = (args: string[]) => Promise<number>;

/** The children by name, loaded on use. */
const CHILDREN: Record<string, () => Promise<Child>> = {
  "replay-10m": async () => (await import("./_child_replay.ts")).replay10m,
  "stalled-service": async () => (await import("./_child_stalled_service.ts")).stalledService,
  "write-log": async () => (await import("./_child_write_log.ts")).writeLog,
};

/** Runs the child named by `args[0]` with the rest of `args`; resolves to the exit status. */
export async function runChild(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  const load = name === undefined ? undefined : CHILDREN[name];
  if (load === undefined) {
    console.error(
      `bench child: unknown child "${name ?? ""}": ${Object.keys(CHILDREN).join(", ")}`,
    );
    return EXIT.usage;
  }
  try {
    return await (await load())(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`bench child ${name}: ${error.message}`);
      return EXIT.usage;
    }
    console.error(
      `bench child ${name}: ${error instanceof Error ? error.stack ?? error.message : error}`,
    );
    return EXIT.failure;
  }
}

if (import.meta.main) {
  Deno.exit(await runChild(Deno.args));
}
