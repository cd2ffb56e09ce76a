/**
 * `main.ts replay`: recorded fixtures through the live pipeline, deterministically.
 *
 * @module
 */

import {
  compareLog,
  fixtureInputs,
  replay,
  ReplayOutputError,
  type ReplayResult,
  unreadFixtures,
} from "../service/replay.ts";
import { listSegments } from "../sinks/segment_log.ts";
import { type Command, EXIT, parseOptions, UsageError } from "./_args.ts";

const HELP =
  `Usage: main.ts replay [--fixtures DIR] [--out DIR] [--workers N] [--check] [--update-expected]

Feeds every recorded capture under the fixtures directory — radar/*.kvn (the
bytes a radar pushed), optical/*.csv and *.json (archive pages, in name order),
isl/*.spp (beacon packets back to back) — through the same decoders,
operators and sinks as the live service (transport "replay", peer = the
fixture's path relative to the fixtures directory), and writes a fresh event
log and dead-letter log under the output directory. Deterministic: t_rx
equals t_obs (dead letters: the Unix epoch); two runs write identical bytes.

Options:
  --fixtures DIR     recorded inputs (default ./fixtures)
  --out DIR          output: DIR/events and DIR/dead-letter, replaced (default ./data/replay)
  --check            compare with DIR/expected/events.jsonl and dead-letters.jsonl
                     of the fixtures; print the first difference and exit 1 on any
  --workers N        decode in N worker threads; 0 on the main thread (default: one
                     per core but one, or SDA_INGEST_WORKERS); the output is the same
  --update-expected  write the output as the new expected files (review the diff!)
  --help             show this help

Exit status: 0 done (and equal, with --check), 1 a difference or a failure, 2 bad usage.
`;

function plural(n: number, word: string, words = `${word}s`): string {
  return `${n.toLocaleString("en-US")} ${n === 1 ? word : words}`;
}

/**
 * `, N duplicates dropped` when dedupe dropped repeats (a capture recorded
 * twice, say): without it the counts would not add up to what was fed in.
 */
function duplicatesNote(result: ReplayResult): string {
  let duplicates = 0;
  for (const counts of Object.values(result.counts)) duplicates += counts.duplicates;
  return duplicates === 0 ? "" : `, ${plural(duplicates, "duplicate")} dropped`;
}

/** The `replay` command. */
export const replayCommand: Command = {
  help: HELP,
  async run(args) {
    const { values } = parseOptions(args, {
      fixtures: { type: "string" },
      out: { type: "string" },
      check: { type: "boolean" },
      "update-expected": { type: "boolean" },
      workers: { type: "string" },
    });
    let workers: number | undefined;
    if (values.workers !== undefined) {
      workers = Number(values.workers);
      if (!Number.isInteger(workers) || workers < 0 || workers > 64) {
        throw new UsageError(`--workers must be a whole number from 0 to 64: "${values.workers}"`);
      }
    }
    const fixtures = values.fixtures ?? "fixtures";
    const out = values.out ?? "data/replay";
    // A directory, or a path where one can be made (a mistyped file would
    // fail later, with a stack trace).
    try {
      if (!(await Deno.stat(out)).isDirectory) {
        throw new UsageError(`--out is not a directory: ${out}`);
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotADirectory) {
        throw new UsageError(`--out is under a file, not a directory: ${out}`);
      }
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    try {
      if (!(await Deno.stat(fixtures)).isDirectory) {
        throw new UsageError(`--fixtures is not a directory: ${fixtures}`);
      }
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        throw new UsageError(`--fixtures does not exist: ${fixtures}`);
      }
      if (error instanceof Deno.errors.NotADirectory) {
        throw new UsageError(`--fixtures is under a file, not a directory: ${fixtures}`);
      }
      throw error;
    }
    const inputs = await fixtureInputs(fixtures);
    // Said, not skipped without a word: a capture saved as .KVN or .txt
    // would otherwise be missing from the log with nothing to tell why.
    const unread = await unreadFixtures(fixtures);
    if (unread.length > 0) {
      const shown = unread.slice(0, 10).join(", ") + (unread.length > 10 ? ", …" : "");
      console.error(
        `replay: not replayed: ${plural(unread.length, "entry", "entries")} under ${fixtures} ` +
          `(replay reads radar/*.kvn, optical/*.csv|*.json, isl/*.spp): ${shown}`,
      );
    }
    if (inputs.length === 0) {
      console.error(`replay: no fixtures under ${fixtures}/{radar,optical,isl}`);
      return EXIT.failure;
    }
    const tty = Deno.stderr.isTerminal();
    const encoder = new TextEncoder();
    let observations = 0;
    let deadLetters = 0;
    let current = "";
    let last = 0;
    const progress = (force = false) => {
      if (!tty) return;
      const now = performance.now();
      if (!force && now - last < 200) return;
      last = now;
      const line = `replay: ${current} — ${plural(observations, "observation")}, ${
        plural(deadLetters, "dead letter")
      }`;
      Deno.stderr.writeSync(encoder.encode(`\r\x1b[2K${line}`));
    };
    const t0 = performance.now();
    const result = await replay({
      inputs,
      out,
      workers,
      onInput: (input, i) => {
        current = `${input.name} (${i + 1}/${inputs.length})`;
        progress(true);
      },
      onDurable: (batches) => {
        for (const batch of batches) {
          observations += batch.observations;
          deadLetters += batch.deadLetters.length;
        }
        progress();
      },
    }).catch((error) => error instanceof ReplayOutputError ? error : Promise.reject(error));
    if (result instanceof ReplayOutputError) {
      // Bad usage, but the help would only bury the one thing to change.
      console.error(`replay: ${result.message}`);
      return EXIT.usage;
    }
    if (tty) Deno.stderr.writeSync(encoder.encode("\r\x1b[2K"));
    const seconds = ((performance.now() - t0) / 1000).toFixed(2);
    console.error(
      `replay: ${plural(inputs.length, "fixture")} → ${
        plural(result.observations, "observation")
      } in ${out}/events, ${plural(result.deadLetters, "dead letter")} in ${out}/dead-letter${
        duplicatesNote(result)
      } (${seconds} s)`,
    );
    const expected = `${fixtures}/expected`;
    if (values["update-expected"]) {
      await Deno.mkdir(expected, { recursive: true });
      for (
        const [dir, file] of [["events", "events.jsonl"], ["dead-letter", "dead-letters.jsonl"]]
      ) {
        let text = "";
        for (const [, path] of await listSegments(`${out}/${dir}`)) {
          text += await Deno.readTextFile(path);
        }
        await Deno.writeTextFile(`${expected}/${file}`, text);
      }
      console.error(`replay: wrote ${expected}/events.jsonl and dead-letters.jsonl`);
    }
    if (values.check) {
      for (
        const [dir, file] of [["events", "events.jsonl"], ["dead-letter", "dead-letters.jsonl"]]
      ) {
        const difference = await compareLog(`${out}/${dir}`, `${expected}/${file}`);
        if (difference !== undefined) {
          console.error(`replay --check: ${expected}/${file} ${difference}`);
          return EXIT.failure;
        }
      }
      console.error(`replay --check: identical to ${expected}`);
    }
    return EXIT.ok;
  },
};
