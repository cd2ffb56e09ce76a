/**
 * The radar source's transport (SPEC §4, §15): a TCP or TLS listener that
 * radar arrays connect to and push CCSDS TDM over. Framing and decoding are
 * the portable {@link TdmDecodeStream}; TLS is in `_tls_listener_adapter.ts`.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { nowMicros } from "../../envelope/time.ts";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import { MergeStream } from "../../operators/merge_stream.ts";
import type { Source, SourceState, SourceStatus } from "../source.ts";
import type { DecodeContext } from "../decode_context.ts";
import { DEAD_LETTERS_IN_A_ROW } from "../dead_letters_in_a_row.ts";
import { PeerEventLog } from "./_peer_event_log.ts";
import { type HandshakeFailure, type TlsConnection, TlsListener } from "./_tls_listener_adapter.ts";
import { AllowList } from "./allow_list.ts";
import {
  type CertificateProblem,
  ClientCertificateVerifier,
} from "./client_certificate_verifier.ts";
import { type TdmDecodeStats, TdmDecodeStream } from "./tdm_decode_stream.ts";
import type { DecodePool } from "../../service/workers/decode_pool.ts";
import { wireContext } from "../../service/workers/_protocol.ts";

/** TLS for a radar listener (SPEC §15). */
export interface RadarTlsOptions {
  /** PEM certificate chain of the listener. */
  cert: string;
  /** PEM private key of the listener. */
  key: string;
  /**
   * PEM CA certificate(s): when given, a connection is accepted only with a
   * client certificate that chains to one of them and is valid now; its
   * subject CN becomes `provenance.client`.
   */
  clientCa?: string;
}

/** Options for {@link RadarTcpSource}. */
export interface RadarTcpSourceOptions {
  /** The configured source name (`provenance.source`). */
  name: string;
  /** Address to listen on (default `"127.0.0.1"`). */
  hostname?: string;
  /** Port to listen on; 0 picks a free one (see {@link RadarTcpSource.port}). */
  port: number;
  /** Longest line accepted, in bytes without its terminator (default 4096). */
  maxLineBytes?: number;
  /** Close a group after this long without a line on its connection (default 20). */
  groupIdleMs?: number;
  /** Connections open at once; more are accepted and closed at once (default 64). */
  maxConnections?: number;
  /** The receive clock, µs since the Unix epoch (default: the system clock). */
  now?: () => number;
  /** Bytes asked for per socket read (default 65536). */
  readBytes?: number;
  /**
   * Close a connection on which no byte has arrived for this long while the
   * service was reading it (default 600,000), so that idle sockets cannot
   * hold every slot (SPEC §4). Time spent not reading because the pipeline
   * is full does not count.
   */
  idleTimeoutMs?: number;
  /** Speak TLS 1.2+ instead of plain TCP, optionally with client certificates. */
  tls?: RadarTlsOptions;
  /** CIDR ranges of peers that may connect; others are closed before a byte is read. */
  allow?: readonly string[];
  /** Sensor ids this source accepts; any other is a validation dead letter. */
  sensors?: readonly string[];
  /**
   * With `tls.clientCa`: client certificate CN → the sensor ids it may send.
   * A client not listed may send none.
   */
  clients?: Readonly<Record<string, readonly string[]>>;
  /**
   * Decode each connection in one of these workers (issue 16) rather than
   * on the main thread. Not with `now`: a test clock cannot cross threads.
   */
  workers?: DecodePool;
}

/**
 * A connection whose last this many dead letters came without an
 * observation is closed as "not a TDM stream" (SPEC §3): junk must not be
 * turned into dead letters for as long as a peer cares to send it.
 */
export const NOT_TDM_DEAD_LETTERS = DEAD_LETTERS_IN_A_ROW;

/** Bytes of one connection, read on demand. */
interface ByteSocket {
  /** The next bytes, or null at the end. */
  read(): Promise<Uint8Array | null>;
  close(): void;
}

