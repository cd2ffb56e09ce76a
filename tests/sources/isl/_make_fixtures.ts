/**
 * Writes `fixtures/isl/*.spp` (SPEC §10: beacon packets back to back, as a
 * gateway sent them). Deterministic: the simulator runs on a fixed clock and
 * seed, and the hand-made packets have hand-chosen fields.
 *
 * Run: deno run --allow-read --allow-write --allow-net=127.0.0.1 tests/sources/isl/_make_fixtures.ts
 */

import dgram from "node:dgram";
import { startIslSim } from "../../../sim/isl.ts";
import { type Beacon, encodeBeacon } from "../../../sources/isl/beacon.ts";
import { crc16 } from "../../../sources/isl/crc16.ts";
import { decodeDatagram } from "../../../sources/isl/decode_datagram.ts";
import { encodePoll } from "../../../sources/isl/poll_request.ts";

const OUT = new URL("../../../fixtures/isl/", import.meta.url);
/** 2026-11-25T12:00:00Z: the simulator's clock for the capture. */
const T0_MICROS = Date.parse("2026-11-25T12:00:00Z") * 1000;
/** 2026-11-25T12:00:00Z is 12:00:37 TAI: CUC coarse seconds since 1958. */
const COARSE_12H = 2_174_299_237;

/** A hand-made beacon: fields easy to write out by hand in the tests. */
export function handBeacon(index: number, apid: number, seq: number): Beacon {
  return {
    apid,
    seq,
    coarse: COARSE_12H + index,
    fine: 0x8000, // half a second
    index,
    observer: 60003,
    target: 60004,
    range_km: 370 + index / 1000,
    range_rate_km_s: -0.25,
    range_sigma_km: 0.5,
    r_km: [-4000.5, 5000.25, 2000.125],
    v_km_s: [-5.5, -2.25, 4.75],
    flags: 7,
  };
}

function join(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Re-seals a packet's CRC after a deliberate change, so only that change is wrong. */
function reseal(packet: Uint8Array): Uint8Array {
  const n = packet.length;
  const crc = crc16(packet, 0, n - 2);
  packet[n - 2] = crc >> 8;
  packet[n - 1] = crc & 0xff;
  return packet;
}

async function capture(): Promise<Uint8Array> {
  const sim = await startIslSim({ rate: 0, seed: 7, clock: () => T0_MICROS, links: 8 });
  sim.generate(16);
  const socket = dgram.createSocket("udp4");
  await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
  const datagrams: Uint8Array[] = [];
  socket.on("message", (message: Uint8Array) => datagrams.push(new Uint8Array(message)));
  socket.send(encodePoll({ seq: 1, after: 0, max: 256 }), sim.port, "127.0.0.1");
  while (datagrams.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
  socket.close();
  await sim.stop();
  // Strip the status packet: the capture keeps the beacons as relayed.
  const beacons: Uint8Array[] = [];
  for (const datagram of datagrams) {
    for (const packet of decodeDatagram(datagram).packets) {
      if (packet.type === "beacon") beacons.push(datagram.slice(packet.offset, packet.offset + 96));
    }
  }
  return join(beacons);
}

function badPackets(): Uint8Array {
  const good = (index: number) => encodeBeacon(handBeacon(index, 5, index - 100));
  const badCrc = good(102);
  badCrc[30] ^= 0x10; // a bit flipped in the range field
  const pField = good(104);
  pField[6] = 0x2e; // CUC with 3 fine octets
  const tc = good(106);
  tc[0] |= 0x10; // type bit 1: a telecommand
  reseal(tc);
  // A 97-byte packet declaring data length 90: sound CRC, wrong length.
  const long = new Uint8Array(97);
  long.set(good(108).subarray(0, 94));
  long[5] = 90;
  reseal(long);
  const truncated = good(110).slice(0, 40);
  return join([
    good(101),
    badCrc,
    good(103),
    reseal(pField),
    good(105),
    tc,
    good(107),
    long,
    good(109),
    truncated,
  ]);
}

function seqWrap(): Uint8Array {
  const seqs = [16382, 16383, 0, 1];
  return join(seqs.map((seq, i) => encodeBeacon(handBeacon(201 + i, 1, seq))));
}

function linkGap(): Uint8Array {
  // Link 2: 100, 101, then 105 (102–104 never reached the gateway), 106;
  // link 3 interleaved without a gap.
  const rows: [number, number][] = [[2, 100], [3, 7], [2, 101], [3, 8], [2, 105], [3, 9], [2, 106]];
  return join(rows.map(([apid, seq], i) => encodeBeacon(handBeacon(301 + i, apid, seq))));
}

if (import.meta.main) {
  await Deno.mkdir(OUT, { recursive: true });
  const files: [string, Uint8Array][] = [
    ["capture.spp", await capture()],
    ["bad_packets.spp", badPackets()],
    ["seq_wrap.spp", seqWrap()],
    ["link_gap.spp", linkGap()],
  ];
  for (const [name, bytes] of files) {
    await Deno.writeFile(new URL(name, OUT), bytes);
    console.error(`fixtures/isl/${name}: ${bytes.length} bytes`);
  }
}
