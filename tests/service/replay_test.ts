import assert from "node:assert/strict";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import { serializeDeadLetter, serializeObservation } from "../../envelope/serialize.ts";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import { concatBytes } from "../../sources/_concat_bytes.ts";
import {
  compareLog,
  decodeInput,
  fixtureInputs,
  replay,
  type ReplayInput,
} from "../../service/replay.ts";
import { DecodePool } from "../../service/workers/decode_pool.ts";
import { spawnMain } from "../../bench/_processes.ts";
import { openEventLog } from "../../sinks/event_log.ts";
import { radarObservation, readAllLines, removeDir } from "../_observations.ts";

const fixtures = new URL("../../fixtures", import.meta.url).pathname;

Deno.test("replay --check passes on the committed fixtures, and two replays write identical bytes, decoded in two workers and on the main thread", async () => {
  const a = await Deno.makeTempDir({ prefix: "sda-replay-" });
  const b = await Deno.makeTempDir({ prefix: "sda-replay-" });
  try {
    const first = spawnMain([
      "replay",
      "--fixtures",
      fixtures,
      "--out",
      a,
      "--check",
      "--workers",
      "2",
    ]);
    const status = await first.status;
    assert.equal(status.code, 0, first.stderr());
    assert.match(first.stderr(), /identical to/);
    const second = spawnMain(["replay", "--fixtures", fixtures, "--out", b, "--workers", "0"]);
    assert.equal((await second.status).code, 0, second.stderr());
    for (const dir of ["events", "dead-letter"]) {
      const names = [...Deno.readDirSync(`${a}/${dir}`)].map((e) => e.name).sort();
      assert.deepEqual(names, [...Deno.readDirSync(`${b}/${dir}`)].map((e) => e.name).sort());
      for (const name of names) {
        assert.deepEqual(
          await Deno.readFile(`${a}/${dir}/${name}`),
          await Deno.readFile(`${b}/${dir}/${name}`),
        );
      }
    }
    // Every kind is there, with replay provenance and t_rx = t_obs.
    const events = (await readAllLines(`${a}/events`)).map((l) => JSON.parse(l) as Observation);
    assert.deepEqual(new Set(events.map((o) => o.kind)), new Set(["radar", "optical", "isl"]));
    for (const o of events) {
      assert.equal(o.provenance.transport, "replay");
      assert.equal(o.t_rx, o.t_obs);
      assert.match(o.provenance.peer, /^(radar|optical|isl)\//);
    }
    const letters = (await readAllLines(`${a}/dead-letter`)).map((l) =>
      JSON.parse(l) as DeadLetter
    );
    assert.ok(letters.length > 0);
    assert.ok(letters.every((d) => d.t_rx === "1970-01-01T00:00:00.000000Z"));
    assert.deepEqual(
      new Set(letters.map((d) => d.stage)),
      new Set(["framing", "decoding", "validation"]),
    );
  } finally {
    await removeDir(a);
    await removeDir(b);
  }
});

Deno.test("replay --check exits 1 and prints the first difference", async () => {
  const copy = await Deno.makeTempDir({ prefix: "sda-replay-" });
  const out = await Deno.makeTempDir({ prefix: "sda-replay-" });
  try {
    await Deno.mkdir(`${copy}/expected`);
    await Deno.mkdir(`${copy}/isl`);
    for (const name of [...Deno.readDirSync(`${fixtures}/isl`)].map((e) => e.name)) {
      await Deno.copyFile(`${fixtures}/isl/${name}`, `${copy}/isl/${name}`);
    }
    await Deno.writeTextFile(`${copy}/expected/events.jsonl`, '{"v":1}\n');
    await Deno.writeTextFile(`${copy}/expected/dead-letters.jsonl`, "");
    const child = spawnMain(["replay", "--fixtures", copy, "--out", out, "--check"]);
    assert.equal((await child.status).code, 1);
    assert.match(
      child.stderr(),
      /events\.jsonl line 1 differs:\n {2}expected: \{"v":1\}\n {2}actual: {3}\{"v":1,"id":/,
    );
  } finally {
    await removeDir(copy);
    await removeDir(out);
  }
});

Deno.test("replay names what it does not read under --fixtures, and replays the rest", async () => {
  const copy = await Deno.makeTempDir({ prefix: "sda-replay-" });
  const out = await Deno.makeTempDir({ prefix: "sda-replay-" });
  try {
    await Deno.mkdir(`${copy}/radar/old`, { recursive: true });
    const kvn = [...Deno.readDirSync(`${fixtures}/radar`)].map((e) => e.name)
      .filter((n) => n.endsWith(".kvn")).sort()[0];
    await Deno.copyFile(`${fixtures}/radar/${kvn}`, `${copy}/radar/${kvn}`);
    await Deno.copyFile(`${fixtures}/radar/${kvn}`, `${copy}/radar/capture.KVN`);
    await Deno.writeTextFile(`${copy}/radar/old/x.kvn`, "");
    await Deno.writeTextFile(`${copy}/README.txt`, "");
    const child = spawnMain(["replay", "--fixtures", copy, "--out", out]);
    assert.equal((await child.status).code, 0, child.stderr());
    assert.match(
      child.stderr(),
      /^replay: not replayed: 2 entries under .* \(replay reads radar\/\*\.kvn, optical\/\*\.csv\|\*\.json, isl\/\*\.spp\): radar\/capture\.KVN, radar\/old\/$/m,
    );
    assert.match(child.stderr(), /^replay: 1 fixture → /m);
  } finally {
    await removeDir(copy);
    await removeDir(out);
  }
});

Deno.test("replay --out naming a file is bad usage, said in one line", async () => {
  const out = await Deno.makeTempFile({ prefix: "sda-replay-" });
  try {
    // So is --fixtures naming nothing (it exited 1, "no fixtures under").
    const nowhere = spawnMain(["replay", "--fixtures", "/nonexistent/sda-fixtures"]);
    assert.equal((await nowhere.status).code, 2);
    assert.equal(
      nowhere.stderr().split("\n")[0],
      "replay: --fixtures does not exist: /nonexistent/sda-fixtures",
    );
    const child = spawnMain(["replay", "--fixtures", fixtures, "--out", out]);
    assert.equal((await child.status).code, 2);
    assert.equal(child.stderr().split("\n")[0], `replay: --out is not a directory: ${out}`);
    assert.doesNotMatch(child.stderr(), /\bat .*\.ts:\d+/, "no stack trace");
    const under = spawnMain(["replay", "--fixtures", fixtures, "--out", `${out}/sub`]);
    assert.equal((await under.status).code, 2);
    assert.equal(
      under.stderr().split("\n")[0],
      `replay: --out is under a file, not a directory: ${out}/sub`,
    );
  } finally {
    await Deno.remove(out);
  }
});

Deno.test("replay --out refuses a log it did not write and one a writer has open, leaving every byte; its own output it replaces", async () => {
  const out = await Deno.makeTempDir({ prefix: "sda-replay-" });
  try {
    // A service's event log where replay would write (`--out data`, say).
    const service = await openEventLog({ dir: `${out}/events`, fsync: "always" });
    await service.append([radarObservation(1), radarObservation(2)]);
    await service.close();
    const segment = `${out}/events/00000000000000000000.jsonl`;
    const before = await Deno.readFile(segment);
    const refused = spawnMain(["replay", "--fixtures", fixtures, "--out", out]);
    assert.equal((await refused.status).code, 2, refused.stderr());
    assert.equal(
      refused.stderr().split("\n")[0],
      `replay: ${out}/events holds a log that replay did not write (a service's?); replay replaces only its own output: choose another --out, or remove ${out}/events yourself`,
    );
    assert.deepEqual(await Deno.readFile(segment), before);

    // Its own output: replaced, again and again.
    await Deno.remove(`${out}/events`, { recursive: true });
    for (let run = 0; run < 2; run++) {
      const child = spawnMain(["replay", "--fixtures", fixtures, "--out", out, "--check"]);
      assert.equal((await child.status).code, 0, child.stderr());
    }

    // Open for writing by another process's log (a running replay or service).
    const writer = await openEventLog({ dir: `${out}/events`, fsync: "always" });
    try {
      const busy = spawnMain(["replay", "--fixtures", fixtures, "--out", out]);
      assert.equal((await busy.status).code, 1, busy.stderr());
      assert.match(
        busy.stderr().split("\n")[0],
        new RegExp(
          `^replay: ${out}/events is in use by another writer \\(a running service or replay\\): only one process may write a log directory$`,
        ),
      );
      assert.doesNotMatch(busy.stderr(), /\bat .*\.ts:\d+/, "no stack trace");
      assert.equal((await readAllLines(`${out}/events`)).length, writer.nextOffset);
    } finally {
      await writer.close();
    }
  } finally {
    await removeDir(out);
  }
});

Deno.test("replay() replaces its own output whose first record is longer than 64 KiB, and one a killed writer left its space probe in", async () => {
  // 30,000 CJK characters in an unmapped field: under the 65,536-character
  // record bound, ~90 KB as UTF-8.
  const page = JSON.stringify([{
    id: "EO-1",
    obTime: "2026-11-25T12:02:00.250Z",
    idSensor: "MAUI-EO-1",
    satNo: 41866,
    ra: 280.1,
    declination: -5.7,
    source: "中".repeat(30_000),
  }]);
  const input: ReplayInput = {
    kind: "optical",
    name: "optical/page-001.json",
    open: () => ReadableStream.from([new TextEncoder().encode(page)]),
  };
  const out = await Deno.makeTempDir({ prefix: "sda-replay-" });
  try {
    for (let run = 0; run < 2; run++) {
      const result = await replay({ inputs: [input], out, workers: 0 });
      assert.equal(result.observations, 1, `run ${run}`);
      await Deno.writeTextFile(`${out}/events/.space-probe`, "");
    }
    assert.ok((await Deno.stat(`${out}/events/00000000000000000000.jsonl`)).size > 65_536);
  } finally {
    await removeDir(out);
  }
});

/** A generated TDM stream of `n` messages, made while it is read. */
function generatedRadar(messages: number): ReplayInput {
  const encoder = new TextEncoder();
  return {
    kind: "radar",
    name: "radar/generated.kvn",
    open: () => {
      let i = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (i === messages) {
            controller.close();
            return;
          }
          let text =
            `CCSDS_TDM_VERS = 2.0\nCREATION_DATE = 2026-11-25T00:00:00\nORIGINATOR = GEN\nMESSAGE_ID = M${i}\n` +
            "META_START\nTIME_SYSTEM = UTC\nPARTICIPANT_1 = GEN\nPARTICIPANT_2 = 25544\nANGLE_TYPE = AZEL\nMETA_STOP\nDATA_START\n";
          for (let k = 0; k < 100; k++) {
            const t = `2026-11-25T12:${String(Math.floor(i / 60) % 60).padStart(2, "0")}:${
              String(i % 60).padStart(2, "0")
            }.${String(k * 10).padStart(3, "0")}`;
            text += `RANGE = ${t} ${1000 + k}\nANGLE_1 = ${t} ${k}\nANGLE_2 = ${t} 45\n`;
          }
          controller.enqueue(encoder.encode(text + "DATA_STOP\n"));
          i++;
        },
      });
    },
  };
}

