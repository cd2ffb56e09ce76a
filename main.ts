/**
 * The command-line entry of the SDA sensor ingestion service (SPEC §9).
 *
 * `deno task <command>` runs each command with least-privilege permissions;
 * `deno run main.ts --help` lists them.
 *
 * @module
 */

import { type Command, EXIT, UsageError } from "./cli/_args.ts";

/** Commands by name, loaded on use so each needs only its own permissions. */
const COMMANDS: Record<string, { summary: string; load: () => Promise<Command> }> = {
  serve: {
    summary: "run the service (./ingest.json or --config FILE, else built-in defaults)",
    load: async () => (await import("./cli/serve.ts")).serve,
  },
  demo: {
    summary: "simulators + service with a live summary per second (--duration S, --out DIR)",
    load: async () => (await import("./cli/demo.ts")).demo,
  },
  replay: {
    summary: "replay fixtures/ through the live pipeline; --check compares with expected/",
    load: async () => (await import("./cli/replay.ts")).replayCommand,
  },
  tail: {
    summary: "print the records of a log, optionally following it",
    load: async () => (await import("./cli/tail.ts")).tail,
  },
  "dead-letters": {
    summary: "count a dead-letter log by source, stage and reason pattern, with examples",
    load: async () => (await import("./cli/dead_letters.ts")).deadLetters,
  },
  validate: {
    summary: "check a configuration file; every problem with its JSON path",
    load: async () => (await import("./cli/validate.ts")).validate,
  },
  sim: {
    summary: "run one simulator: radar, archive or isl",
    load: async () => (await import("./cli/sim.ts")).sim,
  },
  bench: {
    summary: "run the benchmark scenarios; writes bench/results.json and BENCHMARKS.md",
    load: async () => (await import("./cli/bench.ts")).bench,
  },
  schema: {
    summary: "print the Observation JSON Schema",
    load: async () => (await import("./cli/schema.ts")).schema,
  },
};

function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length));
  const lines = Object.entries(COMMANDS).map(([name, c]) =>
    `  ${name.padEnd(width)}  ${c.summary}`
  );
  return `SDA sensor ingestion service

Usage: main.ts <command> [options]     (main.ts <command> --help for details)

Commands:
${lines.join("\n")}
`;
}

/**
 * Errors of the machine or of what the operator asked for, not of the code:
 * one line says it all. Any other error (`BadResource`, a `TypeError`) is
 * printed with its stack, for the report.
 */
const OPERATIONAL = [
  Deno.errors.AddrInUse,
  Deno.errors.AddrNotAvailable,
  Deno.errors.AlreadyExists,
  Deno.errors.ConnectionRefused,
  Deno.errors.IsADirectory,
  Deno.errors.NotADirectory,
  Deno.errors.NotCapable,
  Deno.errors.NotFound,
  Deno.errors.PermissionDenied,
];

/** Runs the command line `args`; resolves to the exit status. */
export async function main(args: string[]): Promise<number> {
  const [name, ...rest] = args;
  if (name === undefined || name === "--help" || name === "-h" || name === "help") {
    console.log(usage());
    return name === undefined ? EXIT.usage : EXIT.ok;
  }
  const entry = COMMANDS[name];
  if (entry === undefined) {
    console.error(`Unknown command: "${name}"\n\n${usage()}`);
    return EXIT.usage;
  }
  const command = await entry.load();
  // `sim <kind> --help` is the simulator's own help: the sim command handles
  // it; `demo --cluster --help` is the cluster demo's.
  if (name !== "sim" && (rest.includes("--help") || rest.includes("-h"))) {
    console.log(
      name === "demo" && rest.includes("--cluster")
        ? (await import("./cli/demo_cluster.ts")).demoCluster.help
        : command.help,
    );
    return EXIT.ok;
  }
  try {
    return await command.run(rest);
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`${name}: ${error.message}\n\n${command.help}`);
      return EXIT.usage;
    }
    if (error instanceof Error && error.name === "ConfigError") {
      console.error(`${name}: invalid configuration:\n  ${error.message.replaceAll("\n", "\n  ")}`);
      return EXIT.usage;
    }
    // What an operator can act on (a port in use, a path not allowed, a
    // log another process writes) in one line; anything else is a bug:
    // its stack, for the report.
    const operational = error instanceof Error &&
      (OPERATIONAL.some((type) => error instanceof type) || error.name === "DirectoryInUseError");
    console.error(
      `${name}: ${
        error instanceof Error
          ? (operational ? error.message : error.stack ?? error.message)
          : error
      }`,
    );
    return EXIT.failure;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
