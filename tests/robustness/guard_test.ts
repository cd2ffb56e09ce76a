/**
 * The guard (SPEC §3): an exception from a decoder or operator on one input
 * becomes a dead letter for that input with its stage and the error, is
 * logged at ERROR once per source per minute with a count, and the next
 * input is handled as usual. The exceptions are injected through the
 * decoders' own context: a `sensors` set whose look-up throws for one
 * sensor, so the real decoders reach their catch from inside.
 */

import assert from "node:assert/strict";
import type { LogRecord } from "@logtape/logtape";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import { DedupeWindow } from "../../operators/dedupe_window.ts";
import { type IngestBatch, ingestBatch } from "../../operators/ingest_batch.ts";
import { FaultLog } from "../../service/fault_log.ts";
import { Pipeline } from "../../service/pipeline.ts";
import { openDeadLetterLog, openEventLog } from "../../sinks/event_log.ts";
import type { DecodeContext } from "../../sources/decode_context.ts";
import { encodeBeacon } from "../../sources/isl/beacon.ts";
import { decodeIslPackets } from "../../sources/isl/decode_isl_packets.ts";
import { GatewayPoller } from "../../sources/isl/gateway_poller.ts";
import { decodePoll } from "../../sources/isl/poll_request.ts";
import { encodeStatus } from "../../sources/isl/status_packet.ts";
import { decodeOpticalPage } from "../../sources/optical/decode_optical_page.ts";
import { TdmDecodeStream } from "../../sources/radar/tdm_decode_stream.ts";
import { withLogs } from "../_logs.ts";
import { readAllLines, removeDir } from "../_observations.ts";
import { handBeacon } from "../sources/isl/_make_fixtures.ts";

/** 2026-11-25T12:00:00Z, µs. */
const RX = Date.UTC(2026, 10, 25, 12) * 1000;

/** A sensor permission set whose look-up throws for `bad`: a bug injected into the decoder. */
function throwingSensors(bad: string): ReadonlySet<string> {
  return {
    has(sensor: string): boolean {
      if (sensor === bad) throw new TypeError(`Injected failure for ${sensor}`);
      return true;
    },
  } as unknown as ReadonlySet<string>;
}

function errors(records: LogRecord[]): LogRecord[] {
  return records.filter((r) => r.level === "error");
}

/** Runs `sources` through a pipeline with real logs; returns what the logs hold. */
async function throughPipeline(
  sources: [string, ReadableStream<IngestBatch>][],
  faults: FaultLog,
): Promise<{ observations: Observation[]; deadLetters: DeadLetter[]; pipeline: Pipeline }> {
  const dir = await Deno.makeTempDir({ prefix: "sda-guard-" });
  try {
    const pipeline = new Pipeline({
      events: await openEventLog({ dir: `${dir}/events`, fsync: "never" }),
      deadLetters: await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "never" }),
      dedupe: new DedupeWindow(1000),
      faults,
    });
    for (const [name, readable] of sources) pipeline.add(readable, name);
    pipeline.close();
    await pipeline.done;
    return {
      observations: (await readAllLines(`${dir}/events`)).map((l) => JSON.parse(l)),
      deadLetters: (await readAllLines(`${dir}/dead`)).map((l) => JSON.parse(l)),
      pipeline,
    };
  } finally {
    await removeDir(dir);
  }
}

function tdm(sensor: string, lines: string[]): string {
  return [
    "CCSDS_TDM_VERS = 2.0",
    `MESSAGE_ID = ${sensor}`,
    "META_START",
    "TIME_SYSTEM = UTC",
    `PARTICIPANT_1 = ${sensor}`,
    "META_STOP",
    "DATA_START",
    ...lines,
    "DATA_STOP",
    "",
  ].join("\n");
}

