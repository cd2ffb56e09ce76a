/** The stream contract of TdmDecodeStream: batching, idle flush, end of input, errors. */

import assert from "node:assert/strict";
import type { IngestBatch } from "../../../operators/ingest_batch.ts";
import { TdmDecodeStream } from "../../../sources/radar/tdm_decode_stream.ts";

const enc = new TextEncoder();
const HEAD = "CCSDS_TDM_VERS = 2.0\nMESSAGE_ID = M\nMETA_START\nTIME_SYSTEM = UTC\n" +
  "PARTICIPANT_1 = XR1\nMETA_STOP\nDATA_START\n";
// Near the test clock (1970-01-01T00:00:01Z): t_obs may be at most a day after receipt.
const T = "1970-01-01T00:00:00";

type Options = Partial<ConstructorParameters<typeof TdmDecodeStream>[0]>;

function decoderWith(options: Options = {}, now = () => 1_000_000): TdmDecodeStream {
  const ctx = { source: "xr1", transport: "tcp" as const, peer: "127.0.0.1:1", now };
  return new TdmDecodeStream({ ctx, ...options });
}

function stream(options: Options = {}) {
  let clock = 1_000_000;
  const decoder = decoderWith(options, () => clock);
  return {
    writer: decoder.writable.getWriter(),
    reader: decoder.readable.getReader(),
    setClock: (micros: number) => (clock = micros),
  };
}

function timeout(ms: number): Promise<"timeout"> {
  return new Promise((resolve) => setTimeout(() => resolve("timeout"), ms));
}

Deno.test("TdmDecodeStream() closes a group groupIdleMs after its last line, with no further input", async () => {
  const { writer, reader } = stream({ groupIdleMs: 20 });
  writer.write(enc.encode(HEAD + `RANGE = ${T} 1\nRCS = ${T} 2\n`));
  const { value } = await reader.read();
  assert.deepEqual(value!.observations.map((o) => o.measurement), [{ range_km: 1, rcs_m2: 2 }]);
  await writer.close();
  assert.equal((await reader.read()).done, true);
});

Deno.test("TdmDecodeStream() with groupIdleMs Infinity holds the group until a line with another timetag or the end", async () => {
  const { writer, reader } = stream({ groupIdleMs: Infinity });
  writer.write(enc.encode(HEAD + `RANGE = ${T} 1\n`));
  const first = reader.read();
  assert.equal(await Promise.race([first, timeout(60)]), "timeout");
  writer.write(enc.encode(`RANGE = ${T}.5 2\n`));
  assert.deepEqual((await first).value!.observations.map((o) => o.measurement), [{ range_km: 1 }]);
  writer.close();
  assert.deepEqual((await reader.read()).value!.observations.map((o) => o.measurement), [
    { range_km: 2 },
  ]);
  assert.equal((await reader.read()).done, true);
});

Deno.test("TdmDecodeStream() emits one batch per chunk that completed something, stamped with the first line's receive time", async () => {
  const { writer, reader, setClock } = stream({ groupIdleMs: Infinity });
  const batches: IngestBatch[] = [];
  const collected = (async () => {
    for (let r = await reader.read(); !r.done; r = await reader.read()) batches.push(r.value);
  })();
  setClock(1_000_000);
  await writer.write(enc.encode(HEAD + `RANGE = ${T} 1\nRCS = ${T}`)); // group opens
  setClock(2_000_000);
  await writer.write(enc.encode(" 2\n")); // completes the RCS line: nothing closes yet
  setClock(3_000_000);
  // Closes the group; the dead letter waits for the group that precedes it.
  await writer.write(enc.encode(`RANGE = ${T}.5 3\nBAD\n`));
  await writer.close();
  await collected;
  assert.equal(batches.length, 2);
  assert.deepEqual(batches[0].observations.map((o) => [o.measurement, o.t_rx]), [
    [{ range_km: 1, rcs_m2: 2 }, "1970-01-01T00:00:01.000000Z"],
  ]);
  assert.equal(batches[0].deadLetters.length, 0);
  assert.equal(batches[0].receivedAt, 1_000_000);
  assert.equal(batches[0].source, "xr1");
  assert.deepEqual(batches[0].acks, []);
  // The end of input flushes the open group, received in the third chunk.
  assert.deepEqual(batches[1].observations.map((o) => [o.measurement, o.t_rx]), [
    [{ range_km: 3 }, "1970-01-01T00:00:03.000000Z"],
  ]);
  assert.deepEqual(batches[1].deadLetters.map((d) => d.raw), ["BAD"]);
  assert.deepEqual(batches[1].deadLetterAt, [1]);
});

Deno.test("TdmDecodeStream() decodes a last line without a line end, or dead-letters it when told to", async () => {
  const text = HEAD + `RANGE = ${T} 1\nRANGE = ${T}.5 12`;
  const decode = async (incompleteLastLine?: "decode" | "dead-letter") => {
    const decoder = decoderWith({ incompleteLastLine });
    const batches = await Array.fromAsync(
      ReadableStream.from([enc.encode(text)]).pipeThrough(decoder),
    );
    return {
      observations: batches.flatMap((b) => b.observations.map((o) => o.measurement)),
      deadLetters: batches.flatMap((b) => b.deadLetters.map((d) => [d.stage, d.reason, d.raw])),
    };
  };
  assert.deepEqual(await decode(), {
    observations: [{ range_km: 1 }, { range_km: 12 }],
    deadLetters: [],
  });
  // Over TCP the value may have been cut short ("12" of "1234.5").
  assert.deepEqual(await decode("dead-letter"), {
    observations: [{ range_km: 1 }],
    deadLetters: [[
      "framing",
      "Incomplete last line: the input ended before its line end",
      `RANGE = ${T}.5 12`,
    ]],
  });
});