Deno.test("replay() streams a bounded input through the live pipeline without holding it in memory", async () => {
  const out = await Deno.makeTempDir({ prefix: "sda-replay-" });
  try {
    let maxBatch = 0;
    const result = await replay({
      inputs: [generatedRadar(2000)],
      out,
      onDurable: (batches) => {
        for (const b of batches) maxBatch = Math.max(maxBatch, b.observations);
      },
    });
    assert.equal(result.observations, 200_000);
    assert.equal(result.counts.radar.observations, 200_000);
    // The input went through in pieces, never as one whole.
    assert.ok(maxBatch > 0 && maxBatch < 10_000, `largest batch ${maxBatch}`);
  } finally {
    await removeDir(out);
  }
});

Deno.test("replay() decodes a large ISL capture in packet-aligned pieces", async () => {
  const { generatedIsl } = await import("../../bench/_generate.ts");
  const out = await Deno.makeTempDir({ prefix: "sda-replay-" });
  try {
    const batches: number[] = [];
    const result = await replay({
      inputs: [generatedIsl(30_000)],
      out,
      onDurable: (durable) => {
        for (const b of durable) batches.push(b.observations);
      },
    });
    // 30,000 beacons of 96 bytes: ~2.9 MB, cut into ~128 KiB pieces of whole packets.
    assert.equal(result.observations, 30_000);
    assert.equal(result.deadLetters, 0);
    assert.ok(batches.length >= 20, `${batches.length} batches`);
    assert.ok(batches.every((n) => n <= Math.ceil((128 * 1024) / 96) + 1));
  } finally {
    await removeDir(out);
  }
});

