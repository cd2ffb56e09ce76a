/**
 * The running service: logs, dedupe window, pipeline, sources, HTTP, NATS,
 * graceful shutdown (SPEC §8, §9).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DeadLetter } from "../envelope/dead_letter.ts";
import type { Observation } from "../envelope/observation.ts";
import { DedupeWindow } from "../operators/dedupe_window.ts";
import type { IngestBatch } from "../operators/ingest_batch.ts";
import { fillDedupeWindow, openDeadLetterLog, openEventLog } from "../sinks/event_log.ts";
import type { LogProblem, SegmentLog } from "../sinks/segment_log.ts";
import type { Source } from "../sources/source.ts";
import { LateWritable } from "../operators/late_writable.ts";
import { serversForLog } from "../sinks/nats_servers.ts";
import { Cluster } from "./cluster/cluster.ts";
import { LeasedSource } from "./cluster/leased_source.ts";
import type { Config, SourceConfig } from "./config.ts";
import { type HttpOptions, serveHttp } from "./http_server.ts";
import { LogDiskUsage } from "./log_disk_usage.ts";
import { type DiskUsage, ServiceMetrics } from "./metrics.ts";
import { Pipeline } from "./pipeline.ts";
import { type CheckpointStore, createSource, type CreateSourceOptions } from "./source_factory.ts";
import { type DirectoryLock, lockDirectory } from "../sinks/dir_lock.ts";
import { StateStore } from "./state_store.ts";
import { StatusBoard } from "./status_board.ts";
import { type DecodePool, startDecodePool } from "./workers/decode_pool.ts";
import { configuredWorkers } from "./workers/configured_workers.ts";

const log = getLogger(["sda-ingest", "service"]);

/**
 * Publishing failing this long makes the service not ready, and state
 * writes failing this long make it degraded (ms): longer than a leader
 * election after a node is lost (a few seconds), which ingestion rides out.
 */
const PUBLISH_STALL_MS = 10_000;

/** A log write that is failing and being retried (see {@link IngestService.logProblem}). */
export interface LogWriteProblem extends LogProblem {
  /** `"events"` or `"dead_letters"`. */
  log: string;
  /** Its directory. */
  dir: string;
}

/** Options for {@link IngestService.start}. */
export interface IngestServiceOptions {
  /** Creates a source from its configuration (default: the real adapters). */
  createSource?: (
    config: SourceConfig,
    state: CheckpointStore,
    options?: CreateSourceOptions,
  ) => Source | Promise<Source>;
  /** Serve HTTP (default true). */
  http?: boolean;
  /** Wraps the pipeline's sink (benchmarks: a sink that stalls on purpose). */
  wrapSink?: (sink: WritableStream<IngestBatch[]>) => WritableStream<IngestBatch[]>;
  /**
   * Gives up starting: in cluster mode the service waits for NATS for as long
   * as it takes, and `start` rejects with the abort reason when this aborts.
   */
  signal?: AbortSignal;
}

/**
 * The service. {@link IngestService.start} opens the logs (recovering a torn
 * tail), rebuilds the dedupe window from the log, starts HTTP, connects NATS
 * when configured, then starts every source; `/ready` turns 200 once all
 * have started. {@link IngestService.stop} is the graceful shutdown of SPEC
 * §8: sources stop accepting and reading and flush their open groups, the
 * pipeline drains, the logs sync and close, state is saved.
 */
export class IngestService {
  /** The configuration it runs. */
  readonly config: Config;
  /** The metrics registry. */
  readonly metrics: ServiceMetrics = new ServiceMetrics();
  /** The event log. */
  readonly events: SegmentLog<Observation>;
  /** The dead-letter log. */
  readonly deadLetters: SegmentLog<DeadLetter>;
  /** The pipeline. */
  readonly pipeline: Pipeline;
  /** Sources, in configuration order. */
  readonly sources: Source[] = [];
  /** What the status page shows (`GET /`, `GET /status`). */
  readonly status: StatusBoard;
  /** The bound HTTP port (useful when configured as 0). */
  httpPort: number | undefined;
  #state: StateStore | undefined;
  /** Held while the service runs: one service per state directory. */
  #stateLock: DirectoryLock | undefined;
  #phase: "starting" | "running" | "stopping" = "starting";
  #ready = false;
  #shutdownHttp: (() => Promise<void>) | undefined;
  #cluster: Cluster | undefined;
  /** Cluster mode: the pipeline's sink, JetStream put in front of the log once connected. */
  #late: LateWritable<IngestBatch[]> | undefined;
  /** While starting: what it waits for (NATS), for /health and the status page. */
  #waiting: string | undefined;
  #stopping: Promise<void> | undefined;
  #startedAt = Date.now();
  #workers: DecodePool | undefined;

