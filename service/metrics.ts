/**
 * Prometheus metrics of the service (SPEC §9), in the text format, through
 * `prom-client`. Counters are read from the components at scrape time (the
 * components count in plain numbers on their hot paths); only the latency
 * histogram is fed as batches become durable.
 *
 * @module
 */

import client from "prom-client";
import { nowMicros } from "../envelope/time.ts";
import type { DurableBatch } from "../sinks/ingest_sink.ts";
import type { SegmentLogStats } from "../sinks/segment_log.ts";
import type { Source } from "../sources/source.ts";
import type { Pipeline } from "./pipeline.ts";
import { sourceHealth } from "./source_health.ts";

/**
 * Source counters that go down as well as up (connections now, not ever):
 * a gauge, by state, rather than a counter Prometheus would take for resets.
 */
const CONNECTION_GAUGES = new Map([
  ["connections_open", "open"],
  ["connections_handshaking", "handshake"],
]);
/** The prefix of a source counter of refused connections, before the reason. */
const REFUSED = "connections_refused_";

/** Upper bounds of the latency histogram, seconds. */
export const LATENCY_BUCKETS: readonly number[] = [
  0.00025,
  0.0005,
  0.00075,
  0.001,
  0.0015,
  0.002,
  0.003,
  0.005,
  0.0075,
  0.01,
  0.015,
  0.02,
  0.03,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
];

/**
 * Upper bounds of the observation-age histogram (durable − `t_obs`),
 * seconds: from a radar's milliseconds to an archive that publishes hours
 * late; 30 s (the fusion service's detection budget) is a bound, so an alert
 * on it is exact.
 */
export const AGE_BUCKETS: readonly number[] = [
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  15,
  20,
  30,
  45,
  60,
  120,
  300,
  600,
  1800,
  3600,
  21600,
  86400,
];

/**
 * A Prometheus histogram that records many observations of one value in one
 * call. prom-client's `Histogram.observe()` takes one observation at a time
 * (~190 ns each, measured) and the ingest path hands over whole batches that
 * share one receive time; this keeps the cost per batch. It is registered in
 * the prom-client registry as a metric, which renders it in the text format.
 */
export class WeightedHistogram {
  /** Metric name. */
  readonly name: string;
  /** Help text. */
  readonly help: string;
  #bounds: readonly number[];
  #counts: number[];
  #sum = 0;
  #count = 0;

  /** @param bounds upper bounds of the buckets, ascending (+Inf is implicit) */
  constructor(name: string, help: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.#bounds = bounds;
    this.#counts = new Array(bounds.length + 1).fill(0);
  }

