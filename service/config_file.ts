/**
 * Loading a configuration file and checking what only the machine can tell:
 * that the directories can be used and the token variables are set.
 *
 * @module
 */

import { isBearerToken } from "../sources/bearer_token.ts";
import {
  type Config,
  ConfigError,
  type ConfigProblem,
  jsonPath,
  parseConfig,
  resolvePaths,
} from "./config.ts";
import { keyPairProblem } from "../sources/radar/tls_key_pair_adapter.ts";

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** Also report `tokenEnv` variables that are not set (default true). */
  checkEnv?: boolean;
  /** Also check that the data directories exist or can be created and are writable, and that TLS files are readable (default true). */
  checkDirs?: boolean;
  /**
   * Create missing data directories before checking them (`serve`, which
   * would create them anyway, may be allowed to write only there: default
   * false, as `validate` changes nothing).
   */
  createDirs?: boolean;
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
 * empty, or hold whitespace around the token) in this process's
 * environment, by JSON path. The service does not start
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
  const check = (name: string, path: (string | number)[]) => {
    const token = Deno.env.get(name);
    // An empty variable is no token either. Whitespace around one (a
    // secret file's newline) can never be sent in an Authorization header:
    // every client would be refused, or the archive would refuse us. The
    // token itself is never quoted.
    const message = !token
      ? `environment variable ${name} is not set`
      : token.trim() !== token
      ? `environment variable ${name} has whitespace around its token (a trailing newline?): no Authorization header can carry it`
      : !isBearerToken(token)
      ? `environment variable ${name} has white space, a control character or a non-ASCII character in its token (two lines of a file?): no Authorization header can carry it`
      : undefined;
    if (message) problems.push({ path: jsonPath(path), message });
  };
  config.sources.forEach((source, i) => {
    if (source.kind === "optical" && source.tokenEnv !== undefined) {
      check(source.tokenEnv, ["sources", i, "tokenEnv"]);
    }
  });
  if (config.http.tokenEnv !== undefined) check(config.http.tokenEnv, ["http", "tokenEnv"]);
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
  // In cluster mode the state is in KV: state.dir is not used (SPEC §12).
  const cluster = config
    ? config.nats !== undefined
    : isRecordObject(input) && isRecordObject(input.nats);
  // Also when the schema found problems: every problem at once (SPEC §9),
  // from the raw values (defaults where absent).
  problems.push(...sharedDirectories(
    config
      ? DIRS.map(([section]) => ({ section, dir: config[section].dir }))
      : DIRS.flatMap(([section, fallback]) => {
        // A section that is there but no object has no directory to check
        // (its own problem is reported): not the default's.
        const value = isRecordObject(input) ? input[section] : undefined;
        if (value !== undefined && !isRecordObject(value)) return [];
        const dir = valueOrDefault(input, section, fallback, baseDir);
        return dir === undefined ? [] : [{ section, dir }];
      }),
    cluster,
  ));
  if (config && (options.checkEnv ?? true)) problems.push(...unsetTokens(config));
  if (options.checkDirs ?? true) {
    // SPEC §15: the TLS and CA files of radar listeners, the HTTP server and
    // archives, checked where the others are — from the raw values too when
    // the schema found problems, so that one run reports everything.
    const files = config ? configFiles(config) : rawFiles(input, baseDir);
    for (const { at, tls } of files.pairs) problems.push(...await tlsProblems(at, tls));
    for (const { at, caFile } of files.caFiles) {
      const problem = await checkCertificateFile(caFile);
      if (problem) problems.push({ path: jsonPath([...at, "caFile"]), message: problem });
    }
  }
  if (options.checkDirs ?? true) {
    // Checked on the raw input too, so that one run reports everything;
    // last, so that directories are created only for a configuration
    // without other problems (a refused start leaves nothing behind).
    const createDirs = options.createDirs ?? false;
    const create = createDirs && problems.length === 0;
    for (const [section, fallback] of DIRS) {
      // Not checked, not created: a cluster instance writes no state file.
      if (section === "state" && cluster) continue;
      const raw = config
        ? (config[section] as { dir: string }).dir
        : valueOrDefault(input, section, fallback, baseDir);
      if (raw === undefined) continue;
      // Not created because of other problems: a missing directory would
      // have been, so it is no problem of its own.
      if (createDirs && !create && !(await exists(raw))) continue;
      const problem = await checkDirectory(raw, create);
      if (problem) problems.push({ path: jsonPath([section, "dir"]), message: problem });
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return config!;
}

/** The files {@link validateConfig} reads: listeners' TLS files, archives' CA files. */
interface ConfigFiles {
  pairs: { at: (string | number)[]; tls: TlsFiles }[];
  caFiles: { at: (string | number)[]; caFile: string }[];
}

function configFiles(config: Config): ConfigFiles {
  const files: ConfigFiles = { pairs: [], caFiles: [] };
  for (const [i, source] of config.sources.entries()) {
    if (source.kind === "radar" && source.tls) {
      files.pairs.push({ at: ["sources", i], tls: source.tls });
    }
    if (source.kind === "optical" && source.caFile !== undefined) {
      files.caFiles.push({ at: ["sources", i], caFile: source.caFile });
    }
  }
  if (config.http.tls) files.pairs.push({ at: ["http"], tls: config.http.tls });
  return files;
}

/** {@link configFiles} of a configuration the schema refused: what its raw values name. */
function rawFiles(input: unknown, baseDir: string): ConfigFiles {
  const files: ConfigFiles = { pairs: [], caFiles: [] };
  const path = (value: unknown) =>
    typeof value !== "string" || value === ""
      ? undefined
      : value.startsWith("/")
      ? value
      : `${baseDir}/${value}`;
  const tlsOf = (value: unknown): TlsFiles | undefined => {
    if (!isRecordObject(value)) return undefined;
    const certFile = path(value.certFile);
    const keyFile = path(value.keyFile);
    if (certFile === undefined || keyFile === undefined) return undefined;
    const clientCaFile = path(value.clientCaFile);
    return { certFile, keyFile, ...(clientCaFile !== undefined ? { clientCaFile } : {}) };
  };
  if (!isRecordObject(input)) return files;
  const sources = Array.isArray(input.sources) ? input.sources : [];
  for (const [i, source] of sources.entries()) {
    if (!isRecordObject(source)) continue;
    const tls = source.kind === "radar" ? tlsOf(source.tls) : undefined;
    if (tls) files.pairs.push({ at: ["sources", i], tls });
    const caFile = source.kind === "optical" ? path(source.caFile) : undefined;
    if (caFile !== undefined) files.caFiles.push({ at: ["sources", i], caFile });
  }
  const http = isRecordObject(input.http) ? tlsOf(input.http.tls) : undefined;
  if (http) files.pairs.push({ at: ["http"], tls: http });
  return files;
}

/** The TLS files of a listener. */
interface TlsFiles {
  certFile: string;
  keyFile: string;
  clientCaFile?: string;
}

/** What is wrong with a listener's TLS files (`at`: the JSON path of its section). */
async function tlsProblems(at: (string | number)[], tls: TlsFiles): Promise<ConfigProblem[]> {
  const problems: ConfigProblem[] = [];
  const texts: Partial<Record<keyof TlsFiles, string>> = {};
  for (const key of ["certFile", "keyFile", "clientCaFile"] as const) {
    const path = tls[key];
    if (path === undefined) continue;
    try {
      texts[key] = await Deno.readTextFile(path);
    } catch (error) {
      problems.push({
        path: jsonPath([...at, "tls", key]),
        message: `cannot read ${path}: ${
          error instanceof Deno.errors.NotFound ? "no such file" : (error as Error).message
        }`,
      });
    }
  }
  if (texts.certFile !== undefined && texts.keyFile !== undefined) {
    const problem = keyPairProblem(texts.certFile, texts.keyFile);
    if (problem) {
      // At the file at fault: the certificate's, when it is the one that cannot be read.
      const file = problem.startsWith("the certificate file") ? "certFile" : "keyFile";
      problems.push({
        path: jsonPath([...at, "tls", file]),
        message: `${problem} (certFile ${tls.certFile}, keyFile ${tls.keyFile})`,
      });
    }
  }
  if (texts.clientCaFile !== undefined && !texts.clientCaFile.includes(PEM_CERTIFICATE)) {
    problems.push({
      path: jsonPath([...at, "tls", "clientCaFile"]),
      message: `${tls.clientCaFile} holds no PEM certificate (${PEM_CERTIFICATE})`,
    });
  }
  return problems;
}

const PEM_CERTIFICATE = "-----BEGIN CERTIFICATE-----";

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
  if (!text.includes(PEM_CERTIFICATE)) {
    return `${path} holds no PEM certificate (${PEM_CERTIFICATE})`;
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

/** Whether `value` is a JSON object (not null, not an array). */
function isRecordObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

/** Whether anything is at `path`. */
async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** `path` with its `.` and `..` segments resolved (the file system is not asked). */
function normalize(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return (path.startsWith("/") ? "/" : "") + parts.join("/");
}

/**
 * The data directories that are one another or inside one another: each
 * log needs a directory of its own (a dead letter in the event log would be
 * read as an observation, and the offsets of both would be wrong).
 */
function sharedDirectories(
  given: readonly { section: typeof DIRS[number][0]; dir: string }[],
  cluster: boolean,
): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  // In cluster mode the state is in KV: state.dir is not used (SPEC §12).
  const dirs = given.filter(({ section }) => !(section === "state" && cluster)).map((
    { section, dir },
  ) => ({ section, dir: normalize(dir) || "." }));
  const within = (inner: string, outer: string) =>
    inner === outer || inner.startsWith(outer === "/" ? "/" : `${outer}/`);
  for (const [i, a] of dirs.entries()) {
    for (const b of dirs.slice(0, i)) {
      const relation = a.dir === b.dir
        ? "is the same directory as"
        : within(a.dir, b.dir)
        ? "is inside"
        : within(b.dir, a.dir)
        ? "contains"
        : undefined;
      if (relation === undefined) continue;
      problems.push({
        path: jsonPath([a.section, "dir"]),
        message: `${relation} $.${b.section}.dir (${b.dir}): each needs a directory of its own`,
      });
    }
  }
  return problems;
}

/**
 * Why `dir` cannot hold data, or undefined when it can: it must be a
 * writable directory, or creatable under its nearest existing ancestor —
 * or, with `create`, it is created first.
 */
export async function checkDirectory(dir: string, create = false): Promise<string | undefined> {
  if (create) {
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch {
      // Said below, more precisely.
    }
  }
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
      if (error instanceof Deno.errors.NotCapable) {
        // The process's permissions, not the file system's.
        return `cannot ${
          probe === dir ? "write" : "create"
        } ${dir}: this process is not allowed to write ${probe} (Deno's --allow-write)`;
      }
      return probe === dir
        ? `${dir} is not writable: ${(error as Error).message}`
        : `cannot create ${dir}: ${probe} is not writable`;
    }
    return undefined;
  }
}