  private constructor(
    config: Config,
    events: SegmentLog<Observation>,
    deadLetters: SegmentLog<DeadLetter>,
    dedupe: DedupeWindow,
    wrapSink: IngestServiceOptions["wrapSink"],
  ) {
    this.config = config;
    this.events = events;
    this.deadLetters = deadLetters;
    this.pipeline = new Pipeline({
      events,
      deadLetters,
      dedupe,
      starting: true,
      onWritten: (batches) => {
        this.metrics.observeDurable(batches);
        this.status.observe(batches);
      },
      sink: (logSink) => {
        // Cluster mode: JetStream first, then the local log (see NatsSink),
        // once NATS is connected (the HTTP port is up before).
        let sink = logSink;
        if (config.nats) {
          this.#late = new LateWritable(logSink);
          sink = this.#late.writable;
        }
        return wrapSink ? wrapSink(sink) : sink;
      },
    });
    const usage = [
      ["events", new LogDiskUsage(config.log.dir)],
      ["dead_letters", new LogDiskUsage(config.deadLetter.dir)],
    ] as const;
    const disk = async (): Promise<Record<string, DiskUsage>> =>
      Object.fromEntries(await Promise.all(usage.map(async ([k, u]) => [k, await u.get()])));
    this.status = new StatusBoard({
      metrics: this.metrics,
      sources: () => this.sources,
      pipeline: () => this.pipeline,
      offsets: () => ({ events: events.nextOffset, deadLetters: deadLetters.nextOffset }),
      ready: () => this.ready,
      phase: () => this.#phase,
      notReadyReason: () => this.#waiting ?? this.#publishProblemText(),
      logs: {
        events: config.log.dir,
        deadLetters: config.deadLetter.dir,
        fsync: config.log.fsync,
        fsyncIntervalMs: config.log.fsyncIntervalMs,
      },
      disk,
      positions: () => this.#state?.values() ?? this.#cluster?.positions ?? new Map(),
      startedAt: this.#startedAt,
      instance: config.nats?.instance,
    });
    this.metrics.attach({
      pipeline: this.pipeline,
      sources: () => this.sources,
      events,
      deadLetters,
      ready: () => this.ready,
      disk,
      extra: (): Record<string, number> => {
        const stats = this.#cluster?.publisher.stats;
        return stats
          ? {
            nats_published: stats.published,
            nats_duplicates: stats.duplicates,
            nats_errors: stats.errors,
            nats_refused: stats.refused,
            nats_in_flight: this.#cluster!.publisher.inFlight,
          }
          : {};
      },
      nats: () => this.#cluster?.publisher.stats,
      leases: () => this.#cluster?.leaseMetrics() ?? [],
    });
  }

