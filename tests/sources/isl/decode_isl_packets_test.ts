import assert from "node:assert/strict";
import { ObservationSchema } from "../../../envelope/observation.ts";
import { serializeObservation } from "../../../envelope/serialize.ts";
import { mulberry32 } from "../../../sim/_random.ts";
import type { DecodeContext } from "../../../sources/decode_context.ts";
import { encodeBeacon } from "../../../sources/isl/beacon.ts";
import { decodeIslPackets } from "../../../sources/isl/decode_isl_packets.ts";
import { IslDecodeStream } from "../../../sources/isl/isl_decode_stream.ts";
import { LinkSequenceTracker } from "../../../sources/isl/link_sequence_tracker.ts";
import { beaconByHand, crc } from "./_hand_packets.ts";
import { handBeacon } from "./_make_fixtures.ts";

const FIXTURES = new URL("../../../fixtures/isl/", import.meta.url);

async function sha256Id(text: string): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)),
  );
  return [...digest.subarray(0, 16)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("decodeIslPackets() maps a beacon built byte by byte to the SPEC §6 envelope", async () => {
  const ctx = {
    source: "isl-edge",
    transport: "worker" as const,
    peer: "203.0.113.7:7003",
    now: () => 1_795_608_000_250_001, // 2026-11-25T12:00:00.250001Z
  };
  const { observations, deadLetters } = decodeIslPackets(beaconByHand(0b111, 60006), ctx);
  assert.deepEqual(deadLetters, []);
  const measurement = '{"range_km":371.123456789,"range_rate_km_s":-0.0123,"range_sigma_km":0.25,' +
    '"observer":{"norad":60005,"frame":"GCRF","r_km":[1234.5,-6543.25,1.125],"v_km_s":[7.5,0.25,-0.125]}}';
  const id = await sha256Id(
    "isl|isl:60005|60006|2026-11-25T12:00:00.071105Z|" + measurement,
  );
  assert.equal(
    serializeObservation(observations[0]),
    `{"v":1,"id":"${id}","kind":"isl","t_obs":"2026-11-25T12:00:00.071105Z",` +
      `"t_rx":"2026-11-25T12:00:00.250001Z","sensor":"isl:60005",` +
      `"target":{"norad":60006,"id":"60006"},"measurement":${measurement},` +
      `"provenance":{"source":"isl-edge","format":"isl-spp","transport":"worker",` +
      `"peer":"203.0.113.7:7003","ref":"123456","time_system":"TAI","meta":{"apid":12,"seq":9999}}}`,
  );
  assert.equal(ObservationSchema.safeParse(observations[0]).success, true);
});

Deno.test("decodeIslPackets() leaves out what the flags say is not valid, and maps target 0 to null", () => {
  const ctx = { source: "r", transport: "replay" as const, peer: "isl/x.spp", deterministic: true };
  const bytes = new Uint8Array(96 * 2);
  bytes.set(beaconByHand(0b010, 0), 0); // range rate only, uncorrelated target
  bytes.set(beaconByHand(0b001, 60006), 96); // range only, no state
  const { observations } = decodeIslPackets(bytes, ctx);
  assert.deepEqual(observations.map((o) => [o.target, o.measurement]), [
    [{ norad: null, id: null }, {
      range_rate_km_s: -0.0123,
      observer: { norad: 60005, frame: "GCRF" },
    }],
    [{ norad: 60006, id: "60006" }, {
      range_km: 371.123456789,
      range_sigma_km: 0.25,
      observer: { norad: 60005, frame: "GCRF" },
    }],
  ]);
  assert.equal(observations[0].t_rx, observations[0].t_obs);
});

Deno.test("decodeIslPackets() dead-letters a sound beacon with a non-finite value as validation", () => {
  const bytes = beaconByHand(0b111, 60006);
  const view = new DataView(bytes.buffer);
  view.setFloat64(53, NaN); // position y
  view.setUint16(94, crc(bytes.subarray(0, 94)));
  const ctx = { source: "r", transport: "replay" as const, peer: "isl/x.spp", deterministic: true };
  const { observations, deadLetters } = decodeIslPackets(bytes, ctx);
  assert.equal(observations.length, 0);
  assert.deepEqual(
    deadLetters.map((d) => [d.stage, d.reason, d.ref]),
    [["validation", "Observer position y is not a finite number: NaN", "123456"]],
  );
});

const replay = (file: string) => ({
  source: "replay",
  transport: "replay" as const,
  peer: `isl/${file}`,
  deterministic: true,
});

async function fixture(file: string) {
  return decodeIslPackets(await Deno.readFile(new URL(file, FIXTURES)), replay(file));
}

Deno.test("decodeIslPackets() decodes the simulator capture fixture to the values it holds", async () => {
  const { observations, deadLetters } = await fixture("capture.spp");
  assert.equal(deadLetters.length, 0);
  assert.equal(observations.length, 16);
  assert.deepEqual(observations.map((o) => o.provenance.ref), [
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "7",
    "8",
    "9",
    "10",
    "11",
    "12",
    "13",
    "14",
    "15",
    "16",
  ]);
  // Links 1–8 are the eight directions of the four formation pairs.
  assert.deepEqual(observations.slice(0, 8).map((o) => [o.sensor, o.target.norad]), [
    ["isl:60001", 60002],
    ["isl:60002", 60001],
    ["isl:60003", 60004],
    ["isl:60004", 60003],
    ["isl:60005", 60006],
    ["isl:60006", 60005],
    ["isl:60007", 60008],
    ["isl:60008", 60007],
  ]);
  const first = observations[0];
  assert.equal(first.t_obs, "2026-11-25T12:00:00.000000Z");
  assert.equal(first.t_rx, "2026-11-25T12:00:00.000000Z");
  assert.deepEqual(first.measurement, {
    range_km: 362.71080630418174,
    range_rate_km_s: -0.00040600116117407985,
    range_sigma_km: 0.0009765625,
    observer: {
      norad: 60001,
      frame: "GCRF",
      r_km: [-6840.069883376951, -500.7206673444646, -1018.5557871127975],
      v_km_s: [1.2134426744182594, -4.535357241518274, -5.955075466010313],
    },
  });
  assert.deepEqual(first.provenance, {
    source: "replay",
    format: "isl-spp",
    transport: "replay",
    peer: "isl/capture.spp",
    ref: "1",
    time_system: "TAI",
    meta: { apid: 1, seq: 191 },
  });
  assert.equal(first.id, "47a9c5751cdf955616e8f9de168ef1cc");
  // The second round of each link is one CUC tick (15.26 µs, truncated) later.
  assert.equal(observations[8].t_obs, "2026-11-25T12:00:00.000015Z");
  assert.equal(observations[8].provenance.meta.seq, 192);
});

Deno.test("decodeIslPackets() turns every hand-made bad packet into one framing dead letter", async () => {
  const { observations, deadLetters } = await fixture("bad_packets.spp");
  assert.deepEqual(observations.map((o) => o.provenance.ref), ["101", "103", "105", "107", "109"]);
  assert.equal(observations[0].t_obs, "2026-11-25T12:01:41.500000Z");
  assert.deepEqual(observations[0].measurement, {
    range_km: 370.101,
    range_rate_km_s: -0.25,
    range_sigma_km: 0.5,
    observer: {
      norad: 60003,
      frame: "GCRF",
      r_km: [-4000.5, 5000.25, 2000.125],
      v_km_s: [-5.5, -2.25, 4.75],
    },
  });
  assert.deepEqual(deadLetters.map(({ raw, ...rest }) => ({ ...rest, bytes: rawLength(raw) })), [
    {
      v: 1,
      t_rx: "1970-01-01T00:00:00.000000Z",
      source: "replay",
      format: "isl-spp",
      peer: "isl/bad_packets.spp",
      stage: "framing",
      reason: "Bad CRC: packet says 0xe206, computed 0xd68b",
      ref: "102",
      bytes: 96,
    },
    {
      v: 1,
      t_rx: "1970-01-01T00:00:00.000000Z",
      source: "replay",
      format: "isl-spp",
      peer: "isl/bad_packets.spp",
      stage: "framing",
      reason: "Unsupported CUC P-field: 0x2e (expected 0x1e: 1958 TAI epoch, 4 + 2 octets)",
      ref: "104",
      bytes: 96,
    },
    {
      v: 1,
      t_rx: "1970-01-01T00:00:00.000000Z",
      source: "replay",
      format: "isl-spp",
      peer: "isl/bad_packets.spp",
      stage: "framing",
      reason: "Unexpected telecommand packet (type bit 1) where telemetry was expected",
      ref: "106",
      bytes: 96,
    },
    {
      v: 1,
      t_rx: "1970-01-01T00:00:00.000000Z",
      source: "replay",
      format: "isl-spp",
      peer: "isl/bad_packets.spp",
      stage: "framing",
      reason: "Wrong data length for a beacon packet: 90 (expected 89)",
      ref: "108",
      bytes: 97,
    },
    {
      v: 1,
      t_rx: "1970-01-01T00:00:00.000000Z",
      source: "replay",
      format: "isl-spp",
      peer: "isl/bad_packets.spp",
      stage: "framing",
      reason: "Truncated packet: the header declares 96 bytes, 40 left",
      bytes: 40,
    },
  ]);
  // The raw bytes are the packet as it was in the file.
  const file = await Deno.readFile(new URL("bad_packets.spp", FIXTURES));
  assert.deepEqual(deadLetters[4].raw, {
    base64: btoa(String.fromCharCode(...file.subarray(865))),
  });
});

function rawLength(raw: unknown): number {
  return atob((raw as { base64: string }).base64).length;
}

Deno.test("LinkSequenceTracker() counts nothing across the 16383 → 0 wrap of the fixture", async () => {
  const { observations } = await fixture("seq_wrap.spp");
  assert.deepEqual(observations.map((o) => o.provenance.meta.seq), [16382, 16383, 0, 1]);
  const links = new LinkSequenceTracker();
  let lost = 0;
  for (const o of observations) {
    lost += links.observe(o.provenance.meta.apid as number, o.provenance.meta.seq as number);
  }
  assert.equal(lost, 0);
});

Deno.test("LinkSequenceTracker() counts the 3 counts a link skipped in the link-gap fixture", async () => {
  const { observations } = await fixture("link_gap.spp");
  assert.deepEqual(
    observations.map((o) => `${o.provenance.meta.apid}:${o.provenance.meta.seq}`),
    ["2:100", "3:7", "2:101", "3:8", "2:105", "3:9", "2:106"],
  );
  const links = new LinkSequenceTracker();
  const skipped = observations.map((o) =>
    links.observe(o.provenance.meta.apid as number, o.provenance.meta.seq as number)
  );
  assert.deepEqual(skipped, [0, 0, 0, 0, 3, 0, 0]);
});

Deno.test("decodeIslPackets() output is byte-identical on every replay", async () => {
  const a = await fixture("capture.spp");
  const b = await fixture("capture.spp");
  assert.deepEqual(
    a.observations.map(serializeObservation),
    b.observations.map(serializeObservation),
  );
});

/** `bytes` fed to `IslDecodeStream` in pieces cut at `cuts`. */
async function streamed(bytes: Uint8Array, cuts: number[], ctx: DecodeContext) {
  const pieces: Uint8Array[] = [];
  let from = 0;
  for (const at of [...cuts, bytes.length]) {
    pieces.push(bytes.subarray(from, at));
    from = at;
  }
  const batches = await Array.fromAsync(
    ReadableStream.from(pieces).pipeThrough(new IslDecodeStream({ ctx })),
  );
  return {
    observations: batches.flatMap((b) => b.observations),
    deadLetters: batches.flatMap((b) => b.deadLetters),
  };
}

Deno.test("decodeIslPackets() gives what IslDecodeStream gives, cut anywhere, past 4,096 malformed packets in a row", async () => {
  const ctx: DecodeContext = {
    source: "replay",
    transport: "replay",
    peer: "isl/many_bad.spp",
    deterministic: true,
  };
  // Beacon 1, then 5,000 beacon-sized packets with a damaged CRC, then a
  // beacon whose index is not the one their count gives (a gap), so that
  // the packets between cannot be placed from both sides.
  const bytes = new Uint8Array(5002 * 96);
  encodeBeacon(handBeacon(1, 1, 1), bytes, 0);
  for (let k = 1; k <= 5000; k++) {
    encodeBeacon(handBeacon(1 + k, 1, 1 + k), bytes, k * 96);
    bytes[k * 96 + 40] ^= 0xff;
  }
  encodeBeacon(handBeacon(9000, 1, 9000), bytes, 5001 * 96);
  const whole = decodeIslPackets(bytes, ctx);
  assert.deepEqual(whole.observations.map((o) => o.provenance.ref), ["1", "9000"]);
  assert.equal(whole.deadLetters.length, 5000);
  // The memory bound of the stream: the oldest 904 wait no longer for the
  // beacon after them, and take their index from beacon 1; the last 4,096
  // learn that the run is not consecutive, and stay without one.
  const refs = whole.deadLetters.map((d) => d.ref);
  assert.deepEqual(refs.slice(0, 904), Array.from({ length: 904 }, (_, k) => String(2 + k)));
  assert.deepEqual(refs.slice(904), new Array(4096).fill(undefined));
  const random = mulberry32(4096);
  for (const cuts of [[], [50], [96 * 2500 + 7, 96 * 5001 + 95], [...Array(40)].map(() => 0)]) {
    const at = cuts.map((c) => c || Math.floor(random() * bytes.length)).sort((a, b) => a - b);
    assert.deepEqual(await streamed(bytes, at, ctx), whole);
  }
});

Deno.test("decodeIslPackets() gives what IslDecodeStream gives for each fixture, cut at random places", async () => {
  const ctx: DecodeContext = {
    source: "replay",
    transport: "replay",
    peer: "isl/x.spp",
    deterministic: true,
  };
  const random = mulberry32(6);
  for await (const { name } of Deno.readDir(FIXTURES)) {
    const bytes = await Deno.readFile(new URL(name, FIXTURES));
    const whole = decodeIslPackets(bytes, ctx);
    for (let round = 0; round < 20; round++) {
      const cuts = [...Array(1 + Math.floor(random() * 8))]
        .map(() => Math.floor(random() * bytes.length)).sort((a, b) => a - b);
      assert.deepEqual(await streamed(bytes, cuts, ctx), whole, `${name} cut at ${cuts}`);
    }
  }
});

Deno.test("decodeIslPackets() and IslDecodeStream skip zeros between packets as one dead letter, cut anywhere", async () => {
  const ctx: DecodeContext = {
    source: "replay",
    transport: "replay",
    peer: "isl/padded.spp",
    deterministic: true,
  };
  const bytes = new Uint8Array(96 + 5000 + 96);
  bytes.set(encodeBeacon(handBeacon(1, 1, 1)), 0);
  bytes.set(encodeBeacon(handBeacon(2, 1, 2)), 96 + 5000);
  const whole = decodeIslPackets(bytes, ctx);
  assert.equal(whole.observations.length, 2);
  assert.deepEqual(whole.deadLetters.map((d) => d.reason), [
    "A header declaring a 7-byte packet, shorter than any (a status packet has 18): 5000 bytes skipped to the next sound packet",
  ]);
  for (const chunk of [1, 5, 97, 4096]) {
    const pieces = Array.from(
      { length: Math.ceil(bytes.length / chunk) },
      (_, i) => bytes.slice(i * chunk, (i + 1) * chunk),
    );
    const out = await Array.fromAsync(
      ReadableStream.from(pieces).pipeThrough(new IslDecodeStream({ ctx })),
    );
    assert.deepEqual(
      out.flatMap((b) => b.deadLetters.map((d) => d.reason)),
      whole.deadLetters.map((d) => d.reason),
      `in chunks of ${chunk}`,
    );
    assert.equal(out.reduce((n, b) => n + b.observations.length, 0), 2);
  }
});
