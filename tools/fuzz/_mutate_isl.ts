/**
 * Mutators that know ISL datagrams are Space Packets back to back (SPEC §6):
 * they change one field of one packet to an extreme value and usually
 * recompute its CRC, so that the mutation gets past the CRC check to the
 * beacon decoder; they make length fields lie; they duplicate, drop and
 * reorder whole packets; they put status packets where they may or may not
 * belong.
 *
 * @module
 */

import { bounded, concat, type Mutator } from "./_mutate_bytes.ts";
import type { Prng } from "./_prng.ts";
import { BEACON, declared, fixCrc, HEADER, packetOffsets, statusPacket } from "./_spp.ts";

/** u32 values at the edges: CUC seconds 0 and 2^32 − 1, indexes 0 and 1, … */
const U32 = [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 2_174_299_237, 3_000_000_000];
/** Doubles at the edges (as bit patterns written with DataView). */
const F64 = [
  NaN,
  Infinity,
  -Infinity,
  -0,
  0,
  5e-324,
  -5e-324,
  1.7976931348623157e308,
  -1e300,
  1e-300,
  42,
];

/** Byte offset and size of the beacon fields worth aiming at. */
const BEACON_FIELDS: readonly { at: number; kind: "u8" | "u16" | "u32" | "f32" | "f64" }[] = [
  { at: 0, kind: "u16" }, // version, type, secondary header flag, APID
  { at: 2, kind: "u16" }, // sequence flags, count
  { at: 4, kind: "u16" }, // data length
  { at: 6, kind: "u8" }, // CUC P-field
  { at: 7, kind: "u32" }, // coarse time
  { at: 11, kind: "u16" }, // fine time
  { at: 13, kind: "u32" }, // gateway index
  { at: 17, kind: "u32" }, // observer
  { at: 21, kind: "u32" }, // target
  { at: 25, kind: "f64" }, // range
  { at: 33, kind: "f64" }, // range rate
  { at: 41, kind: "f32" }, // range sigma
  { at: 45, kind: "f64" },
  { at: 53, kind: "f64" },
  { at: 61, kind: "f64" },
  { at: 69, kind: "f64" },
  { at: 77, kind: "f64" },
  { at: 85, kind: "f64" },
  { at: 93, kind: "u8" }, // flags
];

/** A packet of the input, chosen at random, or undefined when none is whole. */
function pickPacket(bytes: Uint8Array, rng: Prng): { offset: number; total: number } | undefined {
  const offsets = packetOffsets(bytes);
  if (offsets.length === 0) return undefined;
  const offset = rng.pick(offsets);
  return { offset, total: declared(bytes, offset) };
}