  /** Records `count` observations of `value`. */
  observe(value: number, count = 1): void {
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]) i++;
    this.#counts[i] += count;
    this.#sum += value * count;
    this.#count += count;
  }

  /** Upper bounds of the buckets (+Inf is implicit). */
  get bounds(): readonly number[] {
    return this.#bounds;
  }

  /** Cumulative counts per bucket (then +Inf) and the total. */
  snapshot(): LatencySnapshot {
    const buckets: number[] = [];
    let cumulative = 0;
    for (const n of this.#counts) buckets.push(cumulative += n);
    return { buckets, count: this.#count };
  }

  /** Samples in the prom-client layout, each with `labels` added. */
  samples(labels: Record<string, string> = {}): HistogramSample[] {
    const { buckets, count } = this.snapshot();
    const values: HistogramSample[] = buckets.map((value, i) => ({
      metricName: `${this.name}_bucket`,
      labels: { ...labels, le: i < this.#bounds.length ? this.#bounds[i] : "+Inf" },
      value,
    }));
    values.push({ metricName: `${this.name}_sum`, labels, value: this.#sum });
    values.push({ metricName: `${this.name}_count`, labels, value: count });
    return values;
  }

  /** The prom-client metric interface: values in the histogram layout. */
  get(): HistogramMetric {
    return {
      name: this.name,
      help: this.help,
      type: "histogram",
      aggregator: "sum",
      values: this.samples(),
    };
  }
}

/** One sample of a histogram in prom-client's layout. */
export interface HistogramSample {
  /** `name_bucket`, `name_sum` or `name_count`. */
  metricName: string;
  /** Its labels. */
  labels: Record<string, string | number>;
  /** Its value. */
  value: number;
}

/** A histogram as prom-client renders it. */
export interface HistogramMetric {
  /** Metric name. */
  name: string;
  /** Help text. */
  help: string;
  /** Always `"histogram"`. */
  type: "histogram";
  /** How cluster workers' values combine. */
  aggregator: "sum";
  /** Every sample. */
  values: HistogramSample[];
}

/**
 * {@link WeightedHistogram}s by the value of one label (e.g. `source`),
 * rendered as one metric family.
 */
export class LabelledHistogram {
  /** Metric name. */
  readonly name: string;
  /** Help text. */
  readonly help: string;
  /** The label that tells the histograms apart. */
  readonly label: string;
  #bounds: readonly number[];
  #children = new Map<string, WeightedHistogram>();

  /** @param bounds upper bounds of the buckets, ascending (+Inf is implicit) */
  constructor(name: string, help: string, label: string, bounds: readonly number[]) {
    this.name = name;
    this.help = help;
    this.label = label;
    this.#bounds = bounds;
  }

  /** The histogram of one label value (created empty on first use). */
  child(value: string): WeightedHistogram {
    let child = this.#children.get(value);
    if (child === undefined) {
      child = new WeightedHistogram(this.name, this.help, this.#bounds);
      this.#children.set(value, child);
    }
    return child;
  }

  /** The prom-client metric interface. */
  get(): HistogramMetric {
    const values: HistogramSample[] = [];
    for (const [value, child] of this.#children) {
      values.push(...child.samples({ [this.label]: value }));
    }
    return { name: this.name, help: this.help, type: "histogram", aggregator: "sum", values };
  }
}

/** What the metrics read of a log. */
export interface LogCounters {
  /** Next offset to be written. */
  readonly nextOffset: number;
  /** Write counters. */
  readonly stats: Readonly<SegmentLogStats>;
}

/** What the metrics are read from. */
export interface MetricsSources {
  /** The pipeline (per-source counts). */
  pipeline: Pipeline;
  /** The running sources. */
  sources: () => readonly Source[];
  /** The event log. */
  events: LogCounters;
  /** The dead-letter log. */
  deadLetters: LogCounters;
  /** Extra collectors, e.g. the NATS sink's counters. */
  extra?: () => Record<string, number>;
  /** True once the logs are open and every source has started (`/ready`). */
  ready?: () => boolean;
  /** Bytes on disk of each log and the free space of its filesystem. */
  disk?: () => Promise<Record<string, DiskUsage>>;
  /** Cluster mode: JetStream publish counters. */
  nats?: () => { published: number; errors: number; refused: number } | undefined;
  /** Cluster mode: the lease of every leased source. */
  leases?: () => readonly { source: string; owned: boolean; changes: number }[];
}

/**
 * The service's metrics registry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServiceMetrics } from "./metrics.ts";
 *
 * const metrics = new ServiceMetrics();
 * metrics.observeLatency(0.003, 10);
 * const text = await metrics.text();
 * assert.match(text, /sda_ingest_latency_seconds_count 10/);
 * ```
 */
export class ServiceMetrics {
  /** The prom-client registry. */
  readonly registry: client.Registry = new client.Registry();
  /** Receive → durable in the log, seconds. */
  readonly latency: WeightedHistogram;
  /** The same per source: not exported (the SPEC's metric has no labels), for the status page. */
  readonly sourceLatency: LabelledHistogram;
  /** Durable − `t_obs` per source, seconds: how fresh what the log holds is. */
  readonly age: LabelledHistogram;
  #from: MetricsSources | undefined;

  /** Creates the registry; {@link ServiceMetrics.attach} connects it to a running service. */
  constructor() {
    const registers = [this.registry];
    // collect() runs with `this` bound to the metric; reach the service through a closure.
    const attached = () => this.#from;
    this.latency = new WeightedHistogram(
      "sda_ingest_latency_seconds",
      "Receive → durable in the event log: after fdatasync with fsync always, " +
        "after the write with interval or never (what those modes promise)",
      LATENCY_BUCKETS,
    );
    // deno-lint-ignore no-explicit-any
    this.registry.registerMetric(this.latency as any);
    this.sourceLatency = new LabelledHistogram(
      "sda_ingest_source_latency_seconds",
      "Receive → durable per source",
      "source",
      LATENCY_BUCKETS,
    );
    this.age = new LabelledHistogram(
      "sda_ingest_observation_age_seconds",
      "Observation age when durable in the event log: durable time − t_obs, per source " +
        "(a t_obs in the future counts as 0)",
      "source",
      AGE_BUCKETS,
    );
    // deno-lint-ignore no-explicit-any
    this.registry.registerMetric(this.age as any);
    new client.Counter({
      name: "sda_ingest_observations_total",
      help: "Observations durable in the event log",
      labelNames: ["source", "kind"],
      registers,
      collect() {
        this.reset();
        const from = attached();
        if (!from) return;
        for (const source of from.sources()) {
          const counts = from.pipeline.counts(source.name);
          this.inc({ source: source.name, kind: source.kind }, counts.observations);
        }
      },
    });
    new client.Counter({
      name: "sda_ingest_dead_letters_total",
      help: "Dead letters durable in the dead-letter log, by pipeline stage",
      labelNames: ["source", "stage"],
      registers,
      collect() {
        this.reset();
        const from = attached();
        if (!from) return;
        for (const source of from.sources()) {
          const counts = from.pipeline.counts(source.name).deadLetters;
          for (const [stage, n] of Object.entries(counts)) {
            this.inc({ source: source.name, stage }, n);
          }
        }
      },
    });
    new client.Counter({
      name: "sda_ingest_duplicates_total",
      help: "Observations dropped because their id was already logged (intended, not loss)",
      labelNames: ["source"],
      registers,
      collect() {
        this.reset();
        const from = attached();
        if (!from) return;
        for (const source of from.sources()) {
          this.inc({ source: source.name }, from.pipeline.counts(source.name).duplicates);
        }
      },
    });
    new client.Counter({
      name: "sda_ingest_isl_lost_total",
      help:
        "ISL beacons counted lost: gateway ring overrun, link sequence gap, or delivered corrupt in 3 answers in a row",
      labelNames: ["source", "cause"],
      registers,
      collect() {
        this.reset();
        const from = attached();
        if (!from) return;
        for (const source of from.sources()) {
          const lost = source.status().lost;
          if (source.kind !== "isl" || lost === undefined) continue;
          for (const [cause, n] of Object.entries(lost)) {
            this.inc({ source: source.name, cause }, n);
          }
        }
      },
    });
    new client.Gauge({
      name: "sda_ingest_source_up",
      help:
        "1 when the source is up, 0 when starting, degraded (all its recent inputs dead letters, too), down (failed in the pipeline, too) or stopped",
      labelNames: ["source"],
      registers,
      collect() {
        this.reset();
        const from = attached();
        for (const source of from?.sources() ?? []) {
          const { state } = sourceHealth(source.name, source.status(), from?.pipeline);
          this.set({ source: source.name }, state === "up" ? 1 : 0);
        }
      },
    });
    new client.Counter({
      name: "sda_ingest_source_events_total",
      help: "Source-specific counters (connections, reads, requests, polls, timeouts, …)",
      labelNames: ["source", "event"],
      registers,
      collect() {
        this.reset();
        for (const source of attached()?.sources() ?? []) {
          for (const [event, n] of Object.entries(source.status().counters)) {
            if (!CONNECTION_GAUGES.has(event)) this.inc({ source: source.name, event }, n);
          }
        }
      },
    });
    new client.Gauge({
      name: "sda_ingest_connections",
      help: "Radar connections holding a slot now (of maxConnections): being read " +
        '(state="open") or in their TLS handshake (state="handshake")',
      labelNames: ["source", "state"],
      registers,
      collect() {
        this.reset();
        for (const source of attached()?.sources() ?? []) {
          for (const [event, n] of Object.entries(source.status().counters)) {
            const state = CONNECTION_GAUGES.get(event);
            if (state !== undefined) this.set({ source: source.name, state }, n);
          }
        }
      },
    });
    new client.Counter({
      name: "sda_ingest_connections_refused_total",
      help: "Connections closed before a line was read, by reason (SPEC §15: no certificate, " +
        "untrusted issuer, expired, not in the allow list, maxConnections, …)",
      labelNames: ["source", "reason"],
      registers,
      collect() {
        this.reset();
        for (const source of attached()?.sources() ?? []) {
          for (const [event, n] of Object.entries(source.status().counters)) {
            if (!event.startsWith(REFUSED)) continue;
            this.inc({ source: source.name, reason: event.slice(REFUSED.length) }, n);
          }
        }
      },
    });
    new client.Gauge({
      name: "sda_ingest_source_last_receive_timestamp_seconds",
      help: "When the source last received data (Unix time)",
      labelNames: ["source"],
      registers,
      collect() {
        this.reset();
        for (const source of attached()?.sources() ?? []) {
          const last = source.status().lastReceive;
          if (last !== undefined) this.set({ source: source.name }, last / 1e6);
        }
      },
    });
    new client.Gauge({
      name: "sda_ingest_log_offset",
      help: "Next offset to be written in the event log",
      registers,
      collect() {
        const from = attached();
        if (from) this.set(from.events.nextOffset);
      },
    });
    new client.Gauge({
      name: "sda_ingest_dead_letter_log_offset",
      help: "Next offset to be written in the dead-letter log",
      registers,
      collect() {
        const from = attached();
        if (from) this.set(from.deadLetters.nextOffset);
      },
    });
    new client.Counter({
      name: "sda_ingest_log_fsyncs_total",
      help: "fdatasync calls on the event log",
      registers,
      collect() {
        this.reset();
        const from = attached();
        if (from) this.inc(from.events.stats.syncs);
      },
    });
    new client.Counter({
      name: "sda_ingest_log_bytes_total",
      help: "Bytes appended to the event log since start",
      registers,
      collect() {
        this.reset();
        const from = attached();
        if (from) this.inc(from.events.stats.bytes);
      },
    });
    new client.Gauge({
      name: "sda_ingest_ready",
      help: "1 when the logs are open and every source has started (/ready answers 200), else 0",
      registers,
      collect() {
        const ready = attached()?.ready;
        if (ready) this.set(ready() ? 1 : 0);
      },
    });
    const disk = (name: string, help: string, pick: (usage: DiskUsage) => number | undefined) =>
      new client.Gauge({
        name,
        help,
        labelNames: ["log"],
        registers,
        async collect() {
          this.reset();
          const usage = await attached()?.disk?.();
          for (const [log, u] of Object.entries(usage ?? {})) {
            const value = pick(u);
            if (value !== undefined) this.set({ log }, value);
          }
        },
      });
    disk(
      "sda_ingest_log_disk_bytes",
      "Bytes of the log's segment files on disk",
      (u) => u.bytes,
    );
    disk(
      "sda_ingest_log_filesystem_avail_bytes",
      "Bytes available to the service on the log directory's filesystem",
      (u) => u.availableBytes,
    );
    disk(
      "sda_ingest_log_filesystem_size_bytes",
      "Size of the log directory's filesystem, bytes",
      (u) => u.filesystemBytes,
    );
    new client.Gauge({
      name: "sda_ingest_lease_owned",
      help: "Cluster mode: 1 on the instance that holds the source's lease, 0 elsewhere",
      labelNames: ["source"],
      registers,
      collect() {
        this.reset();
        for (const lease of attached()?.leases?.() ?? []) {
          this.set({ source: lease.source }, lease.owned ? 1 : 0);
        }
      },
    });
    new client.Counter({
      name: "sda_ingest_lease_changes_total",
      help: "Cluster mode: times this instance won or lost the source's lease",
      labelNames: ["source"],
      registers,
      collect() {
        this.reset();
        for (const lease of attached()?.leases?.() ?? []) {
          this.inc({ source: lease.source }, lease.changes);
        }
      },
    });
    new client.Counter({
      name: "sda_ingest_nats_published_total",
      help: "Cluster mode: observations JetStream acknowledged (duplicates included)",
      registers,
      collect() {
        this.reset();
        const stats = attached()?.nats?.();
        if (stats) this.inc(stats.published);
      },
    });
    new client.Counter({
      name: "sda_ingest_nats_publish_errors_total",
      help: "Cluster mode: failed JetStream publish attempts (each retried until acknowledged)",
      registers,
      collect() {
        this.reset();
        const stats = attached()?.nats?.();
        if (stats) this.inc(stats.errors);
      },
    });
    new client.Counter({
      name: "sda_ingest_nats_publish_refused_total",
      help:
        "Cluster mode: observations larger than the server's max_payload, never published (in the local log only)",
      registers,
      collect() {
        this.reset();
        const stats = attached()?.nats?.();
        if (stats) this.inc(stats.refused);
      },
    });
    new client.Gauge({
      name: "sda_ingest_component_value",
      help: "Other component counters (e.g. NATS publishing)",
      labelNames: ["name"],
      registers,
      collect() {
        this.reset();
        for (const [name, n] of Object.entries(attached()?.extra?.() ?? {})) {
          this.set({ name }, n);
        }
      },
    });
  }

  /** Connects the collectors to a running service. */
  attach(from: MetricsSources): void {
    this.#from = from;
  }

  /** Records `count` observations that took `seconds` from receive to durable. */
  observeLatency(seconds: number, count = 1): void {
    this.latency.observe(seconds, count);
  }

  /**
   * Latency and age of written batches: call from the pipeline's
   * `onWritten`. Work is per run of equal times, not per observation.
   */
  observeDurable(batches: readonly DurableBatch[], now = nowMicros()): void {
    for (const batch of batches) {
      const runs = batch.received;
      if (runs.length > 0) {
        const source = this.sourceLatency.child(batch.source);
        for (let i = 0; i < runs.length; i += 2) {
          const seconds = Math.max(0, now - runs[i]) / 1e6;
          this.observeLatency(seconds, runs[i + 1]);
          source.observe(seconds, runs[i + 1]);
        }
      }
      const observed = batch.observed;
      if (observed !== undefined && observed.length > 0) {
        const age = this.age.child(batch.source);
        for (let i = 0; i < observed.length; i += 2) {
          age.observe(Math.max(0, now - observed[i]) / 1e6, observed[i + 1]);
        }
      }
    }
  }

  /** The metrics in the Prometheus text format. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of {@link ServiceMetrics.text}. */
  get contentType(): string {
    return this.registry.contentType;
  }
}

/** What a log takes on disk (see `LogDiskUsage`). */
export interface DiskUsage {
  /** Bytes of its segment files. */
  bytes: number;
  /** Segment files. */
  segments: number;
  /** Bytes available to the service on its filesystem (undefined when statfs is not allowed). */
  availableBytes?: number;
  /** Size of its filesystem, bytes (undefined when statfs is not allowed). */
  filesystemBytes?: number;
}

/** Cumulative latency histogram counts, to compute quantiles over an interval. */
export interface LatencySnapshot {
  /** Cumulative counts per bucket (same order as {@link LATENCY_BUCKETS}, then +Inf). */
  buckets: number[];
  /** Total count. */
  count: number;
}

/**
 * The q-quantile of the observations between two snapshots, interpolated
 * linearly within a bucket (as Prometheus' `histogram_quantile` does);
 * undefined when nothing was observed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LATENCY_BUCKETS, quantileBetween } from "./metrics.ts";
 *
 * const zero = { buckets: LATENCY_BUCKETS.map(() => 0).concat(0), count: 0 };
 * // 100 observations, all in the first bucket (≤ 0.25 ms).
 * const after = { buckets: zero.buckets.map(() => 100), count: 100 };
 * assert.equal(quantileBetween(zero, after, 0.5), 0.000125);
 * assert.equal(quantileBetween(zero, zero, 0.99), undefined);
 * ```
 */
export function quantileBetween(
  before: LatencySnapshot,
  after: LatencySnapshot,
  q: number,
  bounds: readonly number[] = LATENCY_BUCKETS,
): number | undefined {
  const total = after.count - before.count;
  if (total <= 0) return undefined;
  const rank = q * total;
  let previous = 0;
  for (let i = 0; i < after.buckets.length; i++) {
    const cumulative = after.buckets[i] - (before.buckets[i] ?? 0);
    if (cumulative >= rank) {
      // Above the last bound there is no upper edge: report the last bound, as Prometheus does.
      if (i >= bounds.length) return bounds[bounds.length - 1];
      const upper = bounds[i];
      const lower = i === 0 ? 0 : bounds[i - 1];
      const inBucket = cumulative - previous;
      return inBucket === 0 ? upper : lower + (upper - lower) * ((rank - previous) / inBucket);
    }
    previous = cumulative;
  }
  return bounds[bounds.length - 1];
}
