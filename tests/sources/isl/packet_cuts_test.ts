import assert from "node:assert/strict";
import { generatedIsl } from "../../../bench/_generate.ts";
import { serializeDeadLetter, serializeObservation } from "../../../envelope/serialize.ts";
import { concatBytes } from "../../../sources/_concat_bytes.ts";
import { decodeIslPackets, IslPacketCutter } from "../../../sources/isl/mod.ts";

/** A capture with junk, a packet of every size class and a packet cut short at its end. */
async function capture(): Promise<Uint8Array> {
  const beacons = concatBytes(await Array.fromAsync(await generatedIsl(3000).open()));
  const parts: Uint8Array[] = [];
  for (let at = 0; at < beacons.length; at += 96 * 500) {
    // Junk (a version-7 header), then a packet of 1,000 bytes (its CRC
    // wrong): one dead letter, skipped up to the beacons that follow.
    parts.push(new Uint8Array([0xe0, 1, 2, 3, 4, 5, 6]));
    const big = new Uint8Array(1000);
    big.set([0x08, 0x01, 0xc0, 0x00, (1000 - 7) >> 8, (1000 - 7) & 0xff]);
    parts.push(big);
    parts.push(beacons.subarray(at, at + 96 * 500));
  }
  parts.push(beacons.subarray(0, 50));
  return concatBytes(parts);
}

function pieces(bytes: Uint8Array, chunkBytes: number, pieceBytes: number): Uint8Array[] {
  const cutter = new IslPacketCutter(pieceBytes, 1 << 20);
  const out: Uint8Array[] = [];
  // Each chunk a view of one reused buffer, as ByteReader hands them.
  const reused = new Uint8Array(chunkBytes);
  for (let at = 0; at < bytes.length; at += chunkBytes) {
    const chunk = reused.subarray(0, Math.min(chunkBytes, bytes.length - at));
    chunk.set(bytes.subarray(at, at + chunk.length));
    out.push(...cutter.push(chunk));
    reused.fill(0xaa);
  }
  out.push(...cutter.end());
  return out;
}

const ctx = { source: "isl", transport: "replay" as const, peer: "isl/x.spp", deterministic: true };

function decoded(parts: Uint8Array[]): { lines: string[]; letters: string[] } {
  const all = parts.map((part) => decodeIslPackets(part, ctx));
  return {
    lines: all.flatMap((d) => d.observations.map(serializeObservation)),
    letters: all.flatMap((d) => d.deadLetters.map(serializeDeadLetter)),
  };
}

Deno.test("IslPacketCutter cuts where the bytes say, however they are read, into pieces that decode to what the whole capture does, refs of malformed packets included", async () => {
  const bytes = await capture();
  const whole = decoded([bytes]);
  assert.equal(whole.lines.length, 3000);
  // Junk + bad packet per group (one skip each), the packet cut short at the end.
  assert.equal(whole.letters.length, 7);
  const expected = pieces(bytes, bytes.length, 16_384);
  for (const chunkBytes of [1, 95, 4096, 65_536]) {
    const cut = pieces(bytes, chunkBytes, 16_384);
    assert.deepEqual(cut.map((p) => p.length), expected.map((p) => p.length), `${chunkBytes}`);
    assert.deepEqual(concatBytes(cut), bytes);
  }
  assert.ok(expected.length >= 15, `${expected.length} pieces`);
  for (const piece of expected.slice(0, -1)) {
    assert.ok(piece.length >= 16_384 && piece.length < 16_384 + 1200, `${piece.length}`);
  }
  assert.deepEqual(decoded(expected), whole);
  // Cut next to every malformed packet it may be, still the same.
  assert.deepEqual(decoded(pieces(bytes, 4096, 1)), whole);
});

Deno.test("IslPacketCutter is stuck once more than its maximum came without two beacons in a row to cut between", async () => {
  const beacons = concatBytes(await Array.fromAsync(await generatedIsl(10).open()));
  const cutter = new IslPacketCutter(100, 5000);
  // Beacons each followed by junk: never two sound beacons in a row.
  for (let i = 0; i < 60; i++) {
    assert.deepEqual(cutter.push(beacons.subarray(0, 96)), []);
    assert.deepEqual(cutter.push(new Uint8Array([0xe0, 0, 0, 0, 0, 0, 0])), []);
  }
  assert.equal(cutter.stuck, true);
  const [rest] = cutter.end();
  assert.equal(rest.length, 60 * 103);
  assert.equal(cutter.stuck, false);
  assert.throws(() => new IslPacketCutter(0, 10), RangeError);
  assert.throws(() => new IslPacketCutter(10, 5), RangeError);
});