Deno.test("replay() decodes an optical page file larger than a worker's page record by record, with and without workers, to the same bytes", async () => {
  // ~5.5 MB of CSV: more than replay hands a decode worker whole.
  const rows = 80_000;
  const header = "id,obTime,idSensor,satNo,ra,declination,mag\n";
  const lines = [header];
  for (let i = 0; i < rows; i++) {
    const t = new Date(Date.UTC(2026, 10, 25) + i * 10).toISOString();
    lines.push(`EO-${i},${t},"MAUI,${i % 3}",${25544 + (i % 50)},${(i * 0.37) % 360},1.5,12\n`);
  }
  lines.push("EO-bad,2026-11-25T00:00:00Z,S,1,400,1,1\n");
  const bytes = new TextEncoder().encode(lines.join(""));
  assert.ok(bytes.length > 4 * 1024 * 1024, `${bytes.length} bytes`);
  const { input, dir } = await fileInput("optical/big.csv", bytes);
  const outs: string[] = [];
  try {
    for (const workers of [1, 0]) {
      const out = await Deno.makeTempDir({ prefix: "sda-replay-" });
      outs.push(out);
      let maxBatch = 0;
      const result = await replay({
        inputs: [input],
        out,
        workers,
        onDurable: (batches) => {
          for (const b of batches) maxBatch = Math.max(maxBatch, b.observations);
        },
      });
      assert.equal(result.observations, rows, `workers ${workers}`);
      assert.equal(result.deadLetters, 1, `workers ${workers}`);
      // In pieces as the bytes came, never the page as one whole.
      assert.ok(maxBatch > 0 && maxBatch < 10_000, `workers ${workers}: largest batch ${maxBatch}`);
    }
    const [a, b] = await Promise.all(outs.map((out) => readAllLines(`${out}/events`)));
    assert.equal(a.length, rows);
    assert.deepEqual(a, b);
    assert.equal(JSON.parse(a[1]).provenance.ref, "EO-1");
  } finally {
    for (const out of [...outs, dir]) await removeDir(out);
  }
});

