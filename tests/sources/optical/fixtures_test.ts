/**
 * Every fixture page of `fixtures/optical/` decoded as the replay decodes
 * it, compared with envelope values written out by hand (SPEC §5, §10).
 */

import assert from "node:assert/strict";
import type { DeadLetter } from "../../../envelope/dead_letter.ts";
import type { OpticalObservation } from "../../../envelope/observation.ts";
import { observationId } from "../../../envelope/observation_id.ts";
import { decodeOpticalPage } from "../../../sources/optical/decode_optical_page.ts";

const FIXTURES = new URL("../../../fixtures/optical/", import.meta.url);

function decodeFixture(name: string) {
  const body = Deno.readFileSync(new URL(name, FIXTURES));
  const contentType = name.endsWith(".json") ? "application/json" : "text/csv";
  return decodeOpticalPage(body, contentType, {
    source: "replay",
    transport: "replay",
    peer: `optical/${name}`,
    deterministic: true,
  });
}

type Expected = Pick<OpticalObservation, "t_obs" | "sensor" | "target" | "measurement"> & {
  ref: string;
  meta: OpticalObservation["provenance"]["meta"];
};

/** The full envelope of a replayed observation: t_rx = t_obs, id from the fields. */
function replayed(file: string, e: Expected): OpticalObservation {
  const o: OpticalObservation = {
    v: 1,
    id: "",
    kind: "optical",
    t_obs: e.t_obs,
    t_rx: e.t_obs,
    sensor: e.sensor,
    target: e.target,
    measurement: e.measurement,
    provenance: {
      source: "replay",
      format: file.endsWith(".json") ? "udl-eo-json" : "udl-eo-csv",
      transport: "replay",
      peer: `optical/${file}`,
      ref: e.ref,
      time_system: "UTC",
      meta: e.meta,
    },
  };
  o.id = observationId(o);
  return o;
}

function letter(
  file: string,
  stage: DeadLetter["stage"],
  reason: string,
  raw: string,
  ref?: string,
): DeadLetter {
  const d: DeadLetter = {
    v: 1,
    t_rx: "1970-01-01T00:00:00.000000Z",
    source: "replay",
    format: file.endsWith(".json") ? "udl-eo-json" : "udl-eo-csv",
    peer: `optical/${file}`,
    stage,
    reason,
    raw,
  };
  if (ref !== undefined) d.ref = ref;
  return d;
}

const SITE = { lat_deg: 20.7083, lon_deg: -156.2571, alt_km: 3.05 };

Deno.test("decodeOpticalPage() maps page-001.csv: target, site and frame rules, unknown column to meta", () => {
  const f = "page-001.csv";
  const page = decodeFixture(f);
  const metaA = { uct: false, dataMode: "REAL", source: "ARCHIVE-A", classificationMarking: "U" };
  assert.deepEqual(page.observations, [
    // satNo with origObjectId: the original designator is the id.
    replayed(f, {
      t_obs: "2026-11-25T12:00:00.123456Z",
      sensor: "MAUI-EO-1",
      target: { norad: 25544, id: "1998-067A" },
      measurement: {
        ra_deg: 123.456789,
        dec_deg: -12.345678,
        frame: "J2000",
        ra_unc_deg: 0.000278,
        dec_unc_deg: 0.000278,
        mag: 3.5,
        mag_unc: 0.12,
        site: SITE,
      },
      ref: "EO-0001",
      meta: metaA,
    }),
    // satNo without origObjectId: id is the number as text; no referenceFrame: J2000.
    replayed(f, {
      t_obs: "2026-11-25T12:00:01.500000Z",
      sensor: "MAUI-EO-1",
      target: { norad: 49863, id: "49863" },
      measurement: { ra_deg: 200.5, dec_deg: 45.25, frame: "J2000", site: SITE },
      ref: "EO-0002",
      meta: metaA,
    }),
    // No satNo: norad null, id from origObjectId; senalt missing: no site;
    // seven fraction digits truncated to six.
    replayed(f, {
      t_obs: "2026-11-25T12:00:02.123456Z",
      sensor: "MAUI-EO-2",
      target: { norad: null, id: "UCT-0042" },
      measurement: { ra_deg: 10, dec_deg: 0, frame: "GCRF", mag: 14.2 },
      ref: "EO-0003",
      meta: { uct: true, dataMode: "REAL", source: "ARCHIVE-A", classificationMarking: "U" },
    }),
    // Day-of-year obTime, ra 0 and declination −90 are in range, no target at all.
    replayed(f, {
      t_obs: "2026-11-26T00:00:00.000000Z",
      sensor: "MAUI-EO-2",
      target: { norad: null, id: null },
      measurement: { ra_deg: 0, dec_deg: -90, frame: "J2000" },
      ref: "EO-0004",
      meta: { dataMode: "TEST", classificationMarking: "U" },
    }),
  ]);
  assert.deepEqual(page.deadLetters, []);
  // Rows with equal meta share one object, so the serializer formats it once.
  assert.equal(page.observations[0].provenance.meta, page.observations[1].provenance.meta);
});

