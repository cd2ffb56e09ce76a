/**
 * The data behind the status page (`GET /` and `GET /status`): per-source
 * rates over the last five minutes, freshness and latency quantiles, recent
 * dead-letter reasons, positions, log sizes, and banners for what needs an
 * operator.
 *
 * @module
 */

import type { Stage } from "../envelope/dead_letter.ts";
import { formatTimestamp } from "../envelope/time.ts";
import type { DurableBatch } from "../sinks/ingest_sink.ts";
import { redactCursor } from "../sources/redact_url.ts";
import type { Source } from "../sources/source.ts";
import {
  AGE_BUCKETS,
  type DiskUsage,
  LATENCY_BUCKETS,
  type LatencySnapshot,
  quantileBetween,
  type ServiceMetrics,
} from "./metrics.ts";
import type { Pipeline } from "./pipeline.ts";
import { sourceHealth } from "./source_health.ts";

/** Samples kept: one a second for five minutes, plus the one before. */
const HISTORY = 301;
/** Quantiles are computed over this many of the last seconds. */
const QUANTILE_WINDOW_S = 60;
/** Recent dead letters remembered per source. */
const RECENT_LETTERS = 5;
/** Nothing logged for this long, after data flowed, is worth a banner. */
const QUIET_S = 30;

/** What the board reads. */
export interface StatusBoardOptions {
  /** Metrics (histograms). */
  metrics: ServiceMetrics;
  /** The running sources. */
  sources: () => readonly Source[];
  /** Per-source counts. */
  pipeline: () => Pipeline | undefined;
  /** Next offsets of the logs. */
  offsets: () => { events: number; deadLetters: number };
  /** `/ready`. */
  ready: () => boolean;
  /** Service phase. */
  phase: () => "starting" | "running" | "stopping";
  /** Why the service is not ready, when it knows (e.g. the disk is full, or NATS is not up yet). */
  notReadyReason?: () => string | undefined;
  /** The logs' settings. */
  logs: { events: string; deadLetters: string; fsync: string; fsyncIntervalMs: number };
  /** Disk usage of the logs. */
  disk?: () => Promise<Record<string, DiskUsage>>;
  /** Saved source positions by state key (`optical.<name>`, `isl.<name>.<gateway>`). */
  positions?: () => ReadonlyMap<string, unknown>;
  /** Process start, ms since the epoch. */
  startedAt: number;
  /** Cluster mode: this instance's name (a source another instance drives is not degraded here). */
  instance?: string;
  /** Clock, ms (tests). */
  now?: () => number;
}

interface Sample {
  at: number;
  offsets: { events: number; deadLetters: number };
  observations: Map<string, number>;
  age: Map<string, LatencySnapshot>;
  latency: Map<string, LatencySnapshot>;
}

/** One recent dead letter as the page shows it. */
export interface RecentDeadLetter {
  /** Receive time. */
  t_rx: string;
  /** Pipeline stage. */
  stage: Stage;
  /** The reason, as logged. */
  reason: string;
}

/** A banner: something an operator should look at now. */
export interface Banner {
  /** `error` (data is not coming in) or `warning`. */
  level: "error" | "warning";
  /** What, in one sentence. */
  text: string;
}

/**
 * Samples the service once a second (a timer that does not keep the process
 * alive) and answers the status document. Receives the durable batches too,
 * for the last few dead-letter reasons per source.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServiceMetrics } from "./metrics.ts";
 * import { StatusBoard } from "./status_board.ts";
 *
 * const board = new StatusBoard({
 *   metrics: new ServiceMetrics(),
 *   sources: () => [],
 *   pipeline: () => undefined,
 *   offsets: () => ({ events: 0, deadLetters: 0 }),
 *   ready: () => true,
 *   phase: () => "running",
 *   logs: { events: "data/events", deadLetters: "data/dead-letter", fsync: "always", fsyncIntervalMs: 100 },
 *   startedAt: Date.now(),
 * });
 * board.sample();
 * const doc = await board.document();
 * assert.equal(doc.status, "ok");
 * assert.deepEqual(doc.banners, []);
 * ```
 */
export class StatusBoard {
  #options: StatusBoardOptions;
  #now: () => number;
  #samples: Sample[] = [];
  #recent = new Map<string, RecentDeadLetter[]>();
  #timer: ReturnType<typeof setInterval> | undefined;

