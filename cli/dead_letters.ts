/**
 * `main.ts dead-letters`: what is failing and why — the dead-letter log
 * counted by source, stage and reason pattern, with one example each.
 *
 * @module
 */

import type { DeadLetter } from "../envelope/dead_letter.ts";
import { readLogLines } from "../sinks/log_reader.ts";
import { reasonPattern } from "./_reason_pattern.ts";
import { type Command, EXIT, parseOptions, UsageError } from "./_args.ts";
import { requireLogDir } from "./_log_dir.ts";

const HELP = `Usage: main.ts dead-letters --dir DIR [--since T] [--source S] [--json]

Reads a dead-letter log and prints how many dead letters each source has, by
stage and by reason — reasons with their variable parts grouped, e.g. every
"Cannot parse RCS value as a number: …" together — with one example raw input
for each, most frequent first.

Options:
  --dir DIR     the dead-letter log directory, e.g. data/dead-letter
  --since T     only dead letters received at or after T: an ISO-8601 time
                (2026-11-25T12:00:00Z) or a duration before now (90s, 15m, 2h, 7d)
  --source S    only this source (repeat for several)
  --json        one JSON document for scripts instead of text
  --help        show this help

Exit status: 0 success (also when there are none), 1 the log cannot be read
(damaged, or no line of it is a dead letter: not a dead-letter log),
2 bad usage (including a --dir that does not exist or holds no log segment).
`;

/** One reason pattern of one source and stage. */
export interface DeadLetterGroup {
  /** Source name. */
  source: string;
  /** Pipeline stage. */
  stage: string;
  /** The reason with its variable parts replaced (see `reasonPattern`). */
  pattern: string;
  /** Dead letters in the group. */
  count: number;
  /** Earliest and latest receive time in the group. */
  first_t_rx: string;
  /** Latest receive time in the group. */
  last_t_rx: string;
  /** The first dead letter of the group, as logged (raw included). */
  example: { offset: number; t_rx: string; reason: string; peer?: string; raw: unknown };
}

/** The whole report (`--json`). */
export interface DeadLetterReport {
  /** The directory read. */
  dir: string;
  /** The `--since` bound, if any. */
  since: string | null;
  /** The `--source` filter, if any. */
  sources: string[] | null;
  /** Dead letters counted (those the filters let through). */
  total: number;
  /** Dead letters read, filtered out or not. */
  read: number;
  /** Records that were not dead letters (unparseable lines): counted, never skipped silently. */
  unreadable: number;
  /** Per source, per stage. */
  by_source: Record<string, Record<string, number>>;
  /** Groups, most frequent first. */
  groups: DeadLetterGroup[];
  /** Why the log could not be read to its end (a damaged log), if so: the report covers what came before. */
  damaged?: string;
}

const UNITS: Record<string, number> = { s: 1e3, m: 60e3, h: 3600e3, d: 86400e3 };

/** `--since` as ms since the epoch. */
function parseSince(text: string, now = Date.now()): number {
  const duration = /^(\d+(?:\.\d+)?)([smhd])$/.exec(text);
  if (duration) return now - Number(duration[1]) * UNITS[duration[2]];
  const t = Date.parse(text);
  if (Number.isNaN(t) || !/^\d{4}-\d{2}-\d{2}/.test(text)) {
    throw new UsageError(
      `--since must be an ISO-8601 time or a duration such as 15m or 2h: "${text}"`,
    );
  }
  return t;
}

/** Reads `dir` and groups its dead letters. */
export async function deadLetterReport(
  dir: string,
  options: { since?: number; sources?: string[] } = {},
): Promise<DeadLetterReport> {
  const groups = new Map<string, DeadLetterGroup>();
  const bySource: Record<string, Record<string, number>> = {};
  let total = 0;
  let read = 0;
  let unreadable = 0;
  const wanted = options.sources && options.sources.length > 0
    ? new Set(options.sources)
    : undefined;
  let damaged: string | undefined;
  const lines = readLogLines(dir)[Symbol.asyncIterator]();
  for (;;) {
    let next: IteratorResult<{ offset: number; line: string }>;
    try {
      next = await lines.next();
    } catch (error) {
      damaged = error instanceof Error ? error.message : String(error);
      break;
    }
    if (next.done) break;
    const { offset, line } = next.value;
    let letter: DeadLetter;
    try {
      letter = JSON.parse(line);
      if (typeof letter.reason !== "string" || typeof letter.source !== "string") {
        throw new TypeError("not a dead letter");
      }
    } catch {
      unreadable++;
      continue;
    }
    read++;
    if (wanted && !wanted.has(letter.source)) continue;
    if (options.since !== undefined && !(Date.parse(letter.t_rx) >= options.since)) continue;
    total++;
    const stages = bySource[letter.source] ??= {};
    stages[letter.stage] = (stages[letter.stage] ?? 0) + 1;
    const pattern = reasonPattern(letter.reason);
    const key = `${letter.source}\u0000${letter.stage}\u0000${pattern}`;
    const group = groups.get(key);
    if (group === undefined) {
      groups.set(key, {
        source: letter.source,
        stage: letter.stage,
        pattern,
        count: 1,
        first_t_rx: letter.t_rx,
        last_t_rx: letter.t_rx,
        example: {
          offset,
          t_rx: letter.t_rx,
          reason: letter.reason,
          ...(letter.peer !== undefined ? { peer: letter.peer } : {}),
          raw: letter.raw,
        },
      });
    } else {
      group.count++;
      if (letter.t_rx < group.first_t_rx) group.first_t_rx = letter.t_rx;
      if (letter.t_rx > group.last_t_rx) group.last_t_rx = letter.t_rx;
    }
  }
  const sorted = [...groups.values()].sort((a, b) =>
    a.source.localeCompare(b.source) || b.count - a.count || a.stage.localeCompare(b.stage) ||
    a.pattern.localeCompare(b.pattern)
  );
  return {
    dir,
    since: options.since === undefined ? null : new Date(options.since).toISOString(),
    sources: wanted ? [...wanted] : null,
    total,
    read,
    unreadable,
    by_source: bySource,
    groups: sorted,
    ...(damaged === undefined ? {} : { damaged }),
  };
}