Deno.test("decodeOpticalPage() reads page-002.csv: BOM, CRLF, columns in another order, RFC 4180 quoting", () => {
  const f = "page-002.csv";
  const page = decodeFixture(f);
  assert.deepEqual(page.observations, [
    replayed(f, {
      t_obs: "2026-11-25T12:01:00.000001Z",
      sensor: "MAUI,EO-3", // a quoted comma
      target: { norad: 20580, id: "20580" },
      measurement: { ra_deg: 359.999999, dec_deg: 89.5, frame: "J2000" },
      ref: "EO-0101",
      meta: { uct: false, source: "ARCHIVE-B", remarks: 'Seen through cirrus, "faint"' },
    }),
    replayed(f, {
      t_obs: "2026-11-25T12:01:01.000000Z",
      sensor: "MAUI-EO-3",
      target: { norad: 20580, id: "20580" },
      measurement: { ra_deg: 1.25, dec_deg: -0.5, frame: "J2000" },
      ref: "EO-0102",
      meta: { source: "ARCHIVE-B", remarks: "two\r\nlines" }, // embedded CRLF kept
    }),
    // Quoted numbers; a quoted empty cell is absent; a uct that is not a
    // boolean is kept as it was written.
    replayed(f, {
      t_obs: "2026-11-25T12:01:02.000000Z",
      sensor: "MAUI-EO-3",
      target: { norad: null, id: null },
      measurement: { ra_deg: 2.5, dec_deg: -1.5, frame: "J2000" },
      ref: "EO-0103",
      meta: { uct: "maybe", source: "ARCHIVE-B" },
    }),
  ]);
  assert.deepEqual(page.deadLetters, []);
});

Deno.test("decodeOpticalPage() maps page-003.json: JSON numbers, null absent, unknown fields typed", () => {
  const f = "page-003.json";
  const page = decodeFixture(f);
  assert.deepEqual(page.observations, [
    replayed(f, {
      t_obs: "2026-11-25T12:02:00.250000Z",
      sensor: "MAUI-EO-1",
      target: { norad: 41866, id: "2016-071A" },
      measurement: {
        ra_deg: 280.123,
        dec_deg: -5.75,
        frame: "J2000",
        ra_unc_deg: 0.0005,
        dec_unc_deg: 0.0004,
        mag: 12.1,
        mag_unc: 0.2,
        site: { lat_deg: 20.7083, lon_deg: 203.7429, alt_km: 3.05 },
      },
      ref: "EO-0201",
      meta: {
        uct: false,
        dataMode: "REAL",
        source: "ARCHIVE-C",
        classificationMarking: "U",
        exposureTime: 1.5,
        tracking: '{"mode":"sidereal"}',
        calibrated: true,
      },
    }),
    replayed(f, {
      t_obs: "2026-11-25T12:02:01.000000Z",
      sensor: "MAUI-EO-1",
      target: { norad: 41866, id: "41866" },
      measurement: { ra_deg: 280.2, dec_deg: -5.7, frame: "J2000" }, // no senalt: no site
      ref: "EO-0202",
      meta: {},
    }),
  ]);
  assert.deepEqual(page.deadLetters, []);
});

