import assert from "node:assert/strict";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { DurableBatch } from "../../sinks/ingest_sink.ts";
import type { Source, SourceStatus } from "../../sources/source.ts";
import { ServiceMetrics } from "../../service/metrics.ts";
import { StatusBoard } from "../../service/status_board.ts";

function fakeSource(name: string, kind: "radar" | "optical" | "isl", status: () => SourceStatus) {
  return {
    name,
    kind,
    readable: new ReadableStream(),
    started: Promise.resolve(),
    stop: () => Promise.resolve(),
    status,
  } as Source;
}

function board(options: {
  sources: Source[];
  ready?: () => boolean;
  observations?: () => number;
  now: () => number;
  metrics?: ServiceMetrics;
}) {
  let deadLetters = 0;
  const counts = {
    observations: 0,
    duplicates: 0,
    deadLetters: { framing: 0, decoding: 0, validation: 0, transport: 0 },
  };
  return new StatusBoard({
    metrics: options.metrics ?? new ServiceMetrics(),
    sources: () => options.sources,
    pipeline: () =>
      ({
        counts: () => ({ ...counts, observations: options.observations?.() ?? 0 }),
        failure: () => undefined,
        degradation: () => undefined,
      }) as never,
    offsets: () => ({ events: options.observations?.() ?? 0, deadLetters: deadLetters++ * 0 }),
    ready: options.ready ?? (() => true),
    phase: () => "running",
    notReadyReason: () => "event log write failed: No space left on device",
    logs: { events: "e", deadLetters: "d", fsync: "always", fsyncIntervalMs: 100 },
    startedAt: 0,
    now: options.now,
  });
}

Deno.test("StatusBoard rates are observations per second between samples", async () => {
  let t = 0;
  let n = 0;
  const b = board({
    sources: [fakeSource("xr1", "radar", () => ({ state: "up", counters: {} }))],
    observations: () => n,
    now: () => t,
  });
  for (const step of [0, 100, 300, 300]) {
    n += step;
    b.sample();
    t += 1000;
  }
  const doc = await b.document();
  assert.deepEqual(doc.sources[0].rate, [100, 300, 300]);
  assert.equal(doc.sources[0].rate_now, 300);
});

Deno.test("StatusBoard banners a down source, a stalled pipeline and a long silence", async () => {
  let t = 0;
  let n = 0;
  let ready = true;
  const b = board({
    sources: [
      fakeSource("xr1", "radar", () => ({ state: "up", counters: {} })),
      fakeSource(
        "isl",
        "isl",
        () => ({
          state: "down",
          counters: {},
          lastError: "gateway silent",
          lastErrorAt: Date.UTC(2026, 11, 3, 12, 0, 5) * 1000,
        }),
      ),
    ],
    observations: () => n,
    ready: () => ready,
    now: () => t,
  });
  b.sample();
  n = 10;
  for (let i = 0; i < 40; i++) {
    t += 1000;
    b.sample();
  }
  const doc = await b.document();
  assert.equal(doc.sources[1].last_error_at, "2026-12-03T12:00:05.000000Z");
  assert.equal(doc.sources[0].last_error_at, null);
  let texts = doc.banners.map((x) => `${x.level}: ${x.text}`);
  assert.deepEqual(texts, [
    "error: Source isl is down: gateway silent",
    "warning: Nothing written to the logs for 39 s (it was before)",
  ]);
  ready = false;
  texts = (await b.document()).banners.map((x) => `${x.level}: ${x.text}`);
  assert.equal(
    texts[0],
    "error: Pipeline stalled: not ready (/ready answers 503): event log write failed: No space left on device",
  );
});

Deno.test("StatusBoard keeps the last five dead-letter reasons per source, newest first", async () => {
  const b = board({
    sources: [fakeSource("xr1", "radar", () => ({ state: "up", counters: {} }))],
    now: () => 0,
  });
  const letter = (i: number) =>
    ({
      t_rx: `2026-11-25T12:00:0${i}.000000Z`,
      stage: "decoding",
      reason: `bad ${i}`,
    }) as DeadLetter;
  const batch = (letters: DeadLetter[]): DurableBatch => ({
    source: "xr1",
    observations: 0,
    deadLetters: letters.map((l) => l.stage),
    received: [],
    observed: [],
    lastDeadLetters: letters,
  });
  b.observe([batch([letter(1), letter(2), letter(3)]), batch([letter(4), letter(5), letter(6)])]);
  b.sample();
  const doc = await b.document();
  assert.deepEqual(doc.sources[0].recent_dead_letters.map((d) => d.reason), [
    "bad 6",
    "bad 5",
    "bad 4",
    "bad 3",
    "bad 2",
  ]);
});

Deno.test("ServiceMetrics.observeDurable() feeds the per-source age histogram from t_obs runs", async () => {
  const metrics = new ServiceMetrics();
  const now = 1_000_000_000;
  metrics.observeDurable([{
    source: "archive",
    observations: 5,
    deadLetters: [],
    received: [now - 2_000, 5],
    // Two observations 8.5 s old, three 40 s old.
    observed: [now - 8_500_000, 2, now - 40_000_000, 3],
    lastDeadLetters: [],
  }], now);
  const text = await metrics.text();
  assert.match(text, /sda_ingest_observation_age_seconds_bucket\{source="archive",le="5"\} 0/);
  assert.match(text, /sda_ingest_observation_age_seconds_bucket\{source="archive",le="10"\} 2/);
  assert.match(text, /sda_ingest_observation_age_seconds_bucket\{source="archive",le="30"\} 2/);
  assert.match(text, /sda_ingest_observation_age_seconds_bucket\{source="archive",le="45"\} 5/);
  assert.match(text, /sda_ingest_observation_age_seconds_count\{source="archive"\} 5/);
  assert.match(text, /sda_ingest_latency_seconds_count 5/);
  assert.doesNotMatch(text, /sda_ingest_source_latency_seconds/);
});
