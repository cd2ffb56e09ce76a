import assert from "node:assert/strict";
import { encodeBeacon } from "../../../sources/isl/beacon.ts";
import { crc16 } from "../../../sources/isl/crc16.ts";
import { decodeDatagram } from "../../../sources/isl/decode_datagram.ts";
import { decodePoll, encodePoll } from "../../../sources/isl/poll_request.ts";
import { decodeStatus, encodeStatus } from "../../../sources/isl/status_packet.ts";
import { handBeacon } from "./_make_fixtures.ts";

/** CRC-16/CCITT-FALSE bit by bit, as the standard states it (no table). */
function referenceCrc(bytes: Uint8Array): number {
  let crc = 0xffff;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
  }
  return crc;
}

Deno.test("crc16() gives the CRC-16/CCITT-FALSE check value and matches a bitwise reference", () => {
  assert.equal(crc16(new TextEncoder().encode("123456789")), 0x29b1);
  const bytes = Uint8Array.from({ length: 300 }, (_, i) => (i * 37 + 11) & 0xff);
  assert.equal(crc16(bytes), referenceCrc(bytes));
  assert.equal(crc16(bytes, 10, 200), referenceCrc(bytes.subarray(10, 200)));
});

Deno.test("encodePoll() writes the 14 bytes of SPEC §6 byte by byte", () => {
  const poll = encodePoll({ seq: 16385, after: 0x01020304, max: 256 });
  const expected = [
    0x17,
    0xfe, // version 0, type 1 (TC), no secondary header, APID 0x7FE
    0xc0,
    0x01, // sequence flags 0b11, count 16385 mod 2^14 = 1
    0x00,
    0x07, // data length 7
    0x01,
    0x02,
    0x03,
    0x04, // after
    0x01,
    0x00, // max
  ];
  assert.deepEqual([...poll.subarray(0, 12)], expected);
  const crc = referenceCrc(new Uint8Array(expected));
  assert.deepEqual([...poll.subarray(12)], [crc >> 8, crc & 0xff]);
});

Deno.test("decodePoll() rejects a damaged poll with a SyntaxError that says why", () => {
  const poll = encodePoll({ seq: 3, after: 10, max: 5 });
  poll[7] ^= 1;
  assert.throws(() => decodePoll(poll), {
    name: "SyntaxError",
    message:
      /^Cannot parse poll request: Bad CRC: packet says 0x[0-9a-f]{4}, computed 0x[0-9a-f]{4}$/,
  });
  assert.throws(() => decodePoll(new Uint8Array(13)), {
    name: "SyntaxError",
    message: "Cannot parse a poll request of 13 bytes (expected 14)",
  });
  assert.throws(() => encodePoll({ seq: 0, after: -1, max: 1 }), RangeError);
  assert.throws(() => encodePoll({ seq: 0, after: 0, max: 65536 }), RangeError);
});

Deno.test("decodeStatus() reads a status packet and refuses a telecommand", () => {
  const bytes = encodeStatus({
    seq: 16383,
    oldest: 4_000_000_000,
    newest: 4_000_000_255,
    count: 256,
  });
  assert.deepEqual([...bytes.subarray(0, 6)], [0x07, 0xfe, 0xff, 0xff, 0x00, 0x0b]);
  assert.deepEqual(decodeStatus(bytes), {
    seq: 16383,
    oldest: 4_000_000_000,
    newest: 4_000_000_255,
    count: 256,
  });
  bytes[0] |= 0x10;
  const crc = crc16(bytes, 0, 16);
  bytes[16] = crc >> 8;
  bytes[17] = crc & 0xff;
  assert.throws(() => decodeStatus(bytes), {
    name: "SyntaxError",
    message:
      "Cannot parse status packet: Unexpected telecommand packet (type bit 1) where telemetry was expected",
  });
});

Deno.test("decodeDatagram() reports each malformed packet and still parses the rest", () => {
  const beacon = (index: number) => encodeBeacon(handBeacon(index, 4, index));
  const badCrc = beacon(2);
  badCrc[40] ^= 0x01;
  const noSecondary = beacon(3);
  noSecondary[0] &= ~0x08;
  const c = crc16(noSecondary, 0, 94);
  noSecondary[94] = c >> 8;
  noSecondary[95] = c & 0xff;
  const idle = beacon(4);
  idle[0] |= 0x07; // APID 0x7ff
  idle[1] = 0xff;
  const c2 = crc16(idle, 0, 94);
  idle[94] = c2 >> 8;
  idle[95] = c2 & 0xff;
  const datagram = new Uint8Array(18 + 5 * 96);
  encodeStatus({ seq: 1, oldest: 1, newest: 5, count: 5 }, datagram, 0);
  [beacon(1), badCrc, noSecondary, idle, beacon(5)].forEach((b, i) => datagram.set(b, 18 + i * 96));
  const { packets, faults } = decodeDatagram(datagram);
  assert.deepEqual(packets.map((p) => p.type === "beacon" ? p.beacon.index : "status"), [
    "status",
    1,
    5,
  ]);
  assert.deepEqual(faults.map((f) => [f.position, f.offset, f.bytes.length]), [
    [2, 114, 96],
    [3, 210, 96],
    [4, 306, 96],
  ]);
  assert.match(faults[0].reason, /^Bad CRC: packet says 0x[0-9a-f]{4}, computed 0x[0-9a-f]{4}$/);
  assert.equal(faults[1].reason, "Beacon packet without the secondary header flag (expected 1)");
  assert.equal(faults[2].reason, "Unexpected idle packet (APID 0x7ff)");
});

Deno.test("decodeDatagram() makes the rest of the datagram one fault when boundaries are lost", () => {
  const version = new Uint8Array(96 * 2);
  version.set(encodeBeacon(handBeacon(1, 1, 1)), 0);
  version.set(encodeBeacon(handBeacon(2, 1, 2)), 96);
  version[96] |= 0x20; // packet version 1
  const one = decodeDatagram(version);
  assert.equal(one.packets.length, 1);
  assert.deepEqual(one.faults.map((f) => [f.offset, f.bytes.length, f.reason]), [
    [
      96,
      96,
      "Unknown packet version 1 (expected 0): the rest of the datagram cannot be split into packets",
    ],
  ]);
  const stub = decodeDatagram(new Uint8Array([0x08, 0x01, 0xc0]));
  assert.equal(stub.faults[0].reason, "Truncated packet: 3 bytes left, a primary header needs 6");
});

Deno.test("decodeDatagram() makes zero padding after the packets one fault, not one per 7 bytes", () => {
  // A gateway that pads its answers to a fixed size with zeros: each six
  // zero bytes read as a version-0 header of a 7-byte packet.
  const datagram = new Uint8Array(1400);
  encodeStatus({ seq: 1, oldest: 1, newest: 1, count: 1 }, datagram, 0);
  datagram.set(encodeBeacon(handBeacon(1, 1, 1)), 18);
  const { packets, faults } = decodeDatagram(datagram);
  assert.deepEqual(packets.map((p) => p.type), ["status", "beacon"]);
  assert.deepEqual(faults.map((f) => [f.position, f.offset, f.bytes.length]), [[2, 114, 1286]]);
  assert.equal(
    faults[0].reason,
    "A header declaring a 7-byte packet, shorter than any (a status packet has 18): the rest of the datagram cannot be split into packets",
  );
  // A datagram of nothing but zeros: one fault (it was 9,285 for 65,000 bytes).
  assert.equal(decodeDatagram(new Uint8Array(65_000)).faults.length, 1);
});
