/**
 * Optical source benchmarks (issue 4).
 *
 * Decoder alone (rows/s = 1000 / time per iteration):
 *
 *     deno bench --allow-read --allow-write bench/optical_bench.ts
 *
 * End to end — the archive simulator in its own process (`main.ts sim
 * archive`) serving pages of 1,000 CSV rows, `OpticalHttpSource` → `Pipeline` → event log with
 * `fsync: "interval"` (observations/s from the first request until the
 * last observation is durable):
 *
 *     deno run --allow-read --allow-write --allow-net=127.0.0.1 --allow-run \
 *       --allow-env bench/optical_bench.ts --e2e [--count 300000] [--page 1000] [--accept csv]
 */

import { parseArgs } from "node:util";
import { serializeObservation } from "../envelope/serialize.ts";
import { DedupeWindow } from "../operators/dedupe_window.ts";
import { Pipeline } from "../service/pipeline.ts";
import { StateStore } from "../service/state_store.ts";
import { ArchiveData } from "../sim/_archive_data.ts";
import { openDeadLetterLog, openEventLog } from "../sinks/event_log.ts";
import { decodeOpticalPage } from "../sources/optical/decode_optical_page.ts";
import { OpticalHttpSource } from "../sources/optical/http_adapter.ts";

const ROWS = 1000;

/** The simulator's own pages: what the archive serves in the end-to-end run. */
function simPages(): { csv: Uint8Array; json: Uint8Array; quoted: Uint8Array } {
  const data = new ArchiveData({
    startMs: Date.parse("2026-11-25T12:00:00Z"),
    seed: 1,
    maxHeld: 100_000,
  });
  data.ensure(ROWS);
  const csv = data.csvPage(0, ROWS);
  // The same rows with every text cell quoted: the parser's slow path.
  const quoted = csv.split("\n").map((line) =>
    line === "" ? line : line.split(",").map((c) => (/^[-0-9.]*$/.test(c) ? c : `"${c}"`)).join(",")
  ).join("\n");
  const encoder = new TextEncoder();
  return {
    csv: encoder.encode(csv),
    json: encoder.encode(data.jsonPage(0, ROWS)),
    quoted: encoder.encode(quoted),
  };
}

const ctx = {
  source: "archive",
  transport: "http" as const,
  peer: "http://127.0.0.1:7002/udl/eoobservation",
};

if (!Deno.args.includes("--e2e")) {
  const pages = simPages();
  Deno.bench("decodeOpticalPage() CSV page, 1000 rows", { group: "decode", baseline: true }, () => {
    decodeOpticalPage(pages.csv, "text/csv", ctx);
  });
  Deno.bench(
    "decodeOpticalPage() CSV page with quoted cells, 1000 rows",
    { group: "decode" },
    () => {
      decodeOpticalPage(pages.quoted, "text/csv", ctx);
    },
  );
  Deno.bench("decodeOpticalPage() JSON page, 1000 records", { group: "decode" }, () => {
    decodeOpticalPage(pages.json, "application/json", ctx);
  });
  Deno.bench("decode + serialize a CSV page, 1000 rows", { group: "decode" }, () => {
    const page = decodeOpticalPage(pages.csv, "text/csv", ctx);
    for (const o of page.observations) serializeObservation(o);
  });
} else {
  await endToEnd();
}

async function endToEnd(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args.filter((a) => a !== "--e2e"),
    options: {
      count: { type: "string", default: "300000" },
      page: { type: "string", default: "1000" },
      accept: { type: "string", default: "csv" },
    },
  });
  const count = Number(values.count);
  const pageSize = Number(values.page);
  const sim = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      new URL("../main.ts", import.meta.url).pathname,
      "sim",
      "archive",
      "--port",
      "0",
      "--count",
      String(count),
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const lines = sim.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let buffered = "";
  const nextLine = async (): Promise<string> => {
    for (;;) {
      const newline = buffered.indexOf("\n");
      if (newline >= 0) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        return line;
      }
      const { value, done } = await lines.read();
      if (done) throw new Error("archive sim exited");
      buffered += value;
    }
  };
  const url = (await nextLine()).replace("archive sim: serving ", "");
  console.error(await nextLine()); // "… observations ready"

  const dir = await Deno.makeTempDir({ prefix: "optical-bench-" });
  try {
    const events = await openEventLog({ dir: `${dir}/events`, fsync: "interval" });
    const deadLetters = await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "interval" });
    const pipeline = new Pipeline({ events, deadLetters, dedupe: new DedupeWindow(1_000_000) });
    const source = new OpticalHttpSource({
      name: "archive",
      url,
      accept: values.accept === "json" ? "json" : "csv",
      pageSize,
      pollIntervalMs: 50,
      checkpoint: new StateStore(`${dir}/state`).checkpoint<string>("optical.archive"),
    });
    const t0 = performance.now();
    pipeline.add(source.readable);
    while (pipeline.counts("archive").observations < count) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const elapsed = (performance.now() - t0) / 1000;
    await source.stop();
    pipeline.close();
    await pipeline.done;
    const status = source.status();
    console.log(
      `optical end to end: ${count} observations in ${elapsed.toFixed(2)} s = ` +
        `${Math.round(count / elapsed)} obs/s (pages of ${pageSize} ${values.accept}, ` +
        `${status.counters.requests} requests, fsync interval)`,
    );
  } finally {
    sim.kill("SIGTERM");
    await sim.status;
    await lines.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}