Deno.test("TdmDecodeStream() cancelled with an open group stops its idle timer", async () => {
  const { writer, reader } = stream({ groupIdleMs: 1000 });
  // A pending read lets the transform run; the group stays open, its timer armed.
  const read = reader.read();
  await writer.write(enc.encode(HEAD + `RANGE = ${T} 1\n`));
  await reader.cancel("gone");
  assert.equal((await read).done, true);
  await assert.rejects(writer.write(enc.encode("x\n")));
  // The test sanitizer fails this test if the 1 s timer were still pending.
});

Deno.test("TdmDecodeStream() given something other than bytes errors both its writable and its readable", async () => {
  const { writer, reader } = stream();
  const read = reader.read();
  const write = writer.write("RANGE = 1\n" as unknown as Uint8Array);
  await assert.rejects(write, TypeError);
  await assert.rejects(read, TypeError);
});

Deno.test("TdmDecodeStream() counts lines, observations and dead letters", async () => {
  const decoder = decoderWith();
  await Array.fromAsync(
    ReadableStream.from([enc.encode(HEAD + `RANGE = ${T} 1\nX\nDATA_STOP\n`)]).pipeThrough(decoder),
  );
  assert.deepEqual(decoder.stats, {
    lines: 10,
    observations: 1,
    deadLetters: 1,
    deadLettersInARow: 0,
  });
});

Deno.test("TdmDecodeStream() rejects options it cannot work with", () => {
  const ctx = { source: "s", transport: "tcp" as const, peer: "p" };
  assert.throws(() => new TdmDecodeStream({ ctx, maxLineBytes: 0 }), RangeError);
  assert.throws(() => new TdmDecodeStream({ ctx, groupIdleMs: -1 }), RangeError);
  assert.throws(
    () => new TdmDecodeStream({ ctx, incompleteLastLine: "drop" as "decode" }),
    TypeError,
  );
});

Deno.test("TdmDecodeStream() keeps a group open while a batch waits for the consumer, however long", async () => {
  const { writer, reader } = stream({ groupIdleMs: 20 });
  // Observation 1, then the first line of observation 2: observation 1 is
  // emitted and not read; the rest of observation 2 is held back upstream.
  writer.write(enc.encode(HEAD + `RANGE = ${T} 1\nRCS = ${T} 2\nRANGE = ${T}.5 3\n`));
  writer.write(enc.encode(`RCS = ${T}.5 4\n`));
  await timeout(100);
  writer.close();
  const batches = [];
  for (let r = await reader.read(); !r.done; r = await reader.read()) batches.push(r.value);
  assert.deepEqual(batches.flatMap((b) => b.observations.map((o) => o.measurement)), [
    { range_km: 1, rcs_m2: 2 },
    { range_km: 3, rcs_m2: 4 },
  ]);
});

Deno.test("TdmDecodeStream() keeps a group open while the sender is in the middle of a line", async () => {
  const { writer, reader } = stream({ groupIdleMs: 20 });
  const read = reader.read();
  await writer.write(enc.encode(HEAD + `RANGE = ${T} 1\nRCS = ${T}`));
  assert.equal(await Promise.race([read, timeout(100)]), "timeout");
  await writer.write(enc.encode(" 2\n"));
  assert.deepEqual((await read).value!.observations.map((o) => o.measurement), [
    { range_km: 1, rcs_m2: 2 },
  ]);
  await writer.close();
});

Deno.test("TdmDecodeStream() closes a group about a second after the sender paused in the middle of the next line", async () => {
  const { writer, reader } = stream({ groupIdleMs: 20 });
  const read = reader.read();
  const start = performance.now();
  await writer.write(enc.encode(HEAD + `RANGE = ${T} 1\nRCS = ${T} 2\nRANGE = ${T}.5`));
  // Not at groupIdleMs: the rest of the line may be a lost segment away.
  assert.equal(await Promise.race([read, timeout(300)]), "timeout");
  // Not until the connection idles out either (it was: 10 minutes).
  const { value } = await Promise.race([
    read,
    timeout(5000).then(() => assert.fail("held back while the next line is incomplete")),
  ]);
  assert.ok(performance.now() - start >= 1000);
  assert.deepEqual(value!.observations.map((o) => o.measurement), [{ range_km: 1, rcs_m2: 2 }]);
  // The line, finished later, is the next observation.
  await writer.write(enc.encode(" 3\n"));
  await writer.close();
  assert.deepEqual((await reader.read()).value!.observations.map((o) => o.measurement), [
    { range_km: 3 },
  ]);
});

Deno.test("TdmDecodeStream() with waitingSince closes a group only after the transport itself waited groupIdleMs", async () => {
  let since: number | undefined = undefined;
  const { writer, reader } = stream({ groupIdleMs: 20, waitingSince: () => since });
  const read = reader.read();
  await writer.write(enc.encode(HEAD + `RANGE = ${T} 1\nRCS = ${T} 2\n`));
  // Not reading (the pipeline is full): however long, the group stays open.
  assert.equal(await Promise.race([read, timeout(100)]), "timeout");
  // A read outstanding for 5 ms: not yet quiet for 20 ms.
  since = performance.now() - 5;
  assert.equal(await Promise.race([read, timeout(8)]), "timeout");
  // The read keeps waiting: the sender is quiet, the group closes.
  const { value } = await Promise.race([
    read,
    timeout(1000).then(() => assert.fail("not flushed")),
  ]);
  assert.deepEqual(value!.observations.map((o) => o.measurement), [{ range_km: 1, rcs_m2: 2 }]);
  await writer.close();
});