Deno.test("TdmDecodeStream() turns an exception on a line into one dead letter and logs it at ERROR once a minute", async () => {
  await withLogs(async (records) => {
    const clock = 0;
    const ctx: DecodeContext = {
      source: "xr1",
      transport: "tcp",
      peer: "127.0.0.1:1",
      now: () => RX,
      sensors: throwingSensors("BOOM"),
    };
    const text = tdm("BOOM", [
      "RANGE = 2026-11-25T12:00:00 1",
      "RANGE = 2026-11-25T12:00:01 2",
      "RANGE = 2026-11-25T12:00:02 3",
    ]) + tdm("XR1", ["RANGE = 2026-11-25T12:00:03 4"]);
    const stream = ReadableStream.from([new TextEncoder().encode(text)])
      .pipeThrough(new TdmDecodeStream({ ctx, groupIdleMs: Infinity }));
    const { observations, deadLetters } = await throughPipeline(
      [["xr1", stream]],
      new FaultLog({ now: () => clock }),
    );
    // The good segment after the failing one is logged.
    assert.deepEqual(observations.map((o) => [o.sensor, o.measurement]), [
      ["XR1", { range_km: 4 }],
    ]);
    // One dead letter per failure: the open group (discarded, so that the
    // next line starts afresh) with the line being read; the line after it
    // opens a new group.
    assert.deepEqual(deadLetters.map((d) => [d.stage, d.reason, d.raw, d.ref]), [
      [
        "decoding",
        "Internal error while decoding line 9: TypeError: Injected failure for BOOM",
        "RANGE = 2026-11-25T12:00:00 1\nRANGE = 2026-11-25T12:00:01 2",
        "BOOM#0@9",
      ],
      [
        "decoding",
        "Internal error while decoding line 11: TypeError: Injected failure for BOOM",
        "RANGE = 2026-11-25T12:00:02 3\nDATA_STOP",
        "BOOM#0@11",
      ],
    ]);
    // First at once, the second counted and written when the pipeline closed.
    const lines = errors(records);
    assert.deepEqual(lines.map((r) => [r.properties.source, r.properties.count]), [
      ["xr1", 1],
      ["xr1", 1],
    ]);
    assert.match(String(lines[0].properties.reason), /Injected failure for BOOM/);
  });
});

Deno.test("FaultLog() writes one ERROR line per source per minute with the count since the last", () => {
  let now = 0;
  const lines: unknown[][] = [];
  const faults = new FaultLog({ now: () => now, write: (r) => lines.push([r.source, r.count]) });
  for (let i = 0; i < 5; i++) faults.record("xr1", "decoding", "Internal error while x: Error: y");
  faults.record("isl", "decoding", "Internal error while x: Error: y");
  assert.deepEqual(lines, [["xr1", 1], ["isl", 1]]);
  now = 59_999;
  faults.record("xr1", "decoding", "Internal error while x: Error: y");
  assert.equal(lines.length, 2);
  now = 60_000;
  faults.record("xr1", "decoding", "Internal error while x: Error: y");
  assert.deepEqual(lines.at(-1), ["xr1", 6]);
  faults.close();
  assert.equal(lines.length, 3);
  assert.equal(faults.total, 8);
});

Deno.test("TdmDecodeStream() turns an exception on a whole read into a dead letter and decodes the next read", async () => {
  let calls = 0;
  const ctx: DecodeContext = {
    source: "xr1",
    transport: "tcp",
    peer: "127.0.0.1:1",
    // The receive clock fails once, on the second read.
    now: () => {
      if (++calls === 2) throw new Error("Clock failed");
      return RX;
    },
  };
  const enc = new TextEncoder();
  const head = tdm("XR1", []).split("DATA_STOP")[0];
  const batches = await Array.fromAsync(
    ReadableStream.from([
      enc.encode(head + "RANGE = 2026-11-25T12:00:00 1\n"),
      enc.encode("RANGE = 2026-11-25T12:00:01 2\n"),
      enc.encode("RANGE = 2026-11-25T12:00:02 3\nDATA_STOP\n"),
    ]).pipeThrough(new TdmDecodeStream({ ctx, groupIdleMs: Infinity })),
  );
  const observations = batches.flatMap((b) => b.observations);
  const deadLetters = batches.flatMap((b) => b.deadLetters);
  assert.deepEqual(deadLetters.map((d) => [d.reason, d.raw]), [
    [
      "Internal error while reading a chunk of input: Error: Clock failed",
      "RANGE = 2026-11-25T12:00:00 1\nRANGE = 2026-11-25T12:00:01 2\n",
    ],
  ]);
  assert.deepEqual(observations.map((o) => o.measurement), [{ range_km: 3 }]);
});

const HEADER = "id,obTime,idSensor,ra,declination";

Deno.test("decodeOpticalPage() turns an exception on a row into that row's dead letter and maps the next row", () => {
  const rows = ["EO-1,2026-11-25T12:00:00Z,BOOM,1,1", "EO-2,2026-11-25T12:00:01Z,S,1,1"];
  const page = decodeOpticalPage(`${HEADER}\n${rows.join("\n")}\n`, "text/csv", {
    source: "archive",
    transport: "http",
    peer: "http://127.0.0.1/udl",
    now: () => RX,
    sensors: throwingSensors("BOOM"),
  });
  assert.deepEqual(page.deadLetters.map((d) => [d.stage, d.reason, d.raw, d.ref]), [
    [
      "decoding",
      "Internal error while mapping a row: TypeError: Injected failure for BOOM",
      rows[0],
      "EO-1",
    ],
  ]);
  assert.deepEqual(page.observations.map((o) => o.provenance.ref), ["EO-2"]);
});

