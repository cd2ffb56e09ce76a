/**
 * Saved findings: `fixtures/fuzz/<target>-<hash>.<ext>` holds the input's
 * bytes, `<target>-<hash>.case.json` how it is fed (Content-Type, line
 * bound, chunking seed, …), why it failed and how it was made. The test
 * suite replays every one of them as a regression.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { Finding } from "./run_fuzz.ts";
import type { CaseOptions, FuzzInput, Target } from "./_target.ts";

/** A saved input, ready to be checked again. */
export interface SavedCase {
  /** File name of the input under the directory. */
  name: string;
  /** Target name. */
  target: string;
  /** The input. */
  input: FuzzInput;
  /** Why it was saved (empty for an input added by hand without a case file). */
  problems: string[];
}

/** Content of a `.case.json` file. */
interface CaseFile {
  target: string;
  options: CaseOptions;
  problems: string[];
  seed?: number;
  index?: number;
  reproduce?: string;
}

/** `<target>-<12 hex>`: the same input fed the same way gets the same name. */
function caseName(target: string, input: FuzzInput): string {
  const hash = createHash("sha256").update(input.bytes).update(JSON.stringify(input.options))
    .digest("hex");
  return `${target}-${hash.slice(0, 12)}`;
}

/** Writes a finding under `dir`; returns the input's file name. */
export async function saveFinding(finding: Finding, target: Target, dir: URL): Promise<string> {
  await Deno.mkdir(dir, { recursive: true });
  const base = caseName(finding.target, finding.input);
  const name = `${base}.${target.ext}`;
  await Deno.writeFile(new URL(name, dir), finding.input.bytes);
  const file: CaseFile = {
    target: finding.target,
    options: finding.input.options,
    problems: finding.problems,
    seed: finding.seed,
    index: finding.index,
    reproduce: `deno task fuzz --seed ${finding.seed} --targets ${finding.target} --inputs ${
      finding.index + 1
    }`,
  };
  await Deno.writeTextFile(new URL(`${base}.case.json`, dir), JSON.stringify(file, null, 2) + "\n");
  return name;
}

/**
 * Every saved input under `dir`, in name order. An input without a case
 * file (added by hand) belongs to the target its name starts with and is
 * fed with default options.
 */
export async function loadCases(dir: URL, targets: readonly string[]): Promise<SavedCase[]> {
  const names: string[] = [];
  try {
    for await (const entry of Deno.readDir(dir)) {
      if (entry.isFile && !entry.name.endsWith(".case.json") && !entry.name.startsWith(".")) {
        names.push(entry.name);
      }
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  names.sort();
  const cases: SavedCase[] = [];
  for (const name of names) {
    const base = name.slice(0, name.lastIndexOf(".") < 0 ? name.length : name.lastIndexOf("."));
    let file: CaseFile | undefined;
    try {
      file = JSON.parse(await Deno.readTextFile(new URL(`${base}.case.json`, dir)));
    } catch (error) {
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
    const target = file?.target ??
      [...targets].sort((a, b) => b.length - a.length).find((t) => name.startsWith(`${t}-`));
    if (target === undefined) {
      throw new TypeError(`Cannot tell the fuzz target of ${name}: name it <target>-…`);
    }
    cases.push({
      name,
      target,
      input: { bytes: await Deno.readFile(new URL(name, dir)), options: file?.options ?? {} },
      problems: file?.problems ?? [],
    });
  }
  return cases;
}
