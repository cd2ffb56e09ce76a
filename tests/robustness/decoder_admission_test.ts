/**
 * SPEC §14/§15 in every decoder: t_obs bounds, sensor permissions, leap
 * seconds and `provenance.client`, through the decoders' public entry points.
 */

import assert from "node:assert/strict";
import { ObservationSchema } from "../../envelope/observation.ts";
import type { DecodeContext } from "../../sources/decode_context.ts";
import { encodeBeacon } from "../../sources/isl/beacon.ts";
import { decodeIslPackets } from "../../sources/isl/decode_isl_packets.ts";
import { decodeOpticalPage } from "../../sources/optical/decode_optical_page.ts";
import { decodeTdm } from "../../sources/radar/decode_tdm.ts";
import { handBeacon } from "../sources/isl/_make_fixtures.ts";

/** 2026-11-25T12:00:00Z, µs. */
const RX = Date.UTC(2026, 10, 25, 12) * 1000;

function tdm(data: string[], timeSystem = "UTC", sensor = "XR1"): string {
  return [
    "CCSDS_TDM_VERS = 2.0",
    "MESSAGE_ID = M",
    "META_START",
    `TIME_SYSTEM = ${timeSystem}`,
    `PARTICIPANT_1 = ${sensor}`,
    "META_STOP",
    "DATA_START",
    ...data,
    "DATA_STOP",
    "",
  ].join("\n");
}

const radar: DecodeContext = { source: "xr1", transport: "tcp", peer: "p", now: () => RX };

Deno.test("decodeTdm() keeps the leap second 2016-12-31T23:59:60.5 and reaches it from TAI and GPS", () => {
  const utc = decodeTdm(tdm(["RANGE = 2016-12-31T23:59:60.5 1"]), radar);
  const doy = decodeTdm(tdm(["RANGE = 2016-366T23:59:60.5 1"]), radar);
  const tai = decodeTdm(tdm(["RANGE = 2017-01-01T00:00:36.5 1"], "TAI"), radar);
  const gps = decodeTdm(tdm(["RANGE = 2017-01-01T00:00:17.500000 1"], "GPS"), radar);
  for (const { observations, deadLetters } of [utc, doy, tai, gps]) {
    assert.deepEqual(deadLetters, []);
    assert.equal(observations[0].t_obs, "2016-12-31T23:59:60.500000Z");
    assert.equal(ObservationSchema.safeParse(observations[0]).success, true);
  }
  // One instant, one id, whatever the time system it came in.
  assert.equal(tai.observations[0].id, utc.observations[0].id);
});

Deno.test("decodeTdm() dead-letters second 60 on a day without a leap second as decoding, and goes on", () => {
  const { observations, deadLetters } = decodeTdm(
    tdm(["RANGE = 2017-06-30T23:59:60 1", "RANGE = 2017-06-30T23:59:59 2"]),
    radar,
  );
  assert.deepEqual(deadLetters.map((d) => [d.stage, d.raw]), [
    ["decoding", "RANGE = 2017-06-30T23:59:60 1"],
  ]);
  assert.match(deadLetters[0].reason, /No leap second/);
  assert.deepEqual(observations.map((o) => o.t_obs), ["2017-06-30T23:59:59.000000Z"]);
});

Deno.test("decodeTdm() takes at most 1,024 data lines into one observation and dead-letters the rest, then goes on", () => {
  const same = Array.from({ length: 1030 }, (_, i) => `RANGE = 2026-11-25T12:00:00 ${i + 1}`);
  const { observations, deadLetters } = decodeTdm(
    tdm([...same, "RANGE = 2026-11-25T12:00:01 7"]),
    radar,
  );
  assert.equal(observations.length, 2);
  const [big, next] = observations;
  assert.equal(big.kind === "radar" && big.measurement.range_km, 1);
  const other = big.kind === "radar" ? big.measurement.other ?? {} : {};
  assert.equal(Object.keys(other).length, 1023);
  assert.equal(other["RANGE#1024"], 1024);
  assert.equal(next.t_obs, "2026-11-25T12:00:01.000000Z");
  assert.deepEqual(
    deadLetters.map((d) => [d.stage, d.raw]),
    same.slice(1024).map((l) => ["decoding", l]),
  );
  assert.match(
    deadLetters[0].reason,
    /^More than 1024 data lines share the timetag 2026-11-25T12:00:00: RANGE is not added/,
  );
});