Deno.test("decodeIslPackets() turns an exception on a beacon into its dead letter and maps the next beacon", () => {
  const bad = encodeBeacon(handBeacon(1, 1, 1)); // observer 60003
  const good = encodeBeacon({ ...handBeacon(2, 1, 2), observer: 60005 });
  const { observations, deadLetters } = decodeIslPackets(new Uint8Array([...bad, ...good]), {
    source: "isl",
    transport: "udp",
    peer: "g",
    now: () => RX,
    sensors: throwingSensors("isl:60003"),
  });
  assert.deepEqual(deadLetters.map((d) => [d.stage, d.reason, d.raw]), [
    [
      "decoding",
      "Internal error while mapping a beacon: TypeError: Injected failure for isl:60003",
      { base64: btoa(String.fromCharCode(...bad)) },
    ],
  ]);
  assert.deepEqual(observations.map((o) => o.provenance.ref), ["2"]);
});

Deno.test("GatewayPoller() turns an exception on a datagram into its dead letter and polls again", () => {
  let fail = false;
  const ctx: DecodeContext = { source: "isl", transport: "udp", peer: "g", now: () => RX };
  const poller = new GatewayPoller({ ctx, maxPackets: 4 });
  const poll = decodePoll(poller.poll());
  const datagram = new Uint8Array([
    ...encodeStatus({ seq: poll.seq, oldest: 1, newest: 2, count: 2 }),
    ...encodeBeacon(handBeacon(1, 1, 1)),
    ...encodeBeacon(handBeacon(2, 1, 2)),
  ]);
  // A datagram whose bytes cannot be read once: a bug in the reader, injected.
  const broken = new Proxy(datagram, {
    get(target, key) {
      if (fail && key === "length") {
        fail = false;
        throw new RangeError("Injected read failure");
      }
      const value = Reflect.get(target, key, target);
      return typeof value === "function" ? value.bind(target) : value;
    },
  });
  fail = true;
  const out = { observations: [] as Observation[], deadLetters: [] as DeadLetter[] };
  const progress = poller.receive(broken, RX, out);
  assert.deepEqual(progress, { advanced: false, complete: false, full: false, retry: true });
  assert.deepEqual(out.deadLetters.map((d) => [d.stage, d.reason]), [
    ["decoding", "Internal error while decoding a datagram: RangeError: Injected read failure"],
  ]);
  // The next poll and its answer are handled as usual.
  const again = decodePoll(poller.poll());
  const next = { observations: [] as Observation[], deadLetters: [] as DeadLetter[] };
  poller.receive(
    new Uint8Array([
      ...encodeStatus({ seq: again.seq, oldest: 1, newest: 2, count: 2 }),
      ...encodeBeacon(handBeacon(1, 1, 1)),
      ...encodeBeacon(handBeacon(2, 1, 2)),
    ]),
    RX,
    next,
  );
  assert.deepEqual(next.observations.map((o) => o.provenance.ref), ["1", "2"]);
});

Deno.test("Pipeline() ends a source whose stream errors alone, logs it, and goes on with the others", async () => {
  await withLogs(async (records) => {
    const failing = new ReadableStream<IngestBatch>({
      pull(controller) {
        controller.error(new Error("Injected source failure"));
      },
    });
    const good = ReadableStream.from([
      ingestBatch("good", [], [{
        v: 1,
        t_rx: "2026-11-25T12:00:00.000000Z",
        source: "good",
        format: "ccsds-tdm-kvn",
        peer: "p",
        stage: "decoding",
        reason: "Missing RANGE value",
        raw: "RANGE = 2026-11-25T12:00:00",
      }]),
    ]);
    const { deadLetters, pipeline } = await throughPipeline(
      [["bad", failing], ["good", good]],
      new FaultLog(),
    );
    assert.equal(deadLetters.length, 1);
    assert.equal(pipeline.failure("bad"), "Error: Injected source failure");
    assert.equal(pipeline.failure("good"), undefined);
    assert.deepEqual(
      errors(records).map((r) => [r.properties.source, r.properties.error]),
      [["bad", "Error: Injected source failure"]],
    );
  });
});