Deno.test("decodeInput() with two workers decodes one recording in pieces shared by both, to the same lines as without workers", async () => {
  const { generatedIsl, generatedRadar } = await import("../../bench/_generate.ts");
  // A recording cut between messages: generated TDM with the radar fixtures
  // (bad input, CRLF, a message cut off) put in every 64 KiB.
  const radarFixtures = concatBytes(
    await Promise.all(
      [...Deno.readDirSync(`${fixtures}/radar`)].filter((e) => e.name.endsWith(".kvn"))
        .map((e) => Deno.readFile(`${fixtures}/radar/${e.name}`)),
    ),
  );
  const generated = concatBytes(await Array.fromAsync(await generatedRadar(12_000).open()));
  const mixed: Uint8Array[] = [];
  for (let at = 0; at < generated.length; at += 65_536) {
    mixed.push(generated.subarray(at, at + 65_536));
    if ((at / 65_536) % 7 === 3) mixed.push(radarFixtures);
  }
  // An ISL capture with junk every 2,000 beacons: pieces are cut only
  // between two sound beacons, so refs inferred for the junk stay the same.
  const beacons = concatBytes(await Array.fromAsync(await generatedIsl(20_000).open()));
  const capture: Uint8Array[] = [];
  for (let at = 0; at < beacons.length; at += 96 * 2000) {
    const group = beacons.slice(at, at + 96 * 2000);
    // A beacon with a bad CRC (its index inferred from its neighbours)...
    group[96 * 1000 + 50] ^= 1;
    // ...and junk: a header that starts no packet, then part of a beacon.
    capture.push(group, new Uint8Array([0xe0, 1, 2, 3, 4, 5]), beacons.subarray(0, 40));
  }
  // Files, as recordings are replayed: read into one reused buffer.
  const dir = await Deno.makeTempDir({ prefix: "sda-replay-in-" });
  await Deno.mkdir(`${dir}/radar`);
  await Deno.mkdir(`${dir}/isl`);
  await Deno.writeFile(`${dir}/radar/mixed.kvn`, concatBytes(mixed));
  await Deno.writeFile(`${dir}/isl/junk.spp`, concatBytes(capture));
  const inputs = async () => [...(await fixtureInputs(fixtures)), ...(await fixtureInputs(dir))];
  const startedAt = Date.UTC(2026, 11, 1) * 1000;
  // The two logs: observations and dead letters each in order (how they
  // interleave depends on how the batches were cut).
  const decode = async (workers?: DecodePool) => {
    const batches = new Map<string, number>();
    const lines: string[] = [];
    const letters: string[] = [];
    for (const input of await inputs()) {
      for await (const batch of decodeInput(input, startedAt, workers)) {
        batches.set(input.name, (batches.get(input.name) ?? 0) + 1);
        lines.push(...linesOf(batch));
        letters.push(...batch.deadLetters.map(serializeDeadLetter));
      }
    }
    return { batches, lines, letters };
  };
  const pool = new DecodePool(2);
  await pool.started;
  try {
    const inWorkers = await decode(pool);
    const without = await decode();
    // ~2.9 MB of TDM in ~256 KiB pieces of whole messages; ISL in ~128 KiB.
    assert.ok(inWorkers.batches.get("radar/mixed.kvn")! >= 8, "radar not in pieces");
    assert.ok(inWorkers.batches.get("isl/junk.spp")! >= 10, "ISL not in pieces");
    assert.ok(without.lines.length > 30_000, `${without.lines.length} lines`);
    assert.ok(without.letters.length > 30, `${without.letters.length} dead letters`);
    const refs = without.letters.filter((l) => l.includes('"peer":"isl/junk.spp"'))
      .map((l) => JSON.parse(l).ref);
    assert.equal(refs.length, 20, refs.join());
    assert.ok(refs.filter((ref) => ref !== undefined).length >= 10, refs.join());
    // Not deepEqual on the arrays: its diff of 30,000 lines takes minutes.
    assert.equal(inWorkers.lines.length, without.lines.length);
    for (let i = 0; i < without.lines.length; i++) {
      if (inWorkers.lines[i] !== without.lines[i]) {
        assert.equal(inWorkers.lines[i], without.lines[i], `line ${i}`);
      }
    }
    assert.deepEqual(inWorkers.letters, without.letters);
  } finally {
    pool.close();
    await removeDir(dir);
  }
});

