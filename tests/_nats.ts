/** A real nats-server with JetStream on a free loopback port, for tests. */

export interface NatsServer {
  url: string;
  port: number;
  stop(): Promise<void>;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Starts `nats-server -js` (Debian package nats-server) and waits until it accepts connections. */
export async function startNatsServer(): Promise<NatsServer> {
  const port = freePort();
  const store = await Deno.makeTempDir({ prefix: "sda-nats-" });
  const child = new Deno.Command("nats-server", {
    args: ["-js", "-a", "127.0.0.1", "-p", String(port), "-sd", store],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 10_000;
  while (true) {
    try {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conn.close();
      break;
    } catch (error) {
      if (Date.now() > deadline) {
        child.kill("SIGKILL");
        await child.status;
        throw new Error("nats-server did not start within 10 s", { cause: error });
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    async stop() {
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(store, { recursive: true }).catch(() => {});
    },
  };
}
