import assert from "node:assert/strict";
import type { Observation, RadarMeasurement } from "../../envelope/observation.ts";
import { idInput, observationId } from "../../envelope/observation_id.ts";
import { serializeObservation } from "../../envelope/serialize.ts";
import type { PackedObservations } from "../../operators/ingest_batch.ts";
import {
  fillPackedIds,
  packedAt,
  packedBytes,
  packObservations,
} from "../../operators/pack_observations.ts";
import { lineIdInput } from "../../operators/line_id_input.ts";
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

/** Radar observations with every kind of value an id input is read from, plain and escaped. */
function awkwardObservations(): Observation[] {
  const observations: Observation[] = Array.from({ length: 300 }, (_, i) => radarObservation(i));
  // Beyond ASCII in a line (before the id's input) and in an id's input.
  observations[7].provenance.meta = { ORIGINATOR: "Ørsted 站 🛰" };
  observations[9].sensor = "XR-Ørsted";
  observations[11].target = { norad: null, id: 'say "hi"\\' };
  observations[13].target = { norad: null, id: null };
  observations[15].target = { norad: null, id: "OBJ-1" };
  observations[17].target = { norad: 0, id: "x" };
  observations[19].target = { norad: null, id: "" };
  // A new object: the measurement's JSON is remembered from the id on.
  observations[21].measurement = {
    ...observations[21].measurement as RadarMeasurement,
    other: { 'k}"{': 1, "[x]": 2, "\u00e9": 3 },
  };
  observations[23].sensor = "XR\ud800"; // a lone surrogate, escaped in the line
  observations[25].sensor = "XR\n1";
  observations[27] = {
    ...observations[27],
    kind: "isl",
    measurement: {
      range_km: 1.5,
      range_rate_km_s: -0.25,
      observer: { norad: 44713, frame: "GCRF", r_km: [1, 2, 3.5], v_km_s: [0.1, 0.2, 0.3] },
    },
  } as Observation;
  for (const o of observations) o.id = observationId(o);
  return observations;
}

Deno.test("lineIdInput() reads the id input of a plain line back from it, and gives up on escaped strings", () => {
  const encoder = new TextEncoder();
  let plain = 0;
  for (const [i, o] of awkwardObservations().entries()) {
    const line = encoder.encode(serializeObservation(o) + "\n");
    const idEnd = '{"v":1,"id":"'.length + 32;
    const out = new Uint8Array(line.length);
    const n = lineIdInput(line, idEnd, line.length, out);
    if ([11, 23, 25].includes(i)) {
      assert.equal(n, -1, `line ${i} has an escaped string`);
      continue;
    }
    plain++;
    assert.equal(new TextDecoder().decode(out.subarray(0, n)), idInput(o), `line ${i}`);
  }
  assert.equal(plain, 297);
});

Deno.test("packObservations() with deferIds leaves the ids to fillPackedIds(), which gives the same lines and ids as packing with ids, in given memory and in its own", () => {
  const expected = packObservations(awkwardObservations());
  assert.ok(expected.ids.some((w) => w !== 0), "ids packed");

  const own = packObservations(
    awkwardObservations().map((o) => ({ ...o, id: "" })),
    undefined,
    true,
  );
  assert.equal(own.idsDeferred, true);
  assert.ok(own.ids.every((w) => w === 0), "no id hashed yet");
  assert.ok(lines(own)[0].startsWith('{"v":1,"id":"00000000000000000000000000000000"'));
  fillPackedIds(own);
  assert.deepEqual(lines(own), lines(expected));
  assert.deepEqual(own.ids, expected.ids);
  assert.equal(own.idsDeferred, undefined);

  const shared = new SharedArrayBuffer(1 << 20);
  let asked = 0;
  const given = packObservations(awkwardObservations(), (bytes) => {
    asked = bytes;
    return { buffer: shared, offset: 64 };
  }, true);
  assert.equal(asked, packedBytes(300, given.lines.length));
  // What the other side of the shared memory sees, and fills in place.
  const there = packedAt(shared, 64, given.count, given.lines.length, given.keys, true);
  fillPackedIds(there);
  assert.deepEqual(lines(there), lines(expected));
  assert.deepEqual(there.ids, expected.ids);
  assert.deepEqual(lines(given), lines(expected), "the same memory");
});
