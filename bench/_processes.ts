/**
 * Process topology helpers for the benchmarks and end-to-end tests: the
 * service and the simulators run as separate processes on loopback.
 *
 * @module
 */

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const BENCH_CHILD = new URL("./child.ts", import.meta.url).pathname;

/** A child process running `main.ts <args>` or a bench child. */
export interface Child {
  /** The process. */
  process: Deno.ChildProcess;
  /** Its pid. */
  pid: number;
  /** Everything it wrote to stderr so far (bounded to the last 64 KiB). */
  stderr: () => string;
  /** Resolves with its exit status. */
  status: Promise<Deno.CommandStatus>;
  /** Sends a signal and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/** Least-privilege permissions per command, as the `deno task` entries grant them. */
const PERMISSIONS: Record<string, string[]> = {
  serve: [
    "--allow-net=127.0.0.1",
    "--allow-read",
    "--allow-write",
    "--allow-env",
    "--allow-sys=statfs",
  ],
  // Read: sim radar --cert/--key/--ca files.
  sim: ["--allow-net=127.0.0.1", "--allow-read"],
  replay: ["--allow-read", "--allow-write"],
  bench: ["--allow-net=127.0.0.1", "--allow-read", "--allow-write", "--allow-env"],
};

/**
 * V8 flags of `deno task replay` (see deno.json): the replay's live data is
 * ~50 MB however long the input, so capping the old generation only makes V8
 * collect garbage sooner (measured: peak RSS 515 → 293 MB for a million
 * radar observations at the same throughput). The semi-spaces are 16 MB:
 * the decode worker scavenges half as often and the GC helper threads do
 * half the work, which on two cores is time the decoding gets. 10,000,000
 * generated observations (`bench/child.ts replay-10m` with
 * {@link REPLAY_ENV}, 2026-12-04, one host, interleaved): 16 MB 62.6 and
 * 56.9 s at 241 and 243 MiB peak, 8 MB 72.1 and 67.0 s at 226 and 208 MiB.
 * (Before replay read its files into one reused buffer and the ISL
 * decoder kept a cache of meta objects, 16 MB peaked at 268–309 MiB,
 * over the 300 MB budget in about half the runs, so it was 8 MB then.)
 */
export const REPLAY_V8_FLAGS = "--v8-flags=--max-old-space-size=192,--max-semi-space-size=16";

/**
 * Environment of `deno task replay` (see deno.json): glibc's malloc puts
 * blocks from 128 KiB up in maps of their own, returned on free, but raises
 * that threshold to the size of each such block freed (up to 32 MiB), after
 * which the replay's page copies and message buffers came from heaps that
 * keep what they once held. A fixed threshold keeps them apart (replay of
 * 10,000,000 generated observations, alternated: peak RSS 228 and 233
 * against 257 and 267 MiB; 98 and 99 against 101 and 92 s). At 64 KiB the
 * chunks a file is read in (64 KiB each) have maps of their own too:
 * replaying the benchmark's 10,000,000 observations from files, peak RSS
 * 276 and 276 MiB against 274 and 283 MiB (274–288 MiB in four more runs;
 * the budget, 300 MB, is 286 MiB), at no cost in time that the noise
 * showed (85 and 67 against 75 and 68 s, alternated). Other C libraries
 * ignore the variable.
 */
export const REPLAY_ENV: Record<string, string> = { MALLOC_MMAP_THRESHOLD_: "65536" };

/** Starts `deno run <permissions> main.ts …args` (the same Deno binary). */
export function spawnMain(
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Child {
  const flags = [...(PERMISSIONS[args[0]] ?? ["--allow-read", "--allow-write"])];
  if (args[0] !== "replay") return spawnDeno([...flags, MAIN, ...args], options);
  flags.push(REPLAY_V8_FLAGS);
  return spawnDeno([...flags, MAIN, ...args], {
    ...options,
    env: { ...REPLAY_ENV, ...options.env },
  });
}

/**
 * Starts the bench child `args[0]` (see `bench/child.ts`) with the rest of
 * `args`, with the bench's permissions; the `replay-10m` child with the V8
 * flags and environment of `deno task replay`.
 */
export function spawnChild(args: string[]): Child {
  const flags = [...PERMISSIONS.bench];
  if (args[0] !== "replay-10m") return spawnDeno([...flags, BENCH_CHILD, ...args], {});
  flags.push(REPLAY_V8_FLAGS);
  return spawnDeno([...flags, BENCH_CHILD, ...args], { env: REPLAY_ENV });
}

function spawnDeno(
  runArgs: string[],
  options: { env?: Record<string, string>; cwd?: string },
): Child {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["run", ...runArgs],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1", ...options.env },
    cwd: options.cwd,
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const drained = (async () => {
    for await (const chunk of process.stderr) {
      text += decoder.decode(chunk, { stream: true });
      if (text.length > 65536) text = text.slice(-65536);
    }
  })();
  const status = process.status.then(async (s) => {
    await drained.catch(() => {});
    return s;
  });
  return {
    process,
    pid: process.pid,
    stderr: () => text,
    status,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        process.kill(signal);
      } catch {
        // Already gone.
      }
      return await status;
    },
  };
}

