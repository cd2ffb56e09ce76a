/**
 * The simulators of the cluster tests, in the test process, with their
 * request logs: who asked the archive (User-Agent names the instance) and
 * from which socket the gateway was polled.
 */

import { nowMicros } from "../../envelope/time.ts";
import { ArchiveSim } from "../../sim/archive.ts";
import { type IslGatewaySim, startIslSim } from "../../sim/isl.ts";
import { decodeOpticalPage } from "../../sources/optical/decode_optical_page.ts";

/** One poll the gateway answered. */
export interface PollLogEntry {
  time: number;
  from: string;
  after: number;
}

/** The archive, the gateway and a beacon generator. */
export interface Sims {
  archive: ArchiveSim;
  isl: IslGatewaySim;
  polls: PollLogEntry[];
  /** Resolves once `beacons` beacons have been generated (over `beaconMs`). */
  generated: Promise<void>;
  /** Archive requests made by service instances: [time, instance, cursor]. */
  archiveRequests(): { time: number; instance: string; cursor: string | null }[];
  stop(): Promise<void>;
}

/**
 * An archive holding `records` observations, served `pageSize` at a time
 * with `latencyMs` per answer (so reading them takes a while), and a
 * gateway whose ring receives `beacons` beacons spread over `beaconMs`.
 */
export async function startSims(options: {
  records: number;
  latencyMs: number;
  beacons: number;
  beaconMs: number;
}): Promise<Sims> {
  const archive = new ArchiveSim({ port: 0, count: options.records, latencyMs: options.latencyMs });
  await archive.ready;
  const isl = await startIslSim({ port: 0, rate: 0 });
  const polls: PollLogEntry[] = [];
  isl.onPoll = (poll, from) => polls.push({ time: Date.now(), from, after: poll.after });
  const step = 20;
  const perStep = Math.max(1, Math.ceil(options.beacons / (options.beaconMs / step)));
  let made = 0;
  const generated = Promise.withResolvers<void>();
  const timer = setInterval(() => {
    const n = Math.min(perStep, options.beacons - made);
    if (n > 0) isl.generate(n);
    made += n;
    if (made >= options.beacons) {
      clearInterval(timer);
      generated.resolve();
    }
  }, step);
  return {
    archive,
    isl,
    polls,
    generated: generated.promise,
    archiveRequests: () =>
      archive.requests.filter((r) => r.userAgent?.startsWith("sda-ingest")).map((r) => ({
        time: r.time,
        instance: /\((.*)\)/.exec(r.userAgent!)![1],
        cursor: r.cursor,
      })),
    async stop() {
      clearInterval(timer);
      await Promise.all([archive.stop(), isl.stop()]);
    },
  };
}

/** The ids of every observation the archive holds, decoded as the service decodes them. */
export async function archiveIds(archive: ArchiveSim, records: number): Promise<Set<string>> {
  const response = await fetch(`${archive.url}?maxResults=${records}`, {
    headers: { accept: "text/csv", "user-agent": "test" },
  });
  const body = new Uint8Array(await response.arrayBuffer());
  const page = decodeOpticalPage(body, response.headers.get("content-type") ?? "text/csv", {
    source: "archive",
    transport: "http",
    peer: archive.url,
    now: () => nowMicros(),
  });
  if (page.observations.length !== records) {
    throw new Error(`The archive gave ${page.observations.length} observations, not ${records}`);
  }
  return new Set(page.observations.map((o) => o.id));
}
