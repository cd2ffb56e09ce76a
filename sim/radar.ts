/**
 * `sim radar` (SPEC §11): a radar array that connects to the service over
 * TCP and pushes CCSDS TDM 2.0 messages — SGP4 passes over a ground site,
 * five data lines per observation — at a given rate or as fast as it can.
 *
 * A real network peer: usable by the demo, the tests, the benchmarks (as a
 * separate process: `deno run -A sim/radar.ts --to 127.0.0.1:7001`) and by
 * operators checking a deployment.
 *
 * @module
 */

import {
  type Command,
  EXIT,
  integerOption,
  numberOption,
  parseOptions,
  UsageError,
} from "./_args.ts";
import { Orbits } from "./orbits.ts";
import { RadarRenderer } from "./_radar_render.ts";
import { sleep } from "./_sleep.ts";

/** Options for {@link RadarSim} and {@link runRadarSim}. */
export interface RadarSimOptions {
  /** The service's radar listener. */
  hostname: string;
  /** Its port. */
  port: number;
  /** Observations per second over all connections; 0 or absent: as fast as possible. */
  rate?: number;
  /** Observations to send in all; 0 or absent: until stopped. */
  count?: number;
  /** `PARTICIPANT_1` (default `"XR1"`). */
  sensor?: string;
  /** Stops the sim (like {@link RadarSim.stop}). */
  signal?: AbortSignal;
  /** TCP connections, each carrying its share of the observations (default 1). */
  connections?: number;
  /** Track only this NORAD number (default: every visible object in turn). */
  target?: number;
  /** Seed of the measurement noise (default 1). */
  seed?: number;
  /** Sim time of the first observation, Unix ms (default: now). */
  startMs?: number;
  /** Sim time between observations, µs (default: 1 s / rate, or 1000 at full speed). */
  stepUs?: number;
  /** Fraction of observations sent with a corrupt RCS line (default 0). */
  badRate?: number;
  /** Observations per segment (default 100). */
  observationsPerSegment?: number;
  /** Segments per message (default 10). */
  segmentsPerMessage?: number;
  /** Keep trying to connect for this long, ms (default 5000). */
  connectTimeoutMs?: number;
  /** Called with `host:port` of each connection's local end once it is connected. */
  onConnect?: (local: string) => void;
  /** Connect with TLS (SPEC §15) instead of plain TCP. */
  tls?: RadarSimTlsOptions;
  /** Called with each TLS connection's set-up time, ms (connect + handshake). */
  onHandshake?: (ms: number) => void;
}

/** TLS for {@link RadarSimOptions.tls}. */
export interface RadarSimTlsOptions {
  /** PEM CA certificates to trust for the listener (default: the system's). */
  caCerts?: string[];
  /** PEM client certificate (with {@link RadarSimTlsOptions.key}). */
  cert?: string;
  /** PEM private key of the client certificate. */
  key?: string;
}

type Conn = Deno.TcpConn | Deno.TlsConn;

/** What a {@link RadarSim} has done. */
export interface RadarSimCounters {
  /** Observations written to sockets. */
  observations: number;
  /** Bytes written to sockets. */
  bytes: number;
  /** TDM messages started. */
  messages: number;
  /** `write` calls that completed. */
  writes: number;
  /** Connections established. */
  connections: number;
}

/** Observations rendered per write at full speed: ~240 KB of text. */
const BATCH = 1000;

/**
 * A running radar simulator. {@link RadarSim.start} connects and sends;
 * {@link RadarSim.counters} tells how far it got, live.
 *
 * @example Push 100 observations into a listener
 * ```ts
 * import assert from "node:assert/strict";
 * import { RadarSim } from "./radar.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const received = (async () => {
 *   const conn = await listener.accept();
 *   const text = await new Response(conn.readable).text();
 *   listener.close();
 *   return text;
 * })();
 * const sim = new RadarSim({ hostname: "127.0.0.1", port: listener.addr.port, count: 100 });
 * const counters = await sim.start();
 * assert.equal(counters.observations, 100);
 * const text = await received;
 * assert.equal(text.split("\n").filter((l) => l.startsWith("RCS = ")).length, 100);
 * assert.equal(new TextEncoder().encode(text).length, counters.bytes);
 * ```
 */