Deno.test("decodeTdm() dead-letters a group outside the t_obs bounds as validation, with its lines as raw", () => {
  const lines = [
    "RANGE = 0001-01-01T00:00:00 1000.0",
    "RCS = 0001-01-01T00:00:00 2",
    "RANGE = 2026-11-27T00:00:00 1",
    "RANGE = 9999-01-01T00:00:00 1",
    "RANGE = 2026-11-25T12:00:01 3",
  ];
  const { observations, deadLetters } = decodeTdm(tdm(lines), radar);
  assert.deepEqual(deadLetters.map((d) => [d.stage, d.raw, d.ref]), [
    ["validation", "RANGE = 0001-01-01T00:00:00 1000.0\nRCS = 0001-01-01T00:00:00 2", "M#0@8"],
    ["validation", "RANGE = 2026-11-27T00:00:00 1", "M#0@10"],
    ["validation", "RANGE = 9999-01-01T00:00:00 1", "M#0@11"],
  ]);
  assert.match(deadLetters[0].reason, /^t_obs 0001-01-01T00:00:00\.000000Z is before 1957-10-04/);
  assert.match(deadLetters[1].reason, /more than one day after it was received/);
  assert.deepEqual(observations.map((o) => o.measurement), [{ range_km: 3 }]);
});

Deno.test("decodeTdm() puts a group's validation dead letter before the dead letters of later lines", () => {
  const { deadLetters } = decodeTdm(
    tdm(["RANGE = 1900-01-01T00:00:00 1", "RANGE = 1900-01-01T00:00:00 x"]),
    radar,
  );
  assert.deepEqual(deadLetters.map((d) => d.stage), ["validation", "decoding"]);
});

Deno.test("decodeTdm() in replay bounds t_obs by the replay's start", () => {
  const ctx: DecodeContext = {
    source: "radar",
    transport: "replay",
    peer: "f",
    deterministic: true,
    startedAt: RX,
  };
  const { observations, deadLetters } = decodeTdm(
    tdm(["RANGE = 2026-11-26T12:00:00 1", "RANGE = 2026-11-26T12:00:00.000001 2"]),
    ctx,
  );
  assert.equal(observations.length, 1);
  assert.match(deadLetters[0].reason, /more than one day after the replay started/);
});

Deno.test("decodeTdm() dead-letters a sensor the source or the client may not send, and names the client", () => {
  const ctx: DecodeContext = {
    ...radar,
    client: "XR1-OPS",
    sensors: new Set(["XR1", "XR2"]),
    clientSensors: new Set(["XR1"]),
  };
  const good = decodeTdm(tdm(["RANGE = 2026-11-25T12:00:00 1"]), ctx);
  assert.equal(good.observations[0].provenance.client, "XR1-OPS");
  assert.equal(ObservationSchema.safeParse(good.observations[0]).success, true);
  const xr2 = decodeTdm(tdm(["RANGE = 2026-11-25T12:00:00 1"], "UTC", "XR2"), ctx);
  assert.deepEqual(xr2.deadLetters.map((d) => [d.stage, d.reason]), [
    ["validation", "sensor XR2 is not permitted for client XR1-OPS"],
  ]);
  const xr3 = decodeTdm(tdm(["RANGE = 2026-11-25T12:00:00 1"], "UTC", "XR3"), ctx);
  assert.equal(xr3.deadLetters[0].reason, "sensor XR3 is not permitted for source xr1");
  // Without a client, no client key at all.
  const plain = decodeTdm(tdm(["RANGE = 2026-11-25T12:00:00 1"]), radar);
  assert.equal("client" in plain.observations[0].provenance, false);
});

const optical: DecodeContext = {
  source: "archive",
  transport: "http",
  peer: "http://127.0.0.1/udl",
  now: () => RX,
};
const HEADER = "id,obTime,idSensor,ra,declination";

