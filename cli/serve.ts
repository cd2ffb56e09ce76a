/**
 * `main.ts serve`: run the service until SIGINT/SIGTERM.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { builtInConfig, type Config, ConfigError } from "../service/config.ts";
import { loadConfig, validateConfig } from "../service/config_file.ts";
import { configWarnings } from "../service/config_warnings.ts";
import { closeLogging, setupLogging } from "../service/logging.ts";
import { IngestService } from "../service/service.ts";
import { type Command, EXIT, parseOptions } from "./_args.ts";
import { StopSignals } from "./_signals.ts";

const HELP = `Usage: main.ts serve [--config FILE]

Runs the ingestion service: radar TDM over TCP, optical archive pulls over
HTTP, ISL gateway polls over UDP → normalised Observation envelopes → the
durable event log (and NATS JetStream when configured).

Without --config it uses ./ingest.json if present, else the built-in
configuration (SPEC §9 example: radar on 127.0.0.1:7001, archive
http://127.0.0.1:7002/udl/eoobservation, ISL gateway 127.0.0.1:7003, data
under ./data, HTTP on 127.0.0.1:9464).

SIGINT/SIGTERM stop it gracefully (stop reading, flush open radar groups,
drain, sync the logs, save state; exit 0); a second signal exits at once.

With "nats" configured (cluster mode) it waits for the NATS servers, and
for JetStream to serve its stream and buckets, for as long as it takes,
logging why every 30 s (and saying it in /health); a signal meanwhile exits
0 without starting.

Options:
  --config FILE  the configuration file (JSON; see README "Configuration")
  --log-level L  debug, info (default), warning or error
  --help         show this help

Exit status: 0 stopped cleanly, 1 runtime failure, 2 invalid configuration.
`;

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** Resolves the configuration `serve` runs with. */
export async function serveConfig(path: string | undefined): Promise<Config> {
  // Serve creates its data directories (it may be allowed to write nowhere else).
  const options = { createDirs: true };
  if (path !== undefined) return await loadConfig(path, options);
  if (await exists("ingest.json")) return await loadConfig("ingest.json", options);
  return await validateConfig(builtInConfig(), Deno.cwd(), options);
}

/**
 * Runs `service` until the first SIGINT/SIGTERM, then stops it gracefully; a
 * second signal exits the process at once with status 1 (the first repeat
 * within 250 ms is the first one delivered twice: `cli/_signals.ts`).
 */
export async function runUntilSignal(service: IngestService): Promise<number> {
  const log = getLogger(["sda-ingest", "service"]);
  const signals = new StopSignals();
  let signalled = false;
  const onSignal = () => {
    switch (signals.next()) {
      case "first":
        signalled = true;
        log.info("Signal received: stopping gracefully (send again to exit at once)");
        service.stop();
        break;
      case "echo":
        break; // Ctrl-C under `deno task`: the same signal, twice
      case "again":
        log.error("Second signal: exiting without draining");
        Deno.exit(EXIT.failure);
    }
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    await service.done;
    await service.stop();
    return EXIT.ok;
  } catch (error) {
    log.error("The pipeline failed: {error}", { error: String(error) });
    return EXIT.failure;
  } finally {
    // After a signal the listeners stay until the process exits: an idle
    // service stops in ~3 ms, and the echo of the signal (Ctrl-C under
    // `deno task`) arriving after that met no listener and killed the
    // process with status 130.
    if (!signalled) {
      Deno.removeSignalListener("SIGINT", onSignal);
      Deno.removeSignalListener("SIGTERM", onSignal);
    }
  }
}

/** The `serve` command. */
export const serve: Command = {
  help: HELP,
  async run(args) {
    const { values } = parseOptions(args, {
      config: { type: "string", short: "c" },
      "log-level": { type: "string" },
    });
    const level = values["log-level"] ?? "info";
    if (!["debug", "info", "warning", "error"].includes(level)) {
      console.error(`serve: --log-level must be debug, info, warning or error: "${level}"`);
      return EXIT.usage;
    }
    await setupLogging({ level: level as "info" });
    try {
      let config: Config;
      try {
        config = await serveConfig(values.config);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        console.error(`serve: invalid configuration:`);
        for (const p of error.problems) console.error(`  ${p.path}: ${p.message}`);
        return EXIT.usage;
      }
      for (const warning of configWarnings(config)) {
        getLogger(["sda-ingest", "service"]).warn("Configuration {path}: {message}", {
          ...warning,
        });
      }
      let service: IngestService;
      // A signal while starting (rebuilding the dedupe window, in cluster
      // mode waiting for NATS) gives up at once; a second one exits.
      const starting = new AbortController();
      const startSignals = new StopSignals();
      const giveUp = () => {
        switch (startSignals.next()) {
          case "first":
            getLogger(["sda-ingest", "service"]).info(
              "Signal received while starting: giving up (send again to exit at once)",
            );
            starting.abort(new Error("signal received while starting"));
            break;
          case "echo":
            break;
          case "again":
            getLogger(["sda-ingest", "service"]).error("Second signal while starting: exiting");
            Deno.exit(EXIT.failure);
        }
      };
      Deno.addSignalListener("SIGINT", giveUp);
      Deno.addSignalListener("SIGTERM", giveUp);
      try {
        service = await IngestService.start(config, { signal: starting.signal });
      } catch (error) {
        if (starting.signal.aborted) {
          getLogger(["sda-ingest", "service"]).info("Signal received while starting: not started");
          return EXIT.ok;
        }
        getLogger(["sda-ingest", "service"]).error("Cannot start: {error}", {
          error: error instanceof Error
            ? `${error.message}${error.cause ? `: ${error.cause}` : ""}`
            : String(error),
        });
        return EXIT.failure;
      } finally {
        Deno.removeSignalListener("SIGINT", giveUp);
        Deno.removeSignalListener("SIGTERM", giveUp);
      }
      if (starting.signal.aborted) {
        // The signal came after the wait for NATS, while the sources started.
        await service.stop();
        return EXIT.ok;
      }
      return await runUntilSignal(service);
    } finally {
      await closeLogging();
    }
  },
};