export class RadarSim {
  #options: RadarSimOptions;
  #counters: RadarSimCounters = {
    observations: 0,
    bytes: 0,
    messages: 0,
    writes: 0,
    connections: 0,
  };
  #abort = new AbortController();
  #conns = new Set<Conn>();
  #local: string[] = [];
  #running: Promise<RadarSimCounters> | undefined;

  /** Checks the options; nothing is sent before {@link RadarSim.start}. */
  constructor(options: RadarSimOptions) {
    this.#options = options;
    const { rate = 0, count = 0, connections = 1, badRate = 0 } = options;
    if (!(rate >= 0) || !Number.isFinite(rate)) {
      throw new RangeError(`rate must be a non-negative number: ${rate}`);
    }
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new RangeError(`count must be a non-negative integer: ${count}`);
    }
    if (!Number.isInteger(connections) || connections < 1) {
      throw new RangeError(`connections must be at least 1: ${connections}`);
    }
    if (!(badRate >= 0 && badRate <= 1)) {
      throw new RangeError(`badRate must be between 0 and 1: ${badRate}`);
    }
    if (options.signal?.aborted) this.#abort.abort();
    options.signal?.addEventListener("abort", () => this.stop(), { once: true });
  }

  /** What was sent so far (live). */
  get counters(): Readonly<RadarSimCounters> {
    return this.#counters;
  }

  /** `host:port` of each connection's local end, in connection order (the service's `peer`). */
  get localAddresses(): readonly string[] {
    return this.#local;
  }

  /**
   * Connects and sends; resolves when `count` observations are written and
   * the sockets closed, or when stopped. Rejects if a connection fails.
   */
  start(): Promise<RadarSimCounters> {
    this.#running ??= this.#run();
    return this.#running;
  }

  /** Stops sending and closes the connections at once. */
  stop(): void {
    if (this.#abort.signal.aborted) return;
    this.#abort.abort();
    for (const conn of this.#conns) {
      try {
        conn.close();
      } catch {
        // Closed already.
      }
    }
  }

  async #run(): Promise<RadarSimCounters> {
    const o = this.#options;
    const lanes = o.connections ?? 1;
    const count = o.count ?? 0;
    const orbits = new Orbits();
    const startMs = o.startMs ?? Date.now();
    const rate = o.rate ?? 0;
    const stepUs = o.stepUs ?? (rate > 0 ? Math.max(1, Math.round(1e6 / rate)) : 1000);
    const runs: Promise<void>[] = [];
    for (let lane = 0; lane < lanes; lane++) {
      // Lane l sends observations l, l + lanes, …: the quotas add up to count.
      const quota = count === 0
        ? Infinity
        : Math.floor(count / lanes) + (lane < count % lanes ? 1 : 0);
      const renderer = new RadarRenderer({
        orbits,
        sensor: o.sensor,
        startMs,
        stepUs,
        lane,
        lanes,
        target: o.target,
        seed: o.seed,
        badRate: o.badRate,
        observationsPerSegment: o.observationsPerSegment,
        segmentsPerMessage: o.segmentsPerMessage,
      });
      runs.push(this.#lane(renderer, quota, rate / lanes));
    }
    const results = await Promise.allSettled(runs);
    this.stop();
    const failure = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failure !== undefined) throw failure.reason;
    return { ...this.#counters };
  }

  async #connect(): Promise<Conn> {
    const { hostname, port, tls } = this.#options;
    const deadline = performance.now() + (this.#options.connectTimeoutMs ?? 5000);
    for (;;) {
      try {
        if (tls === undefined) return await Deno.connect({ hostname, port, transport: "tcp" });
        const t0 = performance.now();
        const conn = await Deno.connectTls({
          hostname,
          port,
          caCerts: tls.caCerts,
          ...(tls.cert !== undefined && tls.key !== undefined
            ? { cert: tls.cert, key: tls.key }
            : {}),
        });
        await conn.handshake();
        this.#options.onHandshake?.(performance.now() - t0);
        return conn;
      } catch (error) {
        if (!(error instanceof Deno.errors.ConnectionRefused) || performance.now() > deadline) {
          throw error;
        }
        await sleep(100);
      }
    }
  }

  async #lane(renderer: RadarRenderer, quota: number, rate: number): Promise<void> {
    const signal = this.#abort.signal;
    if (quota === 0 || signal.aborted) return;
    const conn = await this.#connect();
    if (signal.aborted) {
      conn.close();
      return;
    }
    this.#conns.add(conn);
    const local = conn.localAddr;
    const address = local.hostname.includes(":")
      ? `[${local.hostname}]:${local.port}`
      : `${local.hostname}:${local.port}`;
    this.#local.push(address);
    this.#options.onConnect?.(address);
    if ("setNoDelay" in conn) conn.setNoDelay(true);
    this.#counters.connections++;
    const counters = this.#counters;
    const encoder = new TextEncoder();
    let buffer = new Uint8Array(1 << 18);
    let sent = 0;
    let messages = 0;
    const t0 = performance.now();
    try {
      while (sent < quota && !signal.aborted) {
        let n = Math.min(quota - sent, BATCH);
        if (rate > 0) {
          // Observation k is due at t0 + k / rate.
          const due = Math.floor((performance.now() - t0) / 1000 * rate) + 1 - sent;
          if (due <= 0) {
            await sleep(
              Math.max(1, Math.ceil(((sent - due + 1) / rate) * 1000 - (performance.now() - t0))),
            );
            continue;
          }
          n = Math.min(n, due);
        }
        let text = renderer.render(n);
        if (sent + n >= quota) text += renderer.finish();
        if (text.length > buffer.length) buffer = new Uint8Array(text.length * 2);
        // The text is ASCII: one byte per character.
        const length = encoder.encodeInto(text, buffer).written;
        await writeAll(conn, buffer.subarray(0, length));
        sent += n;
        counters.observations += n;
        counters.bytes += length;
        counters.writes++;
        counters.messages += renderer.messages - messages;
        messages = renderer.messages;
      }
    } catch (error) {
      if (!signal.aborted) throw error;
    } finally {
      this.#conns.delete(conn);
      try {
        conn.close();
      } catch {
        // Closed by stop().
      }
    }
  }
}