Deno.test("decodeOpticalPage() dead-letters each failing row of page-004.csv and keeps the good ones", () => {
  const f = "page-004.csv";
  const page = decodeFixture(f);
  const good = (
    t_obs: string,
    ref: string,
    measurement: OpticalObservation["measurement"],
  ) =>
    replayed(f, {
      t_obs,
      sensor: "MAUI-EO-1",
      target: { norad: 25544, id: "25544" },
      measurement,
      ref,
      meta: {},
    });
  assert.deepEqual(page.observations, [
    // Every bound at its edge is inside the range.
    good("2026-11-25T12:03:13.000000Z", "EO-0314", {
      ra_deg: 0,
      dec_deg: 90,
      frame: "J2000",
      site: { lat_deg: -90, lon_deg: -180, alt_km: 0 },
    }),
    good("2026-11-25T12:03:15.000000Z", "EO-0316", { ra_deg: 10, dec_deg: 10, frame: "J2000" }),
    good("2026-11-25T12:03:16.000000Z", "EO-0317", { ra_deg: 10, dec_deg: -0.15, frame: "J2000" }),
  ]);
  assert.deepEqual(page.deadLetters, [
    letter(
      f,
      "validation",
      "ra value out of range [0, 360): 360",
      "EO-0301,2026-11-25T12:03:00Z,MAUI-EO-1,25544,,360,10,,,",
      "EO-0301",
    ),
    letter(
      f,
      "validation",
      "ra value out of range [0, 360): -0.001",
      "EO-0302,2026-11-25T12:03:01Z,MAUI-EO-1,25544,,-0.001,10,,,",
      "EO-0302",
    ),
    letter(
      f,
      "validation",
      "declination value out of range [-90, 90]: 90.5",
      "EO-0303,2026-11-25T12:03:02Z,MAUI-EO-1,25544,,10,90.5,,,",
      "EO-0303",
    ),
    letter(
      f,
      "validation",
      "declination value out of range [-90, 90]: -90.0001",
      "EO-0304,2026-11-25T12:03:03Z,MAUI-EO-1,25544,,10,-90.0001,,,",
      "EO-0304",
    ),
    letter(
      f,
      "validation",
      "senlat value out of range [-90, 90]: 91",
      "EO-0305,2026-11-25T12:03:04Z,MAUI-EO-1,25544,,10,10,91,0,0",
      "EO-0305",
    ),
    letter(
      f,
      "validation",
      "senlon value out of range [-180, 360): 360",
      "EO-0306,2026-11-25T12:03:05Z,MAUI-EO-1,25544,,10,10,0,360,0",
      "EO-0306",
    ),
    letter(
      f,
      "validation",
      "senlon value out of range [-180, 360): -180.5",
      "EO-0307,2026-11-25T12:03:06Z,MAUI-EO-1,25544,,10,10,0,-180.5,0",
      "EO-0307",
    ),
    letter(
      f,
      "validation",
      'obTime is not a valid instant: Month out of range in timestamp: "2026-13-01T00:00:00Z"',
      "EO-0308,2026-13-01T00:00:00Z,MAUI-EO-1,25544,,10,10,,,",
      "EO-0308",
    ),
    letter(
      f,
      "validation",
      'Cannot parse obTime as a UTC instant: "yesterday"',
      "EO-0309,yesterday,MAUI-EO-1,25544,,10,10,,,",
      "EO-0309",
    ),
    letter(
      f,
      "validation",
      "Missing required field: idSensor",
      "EO-0310,2026-11-25T12:03:09Z,,25544,,10,10,,,",
      "EO-0310",
    ),
    letter(
      f,
      "decoding",
      'Cannot parse ra value as a number: "12.3.4"',
      "EO-0311,2026-11-25T12:03:10Z,MAUI-EO-1,25544,,12.3.4,10,,,",
      "EO-0311",
    ),
    letter(
      f,
      "decoding",
      'Cannot parse satNo value as an integer: "abc"',
      "EO-0312,2026-11-25T12:03:11Z,MAUI-EO-1,abc,,10,10,,,",
      "EO-0312",
    ),
    letter(
      f,
      "decoding",
      "CSV record has 7 fields, the header has 10",
      "EO-0313,2026-11-25T12:03:12Z,MAUI-EO-1,25544,,10,10",
    ),
    letter(
      f,
      "validation",
      "Missing required field: id",
      ",2026-11-25T12:03:14Z,MAUI-EO-1,25544,,10,10,,,",
    ),
    letter(
      f,
      "decoding",
      'Cannot parse ra value as a number: "0x10"',
      "EO-0318,2026-11-25T12:03:17Z,MAUI-EO-1,25544,,0x10,10,,,",
      "EO-0318",
    ),
    letter(
      f,
      "validation",
      "satNo value out of range [0, 2^53): -5",
      "EO-0319,2026-11-25T12:03:18Z,MAUI-EO-1,-5,,10,10,,,",
      "EO-0319",
    ),
    // An unterminated quote swallows the rest of the page into one record.
    letter(
      f,
      "decoding",
      "Cannot parse CSV record: Quoted field unterminated",
      '"EO-0320,2026-11-25T12:03:19Z,MAUI-EO-1,25544,,10,10,,,',
    ),
  ]);
});