/** A free TCP port on 127.0.0.1 (bound and released: good enough on loopback). */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** A free UDP port on 127.0.0.1. */
export function freeUdpPort(): number {
  // A TCP probe is enough in practice; UDP and TCP port spaces are separate
  // but both are free at this moment on a quiet loopback.
  return freePort();
}

/** Polls `url` until it answers 200, or throws after `timeoutMs`. */
export async function waitForOk(url: string, timeoutMs = 30_000, child?: Child): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < timeoutMs) {
    try {
      const response = await fetch(url);
      await response.body?.cancel();
      if (response.ok) return performance.now() - t0;
    } catch {
      // Not listening yet.
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(
    `${url} not ready within ${timeoutMs} ms${child ? `\n--- stderr ---\n${child.stderr()}` : ""}`,
  );
}

/** Sample values of a Prometheus text exposition, by `name{labels}`. */
export function parseMetrics(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const space = line.lastIndexOf(" ");
    values.set(line.slice(0, space), Number(line.slice(space + 1)));
  }
  return values;
}

/** Fetches and parses `/metrics`. */
export async function scrape(url: string): Promise<Map<string, number>> {
  const response = await fetch(url);
  return parseMetrics(await response.text());
}

/** Sum of every sample of `name` (all label sets), optionally filtered by a label substring. */
export function sumMetric(metrics: Map<string, number>, name: string, filter = ""): number {
  let sum = 0;
  for (const [key, value] of metrics) {
    if ((key === name || key.startsWith(`${name}{`)) && key.includes(filter)) sum += value;
  }
  return sum;
}

/**
 * Peak and current resident set size of a process, bytes, from Linux
 * `/proc/<pid>/status` (`VmHWM`, `VmRSS`). Read through `cat`: Deno asks for
 * every permission to read `/proc` itself, and the benchmark needs only
 * `--allow-run`.
 */
export async function memoryOf(pid: number): Promise<{ peak: number; current: number }> {
  const output = await new Deno.Command("cat", {
    args: [`/proc/${pid}/status`],
    stdout: "piped",
    stderr: "null",
  })
    .output();
  const status = new TextDecoder().decode(output.stdout);
  const kb = (key: string) =>
    Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
  return { peak: kb("VmHWM"), current: kb("VmRSS") };
}

/**
 * Flushes the dirty pages earlier runs left (gigabytes of logs) so their
 * writeback does not throttle the next run's writes: with ext4's ordered
 * mode, an fdatasync waits for the journal commit, which writes out other
 * files' dirty data first. Latency runs right after the throughput runs
 * measured a p99 of 64–383 ms, and ~5 ms on the quiet machine.
 */
export async function settle(): Promise<void> {
  try {
    await new Deno.Command("sync", { stdout: "null", stderr: "null" }).output();
  } catch {
    // No sync(1) here: measure anyway.
  }
}
