import assert from "node:assert/strict";
import { sha256Hex } from "../../envelope/_sha256.ts";
import type { RadarObservation } from "../../envelope/observation.ts";
import { observationId } from "../../envelope/observation_id.ts";

const radar: RadarObservation = {
  v: 1,
  id: "",
  kind: "radar",
  t_obs: "2026-11-25T12:00:00.123000Z",
  t_rx: "2026-11-25T12:00:00.131512Z",
  sensor: "XR1",
  target: { norad: 49863, id: "49863" },
  measurement: {
    range_km: 1234.5678,
    range_rate_km_s: -1.234567,
    az_deg: 123.456,
    el_deg: 45.678,
    rcs_m2: 1.2,
    other: { RECEIVE_FREQ_2: 2.2e9 },
  },
  provenance: {
    source: "xr1",
    format: "ccsds-tdm-kvn",
    transport: "tcp",
    peer: "127.0.0.1:50312",
    ref: "MSG-1#0@12",
    time_system: "UTC",
    meta: {},
  },
};

Deno.test("observationId() matches SHA-256 computed independently with sha256sum", () => {
  // printf '%s' 'radar|XR1|49863|2026-11-25T12:00:00.123000Z|{"range_km":1234.5678,
  //   "range_rate_km_s":-1.234567,"az_deg":123.456,"el_deg":45.678,"rcs_m2":1.2,
  //   "other":{"RECEIVE_FREQ_2":2200000000}}' | sha256sum | cut -c1-32
  assert.equal(observationId(radar), "437ed903dc2bb286fe3cba7a6560134c");
});

Deno.test("observationId() uses the empty string for an unknown target and id when norad is null", () => {
  // printf '%s' 'optical|EO-7||2026-11-25T12:00:00.000000Z|{"ra_deg":10,"dec_deg":-5,"frame":"J2000"}' | sha256sum
  assert.equal(
    observationId({
      kind: "optical",
      sensor: "EO-7",
      target: { norad: null, id: null },
      t_obs: "2026-11-25T12:00:00.000000Z",
      measurement: { frame: "J2000", dec_deg: -5, ra_deg: 10 },
    }),
    "2502e60804d76619b63c329e689166be",
  );
  // printf '%s' 'isl|isl:25544|UNK-7|2026-11-25T12:00:00.000001Z|{"observer":{"norad":25544,"frame":"GCRF"}}' | sha256sum
  assert.equal(
    observationId({
      kind: "isl",
      sensor: "isl:25544",
      target: { norad: null, id: "UNK-7" },
      t_obs: "2026-11-25T12:00:00.000001Z",
      measurement: { observer: { frame: "GCRF", norad: 25544 } },
    }),
    "240ff6b051de641b81566ff366605ea7",
  );
});

Deno.test("observationId() is the same for the same measurement at another t_rx, transport and source", () => {
  const again: RadarObservation = {
    ...radar,
    t_rx: "2026-11-25T12:07:31.000000Z",
    provenance: {
      ...radar.provenance,
      source: "replay",
      transport: "replay",
      peer: "radar/pass.kvn",
    },
    // The same measurement built in another key order.
    measurement: {
      other: { RECEIVE_FREQ_2: 2.2e9 },
      rcs_m2: 1.2,
      el_deg: 45.678,
      az_deg: 123.456,
      range_rate_km_s: -1.234567,
      range_km: 1234.5678,
    },
  };
  assert.equal(observationId(again), observationId(radar));
});

Deno.test("observationId() changes when the measurement changes", () => {
  const changed = {
    ...radar,
    measurement: { ...radar.measurement, range_km: 1234.5679 },
  };
  assert.notEqual(observationId(changed), observationId(radar));
});

Deno.test("sha256Hex() agrees with WebCrypto across block boundaries and UTF-8", async () => {
  const texts = [
    "",
    "abc",
    "é",
    "日本語のテキスト",
    "🛰️ orbit",
  ];
  for (const n of [54, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 1000, 70_000]) {
    texts.push("x".repeat(n));
  }
  for (const text of texts) {
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
    );
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    assert.equal(sha256Hex(text, 32), hex, `length ${text.length}`);
    assert.equal(sha256Hex(text), hex.slice(0, 32));
  }
});
