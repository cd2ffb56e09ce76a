/**
 * `main.ts sim radar|archive|isl`: run one simulator on its own (SPEC §11).
 *
 * @module
 */

import { type Command, EXIT, UsageError } from "./_args.ts";

const HELP = `Usage: main.ts sim <radar|archive|isl> [options]

Runs one simulator on its own — a real network peer of the service, for the
demo, the tests, the benchmarks and operators checking a deployment:

  sim radar --to HOST:PORT [--rate OBS_PER_S] [--count N] [--sensor ID]
      connects and pushes CCSDS TDM messages over TCP
  sim archive --port P [--fail-rate F] [--rate-limit N] [--latency-ms L]
      serves the UDL-style archive API over HTTP, CSV or JSON by Accept
  sim isl --port P [--loss F] [--rate BEACONS_PER_S]
      an ISL gateway on UDP with a ring buffer, answering polls

Measurements come from SGP4 orbits (satellite.js) of a bundled catalogue.
"main.ts sim <kind> --help" lists every option of one simulator.
`;

const SIMS: Record<string, () => Promise<Command>> = {
  radar: async () => (await import("../sim/radar.ts")).radarSim,
  archive: async () => (await import("../sim/archive.ts")).archiveSim,
  isl: async () => (await import("../sim/isl.ts")).islSim,
};

/** The `sim` command. */
export const sim: Command = {
  help: HELP,
  async run(args) {
    const [kind, ...rest] = args;
    if (kind === "--help" || kind === "-h") {
      console.log(HELP);
      return EXIT.ok;
    }
    const load = kind === undefined ? undefined : SIMS[kind];
    if (load === undefined) {
      throw new UsageError(
        kind === undefined
          ? "which simulator? radar, archive or isl"
          : `unknown simulator: "${kind}"`,
      );
    }
    const command = await load();
    if (rest.includes("--help") || rest.includes("-h")) {
      console.log(command.help);
      return EXIT.ok;
    }
    try {
      return await command.run(rest);
    } catch (error) {
      // The simulators are independent peers with a UsageError of their own
      // (sim/_args.ts): recognise it by its name.
      if (error instanceof Error && error.name === "UsageError") {
        console.error(`sim ${kind}: ${error.message}\n\n${command.help}`);
        return EXIT.usage;
      }
      throw error;
    }
  },
};