Deno.test("decodeInput() in a worker decodes a TDM recording with no cut between messages for 8 MiB as one stream from there, to the same lines", async () => {
  const { generatedRadar } = await import("../../bench/_generate.ts");
  // ~9.6 MB of TDM whose messages are all one line away from a cut.
  const text = new TextDecoder().decode(
    concatBytes(await Array.fromAsync(await generatedRadar(40_000).open())),
  ).replaceAll("DATA_STOP\nCCSDS_TDM_VERS", "DATA_STOP\nCOMMENT no cut\nCCSDS_TDM_VERS");
  const bytes = new TextEncoder().encode(text);
  assert.ok(bytes.length > 8 * 1024 * 1024, `${bytes.length} bytes`);
  const { input, dir } = await fileInput("radar/uncut.kvn", bytes);
  const startedAt = Date.UTC(2026, 11, 1) * 1000;
  const pool = new DecodePool(1);
  await pool.started;
  try {
    const inWorker: string[] = [];
    let largest = 0;
    for await (const batch of decodeInput(input, startedAt, pool)) {
      const lines = linesOf(batch);
      largest = Math.max(largest, lines.length);
      inWorker.push(...lines);
    }
    const without: string[] = [];
    for await (const batch of decodeInput(input, startedAt)) without.push(...linesOf(batch));
    assert.equal(without.length, 40_000);
    assert.equal(inWorker.length, without.length);
    for (let i = 0; i < without.length; i++) {
      if (inWorker[i] !== without[i]) assert.equal(inWorker[i], without[i], `line ${i}`);
    }
    // Streamed in groups, never as one piece of everything.
    assert.ok(largest < 10_000, `largest batch ${largest}`);
  } finally {
    pool.close();
    await removeDir(dir);
  }
});