interface Connection {
  socket: ByteSocket;
  peer: string;
  /** The peer's address without the port: what refusals and closures are logged by. */
  host: string;
  controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  reading: boolean;
  /** When the outstanding read began (`performance.now()`), while `reading`. */
  readSince: number;
  ended: boolean;
  bytes: number;
  decoder: Decoder;
  /** Tells a decode worker whether a read is outstanding (the idle rule). */
  onReading: ((on: boolean) => void) | undefined;
  /** When its client certificate chain expires (Unix ms): it is closed then. */
  certificateUntil: number | undefined;
}

/** A connection's decoder, on this thread or in a worker: what is counted of it. */
interface Decoder {
  readonly stats: Readonly<TdmDecodeStats>;
}

const log = getLogger(["sda-ingest", "radar"]);

/** Why a connection ended, as counted (`connections_closed_<reason>`) and logged. */
const CLOSE_REASONS = {
  peer: "closed by the peer",
  idle: "idle: no byte arrived for idleTimeoutMs",
  not_tdm: `not a TDM stream: ${NOT_TDM_DEAD_LETTERS} dead letters in a row and no observation`,
  error: "read error",
  stop: "the source stopped",
  cancelled: "the pipeline cancelled it",
  certificate_expired: "its client certificate (or one of its chain) expired",
} as const;
type CloseReason = keyof typeof CLOSE_REASONS;

/** Why a connection was refused before it was read (`connections_refused_<reason>`). */
const REFUSE_REASONS = [
  "max_connections",
  "stopping",
  "not_allowed",
  // TLS (SPEC §15):
  "not_tls",
  "handshake_failed",
  "handshake_timeout",
  "handshake_closed",
  "handshakes_per_host",
  "no_certificate",
  "untrusted_issuer",
  "expired",
  "not_yet_valid",
  "bad_key_usage",
  "no_identity",
] as const;
type RefuseReason = typeof REFUSE_REASONS[number] | HandshakeFailure | CertificateProblem;

/**
 * TLS handshakes one peer address may have in progress at once: a quarter
 * of the slots (at least 4). A handshake holds a slot for up to 10 s before
 * its client has shown a certificate, so without this one address could
 * hold every slot with stalled ClientHellos; a real sender's handshake takes
 * milliseconds, and even a gateway reconnecting many radars at once is
 * only slowed (refused ones retry), not shut out.
 */
export function handshakesPerHost(maxConnections: number): number {
  return Math.max(4, Math.ceil(maxConnections / 4));
}

/**
 * A listen error that says which source and address it is about ("Address
 * already in use" alone does not, with several listeners), of its own class.
 */
function listenError(error: unknown, name: string, hostname: string, port: number): unknown {
  if (error instanceof Error) {
    error.message = `radar source "${name}" cannot listen on ${hostname}:${port}: ${error.message}`;
  }
  return error;
}