/** A raw input in one line of at most `max` characters. */
function showRaw(raw: unknown, max = 110): string {
  let text: string;
  if (typeof raw === "string") text = JSON.stringify(raw);
  else if (raw && typeof raw === "object" && "base64" in raw) {
    // A cut raw ends in "…(N bytes)" after its base64 (SPEC §3).
    const base64 = String(raw.base64).split("…")[0];
    const bytes = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
    const hex = [...bytes.subarray(0, 48)].map((b) => b.toString(16).padStart(2, "0")).join("");
    text = `${bytes.length} bytes: ${hex}${bytes.length > 48 ? "…" : ""}`;
  } else text = JSON.stringify(raw ?? null);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

const fmt = (n: number) => n.toLocaleString("en-US");

/** The report as text. */
export function formatReport(report: DeadLetterReport): string {
  const lines: string[] = [];
  const filters = [
    report.since ? `since ${report.since}` : "",
    report.sources ? `source ${report.sources.join(", ")}` : "",
  ].filter(Boolean).join(", ");
  lines.push(
    `${report.dir}: ${fmt(report.total)} dead letter${report.total === 1 ? "" : "s"}${
      filters ? ` (${filters})` : ""
    }, ${fmt(report.groups.length)} reason pattern${report.groups.length === 1 ? "" : "s"}`,
  );
  if (report.unreadable > 0) {
    lines.push(`  ${fmt(report.unreadable)} lines are not dead letters (cannot parse them)`);
  }
  for (const [source, stages] of Object.entries(report.by_source).sort()) {
    const n = Object.values(stages).reduce((a, b) => a + b, 0);
    const parts = Object.entries(stages).sort().map(([stage, c]) => `${stage} ${fmt(c)}`);
    lines.push("", `${source}: ${fmt(n)} — ${parts.join(", ")}`);
    const groups = report.groups.filter((g) => g.source === source);
    const width = Math.max(...groups.map((g) => fmt(g.count).length));
    for (const g of groups) {
      lines.push(`  ${fmt(g.count).padStart(width)}  ${g.stage.padEnd(10)}  ${g.pattern}`);
      const pad = " ".repeat(width + 14);
      if (g.example.reason !== g.pattern) lines.push(`${pad}e.g. ${g.example.reason}`);
      lines.push(`${pad}raw ${showRaw(g.example.raw)}  (offset ${g.example.offset})`);
    }
  }
  return lines.join("\n") + "\n";
}

/** The `dead-letters` command. */
export const deadLetters: Command = {
  help: HELP,
  async run(args) {
    const { values } = parseOptions(args, {
      dir: { type: "string" },
      since: { type: "string" },
      source: { type: "string", multiple: true },
      json: { type: "boolean" },
    });
    if (values.dir === undefined) throw new UsageError("--dir is required");
    const since = values.since === undefined ? undefined : parseSince(values.since);
    await requireLogDir(values.dir);
    const report = await deadLetterReport(values.dir, { since, sources: values.source });
    const text = values.json ? JSON.stringify(report, null, 2) + "\n" : formatReport(report);
    try {
      await Deno.stdout.write(new TextEncoder().encode(text));
    } catch (error) {
      if (!(error instanceof Deno.errors.BrokenPipe)) throw error;
    }
    if (report.damaged !== undefined) {
      console.error(`dead-letters: ${report.damaged}; the report covers the records before it`);
      return EXIT.failure;
    }
    if (report.read === 0 && report.unreadable > 0) {
      // An event log given for a dead-letter log, say: "0 dead letters"
      // with exit 0 read as a clean bill to a script.
      console.error(
        `dead-letters: no line of ${values.dir} is a dead letter (${report.unreadable} are not): is it a dead-letter log?`,
      );
      return EXIT.failure;
    }
    return EXIT.ok;
  },
};
