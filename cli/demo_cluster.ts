/**
 * `main.ts demo --cluster`: cluster mode on loopback (SPEC §12) — a 3-node
 * JetStream cluster, two service instances, the simulators — with the owner
 * of the leased sources killed half-way.
 *
 * @module
 */

import { jetstreamManager } from "@nats-io/jetstream";
import { connect, type NatsConnection } from "@nats-io/transport-node";
import { ArchiveSim } from "../sim/archive.ts";
import { startIslSim } from "../sim/isl.ts";
import { RadarSim } from "../sim/radar.ts";
import { hasNatsServer, LocalNats } from "../service/cluster/local_nats.ts";
import { readNatsLines } from "../sinks/nats_reader.ts";
import { type Command, EXIT, numberOption, parseOptions } from "./_args.ts";

const HELP = `Usage: main.ts demo --cluster [--duration S] [--out DIR]

Cluster mode on loopback: starts a 3-node JetStream cluster (nats-server,
replicas 3), two service instances (ingest-a, ingest-b) as separate
processes, an optical archive and an ISL gateway (whose lease one instance
holds) and two radar senders (one per instance, 1,000 obs/s each). Prints one
line per second per instance: rate per source and who owns the archive and
the gateway. Half-way it kills the owner with SIGKILL; the other takes over
from the state in JetStream KV, and the killed instance's radar sender
reconnects to it. At the end it reads the stream and prints how many
observations it holds, how many ids are in it twice (0) and how long the
takeover took.

Needs nats-server on the PATH (Debian: apt-get install -y nats-server).

Options:
  --duration S  run for S seconds, the kill at S/2 (default 30)
  --out DIR     where the instances' logs, configurations and the NATS stores
                go (default ./data/cluster, emptied first)
  --help        show this help
`;

const LEASE_MS = 3000;
const STREAM = "SDA_OBS";
const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const clock = () => new Date().toISOString().slice(11, 19);

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** One service instance, a `main.ts serve` subprocess. */
interface Instance {
  name: string;
  http: string;
  radarPort: number;
  process: Deno.ChildProcess;
  alive: boolean;
  previous: Map<string, number>;
}