  /** Starts the service; rejects (after cleaning up) if anything cannot start. */
  static async start(config: Config, options: IngestServiceOptions = {}): Promise<IngestService> {
    const logOptions = {
      segmentBytes: config.log.segmentBytes,
      fsync: config.log.fsync,
      fsyncIntervalMs: config.log.fsyncIntervalMs,
    };
    const events = await openEventLog({ dir: config.log.dir, ...logOptions });
    const deadLetters = await openDeadLetterLog({ dir: config.deadLetter.dir, ...logOptions })
      .catch(async (error) => {
        // Let go of the event log (and its directory's lock) before saying why.
        await events.close().catch(() => {});
        throw error;
      });
    log.info("Event log {dir} open at offset {offset}", {
      dir: config.log.dir,
      offset: events.nextOffset,
    });
    const dedupe = new DedupeWindow(config.dedupe.capacity);
    const service = new IngestService(config, events, deadLetters, dedupe, options.wrapSink);
    try {
      if (options.http ?? true) await service.#serveHttp();
      // With the HTTP port up: /ready answers 503 meanwhile (SPEC §9) and
      // /health says why; nothing reaches the pipeline before it is done.
      service.#waiting = "rebuilding the dedupe window from the log";
      const t0 = performance.now();
      await fillDedupeWindow(config.log.dir, dedupe, { signal: options.signal });
      service.#waiting = undefined;
      log.info("Dedupe window rebuilt from the log: {ids} ids in {ms} ms", {
        ids: dedupe.size,
        ms: Math.round(performance.now() - t0),
      });
      service.#workers = await startDecodePool(configuredWorkers(config));
      options.signal?.throwIfAborted();
      const workers = service.#workers?.size ?? 0;
      if (workers === 0) log.info("Decoding on the main thread", { workers });
      else log.info("Decoding in worker threads: {workers}", { workers });
      service.status.start();
      const cluster = config.nats && await service.#connect(config.nats, options.signal);
      const create = options.createSource ?? createSource;
      // Cluster mode keeps state in KV (through the leases); state.dir is not used.
      const state = cluster
        ? undefined
        : new StateStore(config.state.dir, () => service.events.durableOffset);
      service.#state = state;
      // A second service on the same state files would start from the
      // first one's cursors and watermarks, and both would move them.
      if (state !== undefined && config.sources.some((s) => s.kind !== "radar")) {
        service.#stateLock = await lockDirectory(config.state.dir, "state");
      }
      const userAgent = cluster ? `sda-ingest (${cluster.instance})` : undefined;
      const pool = service.#workers;
      for (const sourceConfig of config.sources) {
        // Cluster mode: pull/poll sources are driven under a lease, radar
        // listeners on every instance (SPEC §12).
        const source = cluster && sourceConfig.kind !== "radar"
          ? cluster.leasedSource(
            sourceConfig,
            (c, store, tenure) =>
              create(c, store, { userAgent, mayRequest: tenure.valid, workers: pool }),
          )
          : await create(
            sourceConfig,
            state ?? new StateStore(config.state.dir),
            pool === undefined ? undefined : { workers: pool },
          );
        service.sources.push(source);
        service.pipeline.add(source.readable, source.name);
      }
      await Promise.all(service.sources.map((s) => s.started));
      service.pipeline.running();
      const mark = state?.loggedUpTo;
      if (mark !== undefined && mark.offset > service.events.nextOffset) {
        // The saved positions cover records the log no longer holds (its
        // newest segment deleted or restored from an older backup): those
        // are read from no source again, and their offsets will be reused.
        log.warn(
          "The events log ends at offset {offset}, but {path} was saved when it held {saved} records: {missing} records the saved positions cover are missing from the log (a segment deleted, or the log restored from an older copy) and will not be read again; restore the log, or remove the state files to read the sources over",
          {
            offset: service.events.nextOffset,
            path: mark.path,
            saved: mark.offset,
            missing: mark.offset - service.events.nextOffset,
          },
        );
      }
      service.#ready = true;
      service.#phase = "running";
      if (service.ready) {
        log.info("Ready: {count} sources started", { count: service.sources.length });
      } else {
        // A full disk at start, say: /ready answers 503 until it clears.
        const publish = service.publishProblem();
        const error = service.events.problem?.error ?? service.deadLetters.problem?.error ??
          (publish === undefined ? undefined : `NATS stream ${publish.stream}: ${publish.error}`);
        log.warn("Started {count} sources, not ready yet: {error}", {
          count: service.sources.length,
          error: error ?? "unknown",
        });
      }
      return service;
    } catch (error) {
      await service.stop().catch(() => {});
      throw error;
    }
  }

