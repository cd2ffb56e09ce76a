/**
 * Small helpers shared by the commands of `main.ts`.
 *
 * @module
 */

import { parseArgs, type ParseArgsConfig } from "node:util";

/** Bad usage: the command prints it with its help and exits 2. */
export class UsageError extends Error {
  /** @param message what is wrong, in one sentence */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Exit statuses (SPEC §9). */
export const EXIT = { ok: 0, failure: 1, usage: 2 } as const;

/**
 * Parses `args` for the given options; unknown options and missing values
 * are {@link UsageError}s.
 */
export function parseOptions<T extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: T,
  allowPositionals = false,
): ReturnType<
  typeof parseArgs<{ args: string[]; options: T; allowPositionals: boolean; strict: true }>
> {
  try {
    return parseArgs({ args, options, allowPositionals, strict: true });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** Reads a non-negative integer option, or `fallback` when absent. */
export function integerOption(
  value: string | undefined,
  name: string,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  // Digits only: Number() also takes "1e3", "0x10", " 7 " and "" (0).
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) {
    throw new UsageError(`--${name} must be a non-negative integer: "${value}"`);
  }
  return n;
}

/** Reads a non-negative number option, or `fallback` when absent. */
export function numberOption(
  value: string | undefined,
  name: string,
  fallback: number,
): number {
  if (value === undefined) return fallback;
  // Decimal only: Number() also takes "1e3", "0x10", " 7 " and "" (0).
  const n = /^\d+(\.\d+)?$/.test(value) ? Number(value) : NaN;
  if (!Number.isFinite(n)) {
    throw new UsageError(`--${name} must be a non-negative number: "${value}"`);
  }
  return n;
}

/** One command of `main.ts`. */
export interface Command {
  /** The full `--help` text. */
  help: string;
  /** Runs the command; resolves to the exit status. */
  run(args: string[]): Promise<number>;
}