async function writeAll(conn: Conn, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) offset += await conn.write(bytes.subarray(offset));
}

/**
 * Runs a radar simulator to the end: resolves when `count` observations are
 * written and the sockets closed, or on abort, with what was sent.
 *
 * @example Ten observations into a listener that discards them
 * ```ts
 * import assert from "node:assert/strict";
 * import { runRadarSim } from "./radar.ts";
 *
 * const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
 * const drained = (async () => {
 *   const conn = await listener.accept();
 *   await conn.readable.pipeTo(new WritableStream());
 *   listener.close();
 * })();
 * const result = await runRadarSim({ hostname: "127.0.0.1", port: listener.addr.port, count: 10 });
 * assert.equal(result.observations, 10);
 * await drained;
 * ```
 */
export async function runRadarSim(
  options: RadarSimOptions,
): Promise<{ observations: number; bytes: number }> {
  const { observations, bytes } = await new RadarSim(options).start();
  return { observations, bytes };
}

const HELP = `Usage: main.ts sim radar --to HOST:PORT [options]

A radar array pushing CCSDS TDM 2.0 (keyword = value) over TCP, as SPEC §4
describes: one message per ten tracks, one segment per tracked object, five
data lines per observation (RANGE, DOPPLER_INSTANTANEOUS, ANGLE_1, ANGLE_2 in
AZEL, RCS) sharing one timetag. Values come from SGP4 orbits of a bundled
catalogue as seen from a radar site in the central Pacific; timetags advance
monotonically in sim time. Prints a one-line summary on stderr when it stops
(after --count, or on Ctrl-C).

Options:
  --to HOST:PORT          the service's radar listener (required; [::1]:7001 for IPv6)
  --rate OBS_PER_S        observations per second over all connections; 0 (default) = as fast as possible
  --count N               observations to send, then close; 0 (default) = until Ctrl-C
  --sensor ID             PARTICIPANT_1, the radar's id (default XR1)
  --connections N         TCP connections sharing the stream, each with its own messages (default 1)
  --target NORAD          track only this catalogue object (default: every visible object in turn)
  --seed N                seed of the measurement noise (default 1)
  --start ISO             sim time of the first observation, e.g. 2026-11-25T12:00:00Z (default: now)
  --step-us N             sim time between observations in µs (default: 1 s / rate, or 1000)
  --bad-rate F            fraction of observations sent with a corrupt RCS line, 0–1 (default 0)
  --per-segment N         observations per segment (default 100)
  --per-message N         segments per message (default 10)
  --tls                   connect with TLS (implied by --cert or --ca)
  --cert FILE             PEM client certificate to present (with --key)
  --key FILE              PEM private key of --cert
  --ca FILE               PEM CA certificate(s) to trust for the listener (default: the system's)
  --help                  this text
`;

function parseTarget(value: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(value);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !(port >= 1 && port <= 65535)) {
    throw new UsageError(`--to must be HOST:PORT: "${value}"`);
  }
  return { hostname: match[1] ?? match[2], port };
}

/**
 * `sim radar` for `main.ts sim radar …`: parses the options, runs a
 * {@link RadarSim} until `--count` or Ctrl-C, prints a summary on stderr.
 * Exit status 0, 1 when a connection failed; bad options throw `UsageError`.
 *
 * @example Its help text describes every option it parses
 * ```ts
 * import assert from "node:assert/strict";
 * import { radarSim } from "./radar.ts";
 *
 * for (const option of ["--to", "--rate", "--count", "--sensor", "--connections", "--target"]) {
 *   assert.ok(radarSim.help.includes(option));
 * }
 * ```
 */