Deno.test("decodeOpticalPage() dead-letters each failing record of page-005.json with the record as raw", () => {
  const f = "page-005.json";
  const page = decodeFixture(f);
  assert.deepEqual(page.observations, [
    // Numbers sent as JSON strings are read like CSV cells.
    replayed(f, {
      t_obs: "2026-11-25T12:04:07.000000Z",
      sensor: "MAUI-EO-2",
      target: { norad: 25544, id: "25544" },
      measurement: { ra_deg: 45.5, dec_deg: -1, frame: "J2000" },
      ref: "EO-0408",
      meta: {},
    }),
  ]);
  assert.deepEqual(page.deadLetters, [
    letter(
      f,
      "decoding",
      'Cannot parse ra value as a number: "abc"',
      '{"id":"EO-0401","obTime":"2026-11-25T12:04:00Z","idSensor":"MAUI-EO-2","ra":"abc","declination":1}',
      "EO-0401",
    ),
    letter(f, "decoding", "JSON record is not an object: 42", "42"),
    letter(
      f,
      "validation",
      "Missing required field: declination",
      '{"id":"EO-0403","obTime":"2026-11-25T12:04:02Z","idSensor":"MAUI-EO-2","ra":1}',
      "EO-0403",
    ),
    letter(
      f,
      "validation",
      "declination value out of range [-90, 90]: 100",
      '{"id":"EO-0404","obTime":"2026-11-25T12:04:03Z","idSensor":"MAUI-EO-2","ra":1,"declination":100}',
      "EO-0404",
    ),
    letter(
      f,
      "decoding",
      "Cannot parse declination value as a number: true",
      '{"id":"EO-0405","obTime":"2026-11-25T12:04:04Z","idSensor":"MAUI-EO-2","ra":"45.5","declination":true}',
      "EO-0405",
    ),
    letter(
      f,
      "validation",
      "Cannot parse obTime as a UTC instant: 1764072244",
      '{"id":"EO-0406","obTime":1764072244,"idSensor":"MAUI-EO-2","ra":1,"declination":1}',
      "EO-0406",
    ),
    letter(
      f,
      "decoding",
      "Cannot parse satNo value as an integer: 12.5",
      '{"id":"EO-0407","obTime":"2026-11-25T12:04:06Z","idSensor":"MAUI-EO-2","satNo":12.5,"ra":1,"declination":1}',
      "EO-0407",
    ),
  ]);
});

Deno.test("decodeOpticalPage() reads empty pages (page-006.csv, page-007.json) as nothing", () => {
  for (const f of ["page-006.csv", "page-007.json"]) {
    assert.deepEqual(decodeFixture(f), { observations: [], deadLetters: [] });
  }
});

Deno.test("decodeOpticalPage() makes page-008.json, which is not JSON, one decoding dead letter", () => {
  const f = "page-008.json";
  const page = decodeFixture(f);
  assert.deepEqual(page.observations, []);
  assert.equal(page.deadLetters.length, 1);
  const [d] = page.deadLetters;
  assert.equal(d.stage, "decoding");
  assert.match(d.reason, /^Cannot parse JSON page: /);
  assert.equal(d.raw, '[{"id": "EO-0501", "obTime": "2026-11-25T12:05:00Z",\n');
  assert.equal(d.peer, "optical/page-008.json");
});

Deno.test("decodeOpticalPage() dead-letters the row of page-009.csv that is not UTF-8, not its neighbour", () => {
  const f = "page-009.csv";
  const page = decodeFixture(f);
  assert.deepEqual(page.observations, [
    replayed(f, {
      t_obs: "2026-11-25T12:06:01.000000Z",
      sensor: "MAUI-EO-1",
      target: { norad: 25544, id: "25544" },
      measurement: { ra_deg: 31, dec_deg: 41, frame: "J2000" },
      ref: "EO-0602",
      meta: { remarks: "Café" },
    }),
  ]);
  assert.deepEqual(page.deadLetters, [
    letter(
      f,
      "decoding",
      "CSV record is not valid UTF-8",
      "EO-0601,2026-11-25T12:06:00Z,MAUI-EO-1,25544,30,40,Caf\ufffd",
    ),
  ]);
});

Deno.test("decodeOpticalPage() turns every fixture record into exactly one observation or dead letter", () => {
  // Records per page, counted by hand from the files.
  const records: Record<string, number> = {
    "page-001.csv": 4,
    "page-002.csv": 3,
    "page-003.json": 2,
    "page-004.csv": 20,
    "page-005.json": 8,
    "page-006.csv": 0,
    "page-007.json": 0,
    "page-008.json": 1, // the page itself
    "page-009.csv": 2,
  };
  const names = [...Deno.readDirSync(FIXTURES)].map((e) => e.name).sort();
  assert.deepEqual(names, Object.keys(records));
  for (const name of names) {
    const page = decodeFixture(name);
    assert.equal(page.observations.length + page.deadLetters.length, records[name], name);
  }
});