/** Sets one field of one packet to an extreme value; recomputes its CRC mostly. */
export function islField(input: Uint8Array, rng: Prng): Uint8Array {
  const out = input.slice();
  const packet = pickPacket(out, rng);
  if (packet === undefined) return out;
  const { offset, total } = packet;
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  const fields = total === BEACON ? BEACON_FIELDS : BEACON_FIELDS.slice(0, 3).concat([
    { at: 6, kind: "u32" },
    { at: 10, kind: "u32" },
    { at: 14, kind: "u16" },
  ]);
  const field = rng.pick(fields);
  const at = offset + field.at;
  const size = { u8: 1, u16: 2, u32: 4, f32: 4, f64: 8 }[field.kind];
  if (at + size > offset + total - 2) return out;
  switch (field.kind) {
    case "u8":
      view.setUint8(
        at,
        rng.chance(0.5) ? rng.pick([0, 0x1e, 0x1f, 0x2e, 0xff, 7, 8]) : rng.next() & 0xff,
      );
      break;
    case "u16":
      if (field.at === 0) {
        // Version bits, type bit, secondary header flag, APID 0 / idle / status / random.
        const apid = rng.pick([0, 1, 2046, 0x7fe, 0x7ff, rng.int(2048)]);
        const top = rng.pick([0x0800, 0x0000, 0x1800, 0x1000, 0x2800, 0xe800]);
        view.setUint16(at, top | apid);
      } else if (field.at === 2) {
        view.setUint16(at, (rng.int(4) << 14) | rng.pick([0, 1, 0x3fff, rng.int(0x4000)]));
      } else if (field.at === 4) {
        // The data length lies: off by one, the other packet kind's, huge, zero.
        const actual = total - 7;
        view.setUint16(
          at,
          rng.pick([actual - 1, actual + 1, 11, 89, 0, 1, 0xffff, actual + 96, actual + 18]) &
            0xffff,
        );
      } else {
        view.setUint16(at, rng.pick([0, 1, 0x7fff, 0x8000, 0xfffe, 0xffff]));
      }
      break;
    case "u32":
      view.setUint32(at, rng.chance(0.8) ? rng.pick(U32) : rng.next());
      break;
    case "f32":
      view.setFloat32(at, rng.pick(F64));
      break;
    case "f64":
      if (rng.chance(0.2)) {
        // NaN with a payload, or any bit pattern.
        view.setUint32(at, rng.pick([0x7ff80000, 0xfff00000, 0x7ff00001, rng.next()]));
        view.setUint32(at + 4, rng.next());
      } else {
        view.setFloat64(at, rng.pick(F64));
      }
      break;
  }
  // Mostly recompute the CRC: a mutation a bad CRC would hide reaches nothing.
  if (field.at !== 4 && rng.chance(0.85)) fixCrc(out, offset, total);
  else if (field.at === 4 && rng.chance(0.5)) {
    fixCrc(out, offset, Math.min(declared(out, offset), out.length - offset));
  }
  return out;
}

/** Duplicates, drops or reorders whole packets. */
export function islPackets(input: Uint8Array, rng: Prng): Uint8Array {
  const offsets = packetOffsets(input);
  if (offsets.length === 0) return input;
  const packets = offsets.map((o, k) =>
    input.subarray(o, k + 1 < offsets.length ? offsets[k + 1] : o + declared(input, o))
  );
  const last = offsets[offsets.length - 1] + declared(input, offsets[offsets.length - 1]);
  const tail = input.subarray(last);
  const i = rng.int(packets.length);
  switch (rng.int(4)) {
    case 0:
      packets.splice(i, 0, ...Array(rng.chance(0.9) ? 1 : rng.range(2, 40)).fill(packets[i]));
      break;
    case 1:
      packets.splice(i, rng.range(1, 3));
      break;
    case 2: {
      const j = rng.int(packets.length);
      [packets[i], packets[j]] = [packets[j], packets[i]];
      break;
    }
    default:
      for (let k = packets.length - 1; k > 0; k--) {
        const j = rng.int(k + 1);
        [packets[k], packets[j]] = [packets[j], packets[k]];
      }
  }
  return bounded(concat(...packets, tail));
}

/** Puts a status packet (sound, or with extreme fields) somewhere in the datagram. */
export function islStatus(input: Uint8Array, rng: Prng): Uint8Array {
  const status = statusPacket(
    rng.int(0x4000),
    rng.pick([0, 1, 0xffffffff, rng.next()]),
    rng.pick([0, 1, 0xffffffff, rng.next()]),
    rng.pick([0, 1, 256, 0xffff, rng.int(20)]),
  );
  const offsets = packetOffsets(input);
  const at = rng.chance(0.6) || offsets.length === 0 ? 0 : rng.pick(offsets);
  return concat(input.subarray(0, at), status, input.subarray(at));
}

/** Cuts a datagram inside a packet header or body (a short datagram). */
export function islCut(input: Uint8Array, rng: Prng): Uint8Array {
  const offsets = packetOffsets(input);
  if (offsets.length === 0) return input.slice(0, rng.int(input.length + 1));
  const o = rng.pick(offsets);
  return input.slice(
    0,
    o + rng.int(Math.min(HEADER + 2, input.length - o) + 1) +
      (rng.chance(0.5) ? rng.int(BEACON) : 0),
  );
}

/** Every ISL-aware mutator. */
export const ISL_MUTATORS: readonly Mutator[] = [
  islField,
  islField,
  islField,
  islPackets,
  islStatus,
  islCut,
];