/** `bytes` as a recording in a file of its own (in `dir`, for the caller to remove), read as replay reads recordings. */
async function fileInput(
  name: string,
  bytes: Uint8Array,
): Promise<{ input: ReplayInput; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "sda-replay-in-" });
  await Deno.mkdir(`${dir}/${name.split("/")[0]}`);
  await Deno.writeFile(`${dir}/${name}`, bytes);
  const [input] = await fixtureInputs(dir);
  return { input, dir };
}

/** The log lines of a batch's observations: packed, or serialised here. */
function linesOf(batch: IngestBatch): string[] {
  const lines: string[] = [];
  const packed = batch.packed;
  if (packed !== undefined) {
    const decoder = new TextDecoder();
    let start = 0;
    for (let i = 0; i < packed.count; i++) {
      lines.push(decoder.decode(packed.lines.subarray(start, packed.ends[i] - 1)));
      start = packed.ends[i];
    }
  }
  for (const o of batch.observations) lines.push(serializeObservation(o));
  return lines;
}

Deno.test("decodeInput() cancelled while it reads an optical page for a worker cancels the page's bytes at once", async () => {
  const pool = new DecodePool(1);
  await pool.started;
  try {
    for (const workers of [pool, undefined]) {
      let cancelled = false;
      let pulls = 0;
      const rows = new TextEncoder().encode("EO-1,2026-11-25T00:00:00Z,S,1,1,1\n".repeat(2000));
      const input: ReplayInput = {
        kind: "optical",
        name: "optical/slow.csv",
        // An endless page, 64 KiB every 5 ms: read ahead, never whole.
        open: () =>
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              pulls++;
              await new Promise((resolve) => setTimeout(resolve, 5));
              controller.enqueue(
                pulls === 1
                  ? new TextEncoder().encode("id,obTime,idSensor,satNo,ra,declination\n")
                  : rows,
              );
            },
            cancel() {
              cancelled = true;
            },
          }),
      };
      const reader = decodeInput(input, Date.UTC(2026, 11, 1) * 1000, workers).getReader();
      const first = reader.read().catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
      await reader.cancel("stop");
      await first;
      const atCancel = pulls;
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(cancelled, true, `workers ${workers !== undefined}`);
      assert.equal(pulls, atCancel, "the page was read on after the cancel");
      assert.ok(atCancel < 32, `${atCancel} chunks read before the cancel took`);
    }
  } finally {
    pool.close();
  }
});

