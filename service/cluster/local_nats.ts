/**
 * `nats-server` processes with JetStream on loopback — one node or a
 * 3-node cluster — for the cluster demo, the benchmarks, the tests and the
 * documentation examples.
 *
 * @module
 */

import { jetstreamManager, StorageType } from "@nats-io/jetstream";
import { connect } from "@nats-io/transport-node";

/** Options for {@link LocalNats.start}. */
export interface LocalNatsOptions {
  /** Nodes: 1 (a single server) or more (a cluster with routes between all; default 1). */
  nodes?: number;
  /**
   * Do not tell clients about the other nodes (`no_advertise`), so a client
   * stays with the servers it was given (default false).
   */
  noAdvertise?: boolean;
  /** Give up starting after this long, ms (default 20000). */
  startTimeoutMs?: number;
  /** The `nats-server` executable (default `nats-server` on the PATH). */
  executable?: string;
  /** Where the stores, configurations and logs go (default: a new temporary directory). */
  dir?: string;
  /** The servers' `max_payload`, bytes (default: nats-server's, 1 MiB). */
  maxPayload?: number;
  /** Clients must log in as this user (default: no authorization). */
  authorization?: { user: string; password: string };
}

/** One node of a {@link LocalNats}. */
export interface LocalNatsNode {
  /** `server_name`, `n1`, `n2`, … */
  name: string;
  /** Client URL, `nats://127.0.0.1:<port>`. */
  url: string;
  /** Client port. */
  port: number;
  /** Cluster route port (0 for a single server). */
  clusterPort: number;
  /** True while its process runs. */
  running: boolean;
}

interface NodeProcess {
  node: LocalNatsNode;
  config: string;
  child: Deno.ChildProcess | undefined;
}

/**
 * True when `nats-server` can be run.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hasNatsServer } from "./local_nats.ts";
 *
 * assert.equal(typeof await hasNatsServer(), "boolean");
 * ```
 */
export async function hasNatsServer(executable = "nats-server"): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(executable, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

async function accepts(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return true;
  } catch {
    return false;
  }
}

/**
 * JetStream servers on loopback, each with its own free ports and a
 * temporary store directory, started and stopped as child processes. A
 * cluster's nodes route to each other on loopback; {@link LocalNats.start}
 * resolves once JetStream answers (a cluster has elected its meta leader),
 * or rejects after `startTimeoutMs`. Nodes can be killed and restarted
 * (same ports, same store) to exercise failures.
 *
 * @example Start a single server and use JetStream
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstreamManager } from "@nats-io/jetstream";
 * import { connect } from "@nats-io/transport-node";
 * import { LocalNats } from "./local_nats.ts";
 *
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * const jsm = await jetstreamManager(nc);
 * assert.equal((await jsm.getAccountInfo()).streams, 0);
 * await nc.close();
 * await nats.stop();
 * ```
 */
export class LocalNats {
  /** The nodes, in order. */
  readonly nodes: readonly LocalNatsNode[];
  /** The directory holding every node's store, configuration and log. */
  readonly dir: string;
  readonly #processes: NodeProcess[];
  readonly #executable: string;
  readonly #temporary: boolean;

  private constructor(
    dir: string,
    processes: NodeProcess[],
    executable: string,
    temporary: boolean,
  ) {
    this.dir = dir;
    this.#temporary = temporary;
    this.#processes = processes;
    this.nodes = processes.map((p) => p.node);
    this.#executable = executable;
  }

  /** Process ids of the nodes that run (for CPU accounting). */
  get pids(): number[] {
    return this.#processes.flatMap((p) => p.child ? [p.child.pid] : []);
  }

  /** Client URLs of every node. */
  get urls(): string[] {
    return this.nodes.map((n) => n.url);
  }

  /** Starts the servers; resolves once JetStream is available. */
  static async start(options: LocalNatsOptions = {}): Promise<LocalNats> {
    for (let attempt = 1;; attempt++) {
      try {
        return await LocalNats.#startOnce(options);
      } catch (error) {
        // A free port taken between picking it and nats-server binding it
        // (another connection's ephemeral port, say: seen once in CI, a
        // route port): new ports, a few times.
        const clash = /address already in use/.test(String((error as Error)?.message));
        if (!clash || attempt >= 3) throw error;
      }
    }
  }

