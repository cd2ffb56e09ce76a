/**
 * `main.ts tail`: print an event log (or dead-letter log) as JSON lines.
 *
 * @module
 */

import { readLogLines } from "../sinks/log_reader.ts";
import { type Command, EXIT, integerOption, parseOptions, UsageError } from "./_args.ts";

const HELP = `Usage: main.ts tail --dir DIR [--from N] [--follow]

Prints the records of a log directory (the event log or the dead-letter log)
as JSON lines on stdout, one per record, from offset N (default 0).

Options:
  --dir DIR     the log directory, e.g. data/events
  --from N      first offset to print (default 0)
  --follow, -f  keep printing records as they are appended, until Ctrl-C
  --offsets     prefix each line with its offset and a tab
  --help        show this help
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
    });
    if (values.dir === undefined) throw new UsageError("--dir is required");
    const from = integerOption(values.from, "from", 0);
    const controller = new AbortController();
    const stop = () => controller.abort();
    Deno.addSignalListener("SIGINT", stop);
    const encoder = new TextEncoder();
    const out = Deno.stdout.writable.getWriter();
    try {
      let text = "";
      for await (
        const { offset, line } of readLogLines(values.dir, {
          from,
          follow: values.follow ?? false,
          signal: controller.signal,
        })
      ) {
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
