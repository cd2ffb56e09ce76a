/**
 * Radar benchmarks (issue 3).
 *
 * Decoder alone: deno bench --allow-read --allow-write bench/radar_bench.ts
 *
 * Each iteration decodes the same simulated radar stream of DATA_LINES KVN
 * data lines (5 per observation, one segment per 100 observations, one
 * message per 10 segments): data lines/s = DATA_LINES / time per iteration.
 */

import { DedupeWindow } from "../operators/dedupe_window.ts";
import { Pipeline } from "../service/pipeline.ts";
import { openDeadLetterLog, openEventLog } from "../sinks/event_log.ts";
import type { FsyncMode } from "../sinks/segment_log.ts";
import { RadarRenderer } from "../sim/_radar_render.ts";
import { decodeTdm } from "../sources/radar/decode_tdm.ts";
import { RadarTcpSource } from "../sources/radar/tcp_adapter.ts";
import { TdmDecodeStream } from "../sources/radar/tdm_decode_stream.ts";

const OBSERVATIONS = 20_000;
const DATA_LINES = OBSERVATIONS * 5;
const CHUNK = 64 * 1024;

const renderer = new RadarRenderer({ startMs: Date.parse("2026-11-25T12:00:00Z"), seed: 7 });
const bytes = new TextEncoder().encode(renderer.render(OBSERVATIONS) + renderer.finish());
const chunks: Uint8Array[] = [];
for (let i = 0; i < bytes.length; i += CHUNK) chunks.push(bytes.subarray(i, i + CHUNK));
const ctx = { source: "xr1", transport: "tcp" as const, peer: "127.0.0.1:50312" };

function check(observations: number, deadLetters: number): void {
  if (observations !== OBSERVATIONS || deadLetters !== 0) {
    throw new Error(`Decoded ${observations} observations, ${deadLetters} dead letters`);
  }
}

Deno.bench(
  `TdmDecodeStream: ${DATA_LINES} data lines in ${chunks.length} chunks of 64 KiB`,
  { group: "decode", baseline: true },
  async () => {
    let observations = 0;
    let deadLetters = 0;
    const stream = ReadableStream.from(chunks).pipeThrough(
      new TdmDecodeStream({ ctx, groupIdleMs: Infinity }),
    );
    for await (const batch of stream) {
      observations += batch.observations.length;
      deadLetters += batch.deadLetters.length;
    }
    check(observations, deadLetters);
  },
);

Deno.bench(
  `decodeTdm(): ${DATA_LINES} data lines in one body`,
  { group: "decode" },
  () => {
    const { observations, deadLetters } = decodeTdm(bytes, ctx);
    check(observations.length, deadLetters.length);
  },
);

/**
 * End to end, run as a script (not by `deno bench`):
 *
 *   deno run -A bench/radar_bench.ts e2e [COUNT] [FSYNC] [READ_BYTES]
 *   deno run -A bench/radar_bench.ts source [COUNT] [READ_BYTES]
 *
 * `e2e`: a RadarTcpSource on loopback into a Pipeline and event log with
 * `fsync: "interval"` (default), fed by `sim/radar.ts` in its own process
 * pushing COUNT observations (default 1,000,000) over one connection as fast
 * as it can. Prints observations/s from the first byte received to the last
 * observation durable in the log. `source`: the same without the pipeline —
 * socket, decoding and ids only, every batch dropped on arrival.
 */
async function endToEnd(
  count: number,
  fsync: FsyncMode | "none",
  readBytes: number,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "sda-radar-bench-" });
  try {
    const source = new RadarTcpSource({ name: "xr1", port: 0, readBytes });
    let durable = 0;
    let lastDurable = 0;
    let firstReceive = 0;
    const done = Promise.withResolvers<void>();
    const counted = (n: number) => {
      durable += n;
      lastDurable = performance.now();
      if (durable >= count) done.resolve();
    };
    let pipeline: Pipeline | undefined;
    let drained: Promise<void>;
    if (fsync === "none") {
      drained = source.readable.pipeTo(
        new WritableStream({ write: (batch) => counted(batch.observations.length) }),
      );
    } else {
      pipeline = new Pipeline({
        events: await openEventLog({ dir: `${dir}/events`, fsync }),
        deadLetters: await openDeadLetterLog({ dir: `${dir}/dead`, fsync }),
        dedupe: new DedupeWindow(1_000_000),
        onDurable: (batches) => {
          let n = 0;
          for (const batch of batches) n += batch.observations;
          counted(n);
        },
      });
      pipeline.add(source.readable);
      drained = pipeline.done;
    }
    const probe = setInterval(() => {
      if (firstReceive === 0 && source.status().counters.bytes > 0) {
        firstReceive = performance.now();
      }
    }, 1);
    const sim = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("../sim/radar.ts", import.meta.url).pathname,
        "--to",
        `127.0.0.1:${source.port}`,
        "--count",
        String(count),
        "--start",
        "2026-11-25T12:00:00Z",
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn();
    const [output] = await Promise.all([sim.output(), done.promise]);
    clearInterval(probe);
    const seconds = (lastDurable - firstReceive) / 1000;
    const status = source.status();
    await source.stop();
    pipeline?.close();
    await drained;
    const simLine = new TextDecoder().decode(output.stderr).trim().split("\n").pop();
    console.log(simLine);
    console.log(
      `radar ${
        fsync === "none" ? "source only" : `e2e (fsync ${fsync})`
      }: ${durable} observations ` +
        `in ${seconds.toFixed(2)} s = ${Math.round(durable / seconds)} obs/s; ` +
        `${status.counters.reads} reads of up to ${readBytes} bytes, ` +
        `${(status.counters.bytes / 1e6).toFixed(1)} MB, ` +
        `${pipeline?.counts("xr1").duplicates ?? 0} duplicates, ` +
        `${status.counters.dead_letters} dead letters`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main && (Deno.args[0] === "e2e" || Deno.args[0] === "source")) {
  const count = Number(Deno.args[1] ?? 1_000_000);
  if (Deno.args[0] === "e2e") {
    const fsync = (Deno.args[2] ?? "interval") as FsyncMode;
    await endToEnd(count, fsync, Number(Deno.args[3] ?? 65536));
  } else {
    await endToEnd(count, "none", Number(Deno.args[2] ?? 65536));
  }
}
