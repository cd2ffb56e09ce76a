import assert from "node:assert/strict";
import { DeadLetterSchema } from "../../envelope/dead_letter.ts";
import { observationJsonSchema } from "../../envelope/json_schema.ts";
import { type Observation, ObservationSchema } from "../../envelope/observation.ts";
import { binaryRaw, textRaw } from "../../envelope/raw.ts";
import {
  canonicalMeasurement,
  serializeDeadLetter,
  serializeObservation,
} from "../../envelope/serialize.ts";

const optical: Observation = {
  v: 1,
  id: "0123456789abcdef0123456789abcdef",
  kind: "optical",
  t_obs: "2026-11-25T12:00:00.000000Z",
  t_rx: "2026-11-25T12:00:01.000000Z",
  sensor: "EO-7",
  target: { norad: 25544, id: "1998-067A" },
  measurement: {
    ra_deg: 123.4,
    dec_deg: -12.5,
    frame: "J2000",
    mag: 4.5,
    site: { lat_deg: 20.7, lon_deg: -156.3, alt_km: 3.05 },
  },
  provenance: {
    source: "archive",
    format: "udl-eo-csv",
    transport: "http",
    peer: "http://127.0.0.1:7002/udl/eoobservation",
    ref: "obs-1",
    time_system: "UTC",
    meta: { uct: false, dataMode: "REAL" },
  },
};

Deno.test("ObservationSchema accepts a valid observation of each kind", () => {
  assert.equal(ObservationSchema.safeParse(optical).success, true);
  const isl = {
    ...optical,
    kind: "isl",
    sensor: "isl:25544",
    measurement: {
      range_km: 812.5,
      observer: { norad: 25544, frame: "GCRF", r_km: [1, 2, 3], v_km_s: [4, 5, 6] },
    },
    provenance: { ...optical.provenance, format: "isl-spp", transport: "udp" },
  };
  assert.equal(ObservationSchema.safeParse(isl).success, true);
  const radar = {
    ...optical,
    kind: "radar",
    measurement: { range_km: 1000, az_deg: 359.9, el_deg: 10, other: { RECEIVE_FREQ_2: 1 } },
    provenance: { ...optical.provenance, format: "ccsds-tdm-kvn", transport: "tcp" },
  };
  assert.equal(ObservationSchema.safeParse(radar).success, true);
});

Deno.test("ObservationSchema rejects non-finite numbers, unknown keys, bad times and mismatched formats", () => {
  const bad = [
    { ...optical, measurement: { ...optical.measurement, ra_deg: Infinity } },
    { ...optical, measurement: { ...optical.measurement, mag: NaN } },
    { ...optical, measurement: { ...optical.measurement, extra: 1 } },
    { ...optical, t_obs: "2026-11-25T12:00:00.000Z" },
    { ...optical, id: "ABC" },
    { ...optical, provenance: { ...optical.provenance, format: "isl-spp" } },
    { ...optical, measurement: { ...optical.measurement, ra_deg: 360 } },
    { ...optical, target: { norad: 1.5, id: null } },
    { ...optical, extra: true },
  ];
  for (const candidate of bad) {
    assert.equal(ObservationSchema.safeParse(candidate).success, false, JSON.stringify(candidate));
  }
});

Deno.test("serializeObservation() writes envelope key order whatever the object's order", () => {
  const reverse = (value: unknown): unknown =>
    value !== null && typeof value === "object" && !Array.isArray(value)
      ? Object.fromEntries(Object.entries(value).reverse().map(([k, v]) => [k, reverse(v)]))
      : value;
  const scrambled = reverse(optical) as Observation;
  const line = serializeObservation({
    ...optical,
    measurement: {
      site: { alt_km: 3.05, lon_deg: -156.3, lat_deg: 20.7 },
      mag: 4.5,
      frame: "J2000",
      dec_deg: -12.5,
      ra_deg: 123.4,
    },
  });
  assert.equal(
    line,
    '{"v":1,"id":"0123456789abcdef0123456789abcdef","kind":"optical",' +
      '"t_obs":"2026-11-25T12:00:00.000000Z","t_rx":"2026-11-25T12:00:01.000000Z",' +
      '"sensor":"EO-7","target":{"norad":25544,"id":"1998-067A"},' +
      '"measurement":{"ra_deg":123.4,"dec_deg":-12.5,"frame":"J2000","mag":4.5,' +
      '"site":{"lat_deg":20.7,"lon_deg":-156.3,"alt_km":3.05}},' +
      '"provenance":{"source":"archive","format":"udl-eo-csv","transport":"http",' +
      '"peer":"http://127.0.0.1:7002/udl/eoobservation","ref":"obs-1","time_system":"UTC",' +
      '"meta":{"uct":false,"dataMode":"REAL"}}}',
  );
  assert.equal(Object.keys(scrambled)[0], "provenance");
  // Free-form maps keep their own order; everything else is canonical.
  const expected = serializeObservation(optical).replace(
    '"meta":{"uct":false,"dataMode":"REAL"}',
    '"meta":{"dataMode":"REAL","uct":false}',
  );
  assert.equal(serializeObservation(scrambled), expected);
});

