/**
 * `main.ts tail`: print an event log (or dead-letter log) as JSON lines.
 *
 * @module
 */

import { ConfigError } from "../service/config.ts";
import { loadConfig } from "../service/config_file.ts";
import { readLogLines } from "../sinks/log_reader.ts";
import { readNatsLines } from "../sinks/nats_reader.ts";
import { serversForLog } from "../sinks/nats_servers.ts";
import { type Command, EXIT, integerOption, parseOptions, UsageError } from "./_args.ts";
import { requireLogDir } from "./_log_dir.ts";

const HELP = `Usage: main.ts tail --dir DIR [--from N] [--follow]
       main.ts tail --config FILE --nats [--from SEQ] [--follow]

Prints the records of a log directory (the event log or the dead-letter log)
as JSON lines on stdout, one per record, from offset N (default 0).

With --nats it prints the observations of the cluster's shared JetStream
stream instead (servers and stream from the configuration's "nats"
section), from stream sequence SEQ (default 1), each exactly as the stream
holds it; the stream sequence is the offset.

Options:
  --dir DIR      the log directory, e.g. data/events
  --config FILE  with --nats: the service configuration naming the servers and stream
  --nats         read the JetStream stream (cluster mode) instead of a directory
  --from N       first offset (stream sequence with --nats) to print
  --follow, -f   keep printing records as they are appended, until Ctrl-C
  --offsets      prefix each line with its offset and a tab
  --help         show this help

Exit status: 0 printed (or stopped by Ctrl-C), 1 a damaged log or a stream that
cannot be read (NATS unreachable, refused, no such stream), 2 bad usage
(including a --dir that does not exist or holds no log segment, without
--follow).
`;

/** The `tail` command. */
export const tail: Command = {
  help: HELP,
  async run(args) {
    const { values } = parseOptions(args, {
      dir: { type: "string" },
      from: { type: "string" },
      follow: { type: "boolean", short: "f" },
      offsets: { type: "boolean" },
      config: { type: "string", short: "c" },
      nats: { type: "boolean" },
    });
    let lines: ReadableStream<{ offset: number; line: string }>;
    let where = "";
    const controller = new AbortController();
    if (values.nats) {
      if (values.config === undefined) throw new UsageError("--nats needs --config FILE");
      if (values.dir !== undefined) throw new UsageError("--dir and --nats exclude each other");
      const from = integerOption(values.from, "from", 1);
      if (from < 1) {
        throw new UsageError("--from must be at least 1 with --nats (sequences start at 1)");
      }
      let nats;
      try {
        nats = (await loadConfig(values.config, { checkEnv: false, checkDirs: false })).nats;
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        console.error(`tail: invalid configuration:`);
        for (const p of error.problems) console.error(`  ${p.path}: ${p.message}`);
        return EXIT.usage;
      }
      if (nats === undefined) {
        throw new UsageError(`${values.config} has no "nats" section (cluster mode)`);
      }
      // Which NATS an error is about: the client's own errors ("connection
      // refused") name none. Credentials show as ***.
      where = `NATS ${serversForLog(nats.servers)}: `;
      lines = readNatsLines({
        servers: nats.servers,
        stream: nats.stream,
        from,
        follow: values.follow ?? false,
        signal: controller.signal,
      });
    } else {
      if (values.dir === undefined) throw new UsageError("--dir is required");
      if (values.config !== undefined) throw new UsageError("--config is for --nats");
      // A mistyped directory is an error, as for dead-letters; with --follow
      // it may be one the service has not created yet.
      if (!values.follow) await requireLogDir(values.dir);
      lines = readLogLines(values.dir, {
        from: integerOption(values.from, "from", 0),
        follow: values.follow ?? false,
        signal: controller.signal,
      });
    }
    const stop = () => controller.abort();
    Deno.addSignalListener("SIGINT", stop);
    const encoder = new TextEncoder();
    const out = Deno.stdout.writable.getWriter();
    let text = "";
    try {
      try {
        for await (const { offset, line } of lines) {
          // A line that is no record (a block of zeros after a crash, an
          // edit by hand): what comes before it, then why it stops.
          if (!isRecord(line)) {
            throw new SyntaxError(
              `Damaged log: record ${offset} is not a JSON object: ${
                JSON.stringify(line.slice(0, 80))
              }`,
            );
          }
          text += values.offsets ? `${offset}\t${line}\n` : `${line}\n`;
          if (text.length > 65536) {
            await out.write(encoder.encode(text));
            text = "";
          }
          if (values.follow && text.length > 0) {
            await out.write(encoder.encode(text));
            text = "";
          }
        }
      } catch (error) {
        if (error instanceof Deno.errors.BrokenPipe) throw error;
        // A damaged log or a segment that cannot be read: what was read
        // before it is printed, then why the rest is not.
        if (text.length > 0) await out.write(encoder.encode(text));
        const damaged = error instanceof SyntaxError;
        console.error(
          `tail: ${damaged ? "" : where}${error instanceof Error ? error.message : String(error)}`,
        );
        return EXIT.failure;
      }
      if (text.length > 0) await out.write(encoder.encode(text));
    } catch (error) {
      if (error instanceof Deno.errors.BrokenPipe) return EXIT.ok;
      throw error;
    } finally {
      Deno.removeSignalListener("SIGINT", stop);
      out.releaseLock();
    }
    return EXIT.ok;
  },
};

/**
 * Whether a log line is a record: a JSON object, as every record is (a
 * block of zeros, a line of text, a byte flipped on disk, two records run
 * together are not). Parsed whole: checking only for `{…}` printed such
 * lines as records with exit 0, where the log reader refuses them.
 */
function isRecord(line: string): boolean {
  if (line.charCodeAt(0) !== 0x7b /* { */ || line.charCodeAt(line.length - 1) !== 0x7d /* } */) {
    return false;
  }
  try {
    JSON.parse(line);
    return true;
  } catch {
    return false;
  }
}