Deno.test("compareLog() compares byte for byte: a blank line, a line end, a missing file are differences", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-compare-" });
  try {
    await Deno.mkdir(`${dir}/log`);
    await Deno.writeTextFile(`${dir}/log/00000000000000000000.jsonl`, "A\nB\n");
    const against = async (expected: string | undefined) => {
      if (expected !== undefined) await Deno.writeTextFile(`${dir}/expected.jsonl`, expected);
      return await compareLog(`${dir}/log`, `${dir}/expected.jsonl`);
    };
    // Each passed the line-by-line check (blank lines dropped, a missing
    // expected file read as empty).
    assert.equal(
      await against(undefined),
      "is missing (the replay wrote 2 lines)", // after the file's name, as replay prints it
    );
    assert.equal(await against("A\nB\n"), undefined);
    // Bytes, not text: a byte that is not UTF-8 reads as U+FFFD either way.
    await Deno.writeFile(`${dir}/log/00000000000000000000.jsonl`, new Uint8Array([0x41, 0xff, 10]));
    await Deno.writeFile(`${dir}/expected.jsonl`, new Uint8Array([0x41, 0xfe, 10]));
    assert.equal(
      await compareLog(`${dir}/log`, `${dir}/expected.jsonl`),
      "differs in bytes that are not UTF-8 (the text reads the same)",
    );
    await Deno.writeTextFile(`${dir}/log/00000000000000000000.jsonl`, "A\nB\n");
    // A CR is shown, not hidden.
    assert.equal(await against("A\r\nB\n"), 'line 1 differs:\n  expected: "A\\r"\n  actual:   "A"');
    assert.equal(await against("A\n\nB\n"), "line 2 differs:\n  expected: \n  actual:   B");
    assert.equal(
      await against("A\nB"),
      "the last line ends differently: a line end the expected file lacks at the end",
    );
    assert.equal(
      await against("A\nB\n\n"),
      'line 3: missing (expected 3 lines, got 2)\n  expected: ""',
    );
    assert.equal(
      await against("A\n"),
      'line 2: not expected (expected 1 lines, got 2)\n  actual:   "B"',
    );
  } finally {
    await removeDir(dir);
  }
});

Deno.test("replay takes an empty page file as an empty page, like the live source an empty answer, and counts the duplicates it dropped", async () => {
  const copy = await Deno.makeTempDir({ prefix: "sda-replay-" });
  const out = await Deno.makeTempDir({ prefix: "sda-replay-" });
  try {
    await Deno.mkdir(`${copy}/radar`);
    await Deno.mkdir(`${copy}/optical`);
    // The same capture twice: its second reading is all repeats.
    for (const name of ["a.kvn", "b.kvn"]) {
      await Deno.copyFile(`${fixtures}/radar/tdm2_azel_xsye.kvn`, `${copy}/radar/${name}`);
    }
    await Deno.writeTextFile(`${copy}/optical/page-001.json`, "");
    await Deno.writeTextFile(`${copy}/optical/page-002.csv`, "");
    for (const workers of ["0", "1"]) {
      const child = spawnMain(["replay", "--fixtures", copy, "--out", out, "--workers", workers]);
      assert.equal((await child.status).code, 0, child.stderr());
      const events = await readAllLines(`${out}/events`);
      const deadLetters = await readAllLines(`${out}/dead-letter`);
      assert.equal(deadLetters.length, 0, deadLetters.join("\n"));
      assert.ok(events.length > 0);
      assert.match(
        child.stderr(),
        new RegExp(
          `^replay: 4 fixtures → ${events.length} observations? in .*/events, 0 dead letters in .*/dead-letter, ${events.length} duplicates? dropped \\(`,
          "m",
        ),
      );
    }
  } finally {
    await removeDir(copy);
    await removeDir(out);
  }
});