Deno.test("decodeOpticalPage() dead-letters a row outside the t_obs bounds or from a sensor not permitted, with the row as raw", () => {
  const rows = [
    "EO-1,0001-01-01T00:00:00Z,S,1,1",
    "EO-2,2016-12-31T23:59:60.25Z,S,1,1",
    "EO-3,2026-11-27T00:00:00Z,S,1,1",
    "EO-4,2026-11-25T12:00:00Z,T,1,1",
    "EO-5,9999-12-31T23:59:59.999999Z,S,1,1",
    "EO-6,2026-11-25T12:00:00Z,S,1,1",
  ];
  const page = decodeOpticalPage(`${HEADER}\n${rows.join("\n")}\n`, "text/csv", {
    ...optical,
    sensors: new Set(["S"]),
  });
  assert.deepEqual(page.observations.map((o) => [o.provenance.ref, o.t_obs]), [
    ["EO-2", "2016-12-31T23:59:60.250000Z"],
    ["EO-6", "2026-11-25T12:00:00.000000Z"],
  ]);
  assert.deepEqual(page.deadLetters.map((d) => [d.stage, d.ref, d.raw]), [
    ["validation", "EO-1", rows[0]],
    ["validation", "EO-3", rows[2]],
    ["validation", "EO-4", rows[3]],
    ["validation", "EO-5", rows[4]],
  ]);
  assert.equal(page.deadLetters[2].reason, "sensor T is not permitted for source archive");
});

Deno.test("decodeOpticalPage() dead-letters second 60 on a day without a leap second as decoding, as TDM does (SPEC §14)", () => {
  const rows = [
    "EO-1,2017-06-30T23:59:60Z,S,1,1",
    "EO-2,2017-06-31T00:00:00Z,S,1,1",
    "EO-3,2017-06-30T23:59:59Z,S,1,1",
  ];
  const page = decodeOpticalPage(`${HEADER}\n${rows.join("\n")}\n`, "text/csv", optical);
  assert.deepEqual(page.deadLetters.map((d) => [d.stage, d.ref]), [
    ["decoding", "EO-1"],
    ["validation", "EO-2"], // SPEC §5: obTime not a valid instant
  ]);
  assert.match(page.deadLetters[0].reason, /No leap second/);
  assert.deepEqual(page.observations.map((o) => o.t_obs), ["2017-06-30T23:59:59.000000Z"]);
});

Deno.test("decodeOpticalPage() puts the client in provenance only when there is one", () => {
  const body = `${HEADER}\nEO-1,2026-11-25T12:00:00Z,S,1,1\n`;
  const withClient = decodeOpticalPage(body, "text/csv", { ...optical, client: "C" });
  assert.equal(withClient.observations[0].provenance.client, "C");
  const without = decodeOpticalPage(body, "text/csv", optical);
  assert.equal("client" in without.observations[0].provenance, false);
});

const isl: DecodeContext = { source: "isl", transport: "udp", peer: "g", now: () => RX };
/** 2026-11-25T12:00:00Z is 12:00:37 TAI: CUC coarse seconds since 1958. */
const COARSE_12H = 2_174_299_237;

Deno.test("decodeIslPackets() dead-letters a beacon outside the t_obs bounds as validation, with the packet as raw", () => {
  const late = encodeBeacon({ ...handBeacon(1, 1, 1), coarse: COARSE_12H + 2 * 86_400 });
  const good = encodeBeacon(handBeacon(2, 1, 2));
  const bytes = new Uint8Array([...late, ...good]);
  const { observations, deadLetters } = decodeIslPackets(bytes, isl);
  assert.deepEqual(observations.map((o) => o.provenance.ref), ["2"]);
  assert.equal(deadLetters.length, 1);
  assert.equal(deadLetters[0].stage, "validation");
  assert.equal(deadLetters[0].ref, "1");
  assert.match(deadLetters[0].reason, /more than one day after it was received/);
  assert.deepEqual(deadLetters[0].raw, { base64: btoa(String.fromCharCode(...late)) });
});

Deno.test("decodeIslPackets() maps a CUC time inside a leap second to second 60", () => {
  // 2017-01-01T00:00:36.5 TAI; the 1958 epoch is 4383 days before 1970.
  const coarse = (Date.UTC(2017, 0, 1) / 1000) + 4383 * 86_400 + 36;
  const bytes = encodeBeacon({ ...handBeacon(1, 1, 1), coarse, fine: 0x8000 });
  const { observations, deadLetters } = decodeIslPackets(bytes, isl);
  assert.deepEqual(deadLetters, []);
  assert.equal(observations[0].t_obs, "2016-12-31T23:59:60.500000Z");
});

Deno.test("decodeIslPackets() puts the client in provenance only when there is one", () => {
  const bytes = encodeBeacon(handBeacon(1, 1, 1));
  assert.equal(
    decodeIslPackets(bytes, { ...isl, client: "C" }).observations[0].provenance.client,
    "C",
  );
  assert.equal("client" in decodeIslPackets(bytes, isl).observations[0].provenance, false);
});
