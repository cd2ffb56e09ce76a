/**
 * Every radar fixture decodes to the envelopes and dead letters written out
 * here by hand (issue 3, "Done when" 1), as the replay command will decode
 * them: transport "replay", peer = the path under fixtures/, deterministic.
 */

import assert from "node:assert/strict";
import { type DeadLetter, DeadLetterSchema } from "../../../envelope/dead_letter.ts";
import {
  type Meta,
  ObservationSchema,
  type RadarObservation,
} from "../../../envelope/observation.ts";
import { observationId } from "../../../envelope/observation_id.ts";
import { serializeObservation } from "../../../envelope/serialize.ts";
import type { IngestBatch } from "../../../operators/ingest_batch.ts";
import { TdmDecodeStream } from "../../../sources/radar/tdm_decode_stream.ts";

const FIXTURES = new URL("../../../fixtures/radar/", import.meta.url);
const EPOCH = "1970-01-01T00:00:00.000000Z";

/** The decoded contents of one fixture, read in chunks of `chunk` bytes. */
async function decodeFixture(
  file: string,
  chunk = Infinity,
): Promise<{ observations: RadarObservation[]; deadLetters: DeadLetter[] }> {
  const bytes = await Deno.readFile(new URL(file, FIXTURES));
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += Math.min(chunk, bytes.length)) {
    chunks.push(bytes.subarray(i, i + chunk));
  }
  const ctx = {
    source: "replay",
    transport: "replay" as const,
    peer: `radar/${file}`,
    deterministic: true,
  };
  const batches: IngestBatch[] = await Array.fromAsync(
    ReadableStream.from(chunks).pipeThrough(new TdmDecodeStream({ ctx, groupIdleMs: Infinity })),
  );
  return {
    observations: batches.flatMap((b) => b.observations) as RadarObservation[],
    deadLetters: batches.flatMap((b) => b.deadLetters),
  };
}