  static async #startOnce(options: LocalNatsOptions): Promise<LocalNats> {
    const count = options.nodes ?? 1;
    if (!Number.isInteger(count) || count < 1) {
      throw new RangeError(`Cannot start a NATS cluster of ${count} nodes`);
    }
    const dir = options.dir ?? await Deno.makeTempDir({ prefix: "sda-nats-" });
    await Deno.mkdir(dir, { recursive: true });
    const nodes: LocalNatsNode[] = Array.from({ length: count }, (_, i) => {
      const port = freePort();
      return {
        name: `n${i + 1}`,
        url: `nats://127.0.0.1:${port}`,
        port,
        clusterPort: count > 1 ? freePort() : 0,
        running: false,
      };
    });
    const processes = await Promise.all(nodes.map(async (node): Promise<NodeProcess> => {
      const lines = [
        `server_name: "${node.name}"`,
        `listen: "127.0.0.1:${node.port}"`,
        `log_file: "${dir}/${node.name}.log"`,
        `jetstream { store_dir: "${dir}/${node.name}", max_memory_store: 268435456 }`,
      ];
      if (options.maxPayload !== undefined) lines.push(`max_payload: ${options.maxPayload}`);
      const login = options.authorization;
      if (login !== undefined) {
        lines.push(
          `authorization { user: ${JSON.stringify(login.user)}, password: ${
            JSON.stringify(login.password)
          } }`,
        );
      }
      if (count > 1) {
        const routes = nodes.filter((n) => n !== node).map((n) =>
          `"nats-route://127.0.0.1:${n.clusterPort}"`
        );
        lines.push(
          `cluster { name: "sda", listen: "127.0.0.1:${node.clusterPort}", routes: [${
            routes.join(", ")
          }], no_advertise: ${options.noAdvertise ?? false} }`,
        );
      }
      const config = `${dir}/${node.name}.conf`;
      await Deno.writeTextFile(config, lines.join("\n") + "\n");
      return { node, config, child: undefined };
    }));
    const nats = new LocalNats(
      dir,
      processes,
      options.executable ?? "nats-server",
      options.dir === undefined,
    );
    try {
      for (let i = 0; i < count; i++) nats.#spawn(i);
      await nats.#waitForJetStream(options.startTimeoutMs ?? 20_000, options.authorization);
    } catch (error) {
      await nats.stop();
      throw error;
    }
    return nats;
  }

  /** Kills node `i` (default SIGKILL: no goodbye to its peers or clients). */
  async kill(i: number, signal: Deno.Signal = "SIGKILL"): Promise<void> {
    const p = this.#processes[i];
    if (p.child === undefined) return;
    const child = p.child;
    p.child = undefined;
    p.node.running = false;
    try {
      child.kill(signal);
    } catch {
      // Already gone.
    }
    await child.status;
  }

  /** Starts node `i` again (same ports and store); resolves once it accepts clients. */
  async restart(i: number, timeoutMs = 20_000): Promise<void> {
    if (this.#processes[i].child !== undefined) return;
    this.#spawn(i);
    const deadline = Date.now() + timeoutMs;
    while (!(await accepts(this.nodes[i].port))) {
      if (Date.now() > deadline) {
        throw new Error(`nats-server ${this.nodes[i].name} did not restart within ${timeoutMs} ms`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Stops every node and removes the directory if it made it (a temporary one). */
  async stop(): Promise<void> {
    await Promise.all(this.#processes.map((_, i) => this.kill(i, "SIGTERM")));
    if (this.#temporary) await Deno.remove(this.dir, { recursive: true }).catch(() => {});
  }

  /**
   * Index of the running node that leads the JetStream meta group (the one
   * that answers the JetStream API's account and placement requests), as
   * the nodes' logs say: the last to log "Self is new JetStream cluster
   * metadata leader"; -1 when none has.
   */
  async metaLeader(): Promise<number> {
    let leader = -1;
    let since = "";
    for (let i = 0; i < this.nodes.length; i++) {
      if (!this.nodes[i].running) continue;
      for (const line of (await this.log(i)).split("\n")) {
        if (!line.endsWith("Self is new JetStream cluster metadata leader")) continue;
        // "[pid] 2026/12/03 19:50:06.833799 [INF] …": the time sorts as text.
        const time = line.split(" ").slice(1, 3).join(" ");
        if (time > since) [leader, since] = [i, time];
      }
    }
    return leader;
  }

  /** The log of node `i` (for a test's failure message). */
  async log(i: number): Promise<string> {
    return await Deno.readTextFile(`${this.dir}/${this.nodes[i].name}.log`).catch(() => "");
  }

  #spawn(i: number): void {
    const p = this.#processes[i];
    p.child = new Deno.Command(this.#executable, {
      args: ["-c", p.config],
      stdin: "null",
      stdout: "null",
      stderr: "null",
    }).spawn();
    p.node.running = true;
  }

  async #waitForJetStream(
    timeoutMs: number,
    login?: { user: string; password: string },
  ): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let last: unknown;
    for (const node of this.nodes) {
      while (!(await accepts(node.port))) {
        const p = this.#processes.find((q) => q.node === node)!;
        const status = await Promise.race([
          p.child!.status,
          new Promise<undefined>((r) => setTimeout(() => r(undefined), 50)),
        ]);
        if (status !== undefined) {
          throw new Error(
            `nats-server ${node.name} exited with ${status.code}: ${
              (await this.log(this.nodes.indexOf(node))).trim().split("\n").slice(-3).join(" | ")
            }`,
          );
        }
        if (Date.now() > deadline) {
          throw new Error(`nats-server ${node.name} did not listen within ${timeoutMs} ms`);
        }
      }
    }
    const nc = await connect({
      servers: this.urls,
      reconnect: false,
      ...(login === undefined ? {} : { user: login.user, pass: login.password }),
    });
    try {
      while (true) {
        try {
          // Fails with 503 until a cluster has elected its meta leader.
          const jsm = await jetstreamManager(nc, { timeout: 1000 });
          await jsm.getAccountInfo();
          // A meta leader is not yet every node in the meta group: until
          // all have joined, an R3 stream fails with "no suitable peers for
          // placement". A stream over every node proves they have.
          if (this.nodes.length > 1) {
            const probe = `LOCAL_NATS_PROBE_${crypto.randomUUID().slice(0, 8)}`;
            await jsm.streams.add({
              name: probe,
              subjects: [`local-nats-probe.${probe}`],
              storage: StorageType.Memory,
              num_replicas: this.nodes.length,
            });
            await jsm.streams.delete(probe);
          }
          return;
        } catch (error) {
          last = error;
        }
        if (Date.now() > deadline) {
          throw new Error(`JetStream was not available within ${timeoutMs} ms`, { cause: last });
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    } finally {
      await nc.close();
    }
  }
}
