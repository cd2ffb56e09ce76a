/**
 * `deno task fuzz [--seed N] [--seconds S] [--inputs N] [--targets a,b]
 * [--deadline-ms MS] [--no-save]`
 *
 * Mutates the fixtures and feeds them to every decoder (TDM stream and
 * body, optical CSV and JSON pages, ISL datagrams), checking that nothing
 * throws, nothing hangs, and every input is accounted for as observations
 * and dead letters. Prints the seed and, per target, inputs/s; writes each
 * failing input to `fixtures/fuzz/` (the test suite replays them) and exits
 * 1 when there is any.
 *
 * `--seconds` is the whole run, shared equally by the targets (default 60
 * when neither it nor `--inputs` is given); `--inputs` is per target.
 * Without `--seed` the seed is random. A failure of the bounded run in
 * `deno task test` is reproduced with the seed it printed:
 * `deno task fuzz --seed S --inputs N`.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { saveFinding } from "./_cases.ts";
import { TARGETS } from "./_targets.ts";
import { type Finding, runFuzz } from "./run_fuzz.ts";

const HELP = `Usage: deno task fuzz [options]

Options:
  --seed N          run seed (default: random; printed)
  --seconds S       whole run time, shared by the targets (default 60 without --inputs)
  --inputs N        inputs per target at most
  --targets LIST    comma-separated: ${Object.keys(TARGETS).join(", ")} (default: all)
  --deadline-ms MS  an input taking longer (plus 50 ms per KiB) is a hang (default 3000)
  --no-save         do not write failing inputs
  --help            this text`;

function usage(message: string): never {
  console.error(`fuzz: ${message}\n\n${HELP}`);
  Deno.exit(2);
}

function integer(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    usage(`--${name} must be a non-negative integer: "${value}"`);
  }
  return n;
}

if (import.meta.main) {
  let values;
  try {
    ({ values } = parseArgs({
      args: Deno.args,
      options: {
        seed: { type: "string" },
        seconds: { type: "string" },
        inputs: { type: "string" },
        targets: { type: "string" },
        "deadline-ms": { type: "string" },
        "no-save": { type: "boolean" },
        help: { type: "boolean" },
      },
      strict: true,
    }));
  } catch (error) {
    usage(error instanceof Error ? error.message : String(error));
  }
  if (values.help) {
    console.log(HELP);
    Deno.exit(0);
  }
  const seed = integer(values.seed, "seed") ?? crypto.getRandomValues(new Uint32Array(1))[0];
  const inputs = integer(values.inputs, "inputs");
  const targets = values.targets?.split(",").filter((t) => t !== "") ?? Object.keys(TARGETS);
  for (const t of targets) if (TARGETS[t] === undefined) usage(`unknown target "${t}"`);
  let seconds: number | undefined;
  if (values.seconds !== undefined) {
    seconds = Number(values.seconds);
    if (!(seconds > 0)) usage(`--seconds must be a positive number: "${values.seconds}"`);
  } else if (inputs === undefined) {
    seconds = 60;
  }
  const out = new URL("../../fixtures/fuzz/", import.meta.url);
  const save = !values["no-save"];

  console.log(
    `fuzz: seed ${seed}, ${targets.join(", ")}, ${seconds === undefined ? "" : `${seconds} s`}${
      seconds !== undefined && inputs !== undefined ? " or " : ""
    }${inputs === undefined ? "" : `${inputs} inputs per target`}`,
  );
  const saved: Promise<void>[] = [];
  const onFinding = (finding: Finding) => {
    const target = TARGETS[finding.target];
    const where = save ? saveFinding(finding, target, out) : Promise.resolve("(not saved)");
    saved.push(where.then((name) => {
      console.log(
        `  FINDING ${finding.target} input ${finding.index} → ${
          save ? new URL(name, out).pathname : name
        }`,
      );
      for (const p of finding.problems.slice(0, 5)) console.log(`    ${p.slice(0, 500)}`);
    }));
  };
  let findings = 0;
  let total = 0;
  for (const name of targets) {
    const [report] = await runFuzz({
      seed,
      targets: [name],
      inputs,
      seconds: seconds === undefined ? undefined : seconds / targets.length,
      deadlineMs: integer(values["deadline-ms"], "deadline-ms"),
      onFinding,
    });
    await Promise.all(saved);
    findings += report.findings.length;
    total += report.inputs;
    const rate = report.inputs / (report.ms / 1000);
    console.log(
      `${name}: ${report.inputs} inputs in ${(report.ms / 1000).toFixed(1)} s — ${
        rate.toFixed(0)
      } inputs/s; slowest input ${report.slowest.index} took ${
        report.slowest.ms.toFixed(0)
      } ms; ${report.findings.length} findings`,
    );
  }
  console.log(`fuzz: ${total} inputs, ${findings} findings, seed ${seed}`);
  Deno.exit(findings > 0 ? 1 : 0);
}