Deno.test("serializeDeadLetter() writes wire order and omits an absent ref", () => {
  const line = serializeDeadLetter({
    raw: "ANGLE_1 = 2026-11-25T12:00:00.000 12.3.4",
    ref: "M#0@7",
    reason: 'Cannot parse ANGLE_1 value as a number: "12.3.4"',
    stage: "decoding",
    peer: "127.0.0.1:50312",
    format: "ccsds-tdm-kvn",
    source: "xr1",
    t_rx: "2026-11-25T12:00:00.131512Z",
    v: 1,
  });
  assert.equal(
    line,
    '{"v":1,"t_rx":"2026-11-25T12:00:00.131512Z","source":"xr1","format":"ccsds-tdm-kvn",' +
      '"peer":"127.0.0.1:50312","stage":"decoding",' +
      '"reason":"Cannot parse ANGLE_1 value as a number: \\"12.3.4\\"","ref":"M#0@7",' +
      '"raw":"ANGLE_1 = 2026-11-25T12:00:00.000 12.3.4"}',
  );
  assert.equal(DeadLetterSchema.safeParse(JSON.parse(line)).success, true);
});

Deno.test("textRaw() and binaryRaw() cut at 1 KiB and append the full size", () => {
  assert.equal(textRaw("a".repeat(70_000)), "a".repeat(1024) + "…(70000 bytes)");
  assert.equal(textRaw("a".repeat(1024)), "a".repeat(1024));
  assert.equal(textRaw("a".repeat(1025)), "a".repeat(1024) + "…(1025 bytes)");
  // Never half a character: 341 × 3 bytes, then a 4-byte emoji that does not fit.
  assert.equal(textRaw("€".repeat(341) + "😀x"), "€".repeat(341) + "…(1028 bytes)");
  // A caller that kept only part of the input gives the whole size.
  assert.equal(textRaw("RANGE = 1", 5000), "RANGE = 1…(5000 bytes)");
  const raw = binaryRaw(new Uint8Array(70_000).fill(255));
  assert.ok(typeof raw !== "string");
  const [base64, size] = raw.base64.split("…");
  assert.equal(atob(base64).length, 1024);
  assert.equal(size, "(70000 bytes)");
  assert.deepEqual(binaryRaw(new Uint8Array(1024)), { base64: btoa("\0".repeat(1024)) });
});

Deno.test("observationJsonSchema() describes every kind and forbids extra keys", () => {
  const schema = observationJsonSchema() as Record<string, unknown>;
  const text = JSON.stringify(schema);
  for (const kind of ['"radar"', '"optical"', '"isl"']) assert.ok(text.includes(kind));
  assert.ok(text.includes('"additionalProperties":false'));
  assert.ok(text.includes("range_rate_km_s"));
});

Deno.test("serializeObservation() equals JSON.stringify of the canonical object for random observations", () => {
  let seed = 7;
  const random = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  const maybe = <T>(value: T) => (random() < 0.5 ? value : undefined);
  const number = () => [0, -0, 1.5, -123.456e-7, 1e21, 359.999999, 42][Math.floor(random() * 7)];
  const meta = { ORIGINATOR: 'a "quoted" \\ value', N: 3, B: true };
  for (let i = 0; i < 2000; i++) {
    const kind = (["radar", "optical", "isl"] as const)[i % 3];
    const measurement = kind === "radar"
      ? {
        mag: maybe(number()),
        range_km: maybe(number()),
        frame: maybe("EME2000"),
        other: maybe({ RECEIVE_FREQ_2: number(), "TRANSMIT_FREQ_1#2": number() }),
        angle_type: maybe("XSYE" as const),
        angle_1_deg: maybe(number()),
      }
      : kind === "optical"
      ? {
        site: maybe({ alt_km: number(), lat_deg: number(), lon_deg: number() }),
        frame: "J2000",
        dec_deg: number(),
        ra_deg: number(),
        mag_unc: maybe(number()),
      }
      : {
        observer: {
          v_km_s: maybe([number(), number(), number()] as [number, number, number]),
          frame: "GCRF" as const,
          norad: 25544,
          r_km: maybe([1, 2, 3] as [number, number, number]),
        },
        range_km: maybe(number()),
      };
    const o = {
      ...optical,
      kind,
      sensor: `S-${i % 5}\u00e9`,
      target: { norad: maybe(i) ?? null, id: maybe(`T"${i}`) ?? null },
      measurement,
      provenance: { ...optical.provenance, peer: `peer-${i % 3}`, ref: `r\n${i}`, meta },
    } as unknown as Observation;
    const expected = JSON.stringify({
      v: o.v,
      id: o.id,
      kind: o.kind,
      t_obs: o.t_obs,
      t_rx: o.t_rx,
      sensor: o.sensor,
      target: { norad: o.target.norad, id: o.target.id },
      measurement: canonicalMeasurement(o.kind, o.measurement),
      provenance: {
        source: o.provenance.source,
        format: o.provenance.format,
        transport: o.provenance.transport,
        peer: o.provenance.peer,
        ref: o.provenance.ref,
        time_system: o.provenance.time_system,
        meta: o.provenance.meta,
      },
    });
    assert.equal(serializeObservation(o), expected);
  }
});
