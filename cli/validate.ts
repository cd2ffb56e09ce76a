/**
 * `main.ts validate`: check a configuration file.
 *
 * @module
 */

import { ConfigError } from "../service/config.ts";
import { loadConfig, unsetTokens } from "../service/config_file.ts";
import { configWarnings } from "../service/config_warnings.ts";
import { type Command, EXIT, parseOptions, UsageError } from "./_args.ts";

const HELP = `Usage: main.ts validate --config FILE

Checks a configuration file against the schema (unknown keys, types, ranges,
duplicate source names, ports used twice), and checks that the log,
dead-letter and state directories exist or can be created and are writable.
Prints every problem with its JSON path, e.g.

  $.sources[1].port: must be an integer port number 0–65535 (got 70000)

It also warns — and still exits 0 — about exposure (SPEC §15): a radar source
listening on a non-loopback address without tls or an allow list, and the HTTP
port on a non-loopback address without tls or without a tokenEnv:

  warning $.sources[0].hostname: radar source "xr1" listens on 0.0.0.0, …

and about a tokenEnv variable not set here (the file may be checked where the
service does not run; serve refuses to start without it):

  warning $.sources[1].tokenEnv: environment variable OPTICAL_TOKEN is not set …

Exit status: 0 valid (with or without warnings), 2 invalid or bad usage.

Options:
  --config FILE  the configuration file (JSON)
  --help         show this help
`;

/** The `validate` command. */
export const validate: Command = {
  help: HELP,
  async run(args) {
    const { values } = parseOptions(args, { config: { type: "string", short: "c" } });
    if (values.config === undefined) throw new UsageError("--config is required");
    try {
      const config = await loadConfig(values.config, { checkEnv: false });
      const kinds = config.sources.map((s) => `${s.name} (${s.kind})`).join(", ") || "none";
      const warnings = [
        ...configWarnings(config),
        ...unsetTokens(config).map((p) => ({
          path: p.path,
          message: `${p.message} here: serve refuses to start without it`,
        })),
      ];
      const note = warnings.length === 0
        ? ""
        : ` (${warnings.length} warning${warnings.length === 1 ? "" : "s"})`;
      console.log(`${values.config}: valid${note} — sources: ${kinds}`);
      for (const warning of warnings) console.log(`  warning ${warning.path}: ${warning.message}`);
      return EXIT.ok;
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      const n = error.problems.length;
      console.error(`${values.config}: ${n} problem${n === 1 ? "" : "s"}`);
      for (const problem of error.problems) console.error(`  ${problem.path}: ${problem.message}`);
      return EXIT.usage;
    }
  },
};
