/**
 * Test helpers: the edge bundle built as `deno task build:edge` builds it,
 * and a `workerd` process (npm package `workerd`, from the import map)
 * serving it with `edge/workerd.capnp` on a free loopback port.
 *
 * @module
 */

import workerdModule from "workerd";

const ROOT = new URL("../../", import.meta.url).pathname;

/** The workerd binary the npm package installed. */
export function workerdPath(): string {
  // The package's CommonJS `module.exports` is `{ default: path, … }`.
  const exported = workerdModule as unknown as string | { default: string };
  return typeof exported === "string" ? exported : exported.default;
}

let built: Promise<void> | undefined;

/** Runs `deno task build:edge` (once per test process). */
export function buildEdge(): Promise<void> {
  built ??= (async () => {
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["task", "--quiet", "build:edge"],
      cwd: ROOT,
      stdout: "null",
      stderr: "piped",
    }).output();
    if (code !== 0) {
      throw new Error(`deno task build:edge failed: ${new TextDecoder().decode(stderr)}`);
    }
  })();
  return built;
}

/** A running workerd. */
export interface Workerd {
  /** `http://127.0.0.1:PORT`. */
  base: string;
  pid: number;
  /** What it wrote to stderr (last 64 KiB). */
  stderr(): string;
  /** Stops it and waits for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts `workerd serve edge/workerd.capnp` on a port the kernel picks
 * (`--socket-addr http=127.0.0.1:0`); workerd reports it on its control
 * descriptor (here its stdout).
 */
export async function startWorkerd(): Promise<Workerd> {
  await buildEdge();
  const child = new Deno.Command(workerdPath(), {
    args: [
      "serve",
      `${ROOT}edge/workerd.capnp`,
      "--socket-addr",
      "http=127.0.0.1:0",
      "--control-fd",
      "1",
    ],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let errors = "";
  const drained = (async () => {
    for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
      errors = (errors + chunk).slice(-65536);
    }
  })();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  let port = 0;
  const timeout = setTimeout(() => child.kill(), 60_000);
  try {
    while (port === 0) {
      const { value, done } = await lines.read();
      if (done) throw new Error(`workerd exited before listening: ${errors}`);
      text += value;
      const match = /"port":(\d+)/.exec(text);
      if (match) port = Number(match[1]);
    }
  } finally {
    clearTimeout(timeout);
  }
  // Keep reading control messages so workerd never blocks on them.
  const rest = (async () => {
    while (!(await lines.read()).done);
  })();
  return {
    base: `http://127.0.0.1:${port}`,
    pid: child.pid,
    stderr: () => errors,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await Promise.allSettled([drained, rest]);
    },
  };
}

/**
 * `/proc/<pid>/<file>`, read through `cat`: Deno asks for every permission
 * to read `/proc` itself, and `deno task test` grants `--allow-run`.
 */
export async function procFile(pid: number, file: string): Promise<string> {
  const { stdout } = await new Deno.Command("cat", {
    args: [`/proc/${pid}/${file}`],
    stdout: "piped",
    stderr: "null",
  }).output();
  return new TextDecoder().decode(stdout);
}

/** Resident set size now and its peak, bytes, from `/proc/<pid>/status`. */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await procFile(pid, "status");
  const kb = (key: string) =>
    Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { rss: kb("VmRSS"), peak: kb("VmHWM") };
}

/**
 * Resets the peak RSS of `pid` to its current RSS (`clear_refs` 5, through
 * `sh` for the same reason); false where the kernel does not allow it (then
 * only sampling tells the peak).
 */
export async function resetPeak(pid: number): Promise<boolean> {
  const { code } = await new Deno.Command("sh", {
    args: ["-c", `echo 5 > /proc/${pid}/clear_refs`],
    stdout: "null",
    stderr: "null",
  }).output();
  return code === 0;
}