async function startInstance(
  name: string,
  out: string,
  nats: LocalNats,
  archive: ArchiveSim,
  islPort: number,
): Promise<Instance> {
  const dir = `${out}/${name}`;
  await Deno.mkdir(dir, { recursive: true });
  const radarPort = freePort();
  const httpPort = freePort();
  const config = {
    sources: [
      { name: "xr1", kind: "radar", port: radarPort },
      { name: "archive", kind: "optical", url: archive.url, pollIntervalMs: 200 },
      { name: "isl", kind: "isl", gateways: [{ hostname: "127.0.0.1", port: islPort }] },
    ],
    log: { dir: "events", fsync: "interval", fsyncIntervalMs: 50 },
    deadLetter: { dir: "dead-letter" },
    http: { port: httpPort },
    nats: {
      servers: nats.urls,
      stream: STREAM,
      subjectPrefix: "sda.obs",
      instance: name,
      replicas: 3,
      leaseMs: LEASE_MS,
    },
  };
  await Deno.writeTextFile(`${dir}/ingest.json`, JSON.stringify(config, null, 2) + "\n");
  const log = await Deno.open(`${dir}/service.log`, { write: true, create: true, truncate: true });
  const process = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      new URL("../main.ts", import.meta.url).pathname,
      "serve",
      "--config",
      `${dir}/ingest.json`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  process.stderr.pipeTo(log.writable).catch(() => {});
  const http = `http://127.0.0.1:${httpPort}`;
  const deadline = Date.now() + 60_000;
  while (true) {
    try {
      const response = await fetch(`${http}/ready`);
      await response.body?.cancel();
      if (response.ok) break;
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) {
      throw new Error(`${name} was not ready within 60 s (see ${dir}/service.log)`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { name, http, radarPort, process, alive: true, previous: new Map() };
}

interface Health {
  sources: Record<string, { owner?: string | null; counts: { observations: number } | null }>;
}

async function health(instance: Instance): Promise<Health | undefined> {
  if (!instance.alive) return undefined;
  try {
    return await (await fetch(`${instance.http}/health`)).json();
  } catch {
    return undefined;
  }
}

async function streamMessages(nc: NatsConnection): Promise<number | undefined> {
  try {
    return (await (await jetstreamManager(nc)).streams.info(STREAM)).state.messages;
  } catch {
    return undefined;
  }
}

/** The `demo --cluster` command (dispatched from `demo`). */
export const demoCluster: Command = {
  help: HELP,
  async run(args) {
    const { values } = parseOptions(args, {
      duration: { type: "string" },
      out: { type: "string" },
    });
    const duration = numberOption(values.duration, "duration", 30);
    const out = values.out ?? "data/cluster";
    if (!(await hasNatsServer())) {
      console.error(
        "demo --cluster needs nats-server on the PATH. Install it (Debian: apt-get install -y nats-server) and run again.",
      );
      return EXIT.usage;
    }
    await Deno.remove(out, { recursive: true }).catch(() => {});
    await Deno.mkdir(out, { recursive: true });

    console.log("demo: starting a 3-node JetStream cluster on loopback …");
    const nats = await LocalNats.start({ nodes: 3, dir: `${out}/nats` });
    const archive = new ArchiveSim({
      port: 0,
      count: 2000,
      rate: 1000,
      startMs: Date.now() - 2000,
    });
    const isl = await startIslSim({ port: 0, rate: 1000, loss: 0.02 });
    const polls: { time: number; from: string; after: number }[] = [];
    isl.onPoll = (poll, from) => polls.push({ time: Date.now(), from, after: poll.after });
    const instances: Instance[] = [];
    const radars: { sim: RadarSim; done: Promise<unknown> }[] = [];
    let nc: NatsConnection | undefined;
    try {
      for (const name of ["ingest-a", "ingest-b"]) {
        instances.push(await startInstance(name, out, nats, archive, isl.port));
      }
      nc = await connect({ servers: nats.urls });
      const sendTo = (instance: Instance, sensor: string) => {
        const sim = new RadarSim({
          hostname: "127.0.0.1",
          port: instance.radarPort,
          rate: 1000,
          sensor,
        });
        radars.push({ sim, done: sim.start().catch(() => {}) });
      };
      sendTo(instances[0], "XR-A");
      sendTo(instances[1], "XR-B");
      console.log(
        `demo: NATS ${nats.urls.join(" ")} (R3); instances ${
          instances.map((i) => `${i.name} ${i.http}`).join(", ")
        }; lease ${LEASE_MS} ms; logs under ${out}/`,
      );

      const t0 = Date.now();
      const killAt = t0 + (duration * 1000) / 2;
      const endAt = t0 + duration * 1000;
      let killed: { name: string; at: number } | undefined;
      const takeover: { archive?: number; isl?: number } = {};
      let last = Date.now();
      for (let tick = 1;; tick++) {
        // One line a second by the wall clock, however long a line took.
        await new Promise((r) => setTimeout(r, Math.max(0, t0 + tick * 1000 - Date.now())));
        const now = Date.now();
        const seconds = Math.max(0.001, (now - last) / 1000);
        last = now;
        const parts: string[] = [];
        for (const instance of instances) {
          const doc = await health(instance);
          if (doc === undefined) {
            parts.push(`${instance.name}: ${instance.alive ? "not answering" : "killed"}`);
            continue;
          }
          const rates = Object.entries(doc.sources).map(([name, s]) => {
            const n = s.counts?.observations ?? 0;
            const rate = (n - (instance.previous.get(name) ?? 0)) / seconds;
            instance.previous.set(name, n);
            return `${name} ${fmt(rate)}/s`;
          });
          const owns = ["archive", "isl"].filter((s) => doc.sources[s]?.owner === instance.name);
          parts.push(
            `${instance.name}: ${rates.join(" ")} [${
              owns.length ? `owns ${owns.join(", ")}` : "standby"
            }]`,
          );
        }
        const held = await streamMessages(nc);
        console.log(
          `${clock()}  ${parts.join(" │ ")} │ stream ${held === undefined ? "–" : fmt(held)}`,
        );

        if (killed === undefined && Date.now() >= killAt) {
          const doc = await health(instances[0]);
          const ownerName = doc?.sources.archive.owner ?? instances[0].name;
          const owner = instances.find((i) => i.name === ownerName) ?? instances[0];
          const survivor = instances.find((i) => i !== owner)!;
          owner.process.kill("SIGKILL");
          await owner.process.status;
          owner.alive = false;
          killed = { name: owner.name, at: Date.now() };
          console.log(
            `${clock()}  ✂ killed ${owner.name} (owner of the archive and the gateway) with SIGKILL; its radar sender reconnects to ${survivor.name}`,
          );
          const index = instances.indexOf(owner);
          radars[index].sim.stop();
          await radars[index].done;
          sendTo(survivor, index === 0 ? "XR-A" : "XR-B");
        }
        if (killed !== undefined) {
          const pollersBefore = new Set(
            polls.filter((p) => p.time < killed!.at).map((p) => p.from),
          );
          const firstArchive = archive.requests.find((r) =>
            r.time >= killed!.at && r.userAgent?.includes("(") &&
            !r.userAgent.includes(killed!.name)
          );
          const firstPoll = polls.find((p) => p.time >= killed!.at && !pollersBefore.has(p.from));
          if (takeover.archive === undefined && firstArchive) {
            takeover.archive = firstArchive.time - killed.at;
            console.log(
              `${clock()}  ↻ archive taken over after ${
                (takeover.archive / 1000).toFixed(1)
              } s, from saved cursor ${firstArchive.cursor}`,
            );
          }
          if (takeover.isl === undefined && firstPoll) {
            takeover.isl = firstPoll.time - killed.at;
            console.log(
              `${clock()}  ↻ gateway taken over after ${
                (takeover.isl / 1000).toFixed(1)
              } s, polling after index ${firstPoll.after}`,
            );
          }
        }
        // Past the end, but still waiting for the takeover to show (at most 30 s more).
        const tookOver = takeover.archive !== undefined && takeover.isl !== undefined;
        if (
          Date.now() >= endAt && (killed === undefined || tookOver || Date.now() > endAt + 30_000)
        ) {
          break;
        }
      }

      console.log(`\ndemo: stopping the senders and the surviving instance …`);
      for (const radar of radars) radar.sim.stop();
      await Promise.all(radars.map((r) => r.done));
      for (const instance of instances.filter((i) => i.alive)) {
        instance.process.kill("SIGTERM");
        await instance.process.status;
        instance.alive = false;
      }
      const ids = new Set<string>();
      let count = 0;
      let duplicates = 0;
      const byKind: Record<string, number> = {};
      for await (const { line } of readNatsLines({ connection: nc, stream: STREAM })) {
        const o = JSON.parse(line) as { id: string; kind: string };
        count++;
        if (ids.has(o.id)) duplicates++;
        ids.add(o.id);
        byKind[o.kind] = (byKind[o.kind] ?? 0) + 1;
      }
      console.log(
        `demo: the stream ${STREAM} holds ${fmt(count)} observations (${
          Object.entries(byKind).map(([k, n]) => `${fmt(n)} ${k}`).join(", ")
        }), ${duplicates} ids twice`,
      );
      if (killed !== undefined) {
        const seconds = (ms: number | undefined) =>
          ms === undefined ? "–" : `${(ms / 1000).toFixed(1)} s`;
        console.log(
          `demo: takeover after killing ${killed.name}: archive ${
            seconds(takeover.archive)
          }, gateway ${seconds(takeover.isl)} (bound: leaseMs + leaseMs/3 = ${
            ((LEASE_MS * 4) / 3 / 1000).toFixed(1)
          } s)`,
        );
      }
      console.log(
        `\nWritten under ${out}/: each instance's configuration, event log, dead-letter log and service.log (ingest-a/, ingest-b/), and the NATS nodes' stores and logs (nats/).` +
          `\nWith a cluster of your own running (README "Running a cluster"): deno task tail --config ingest-a.json --nats --from 1`,
      );
      return duplicates === 0 ? EXIT.ok : EXIT.failure;
    } finally {
      for (const radar of radars) radar.sim.stop();
      for (const instance of instances.filter((i) => i.alive)) {
        try {
          instance.process.kill("SIGKILL");
        } catch {
          // Gone.
        }
        await instance.process.status;
      }
      await nc?.close().catch(() => {});
      await Promise.all([archive.stop(), isl.stop()]);
      await nats.stop();
    }
  },
};