/** An expected replayed observation; its id is that of these very fields. */
function expected(
  file: string,
  fields: Pick<RadarObservation, "t_obs" | "sensor" | "target" | "measurement"> & {
    ref: string;
    time_system: string;
    meta: Meta;
  },
): RadarObservation {
  const o: RadarObservation = {
    v: 1,
    id: "",
    kind: "radar",
    t_obs: fields.t_obs,
    t_rx: fields.t_obs,
    sensor: fields.sensor,
    target: fields.target,
    measurement: fields.measurement,
    provenance: {
      source: "replay",
      format: "ccsds-tdm-kvn",
      transport: "replay",
      peer: `radar/${file}`,
      ref: fields.ref,
      time_system: fields.time_system,
      meta: fields.meta,
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
    t_rx: EPOCH,
    source: "replay",
    format: "ccsds-tdm-kvn",
    peer: `radar/${file}`,
    stage,
    reason,
    raw,
  };
  if (ref !== undefined) d.ref = ref;
  return d;
}

/** The same result whatever the chunking: whole file, 4 KiB, and 7-byte reads. */
async function assertFixture(
  file: string,
  observations: RadarObservation[],
  deadLetters: DeadLetter[],
): Promise<void> {
  for (const chunk of [Infinity, 4096, 7]) {
    const got = await decodeFixture(file, chunk);
    assert.deepEqual(got.observations, observations, `${file} in chunks of ${chunk}`);
    assert.deepEqual(got.deadLetters, deadLetters, `${file} in chunks of ${chunk}`);
  }
}

Deno.test("TdmDecodeStream() decodes tdm2_azel_xsye.kvn: TDM 2.0, AZEL and XSYE, repeats, extra keywords, two messages", async () => {
  const file = "tdm2_azel_xsye.kvn";
  const header = {
    CCSDS_TDM_VERS: "2.0",
    CREATION_DATE: "2026-11-25T12:00:00",
    ORIGINATOR: "XR1-OPS",
    MESSAGE_ID: "XR1-20261125-0001",
  };
  const meta0 = {
    ...header,
    TRACK_ID: "T-0001",
    TIME_SYSTEM: "UTC",
    PARTICIPANT_1: "XR1",
    PARTICIPANT_2: "49863",
    MODE: "SEQUENTIAL",
    PATH: "1,2,1",
    ANGLE_TYPE: "AZEL",
    RANGE_UNITS: "km",
  };
  const meta1 = {
    ...header,
    TIME_SYSTEM: "UTC",
    PARTICIPANT_1: "XR1",
    PARTICIPANT_2: "UNKNOWN",
    ANGLE_TYPE: "AZEL",
  };
  const meta2 = {
    CCSDS_TDM_VERS: "2.0",
    CREATION_DATE: "2026-11-25T12:05:00",
    ORIGINATOR: "XR1-OPS",
    TIME_SYSTEM: "UTC",
    PARTICIPANT_1: "XR1",
    PARTICIPANT_2: "1998-067A",
    ANGLE_TYPE: "XSYE",
  };
  await assertFixture(file, [
    expected(file, {
      t_obs: "2026-11-25T12:00:01.000000Z",
      sensor: "XR1",
      target: { norad: 49863, id: "49863" },
      // ANGLE_1 = -10.5 is an azimuth: reported in [0, 360).
      measurement: {
        range_km: 1234.567,
        range_rate_km_s: -1.234567,
        az_deg: 349.5,
        el_deg: 45.25,
        rcs_m2: 1.2,
      },
      ref: "XR1-20261125-0001#0@21",
      time_system: "UTC",
      meta: meta0,
    }),
    expected(file, {
      t_obs: "2026-11-25T12:00:02.000000Z",
      sensor: "XR1",
      target: { norad: 49863, id: "49863" },
      measurement: {
        range_km: 1235.5,
        az_deg: 350.125,
        other: { "RANGE#2": 1235.75, RECEIVE_FREQ_2: 2287500000, TRANSMIT_FREQ_1: 2100000000 },
      },
      ref: "XR1-20261125-0001#0@27",
      time_system: "UTC",
      meta: meta0,
    }),
    expected(file, {
      t_obs: "2026-11-25T12:00:03.500000Z",
      sensor: "XR1",
      target: { norad: null, id: null },
      measurement: { doppler_integrated_km_s: 0.5, el_deg: -0.25 },
      ref: "XR1-20261125-0001#1@40",
      time_system: "UTC",
      meta: meta1,
    }),
    expected(file, {
      t_obs: "2026-11-25T12:05:01.000000Z",
      sensor: "XR1",
      target: { norad: null, id: "1998-067A" },
      measurement: { angle_1_deg: -12.5, angle_2_deg: 200.75, angle_type: "XSYE", mag: 6.5 },
      // No MESSAGE_ID: ORIGINATOR/CREATION_DATE; line 11 of the second message.
      ref: "XR1-OPS/2026-11-25T12:05:00#0@11",
      time_system: "UTC",
      meta: meta2,
    }),
  ], []);
});

Deno.test("TdmDecodeStream() decodes tdm1_radec_tai_gps_crlf.kvn: TDM 1.0, CRLF, TAI and GPS, day-of-year, RADEC, s and RU", async () => {
  const file = "tdm1_radec_tai_gps_crlf.kvn";
  const header = {
    CCSDS_TDM_VERS: "1.0",
    CREATION_DATE: "2026-329T13:00:00",
    ORIGINATOR: "XR2-OPS",
  };
  const observations = [
    expected(file, {
      // 2026-329 is 25 November; TAI − UTC = 37 s; digits past µs truncated.
      t_obs: "2026-11-25T13:00:00.123456Z",
      sensor: "XR2",
      target: { norad: 25544, id: "25544" },
      measurement: { range_s: 0.0123456789, ra_deg: 314.5, dec_deg: -30.125, frame: "EME2000" },
      ref: "XR2-OPS/2026-329T13:00:00#0@14",
      time_system: "TAI",
      meta: {
        ...header,
        TIME_SYSTEM: "TAI",
        PARTICIPANT_1: "XR2",
        PARTICIPANT_2: "25544",
        ANGLE_TYPE: "RADEC",
        REFERENCE_FRAME: "EME2000",
        RANGE_UNITS: "s",
      },
    }),
    expected(file, {
      // GPS − UTC = 18 s.
      t_obs: "2026-11-25T13:01:00.000000Z",
      sensor: "XR2",
      target: { norad: 20580, id: "20580" },
      measurement: { range_ru: 123456, other: { CARRIER_POWER: -150.5 } },
      ref: "XR2-OPS/2026-329T13:00:00#1@25",
      time_system: "GPS",
      meta: {
        ...header,
        TIME_SYSTEM: "GPS",
        PARTICIPANT_1: "XR2",
        PARTICIPANT_2: "20580",
        RANGE_UNITS: "RU",
      },
    }),
  ];
  await assertFixture(file, observations, []);
  // The bytes the event log gets: measurement keys in envelope order.
  const { observations: got } = await decodeFixture(file);
  assert.equal(
    serializeObservation(got[0]),
    `{"v":1,"id":"${observations[0].id}","kind":"radar","t_obs":"2026-11-25T13:00:00.123456Z",` +
      `"t_rx":"2026-11-25T13:00:00.123456Z","sensor":"XR2","target":{"norad":25544,"id":"25544"},` +
      `"measurement":{"range_s":0.0123456789,"ra_deg":314.5,"dec_deg":-30.125,"frame":"EME2000"},` +
      `"provenance":{"source":"replay","format":"ccsds-tdm-kvn","transport":"replay",` +
      `"peer":"radar/tdm1_radec_tai_gps_crlf.kvn","ref":"XR2-OPS/2026-329T13:00:00#0@14",` +
      `"time_system":"TAI","meta":{"CCSDS_TDM_VERS":"1.0","CREATION_DATE":"2026-329T13:00:00",` +
      `"ORIGINATOR":"XR2-OPS","TIME_SYSTEM":"TAI","PARTICIPANT_1":"XR2","PARTICIPANT_2":"25544",` +
      `"ANGLE_TYPE":"RADEC","REFERENCE_FRAME":"EME2000","RANGE_UNITS":"s"}}}`,
  );
});

Deno.test("TdmDecodeStream() decodes bad_input.kvn: every rejection a dead letter, every good line still logged", async () => {
  const file = "bad_input.kvn";
  const meta = {
    CCSDS_TDM_VERS: "2.0",
    MESSAGE_ID: "BAD-1",
    TIME_SYSTEM: "UTC",
    PARTICIPANT_1: "XR3",
    PARTICIPANT_2: "49864",
    ANGLE_TYPE: "AZEL",
  };
  const good = (t: string, range: number, line: number) =>
    expected(file, {
      t_obs: t,
      sensor: "XR3",
      target: { norad: 49864, id: "49864" },
      measurement: { range_km: range },
      ref: `BAD-1#3@${line}`,
      time_system: "UTC",
      meta,
    });
  const bad = (stage: DeadLetter["stage"], reason: string, raw: string, line: number) =>
    letter(file, stage, reason, raw, `BAD-1#3@${line}`);
  await assertFixture(file, [
    good("2026-11-25T12:00:03.000000Z", 1003, 31),
    good("2026-11-25T12:00:04.000000Z", 1004, 34),
    good("2026-11-25T12:00:05.000000Z", 1005, 41),
  ], [
    letter(
      file,
      "decoding",
      "Line outside a message: RANGE before any CCSDS_TDM_VERS",
      "RANGE = 2026-11-25T12:00:00 1.0",
    ),
    letter(
      file,
      "decoding",
      'Unknown metadata keyword: "FAVOURITE_COLOUR"',
      [
        "META_START",
        "TIME_SYSTEM = UTC",
        "PARTICIPANT_1 = XR3",
        "FAVOURITE_COLOUR = blue",
        "META_STOP",
        "DATA_START",
        "RANGE = 2026-11-25T12:00:00 1000.0",
        "DATA_STOP",
      ].join("\n"),
      "BAD-1#0@3",
    ),
    letter(
      file,
      "decoding",
      "Missing TIME_SYSTEM in metadata",
      [
        "META_START",
        "PARTICIPANT_1 = XR3",
        "META_STOP",
        "DATA_START",
        "RANGE = 2026-11-25T12:00:01 1001.0",
        "DATA_STOP",
      ].join("\n"),
      "BAD-1#1@11",
    ),
    letter(
      file,
      "decoding",
      'Unsupported TIME_SYSTEM: "TDB" (expected UTC, TAI or GPS)',
      [
        "META_START",
        "TIME_SYSTEM = TDB",
        "PARTICIPANT_1 = XR3",
        "META_STOP",
        "DATA_START",
        "RANGE = 2026-11-25T12:00:02 1002.0",
        "DATA_STOP",
      ].join("\n"),
      "BAD-1#2@17",
    ),
    bad(
      "decoding",
      'Cannot parse ANGLE_1 value as a number: "12.3.4"',
      "ANGLE_1 = 2026-11-25T12:00:03 12.3.4",
      32,
    ),
    bad("decoding", "Missing RANGE value", "RANGE = 2026-11-25T12:00:04", 33),
    bad(
      "validation",
      "Elevation (ANGLE_2) out of range [-90, 90]: 95.0",
      "ANGLE_2 = 2026-11-25T12:00:04 95.0",
      35,
    ),
    bad(
      "validation",
      "ANGLE_1 value out of range [-180, 360): 400.0",
      "ANGLE_1 = 2026-11-25T12:00:04 400.0",
      36,
    ),
    bad("decoding", 'Unknown data keyword: "SPEED"', "SPEED = 2026-11-25T12:00:04 7.5", 37),
    bad(
      "decoding",
      'Invalid RANGE timetag: Month out of range in timestamp: "2026-13-01T00:00:00"',
      "RANGE = 2026-13-01T00:00:00 1.0",
      38,
    ),
    // The first 4096 bytes of the 4226-byte line, as far as the splitter
    // kept it, cut to 1 KiB (SPEC §3).
    bad(
      "framing",
      "Line longer than 4096 bytes",
      "RCS = 2026-11-25T12:00:04 " + "9".repeat(1024 - 26) + "…(4096 bytes)",
      39,
    ),
    // Bytes FF FE are no UTF-8: each shows as U+FFFD in the raw text.
    bad(
      "framing",
      "Line is not valid UTF-8",
      "RCS = 2026-11-25T12:00:05 \uFFFD\uFFFD1.5",
      40,
    ),
    letter(
      file,
      "decoding",
      "Metadata section not closed by META_STOP",
      ["META_START", "TIME_SYSTEM = UTC", "PARTICIPANT_1 = XR3"].join("\n"),
      "BAD-1#4@43",
    ),
  ]);
});

Deno.test("TdmDecodeStream() decodes dropped_mid_message.kvn: a stream cut mid-segment keeps every complete group", async () => {
  const file = "dropped_mid_message.kvn";
  const meta = {
    CCSDS_TDM_VERS: "2.0",
    CREATION_DATE: "2026-11-25T14:00:00",
    ORIGINATOR: "XR4-OPS",
    MESSAGE_ID: "XR4-0007",
    TIME_SYSTEM: "UTC",
    PARTICIPANT_1: "XR4",
    PARTICIPANT_2: "41866",
    ANGLE_TYPE: "AZEL",
  };
  const target = { norad: 41866, id: "41866" };
  await assertFixture(file, [
    expected(file, {
      t_obs: "2026-11-25T14:00:01.250000Z",
      sensor: "XR4",
      target,
      measurement: { range_km: 35786.125, az_deg: 270.5 },
      ref: "XR4-0007#0@12",
      time_system: "UTC",
      meta,
    }),
    expected(file, {
      t_obs: "2026-11-25T14:00:02.250000Z",
      sensor: "XR4",
      target,
      measurement: { range_km: 35786.25, az_deg: 270.625 },
      ref: "XR4-0007#0@14",
      time_system: "UTC",
      meta,
    }),
  ], []);
});

Deno.test("TdmDecodeStream() shares one meta object per segment, as the serializer's cache expects", async () => {
  const { observations } = await decodeFixture("tdm2_azel_xsye.kvn");
  assert.equal(observations[0].provenance.meta, observations[1].provenance.meta);
  assert.notEqual(observations[1].provenance.meta, observations[2].provenance.meta);
});

Deno.test("TdmDecodeStream() output of every fixture conforms to the envelope and dead-letter schemas", async () => {
  for await (const entry of Deno.readDir(FIXTURES)) {
    if (!entry.name.endsWith(".kvn")) continue;
    const { observations, deadLetters } = await decodeFixture(entry.name);
    for (const o of observations) {
      const result = ObservationSchema.safeParse(o);
      assert.ok(result.success, `${entry.name}: ${result.error?.message}`);
    }
    for (const d of deadLetters) {
      const result = DeadLetterSchema.safeParse(d);
      assert.ok(result.success, `${entry.name}: ${result.error?.message}`);
    }
  }
});
