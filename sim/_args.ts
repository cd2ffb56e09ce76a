/**
 * The simulators' own command-line plumbing: they are independent peers of
 * the service (SPEC §11), runnable as `deno run sim/<kind>.ts …`, so they do
 * not borrow the CLI's internals. `main.ts sim <kind>` recognises a
 * {@link UsageError} by its name.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** Bad usage: printed with the command's help, exit status 2. */
export class UsageError extends Error {
  /** @param message what is wrong, in one sentence */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Exit statuses: the same convention as the service's commands (SPEC §9). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/** A simulator's command: its help text and how to run it. */
export interface Command {
  /** The full `--help` text. */
  help: string;
  /** Runs the simulator; resolves to the exit status. */
  run(args: string[]): Promise<number>;
}

/**
 * Parses `args` for the given options with the runtime's `parseArgs`
 * (strict: an unknown option or a missing value is a {@link UsageError}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseOptions } from "./_args.ts";
 *
 * const { values } = parseOptions(["--rate", "5"], { rate: { type: "string" } });
 * assert.equal(values.rate, "5");
 * assert.throws(() => parseOptions(["--wat"], {}), { name: "UsageError" });
 * ```
 */
export function parseOptions<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: T; allowPositionals: false; strict: true }>
> {
  try {
    return parseArgs({ args, options, allowPositionals: false, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** A non-negative integer option, or `fallback` when absent. */
export function integerOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  // Digits only: Number() also takes "1e3", "0x10", " 7 " and "" (0).
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`--${name} must be a non-negative integer: "${value}"`);
  }
  return n;
}

/** A non-negative number option, or `fallback` when absent. */
export function numberOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  // Decimal only: Number() also takes "1e3", "0x10", " 7 " and "" (0).
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n) || n < 0) {
    throw new UsageError(`--${name} must be a non-negative number: "${value}"`);
  }
  return n;
}

/** A TCP or UDP port option (0–65535, 0: any free port), or `fallback` when absent. */
export function portOption(value: string | undefined, fallback: number): number {
  const port = integerOption(value, "port", fallback);
  if (port > 65535) throw new UsageError(`--port must be at most 65535: "${value}"`);
  return port;
}
