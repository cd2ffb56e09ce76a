/**
 * Loading a configuration file and checking what only the machine can tell:
 * that the directories can be used and the token variables are set.
 *
 * @module
 */

import {
  type Config,
  ConfigError,
  type ConfigProblem,
  jsonPath,
  parseConfig,
  resolvePaths,
} from "./config.ts";

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Also report `tokenEnv` variables that are not set (default true). */
  checkEnv?: boolean;
  /** Also check that the data directories exist or can be created and are writable, and that TLS files are readable (default true). */
  checkDirs?: boolean;
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? (i === 0 ? "/" : ".") : path.slice(0, i);
}

/** Line and column of a character offset, for JSON syntax errors. */
function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return `line ${line} column ${offset - before.lastIndexOf("\n")}`;
}

/**
 * Reads, parses and validates the configuration file at `path`. Relative
 * paths in it resolve against the file's directory. Throws a
 * {@link ConfigError} listing every problem found, each with its JSON path.
 */
export async function loadConfig(path: string, options: LoadConfigOptions = {}): Promise<Config> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    const reason = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new ConfigError([{ path: "$", message: `cannot read ${path}: ${reason}` }], {
      cause: error,
    });
  }
  let input: unknown;
  try {
    input = JSON.parse(text);
  } catch (error) {
    const match = /position (\d+)/.exec(String(error));
    const where = match ? ` at ${lineColumn(text, Number(match[1]))}` : "";
    throw new ConfigError([{
      path: "$",
      message: `${path} is not valid JSON${where}: ${(error as Error).message}`,
    }], { cause: error });
  }
  const base = dirname(await Deno.realPath(path));
  return await validateConfig(input, base, options);
}

/**
 * The token variables (`tokenEnv`) of a configuration that are not set (or
 * empty) in this process's environment, by JSON path. The service does not start
 * without them: an archive would refuse every request, or the HTTP port
 * would be open without its token.
 *
 * @example An HTTP token variable that is not set
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseConfig } from "./config.ts";
 * import { unsetTokens } from "./config_file.ts";
 *
 * const config = parseConfig({ http: { tokenEnv: "SDA_EXAMPLE_SURELY_UNSET" } });
 * assert.deepEqual(unsetTokens(config), [{
 *   path: "$.http.tokenEnv",
 *   message: "environment variable SDA_EXAMPLE_SURELY_UNSET is not set",
 * }]);
 * ```
 */
export function unsetTokens(config: Config): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  // An empty variable is no token either.
  config.sources.forEach((source, i) => {
    if (source.kind === "optical" && source.tokenEnv !== undefined) {
      if (!Deno.env.get(source.tokenEnv)) {
        problems.push({
          path: jsonPath(["sources", i, "tokenEnv"]),
          message: `environment variable ${source.tokenEnv} is not set`,
        });
      }
    }
  });
  const tokenEnv = config.http.tokenEnv;
  if (tokenEnv !== undefined && !Deno.env.get(tokenEnv)) {
    problems.push({
      path: jsonPath(["http", "tokenEnv"]),
      message: `environment variable ${tokenEnv} is not set`,
    });
  }
  return problems;
}

/**
 * Validates a parsed configuration against the schema and the machine.
 * Relative paths resolve against `baseDir`.
 */
export async function validateConfig(
  input: unknown,
  baseDir: string,
  options: LoadConfigOptions = {},
): Promise<Config> {
  const problems: ConfigProblem[] = [];
  let config: Config | undefined;
  try {
    config = resolvePaths(parseConfig(input), baseDir);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    problems.push(...error.problems);
  }
  if (options.checkDirs ?? true) {
    // Checked on the raw input too, so that one run reports everything.
    for (const [section, fallback] of DIRS) {
      const raw = config
        ? (config[section] as { dir: string }).dir
        : valueOrDefault(input, section, fallback, baseDir);
      if (raw === undefined) continue;
      const problem = await checkDirectory(raw);
      if (problem) problems.push({ path: jsonPath([section, "dir"]), message: problem });
    }
  }
  if (config && (options.checkEnv ?? true)) problems.push(...unsetTokens(config));
  if (config && (options.checkDirs ?? true)) {
    // SPEC §15: a radar listener's TLS files, checked where the others are.
    for (const [i, source] of config.sources.entries()) {
      if (source.kind !== "radar" || source.tls === undefined) continue;
      for (const key of ["certFile", "keyFile", "clientCaFile"] as const) {
        const path = source.tls[key];
        if (path === undefined) continue;
        try {
          await Deno.readFile(path);
        } catch (error) {
          problems.push({
            path: jsonPath(["sources", i, "tls", key]),
            message: `cannot read ${path}: ${
              error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message
            }`,
          });
        }
      }
    }
  }
  if (config?.http.tls && (options.checkDirs ?? true)) {
    for (const key of ["certFile", "keyFile"] as const) {
      const file = config.http.tls[key];
      try {
        await Deno.readFile(file);
      } catch (error) {
        problems.push({
          path: jsonPath(["http", "tls", key]),
          message: `cannot read ${file}: ${
            error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message
          }`,
        });
      }
    }
  }
  if (config && (options.checkDirs ?? true)) {
    for (const [i, source] of config.sources.entries()) {
      if (source.kind !== "optical" || source.caFile === undefined) continue;
      const problem = await checkCertificateFile(source.caFile);
      if (problem) problems.push({ path: jsonPath(["sources", i, "caFile"]), message: problem });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config!;
}

/** Why `path` is not a readable PEM certificate file, or undefined when it is. */
async function checkCertificateFile(path: string): Promise<string | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    return `cannot read ${path}: ${
      error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message
    }`;
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    return `${path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)`;
  }
  return undefined;
}

const DIRS = [
  ["log", "data/events"],
  ["deadLetter", "data/dead-letter"],
  ["state", "data/state"],
] as const;

function valueOrDefault(
  input: unknown,
  section: string,
  fallback: string,
  baseDir: string,
): string | undefined {
  const sectionValue = input !== null && typeof input === "object"
    ? (input as Record<string, unknown>)[section]
    : undefined;
  const dir = sectionValue !== null && typeof sectionValue === "object"
    ? (sectionValue as Record<string, unknown>).dir
    : undefined;
  const value = dir === undefined ? fallback : dir;
  if (typeof value !== "string" || value === "") return undefined;
  return value.startsWith("/") ? value : `${baseDir}/${value}`;
}

/**
 * Why `dir` cannot hold data, or undefined when it can: it must be a
 * writable directory, or creatable under its nearest existing ancestor.
 */
export async function checkDirectory(dir: string): Promise<string | undefined> {
  let probe = dir;
  while (true) {
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(probe);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) {
        const parent = dirname(probe);
        if (parent === probe) return `cannot create ${dir}: no existing ancestor`;
        probe = parent;
        continue;
      }
      return `cannot use ${dir}: ${(error as Error).message}`;
    }
    if (!info.isDirectory) {
      return probe === dir
        ? `${dir} is not a directory`
        : `cannot create ${dir}: ${probe} is not a directory`;
    }
    try {
      // The only reliable test of "can write here" is writing.
      const temp = await Deno.makeTempFile({ dir: probe, prefix: ".sda-ingest-check-" });
      await Deno.remove(temp);
    } catch (error) {
      return probe === dir
        ? `${dir} is not writable: ${(error as Error).message}`
        : `cannot create ${dir}: ${probe} is not writable`;
    }
    return undefined;
  }
}