  /** Serves /, /status, /metrics, /health and /ready (SPEC §9) on the configured port. */
  async #serveHttp(): Promise<void> {
    const config = this.config;
    const events = this.events;
    const deadLetters = this.deadLetters;
    const { port, shutdown } = await serveHttp({
      metrics: this.metrics,
      sources: () => this.sources,
      pipeline: () => this.pipeline,
      ready: () => this.ready,
      logProblem: () => this.logProblem(),
      publishProblem: () => this.publishProblem(),
      stateProblem: () => this.stateProblem(),
      phase: () => this.#phase,
      offsets: () => ({ events: events.nextOffset, deadLetters: deadLetters.nextOffset }),
      startedAt: this.#startedAt,
      status: this.status,
      instance: config.nats?.instance,
      waiting: () => this.#waiting,
    }, await httpOptions(config));
    this.httpPort = port;
    this.#shutdownHttp = shutdown;
    log.info("HTTP on {scheme}://{hostname}:{port} (/, /status, /metrics, /health, /ready)", {
      scheme: config.http.tls ? "https" : "http",
      hostname: config.http.hostname,
      port,
      token: config.http.tokenEnv === undefined ? "none" : `from ${config.http.tokenEnv}`,
    });
  }

  /**
   * Cluster mode: waits for NATS (saying why in /health meanwhile) until
   * `signal` aborts, then puts JetStream in front of the log.
   */
  async #connect(nats: NonNullable<Config["nats"]>, signal?: AbortSignal): Promise<Cluster> {
    let cluster: Cluster;
    try {
      cluster = await Cluster.connect(nats, {
        signal,
        onWait: (reason) => {
          this.#waiting = reason === undefined
            ? undefined
            : `waiting for NATS ${serversForLog(nats.servers)}: ${reason}`;
        },
      });
    } catch (error) {
      throw signal?.aborted ? error : new Error(
        `Cannot connect to NATS ${serversForLog(nats.servers)}`,
        { cause: error },
      );
    }
    this.#waiting = undefined;
    this.#cluster = cluster;
    this.#late!.use((log) => cluster.sink(log));
    return cluster;
  }

  /**
   * True once the logs are open and every source has started, and while no
   * log write is failing (SPEC §7: a full disk makes the service not ready).
   */
  get ready(): boolean {
    return this.#ready && this.events.problem === undefined &&
      this.deadLetters.problem === undefined && this.publishProblem() === undefined;
  }

  /**
   * Cluster mode: publishing that has failed for {@link PUBLISH_STALL_MS}
   * and is still being retried (the stream deleted or refusing, no quorum):
   * nothing is acknowledged meanwhile, so the service is not ready.
   */
  publishProblem(): { stream: string; error: string; since: number } | undefined {
    const problem = this.#cluster?.publisher.problem;
    if (problem === undefined || Date.now() - problem.since < PUBLISH_STALL_MS) return undefined;
    return { stream: this.config.nats!.stream, ...problem };
  }

  /**
   * Cluster mode: a state write (cursor, watermark) that has failed for
   * {@link PUBLISH_STALL_MS} and is still being retried (the state bucket
   * deleted, say): ingestion goes on, but a restart would resume from
   * older positions.
   */
  stateProblem(): { key: string; error: string; since: number } | undefined {
    const problem = this.#cluster?.state.problem;
    if (problem === undefined || Date.now() - problem.since < PUBLISH_STALL_MS) return undefined;
    return problem;
  }

  #publishProblemText(): string | undefined {
    const problem = this.publishProblem();
    return problem && `cannot publish to NATS stream ${problem.stream}: ${problem.error}`;
  }

  /** The failing log write being retried (disk full), if any: which log, the error, since when. */
  logProblem(): LogWriteProblem | undefined {
    for (
      const [name, log] of [["events", this.events], ["dead_letters", this.deadLetters]] as const
    ) {
      const problem = log.problem;
      if (problem !== undefined) return { log: name, dir: log.dir, ...problem };
    }
    return undefined;
  }

  /** The decode workers, when there are any (`workers`, issue 16). */
  get workers(): DecodePool | undefined {
    return this.#workers;
  }

  /** Resolves when the pipeline has ended (after {@link IngestService.stop}, or on a sink failure). */
  get done(): Promise<void> {
    return this.pipeline.done;
  }

  /**
   * Waits for the pipeline to drain. One that has not after
   * {@link DRAIN_NOTICE_MS} (NATS refusing publishes, a full disk) is said
   * to be waiting, and the leases are released then rather than after it:
   * a standby takes over now (what it reads again is dropped by the
   * duplicate window, and a late cursor save of this instance is fenced by
   * its compare-and-set) instead of whenever the drain ends. A second
   * signal exits at once.
   */
  async #drain(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => {
      timer = setTimeout(() => resolve("late"), DRAIN_NOTICE_MS);
    });
    const done = this.pipeline.done.then(() => "done" as const);
    let first: "done" | "late";
    try {
      first = await Promise.race([done, late]);
    } finally {
      // A failed pipeline rejects the race: the timer must not keep the
      // process alive for 5 s more.
      clearTimeout(timer);
    }
    if (first === "late") {
      const problem = this.#cluster?.publisher.problem?.error ?? this.events.problem?.error ??
        this.deadLetters.problem?.error;
      const leased = this.sources.filter((s) => s instanceof LeasedSource);
      // Fixed words in the template, so they print bare; the error quoted.
      const leases = leased.length === 0 ? "" : "; releasing the leases for a standby";
      log.warn(
        `Stopping: what the sources read is not all written after {seconds} s${
          problem === undefined ? "" : ": {error}"
        }${leases}; send the signal again to exit now`,
        { seconds: DRAIN_NOTICE_MS / 1000, error: problem },
      );
      await Promise.allSettled(leased.map((s) => (s as LeasedSource).releaseLease()));
    }
    await done;
  }

  /**
   * Graceful shutdown: stop sources (no more accepting or reading; open
   * groups flushed), drain the pipeline, sync and close the logs, save state.
   */
  stop(): Promise<void> {
    this.#stopping ??= this.#stop().finally(() => this.#stateLock?.release());
    return this.#stopping;
  }

  async #stop(): Promise<void> {
    this.#phase = "stopping";
    this.#ready = false;
    log.info("Stopping: {count} sources", { count: this.sources.length });
    const results = await Promise.allSettled(this.sources.map((s) => s.stop()));
    for (const [i, result] of results.entries()) {
      if (result.status === "rejected") {
        log.error("Source {source} did not stop cleanly: {error}", {
          source: this.sources[i].name,
          error: String(result.reason),
        });
      }
    }
    this.pipeline.close();
    await this.#drain();
    this.#workers?.close();
    // The last acks were released by the final sync: let the sources save
    // the resume points they cover before the process exits.
    await Promise.allSettled(this.sources.map((s) => s.settled?.()));
    await this.#cluster?.close();
    await this.#shutdownHttp?.();
    this.status.stop();
    for (const source of this.sources) {
      const counts = this.pipeline.counts(source.name);
      const dead = Object.values(counts.deadLetters).reduce((a, b) => a + b, 0);
      const status = source.status();
      // ISL: what was lost, too — the metrics die with the process, and
      // loss lines come at most every 10 s.
      const lost = status.lost;
      log.info(
        "Source {source} final: {logged} observations logged, {duplicates} duplicates dropped, {deadLetters} dead letters" +
          (lost === undefined
            ? ""
            : ", {lostTotal} beacons lost (gateway {lostGateway}, link {lostLink}, corrupt {lostCorrupt})"),
        {
          source: source.name,
          logged: counts.observations,
          duplicates: counts.duplicates,
          deadLetters: dead,
          deadLettersByStage: counts.deadLetters,
          counters: status.counters,
          ...(lost === undefined ? {} : {
            lost,
            lostTotal: lost.gateway + lost.link + lost.corrupt,
            lostGateway: lost.gateway,
            lostLink: lost.link,
            lostCorrupt: lost.corrupt,
          }),
        },
      );
    }
    log.info("Stopped: event log at offset {offset}, dead-letter log at {dead}", {
      offset: this.events.nextOffset,
      dead: this.deadLetters.nextOffset,
    });
  }
}

/** How long a stopping service drains before it says so and releases its leases, ms. */
const DRAIN_NOTICE_MS = 5000;

/**
 * The HTTP port's options: the token is read from its environment variable
 * here, once, and never logged; the TLS files are read at start-up.
 */
async function httpOptions(config: Config): Promise<HttpOptions> {
  const { hostname, port, tokenEnv, tls } = config.http;
  const options: HttpOptions = { hostname, port };
  if (tokenEnv !== undefined) {
    const token = Deno.env.get(tokenEnv);
    // Refuse to start open when a token was asked for.
    if (!token) throw new Error(`Environment variable ${tokenEnv} (http.tokenEnv) is not set`);
    options.token = token;
  }
  if (tls) {
    options.tls = {
      cert: await Deno.readTextFile(tls.certFile),
      key: await Deno.readTextFile(tls.keyFile),
    };
  }
  return options;
}
