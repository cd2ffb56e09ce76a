import assert from "node:assert/strict";
import { observationId } from "../../envelope/observation_id.ts";
import { serializeObservation } from "../../envelope/serialize.ts";
import type { PackedObservations } from "../../operators/ingest_batch.ts";
import {
  fillPackedIds,
  packedAt,
  packedBytes,
  packObservations,
} from "../../operators/pack_observations.ts";
import { radarObservation } from "../_observations.ts";

function lines(packed: PackedObservations): string[] {
  const decoder = new TextDecoder();
  const out: string[] = [];
  for (let i = 0, start = 0; i < packed.count; start = packed.ends[i++]) {
    out.push(decoder.decode(packed.lines.subarray(start, packed.ends[i])));
  }
  return out;
}

Deno.test("packObservations() packs lines beyond ASCII at their byte ends, in given memory and in its own", () => {
  const observations = Array.from({ length: 300 }, (_, i) => radarObservation(i));
  observations[7].provenance.meta = { ORIGINATOR: "Ørsted 站 🛰" };
  observations[7].id = observationId(observations[7]);
  const expected = observations.map((o) => serializeObservation(o) + "\n");

  const own = packObservations(observations);
  assert.deepEqual(lines(own), expected);

  const shared = new SharedArrayBuffer(1 << 20);
  let asked = 0;
  const given = packObservations(observations, (bytes) => {
    asked = bytes;
    return { buffer: shared, offset: 64 };
  });
  assert.deepEqual(lines(given), expected);
  const bytes = new TextEncoder().encode(expected.join("")).length;
  assert.equal(given.lines.length, bytes);
  // What the other side of the shared memory sees.
  const there = packedAt(shared, 64, given.count, given.lines.length, given.keys);
  assert.equal(asked, packedBytes(300, bytes));
  assert.deepEqual(lines(there), expected);
  assert.deepEqual(there.ids, own.ids);
});

Deno.test("packObservations() with deferIds packs each id's input, and fillPackedIds() gives the same lines and ids as packing with ids, in given memory and in its own", () => {
  const make = () => {
    const observations = Array.from({ length: 300 }, (_, i) => radarObservation(i));
    // Beyond ASCII in a line (before the id's input) and in an id's input.
    observations[7].provenance.meta = { ORIGINATOR: "Ørsted 站 🛰" };
    observations[9].sensor = "XR-Ørsted";
    observations[11].target = { norad: null, id: 'say "hi"\\' };
    for (const o of observations) o.id = observationId(o);
    return observations;
  };
  const expected = packObservations(make());
  assert.ok(expected.ids.some((w) => w !== 0), "ids packed");

  const own = packObservations(make().map((o) => ({ ...o, id: "" })), undefined, true);
  assert.ok(own.idInputs !== undefined && own.idInputEnds !== undefined);
  assert.ok(own.ids.every((w) => w === 0), "no id hashed yet");
  assert.ok(lines(own)[0].startsWith('{"v":1,"id":"00000000000000000000000000000000"'));
  fillPackedIds(own);
  assert.deepEqual(lines(own), lines(expected));
  assert.deepEqual(own.ids, expected.ids);
  assert.equal(own.idInputs, undefined);

  const shared = new SharedArrayBuffer(1 << 20);
  let asked = 0;
  const given = packObservations(make(), (bytes) => {
    asked = bytes;
    return { buffer: shared, offset: 64 };
  }, true);
  const inputsBytes = given.idInputs!.length;
  assert.equal(asked, packedBytes(300, given.lines.length, inputsBytes));
  // What the other side of the shared memory sees, and fills in place.
  const there = packedAt(shared, 64, given.count, given.lines.length, given.keys, inputsBytes);
  fillPackedIds(there);
  assert.deepEqual(lines(there), lines(expected));
  assert.deepEqual(there.ids, expected.ids);
  assert.deepEqual(lines(given), lines(expected), "the same memory");
});