/** The longest a TLS handshake may take (SPEC §15), unless idleTimeoutMs is shorter. */
const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * A radar source: listens on `hostname:port`; every accepted connection is
 * read (only when the pipeline wants more, so a slow log slows the senders
 * through TCP flow control), decoded by its own {@link TdmDecodeStream}, and
 * merged fairly with the others into {@link RadarTcpSource.readable}.
 *
 * `status().counters`: `connections_accepted`, `connections_refused` (all
 * reasons) and `connections_refused_<reason>` (`max_connections`,
 * `stopping`, `not_allowed`; with TLS `not_tls`, `handshake_failed`,
 * `handshake_timeout`, `handshake_closed`, `handshakes_per_host`, `no_certificate`, `untrusted_issuer`, `expired`,
 * `not_yet_valid`, `bad_key_usage`, `no_identity`), `connections_open` and
 * `connections_handshaking` (now, not ever), `connections_closed_<reason>` (`peer`,
 * `idle`, `not_tdm`, `error`, `stop`), `connection_errors`, `reads`,
 * `bytes`, `lines`, `observations`, `dead_letters`. Refusals and closures
 * are logged at most once per peer and reason per minute, with the count.
 *
 * A connection is closed when no byte arrived on it for `idleTimeoutMs`
 * while it was being read, and as "not a TDM stream" once its last
 * {@link NOT_TDM_DEAD_LETTERS} dead letters came without an observation.
 *
 * Security (SPEC §15): with `allow`, a peer outside the ranges is closed at
 * accept, before a byte is read. With `tls`, the listener speaks TLS 1.2+;
 * with `tls.clientCa`, a connection without a client certificate that
 * chains to the CA and is valid now is closed before a line is read, and an
 * accepted one's certificate CN is `provenance.client`. `sensors` and
 * `clients` restrict the sensor ids of the source and of each client.
 *
 * @example Receive one observation over loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { RadarTcpSource } from "./tcp_adapter.ts";
 *
 * const source = new RadarTcpSource({ name: "xr1", port: 0 });
 * await source.started;
 * const conn = await Deno.connect({ hostname: "127.0.0.1", port: source.port });
 * await conn.write(new TextEncoder().encode(
 *   "CCSDS_TDM_VERS = 2.0\nMESSAGE_ID = M1\nMETA_START\nTIME_SYSTEM = UTC\n" +
 *     "PARTICIPANT_1 = XR1\nMETA_STOP\nDATA_START\nRCS = 2026-11-25T12:00:00 1.5\nDATA_STOP\n",
 * ));
 * conn.close();
 * const reader = source.readable.getReader();
 * const { value } = await reader.read();
 * assert.equal(value!.observations[0].provenance.ref, "M1#0@8");
 * assert.deepEqual(value!.observations[0].measurement, { rcs_m2: 1.5 });
 * // stop() resolves once the readable has delivered everything: keep reading.
 * const rest = (async () => { while (!(await reader.read()).done); })();
 * await source.stop();
 * await rest;
 * assert.equal(source.status().state, "stopped");
 * assert.equal(source.status().counters.connections_accepted, 1);
 * ```
 */
export class RadarTcpSource implements Source {
  /** The configured source name. */
  readonly name: string;
  /** Radar observations. */
  readonly kind = "radar" as const;
  /** Batches from every connection, merged. */
  readonly readable: ReadableStream<IngestBatch>;
  /** Resolves once the listener is bound. */
  readonly started: Promise<void>;
  #listener: Deno.TcpListener | undefined;
  #tls: TlsListener | undefined;
  #verifier: ClientCertificateVerifier | undefined;
  #allow: AllowList | undefined;
  #sensors: ReadonlySet<string> | undefined;
  #clients: Map<string, ReadonlySet<string>> | undefined;
  /** Admitted TLS connections whose handshake or verification is not finished: they hold slots. */
  #handshaking = 0;
  /** TLS handshakes in progress by peer address (see {@link handshakesPerHost}). */
  readonly #handshakingBy = new Map<string, number>();
  #merge = new MergeStream<IngestBatch>();
  #mergeReader: ReadableStreamDefaultReader<IngestBatch>;
  #connections = new Set<Connection>();
  #options:
    & Required<
      Omit<RadarTcpSourceOptions, "now" | "tls" | "allow" | "sensors" | "clients" | "workers">
    >
    & Pick<RadarTcpSourceOptions, "now" | "tls" | "allow" | "sensors" | "clients" | "workers">;
  #events: PeerEventLog;
  #sweeper: ReturnType<typeof setInterval> | undefined;
  #sweepMs = 1000;
  #lastSweep = 0;
  #state: SourceState = "starting";
  #lastReceive: number | undefined;
  #lastError: { text: string; at: number } | undefined;
  #counters: Record<string, number> = {
    connections_accepted: 0,
    connections_refused: 0,
    connections_open: 0,
    connection_errors: 0,
    reads: 0,
    bytes: 0,
  };
  /** Decoder counts of connections whose decoder has finished. */
  #finished = { lines: 0, observations: 0, deadLetters: 0 };
  #live = new Set<Decoder>();
  #accepting: Promise<void>;
  #stopping = false;
  #drained: Promise<void>;
  #resolveDrained!: () => void;

  /** Binds the listener (throws if the address is taken) and starts accepting. */
  constructor(options: RadarTcpSourceOptions) {
    this.#options = {
      name: options.name,
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port,
      maxLineBytes: options.maxLineBytes ?? 4096,
      groupIdleMs: options.groupIdleMs ?? 20,
      maxConnections: options.maxConnections ?? 64,
      now: options.now,
      readBytes: options.readBytes ?? 65536,
      idleTimeoutMs: options.idleTimeoutMs ?? 600_000,
      tls: options.tls,
      allow: options.allow,
      sensors: options.sensors,
      clients: options.clients,
      workers: options.now === undefined ? options.workers : undefined,
    };
    const o = this.#options;
    if (typeof o.name !== "string" || o.name === "") {
      throw new TypeError("Cannot create a radar source without a name");
    }
    if (!Number.isInteger(o.port) || o.port < 0 || o.port > 65535) {
      throw new RangeError(`Cannot listen on port ${o.port}: not a TCP port`);
    }
    if (!Number.isInteger(o.maxConnections) || o.maxConnections < 1) {
      throw new RangeError(`maxConnections must be at least 1: ${o.maxConnections}`);
    }
    if (!Number.isInteger(o.readBytes) || o.readBytes < 1) {
      throw new RangeError(`readBytes must be at least 1: ${o.readBytes}`);
    }
    if (!(o.idleTimeoutMs > 0)) {
      throw new RangeError(`idleTimeoutMs must be positive: ${o.idleTimeoutMs}`);
    }
    if (o.clients !== undefined && o.tls?.clientCa === undefined) {
      throw new TypeError("clients needs tls.clientCa: only a client certificate names a client");
    }
    if (o.allow !== undefined) this.#allow = new AllowList(o.allow);
    if (o.sensors !== undefined) this.#sensors = new Set(o.sensors);
    if (o.clients !== undefined) {
      this.#clients = new Map(Object.entries(o.clients).map(([cn, ids]) => [cn, new Set(ids)]));
    }
    if (o.tls?.clientCa !== undefined) {
      this.#verifier = new ClientCertificateVerifier(o.tls.clientCa);
    }
    // Fail now on bad decoder options rather than on the first connection.
    new TdmDecodeStream({
      ctx: { source: o.name, transport: "tcp", peer: "" },
      maxLineBytes: o.maxLineBytes,
      groupIdleMs: o.groupIdleMs,
    });
    this.name = o.name;
    // Every reason from the start, so /metrics shows a zero rather than nothing.
    for (const reason of REFUSE_REASONS) this.#counters[`connections_refused_${reason}`] = 0;
    for (const reason of Object.keys(CLOSE_REASONS)) {
      this.#counters[`connections_closed_${reason}`] = 0;
    }
    this.#events = new PeerEventLog({
      write: (event, host, count, detail, reason) =>
        this.#logEvent(event, host, count, detail, reason),
    });
    if (o.tls === undefined) {
      try {
        this.#listener = Deno.listen({ hostname: o.hostname, port: o.port, transport: "tcp" });
      } catch (error) {
        throw listenError(error, o.name, o.hostname, o.port);
      }
    } else {
      this.#tls = new TlsListener({
        hostname: o.hostname,
        port: o.port,
        cert: o.tls.cert,
        key: o.tls.key,
        requestCert: this.#verifier !== undefined,
        handshakeTimeoutMs: Math.min(HANDSHAKE_TIMEOUT_MS, o.idleTimeoutMs),
        admit: (host) => this.#admit(host),
        secured: (connection, chain) => this.#secured(connection, chain),
        failed: (host, port, reason, detail) => {
          this.#handshakeDone(host);
          this.#refuse(host, reason, `TLS handshake with ${peerOf(host, port)}: ${detail}`);
        },
        gone: () =>
          this.#refuse(
            "unknown",
            "handshake_closed",
            "a peer reset its connection before it was accepted (its address is gone with it)",
          ),
      });
    }
    this.#drained = new Promise((resolve) => (this.#resolveDrained = resolve));
    this.#mergeReader = this.#merge.readable.getReader();
    this.readable = new ReadableStream<IngestBatch>({
      pull: async (controller) => {
        const { done, value } = await this.#mergeReader.read();
        if (done) {
          controller.close();
          this.#resolveDrained();
        } else {
          controller.enqueue(value);
        }
      },
      cancel: async (reason) => {
        this.#stopAccepting();
        this.#stopSweeping();
        await this.#mergeReader.cancel(reason);
        this.#state = "stopped";
        this.#resolveDrained();
        log.info("Radar source {source} cancelled", { source: this.name });
      },
    }, { highWaterMark: 0 });
    const listening = this.#tls?.listening ?? Promise.resolve();
    this.started = listening.then(() => {
      this.#state = "up";
      const security = o.tls === undefined
        ? "plain TCP"
        : this.#verifier === undefined
        ? "TLS"
        : "TLS with client certificates";
      // One template per mode: a placeholder for the mode would be quoted.
      const properties = { source: this.name, hostname: o.hostname, port: this.port, security };
      if (o.tls === undefined) {
        log.info("Radar source {source} listening on {hostname}:{port}", properties);
      } else if (this.#verifier === undefined) {
        log.info("Radar source {source} listening on {hostname}:{port} (TLS)", properties);
      } else {
        log.info(
          "Radar source {source} listening on {hostname}:{port} (TLS, client certificates)",
          properties,
        );
      }
    }, (error) => {
      this.#state = "down";
      this.#error(`Cannot listen on ${o.hostname}:${o.port}: ${(error as Error).message}`);
      throw listenError(error, o.name, o.hostname, o.port);
    });
    if (this.#listener !== undefined) this.#state = "up";
    this.#accepting = this.#listener === undefined ? Promise.resolve() : this.#accept();
    // Checked often enough that a connection outlives its timeout by at most a quarter of it.
    this.#sweepMs = Math.min(1000, Math.max(10, Math.round(o.idleTimeoutMs / 4)));
    this.#lastSweep = performance.now();
    this.#sweeper = setInterval(() => this.#sweep(), this.#sweepMs);
  }

  /** The port the listener is bound to (useful with `port: 0`). */
  get port(): number {
    return this.#listener ? (this.#listener.addr as Deno.NetAddr).port : this.#tls!.port;
  }

  /** Remembers `text` as the last error, with when it happened. */
  #error(text: string): void {
    this.#lastError = { text, at: this.#options.now ? this.#options.now() : nowMicros() };
  }

  /** State, last receive time, last error and counters. */
  status(): SourceStatus {
    let { lines, observations, deadLetters } = this.#finished;
    for (const decoder of this.#live) {
      const s = decoder.stats;
      lines += s.lines;
      observations += s.observations;
      deadLetters += s.deadLetters;
    }
    const status: SourceStatus = {
      state: this.#state,
      counters: {
        ...this.#counters,
        connections_handshaking: this.#handshaking,
        lines,
        observations,
        dead_letters: deadLetters,
      },
    };
    if (this.#lastReceive !== undefined) status.lastReceive = this.#lastReceive;
    if (this.#lastError !== undefined) {
      status.lastError = this.#lastError.text;
      status.lastErrorAt = this.#lastError.at;
    }
    return status;
  }

  /**
   * Graceful stop (SPEC §8): stops accepting and reading, closes every
   * connection, lets each decoder emit its open groups, and resolves once the
   * readable has delivered everything and closed — so the consumer must keep
   * reading until then.
   */
  async stop(): Promise<void> {
    if (!this.#stopping) {
      this.#stopping = true;
      log.info("Radar source {source} stopping: closing {open} connections", {
        source: this.name,
        open: this.#connections.size,
      });
      this.#stopAccepting();
      this.#stopSweeping();
      await this.#accepting;
      for (const connection of this.#connections) this.#end(connection, "stop");
      this.#merge.close();
    }
    await this.#drained;
    this.#events.close();
    this.#state = "stopped";
  }

  #stopSweeping(): void {
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
  }

  /** Closes connections idle for `idleTimeoutMs` while being read (SPEC §4). */
  #sweep(): void {
    const now = performance.now();
    const late = now - this.#lastSweep > 2 * this.#sweepMs;
    this.#lastSweep = now;
    // A sweep that runs late means the process did not run for a while (a GC
    // pause, a long task): reads that completed meanwhile may not have been
    // delivered yet, so "nothing arrived" cannot be told apart. Look again next time.
    if (late) return;
    const timeout = this.#options.idleTimeoutMs;
    const wall = Date.now();
    for (const connection of this.#connections) {
      if (connection.reading && now - connection.readSince >= timeout) {
        this.#end(connection, "idle");
      } else if (connection.certificateUntil !== undefined && wall >= connection.certificateUntil) {
        // Valid when it connected (SPEC §15) is not valid for ever: what
        // it sends after its certificate expired is no longer authenticated.
        this.#end(connection, "certificate_expired");
      }
    }
  }

  /** One line for `count` connection events of one kind from one peer. */
  #logEvent(event: string, host: string, count: number, detail: string, why?: string): void {
    const [kind, reason = why] = event.split(":");
    const times = count === 1 ? "" : ` (${count} times in the last minute)`;
    const properties = { source: this.name, host, reason, count, detail };
    if (kind === "refused") {
      log.warn(
        `Radar source {source} refused a connection from {host}${times}: {detail}`,
        properties,
      );
    } else if (kind === "accepted") {
      log.info(`Radar source {source}: connection from {host}${times}`, properties);
    } else if (reason === "peer" || reason === "stop") {
      log.info(`Radar source {source}: connection from {host} ended${times}: {detail}`, properties);
    } else {
      log.warn(
        `Radar source {source} closed a connection from {host}${times}: {detail}`,
        properties,
      );
    }
  }

  /** Counts a refused connection by reason and logs it (rate-limited). */
  #refuse(host: string, reason: RefuseReason, detail: string): void {
    this.#counters.connections_refused++;
    this.#counters[`connections_refused_${reason}`]++;
    // Once per peer per minute whatever the reasons (SPEC §15); the
    // counters have them all.
    this.#events.note("refused", host, detail, reason);
  }

  #stopAccepting(): void {
    try {
      this.#listener?.close();
    } catch {
      // Already closed.
    }
    this.#tls?.close();
  }

  /**
   * Whether a peer just accepted may take a slot: it must be in `allow` and
   * a slot must be free. Decided before a byte is read from it.
   */
  #admit(host: string): boolean {
    const max = this.#options.maxConnections;
    if (this.#stopping) {
      this.#refuse(host, "stopping", "the source is stopping");
      return false;
    }
    if (this.#allow !== undefined && !this.#allow.allows(host)) {
      this.#refuse(host, "not_allowed", "not in the allow list");
      return false;
    }
    if (this.#connections.size + this.#handshaking >= max) {
      this.#refuse(host, "max_connections", `${max} connections open (maxConnections)`);
      return false;
    }
    if (this.#tls !== undefined) {
      const mine = this.#handshakingBy.get(host) ?? 0;
      const limit = handshakesPerHost(max);
      if (mine >= limit) {
        this.#refuse(
          host,
          "handshakes_per_host",
          `${limit} TLS handshakes from this address in progress already`,
        );
        return false;
      }
      this.#handshakingBy.set(host, mine + 1);
      this.#handshaking++;
    }
    return true;
  }

  /** A TLS handshake admitted by {@link #admit} is over, whichever way. */
  #handshakeDone(host: string): void {
    this.#handshaking--;
    const left = (this.#handshakingBy.get(host) ?? 1) - 1;
    if (left > 0) this.#handshakingBy.set(host, left);
    else this.#handshakingBy.delete(host);
  }

  /** A TLS connection finished its handshake: check its certificate, then read it. */
  async #secured(
    connection: TlsConnection,
    chain: Uint8Array<ArrayBuffer>[],
  ): Promise<void> {
    const host = connection.host;
    const peer = peerOf(host, connection.port);
    let client: string | undefined;
    let until: number | undefined;
    try {
      if (this.#verifier !== undefined) {
        const verdict = await this.#verifier.verify(chain);
        if (!verdict.ok) {
          connection.close();
          this.#refuse(host, verdict.reason, `client certificate from ${peer}: ${verdict.detail}`);
          return;
        }
        client = verdict.client;
        until = verdict.validUntil.getTime();
      }
      if (this.#stopping) {
        connection.close();
        this.#refuse(host, "stopping", "the source is stopping");
        return;
      }
    } finally {
      this.#handshakeDone(host);
    }
    this.#open(connection, peer, host, client, until);
  }

  async #accept(): Promise<void> {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await this.#listener!.accept();
      } catch (error) {
        if (this.#stopping || error instanceof Deno.errors.BadResource) return;
        // E.g. out of file descriptors: say so, and do not spin.
        const text = `Cannot accept a connection: ${(error as Error).message}`;
        this.#error(text);
        log.error("Radar source {source}: {error}", { source: this.name, error: text });
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      const remote = conn.remoteAddr as Deno.NetAddr;
      const host = remote.hostname;
      if (!this.#admit(host)) {
        try {
          conn.close();
        } catch {
          // Gone already.
        }
        continue;
      }
      const readBytes = this.#options.readBytes;
      const socket: ByteSocket = {
        read: async () => {
          const buffer = new Uint8Array(readBytes);
          const n = await conn.read(buffer);
          return n === null ? null : buffer.subarray(0, n);
        },
        close: () => conn.close(),
      };
      this.#open(socket, peerOf(host, remote.port), host);
    }
  }

  #open(
    socket: ByteSocket,
    peer: string,
    host: string,
    client?: string,
    certificateUntil?: number,
  ): void {
    const o = this.#options;
    const counters = this.#counters;
    counters.connections_accepted++;
    counters.connections_open++;
    const ctx: DecodeContext = { source: this.name, transport: "tcp", peer, now: o.now };
    if (client !== undefined) ctx.client = client;
    if (this.#sensors !== undefined) ctx.sensors = this.#sensors;
    if (this.#clients !== undefined && client !== undefined) {
      ctx.clientSensors = this.#clients.get(client) ?? new Set();
    }
    let decoder: ReadableWritablePair<IngestBatch, Uint8Array> & Decoder;
    let onReading: ((on: boolean) => void) | undefined;
    if (o.workers !== undefined) {
      const channel = o.workers.stream({
        kind: "tdm",
        ctx: wireContext(ctx),
        maxLineBytes: o.maxLineBytes,
        groupIdleMs: o.groupIdleMs,
        incompleteLastLine: "dead-letter",
      }, { tracksReads: true });
      decoder = channel;
      onReading = (on) => channel.reading(on);
    } else {
      decoder = new TdmDecodeStream({
        ctx,
        maxLineBytes: o.maxLineBytes,
        groupIdleMs: o.groupIdleMs,
        // A line cut by the connection closing may hold a truncated value.
        incompleteLastLine: "dead-letter",
        // Quiet means the sender paused while we were reading, not that we
        // stopped reading because the pipeline is full.
        waitingSince: () => (connection.reading ? connection.readSince : undefined),
      });
    }
    const connection: Connection = {
      socket,
      peer,
      host,
      controller: undefined,
      reading: false,
      readSince: 0,
      ended: false,
      bytes: 0,
      decoder,
      onReading,
      certificateUntil,
    };
    this.#connections.add(connection);
    this.#live.add(decoder);
    this.#events.note(
      "accepted",
      host,
      client === undefined ? `from ${peer}` : `from ${peer} (client ${client})`,
    );
    const bytes = new ReadableStream<Uint8Array>({
      start: (controller) => {
        connection.controller = controller;
      },
      // The socket is read only here, i.e. only when the decoder downstream
      // has room: a stalled pipeline leaves data in the kernel buffers and
      // TCP flow control stops the sender.
      pull: async (controller) => {
        if (connection.ended) {
          controller.close();
          return;
        }
        if (decoder.stats.deadLettersInARow >= NOT_TDM_DEAD_LETTERS) {
          // #end() closes this stream: it is not being read.
          this.#end(connection, "not_tdm");
          return;
        }
        let chunk: Uint8Array | null;
        connection.reading = true;
        connection.readSince = performance.now();
        connection.onReading?.(true);
        try {
          chunk = await socket.read();
        } catch (error) {
          connection.reading = false;
          connection.onReading?.(false);
          if (connection.ended) {
            // stop() closed the socket under this read.
            controller.close();
          } else {
            counters.connection_errors++;
            this.#error(`Connection from ${peer} failed: ${(error as Error).message}`);
            this.#end(connection, "error");
          }
          return;
        }
        connection.reading = false;
        connection.onReading?.(false);
        if (chunk === null) {
          if (connection.ended) controller.close();
          else this.#end(connection, "peer");
          return;
        }
        const n = chunk.length;
        counters.reads++;
        counters.bytes += n;
        connection.bytes += n;
        this.#lastReceive = o.now ? o.now() : nowMicros();
        // What was read is decoded even when stop() came during the read.
        controller.enqueue(chunk);
        if (connection.ended) controller.close();
      },
      cancel: () => {
        this.#end(connection, "cancelled");
      },
    }, { highWaterMark: 0 });
    const batches = bytes.pipeThrough(decoder);
    // Count the decoder's work once it has flushed (the merge reads it to the end).
    const counted = batches.pipeThrough(
      new TransformStream<IngestBatch, IngestBatch>({
        transform: (batch, controller) => {
          controller.enqueue(batch);
          // A worker's counts arrive with its batches, after the next read
          // has begun: checked only before a read, a junk sender that then
          // waited kept its connection (SPEC §3) for as long as it liked.
          if (
            !connection.ended && decoder.stats.deadLettersInARow >= NOT_TDM_DEAD_LETTERS
          ) {
            this.#end(connection, "not_tdm");
          }
        },
        flush: () => this.#retire(decoder),
        cancel: () => this.#retire(decoder),
      } as Transformer<IngestBatch, IngestBatch>),
    );
    this.#merge.add(counted);
  }

  /** Moves a finished decoder's counts into the totals. */
  #retire(decoder: Decoder): void {
    if (!this.#live.delete(decoder)) return;
    const s = decoder.stats;
    this.#finished.lines += s.lines;
    this.#finished.observations += s.observations;
    this.#finished.deadLetters += s.deadLetters;
  }

  /**
   * Ends a connection's byte stream and closes its socket. The decoder then
   * sees the end of its input and emits what it holds (SPEC §4: a connection
   * closed mid-message loses nothing that was fully received).
   */
  #end(connection: Connection, why: CloseReason): void {
    if (connection.ended) return;
    connection.ended = true;
    this.#connections.delete(connection);
    this.#counters.connections_open--;
    this.#counters[`connections_closed_${why}`]++;
    try {
      connection.socket.close();
    } catch {
      // Closed already.
    }
    // A pending read rejects now that the socket is closed, and its pull()
    // closes the stream; otherwise close it here.
    if (!connection.reading) {
      try {
        connection.controller?.close();
      } catch {
        // Cancelled or closed already.
      }
    }
    this.#events.note(
      `closed:${why}`,
      connection.host,
      `${CLOSE_REASONS[why]}; ${connection.peer} after ${connection.bytes} bytes`,
    );
  }
}

function peerOf(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}