export const radarSim: Command = {
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values } = parseOptions(args, {
      to: { type: "string" },
      rate: { type: "string" },
      count: { type: "string" },
      sensor: { type: "string" },
      connections: { type: "string" },
      target: { type: "string" },
      seed: { type: "string" },
      start: { type: "string" },
      "step-us": { type: "string" },
      "bad-rate": { type: "string" },
      "per-segment": { type: "string" },
      "per-message": { type: "string" },
      tls: { type: "boolean" },
      cert: { type: "string" },
      key: { type: "string" },
      ca: { type: "string" },
    });
    if ((values.cert === undefined) !== (values.key === undefined)) {
      throw new UsageError("--cert and --key go together");
    }
    let tls: RadarSimTlsOptions | undefined;
    if (values.tls || values.cert !== undefined || values.ca !== undefined) {
      const read = async (option: string, file: string) => {
        try {
          return await Deno.readTextFile(file);
        } catch (error) {
          throw new UsageError(`--${option}: cannot read ${file}: ${(error as Error).message}`);
        }
      };
      tls = {
        caCerts: values.ca === undefined ? undefined : [await read("ca", values.ca)],
        cert: values.cert === undefined ? undefined : await read("cert", values.cert),
        key: values.key === undefined ? undefined : await read("key", values.key),
      };
    }
    if (values.to === undefined) throw new UsageError("--to HOST:PORT is required");
    const { hostname, port } = parseTarget(values.to);
    const startMs = values.start === undefined ? undefined : Date.parse(values.start);
    if (startMs !== undefined && Number.isNaN(startMs)) {
      throw new UsageError(`--start must be an ISO date-time: "${values.start}"`);
    }
    const connections = integerOption(values.connections, "connections", 1);
    const badRate = numberOption(values["bad-rate"], "bad-rate", 0);
    if (connections < 1) throw new UsageError("--connections must be at least 1");
    if (badRate > 1) throw new UsageError("--bad-rate must be between 0 and 1");
    const stepUs = values["step-us"] === undefined
      ? undefined
      : integerOption(values["step-us"], "step-us", 1000);
    if (stepUs === 0) throw new UsageError("--step-us must be at least 1");
    const sensor = values.sensor ?? "XR1";
    let sim: RadarSim;
    try {
      sim = new RadarSim({
        hostname,
        port,
        rate: numberOption(values.rate, "rate", 0),
        count: integerOption(values.count, "count", 0),
        sensor,
        connections,
        target: values.target === undefined ? undefined : integerOption(values.target, "target", 0),
        seed: integerOption(values.seed, "seed", 1),
        startMs,
        stepUs,
        badRate,
        observationsPerSegment: integerOption(values["per-segment"], "per-segment", 100) || 1,
        segmentsPerMessage: integerOption(values["per-message"], "per-message", 10) || 1,
        onConnect: (local) => console.error(`sim radar: connected ${local} -> ${values.to}`),
        tls,
      });
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    const stop = () => sim.stop();
    const signals: Deno.Signal[] = Deno.build.os === "windows" ? ["SIGINT"] : ["SIGINT", "SIGTERM"];
    for (const signal of signals) Deno.addSignalListener(signal, stop);
    const t0 = performance.now();
    let status: number = EXIT.ok;
    try {
      await sim.start();
    } catch (error) {
      console.error(`sim radar: ${(error as Error).message}`);
      status = EXIT.failure;
    } finally {
      for (const signal of signals) Deno.removeSignalListener(signal, stop);
    }
    const seconds = (performance.now() - t0) / 1000;
    const c = sim.counters;
    console.error(
      `sim radar: sent ${c.observations} observations (${(c.bytes / 1e6).toFixed(1)} MB, ` +
        `${c.messages} messages) as ${sensor} over ${c.connections} connection(s) to ` +
        `${values.to} in ${seconds.toFixed(2)} s (${Math.round(c.observations / seconds)} obs/s)`,
    );
    return status;
  },
};

if (import.meta.main) {
  if (Deno.args.includes("--help") || Deno.args.includes("-h")) {
    console.log(HELP);
    Deno.exit(EXIT.ok);
  }
  try {
    Deno.exit(await radarSim.run(Deno.args));
  } catch (error) {
    if (error instanceof UsageError) {
      console.error(`sim radar: ${error.message}\n\n${HELP}`);
      Deno.exit(EXIT.usage);
    }
    throw error;
  }
}