  /** @param options what to read */
  constructor(options: StatusBoardOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Starts sampling once a second. */
  start(): void {
    if (this.#timer !== undefined) return;
    this.sample();
    const timer = setInterval(() => this.sample(), 1000);
    Deno.unrefTimer(timer);
    this.#timer = timer;
  }

  /** Stops sampling. */
  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** Remembers the last dead letters of written batches: call from `onWritten`. */
  observe(batches: readonly DurableBatch[]): void {
    for (const batch of batches) {
      const letters = batch.lastDeadLetters;
      if (letters === undefined || letters.length === 0) continue;
      let recent = this.#recent.get(batch.source);
      if (recent === undefined) this.#recent.set(batch.source, recent = []);
      for (const letter of letters) {
        recent.push({ t_rx: letter.t_rx, stage: letter.stage, reason: letter.reason });
      }
      if (recent.length > RECENT_LETTERS) recent.splice(0, recent.length - RECENT_LETTERS);
    }
  }

  /** Takes one sample now (the timer calls it every second). */
  sample(): void {
    const { metrics, sources, pipeline, offsets } = this.#options;
    const counts = pipeline();
    const sample: Sample = {
      at: this.#now(),
      offsets: offsets(),
      observations: new Map(),
      age: new Map(),
      latency: new Map(),
    };
    for (const source of sources()) {
      sample.observations.set(source.name, counts?.counts(source.name).observations ?? 0);
      sample.age.set(source.name, metrics.age.child(source.name).snapshot());
      sample.latency.set(source.name, metrics.sourceLatency.child(source.name).snapshot());
    }
    this.#samples.push(sample);
    if (this.#samples.length > HISTORY) this.#samples.splice(0, this.#samples.length - HISTORY);
  }

  /** The status document (`GET /status`). */
  async document(): Promise<StatusDocument> {
    const o = this.#options;
    const now = this.#now();
    const samples = this.#samples;
    const last = samples[samples.length - 1];
    const windowStart = samples[Math.max(0, samples.length - 1 - QUANTILE_WINDOW_S)];
    const counts = o.pipeline();
    const positions = o.positions?.() ?? new Map<string, unknown>();
    const banners: Banner[] = [];
    const phase = o.phase();
    const ready = o.ready();
    const sources: SourceStatusDocument[] = [];
    let degraded = false;
    for (const source of o.sources()) {
      const status = source.status();
      const c = counts?.counts(source.name);
      const standby = status.owner !== undefined && status.owner !== o.instance;
      const health = sourceHealth(source.name, status, counts);
      const state = health.state;
      if (state !== "up" && !standby) degraded = true;
      if (phase === "running" && (state === "down" || state === "degraded")) {
        const why = health.failure ??
          (state === status.state ? status.lastError : health.degradedBy) ?? status.lastError;
        banners.push({
          level: state === "down" ? "error" : "warning",
          text: `Source ${source.name} is ${state}${why ? `: ${why}` : ""}`,
        });
      }
      const rate: number[] = [];
      for (let i = 1; i < samples.length; i++) {
        const dt = (samples[i].at - samples[i - 1].at) / 1000;
        const n = (samples[i].observations.get(source.name) ?? 0) -
          (samples[i - 1].observations.get(source.name) ?? 0);
        rate.push(dt > 0 ? Math.max(0, n / dt) : 0);
      }
      const quantiles = (
        pick: (s: Sample) => Map<string, LatencySnapshot>,
        bounds: readonly number[],
      ) => {
        const after = last && pick(last).get(source.name);
        // A source started after the window's first sample had nothing before it.
        const before = (windowStart && pick(windowStart).get(source.name)) ??
          { buckets: [], count: 0 };
        if (!after) return null;
        const p50 = quantileBetween(before, after, 0.5, bounds);
        const p99 = quantileBetween(before, after, 0.99, bounds);
        return p50 === undefined || p99 === undefined ? null : { p50, p99 };
      };
      const prefix = `${source.kind}.${source.name}`;
      const position: Record<string, unknown> = {};
      for (const [key, saved] of positions) {
        // A cursor is the archive's text: printed redacted (a signed link, a token).
        const value = typeof saved === "string" ? redactCursor(saved) : saved;
        if (key === prefix) position[source.name] = value;
        else if (key.startsWith(`${prefix}.`)) position[key.slice(prefix.length + 1)] = value;
      }
      sources.push({
        name: source.name,
        kind: source.kind,
        state,
        ...(status.owner !== undefined ? { owner: status.owner } : {}),
        last_receive: status.lastReceive === undefined ? null : formatTimestamp(status.lastReceive),
        last_error: status.lastError ?? null,
        last_error_at: status.lastErrorAt === undefined
          ? null
          : formatTimestamp(status.lastErrorAt),
        rate,
        rate_now: rate.length > 0 ? rate[rate.length - 1] : 0,
        observations: c?.observations ?? 0,
        duplicates: c?.duplicates ?? 0,
        dead_letters: c
          ? { ...c.deadLetters }
          : { framing: 0, decoding: 0, validation: 0, transport: 0 },
        recent_dead_letters: [...(this.#recent.get(source.name) ?? [])].reverse(),
        ...(status.lost ? { lost: { ...status.lost } } : {}),
        age_s: quantiles((s) => s.age, AGE_BUCKETS),
        latency_s: quantiles((s) => s.latency, LATENCY_BUCKETS),
        position: source.kind === "radar" ? null : {
          label: source.kind === "optical" ? "cursor" : "watermark",
          values: position,
        },
      });
    }
    const waiting = phase === "starting" ? o.notReadyReason?.() : undefined;
    if (waiting !== undefined) banners.unshift({ level: "warning", text: `Starting: ${waiting}` });
    if (phase === "running" && !ready) {
      const reason = o.notReadyReason?.();
      banners.unshift({
        level: "error",
        text: `Pipeline stalled: not ready (/ready answers 503)${reason ? `: ${reason}` : ""}`,
      });
    }
    const quiet = this.#quietSeconds();
    if (phase === "running" && ready && quiet !== undefined && quiet >= QUIET_S) {
      banners.push({
        level: "warning",
        text: `Nothing written to the logs for ${Math.round(quiet)} s (it was before)`,
      });
    }
    const disk = await o.disk?.().catch(() => undefined);
    const offsets = o.offsets();
    const logOf = (key: "events" | "deadLetters", dir: string) => ({
      dir,
      offset: offsets[key],
      bytes: disk?.[key === "events" ? "events" : "dead_letters"]?.bytes ?? null,
      segments: disk?.[key === "events" ? "events" : "dead_letters"]?.segments ?? null,
    });
    const fs = disk?.events;
    return {
      generated: new Date(now).toISOString(),
      status: phase !== "running" ? phase : degraded || !ready ? "degraded" : "ok",
      ready,
      uptime_s: Math.round((now - o.startedAt) / 1000),
      window_s: QUANTILE_WINDOW_S,
      banners,
      sources,
      logs: {
        fsync: o.logs.fsync,
        fsync_interval_ms: o.logs.fsyncIntervalMs,
        events: logOf("events", o.logs.events),
        dead_letters: logOf("deadLetters", o.logs.deadLetters),
        filesystem: fs?.availableBytes === undefined
          ? null
          : { available_bytes: fs.availableBytes, size_bytes: fs.filesystemBytes ?? null },
      },
    };
  }

  /** Seconds since the logs last grew, when they grew within the history; else undefined. */
  #quietSeconds(): number | undefined {
    const samples = this.#samples;
    const last = samples[samples.length - 1];
    if (last === undefined) return undefined;
    const total = (s: Sample) => s.offsets.events + s.offsets.deadLetters;
    for (let i = samples.length - 2; i >= 0; i--) {
      if (total(samples[i]) !== total(last)) return (last.at - samples[i + 1].at) / 1000;
    }
    return undefined;
  }
}

/** One source in the {@link StatusDocument}. */
export interface SourceStatusDocument {
  /** Configured name. */
  name: string;
  /** `radar`, `optical` or `isl`. */
  kind: string;
  /** Life-cycle state. */
  state: string;
  /** Cluster mode: the instance that runs it. */
  owner?: string;
  /** Last receive time, or null. */
  last_receive: string | null;
  /** Last error in words, or null. */
  last_error: string | null;
  /** When it happened, or null. */
  last_error_at: string | null;
  /** Observations per second, one value per second, oldest first (up to five minutes). */
  rate: number[];
  /** The last value of `rate`. */
  rate_now: number;
  /** Observations logged. */
  observations: number;
  /** Duplicates dropped. */
  duplicates: number;
  /** Dead letters logged by stage. */
  dead_letters: Record<Stage, number>;
  /** The last few dead letters, newest first. */
  recent_dead_letters: RecentDeadLetter[];
  /** ISL: beacons lost by cause. */
  lost?: { gateway: number; link: number; corrupt: number };
  /** Observation age p50/p99 over the window, seconds, or null. */
  age_s: { p50: number; p99: number } | null;
  /** Receive → durable p50/p99 over the window, seconds, or null. */
  latency_s: { p50: number; p99: number } | null;
  /** Optical cursor / ISL watermarks by gateway; null for radar. */
  position: { label: string; values: Record<string, unknown> } | null;
}

/** The `GET /status` document. */
export interface StatusDocument {
  /** When it was made. */
  generated: string;
  /** `ok`, `degraded`, `starting` or `stopping`. */
  status: string;
  /** `/ready`. */
  ready: boolean;
  /** Seconds since start. */
  uptime_s: number;
  /** Seconds the quantiles cover. */
  window_s: number;
  /** What needs an operator now. */
  banners: Banner[];
  /** Per source. */
  sources: SourceStatusDocument[];
  /** The logs. */
  logs: {
    fsync: string;
    fsync_interval_ms: number;
    events: LogStatus;
    dead_letters: LogStatus;
    filesystem: { available_bytes: number; size_bytes: number | null } | null;
  };
}

/** One log in the {@link StatusDocument}. */
export interface LogStatus {
  /** Directory. */
  dir: string;
  /** Next offset. */
  offset: number;
  /** Bytes of segments on disk, or null when not measured. */
  bytes: number | null;
  /** Segment files, or null when not measured. */
  segments: number | null;
}
