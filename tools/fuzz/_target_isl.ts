/**
 * Fuzz target: ISL datagrams and captures through `decodeDatagram`,
 * `decodeIslPackets` and `IslDecodeStream`.
 *
 * Oracle, besides the envelope checks of `_oracle.ts`:
 *
 * * Neither throws.
 * * `decodeDatagram`: its packets (status 18 bytes, beacon 96) and faults
 *   tile the datagram — every byte in exactly one of them, in order.
 * * `decodeIslPackets`: every byte is accounted for, walking the datagram
 *   from its start: at each point the next dead letter's raw is the bytes
 *   found there, or the next observation is the sound beacon found there
 *   (index, observer, link and count, flags and values as SPEC §6 maps
 *   them), or a sound status packet is there (no measurement, skipped).
 *   Anything else, or output left over at the end, is a finding.
 * * `IslDecodeStream` (the edge worker's): the same output whatever the
 *   chunking, and `decodeIslPackets`' observations and dead letters (while
 *   it holds at most 4096 malformed packets, its documented bound).
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import { decodeDatagram } from "../../sources/isl/decode_datagram.ts";
import { decodeIslPackets } from "../../sources/isl/decode_isl_packets.ts";
import { IslDecodeStream } from "../../sources/isl/isl_decode_stream.ts";
import { chunking, same, streamItems } from "./_streams.ts";
import { BYTE_MUTATORS } from "./_mutate_bytes.ts";
import { ISL_MUTATORS } from "./_mutate_isl.ts";
import {
  checkOutputs,
  describe,
  type Judged,
  preview,
  type RawParts,
  rawParts,
} from "./_oracle.ts";
import {
  apid,
  BEACON,
  crcOk,
  declared,
  packetOffsets,
  STATUS,
  STATUS_APID,
  statusPacket,
  u32,
} from "./_spp.ts";
import { type FuzzInput, mutate, NOW_MICROS, type Target } from "./_target.ts";

/** Whether a sound status packet (SPEC §6) starts at `at`. */
function soundStatus(bytes: Uint8Array, at: number): boolean {
  return bytes.length - at >= STATUS && declared(bytes, at) === STATUS &&
    (bytes[at] & 0xf8) === 0 &&
    apid(bytes, at) === STATUS_APID && bytes[at + 2] >> 6 === 3 && crcOk(bytes, at, STATUS);
}

/** Why observation `o` is not the beacon at `at` (undefined: it is). */
function notBeaconAt(bytes: Uint8Array, at: number, o: Observation): string | undefined {
  if (bytes.length - at < BEACON || declared(bytes, at) !== BEACON) {
    return "no beacon-sized packet there";
  }
  if (!crcOk(bytes, at, BEACON)) return "the packet there has a bad CRC";
  if ((bytes[at] & 0xf8) !== 0x08 || bytes[at + 2] >> 6 !== 3 || bytes[at + 6] !== 0x1e) {
    return "the packet there is not a beacon (version, type, secondary header, flags, P-field)";
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset + at, BEACON);
  const meta = o.provenance.meta as { apid?: unknown; seq?: unknown };
  if (o.provenance.ref !== String(u32(bytes, at + 13))) {
    return `ref ${o.provenance.ref} is not index ${u32(bytes, at + 13)}`;
  }
  if (o.sensor !== `isl:${u32(bytes, at + 17)}`) {
    return `sensor ${o.sensor} is not the observer there`;
  }
  if (
    meta.apid !== apid(bytes, at) || meta.seq !== (((bytes[at + 2] & 0x3f) << 8) | bytes[at + 3])
  ) {
    return "meta apid/seq differ from the header";
  }
  const target = u32(bytes, at + 21);
  if (target === 0 ? o.target.norad !== null : o.target.norad !== target) return "target differs";
  const flags = bytes[at + 93];
  const m = o.measurement as Record<string, unknown>;
  const expect: Record<string, unknown> = {};
  if (flags & 1) {
    expect.range_km = view.getFloat64(25);
    expect.range_sigma_km = view.getFloat32(41);
  }
  if (flags & 2) expect.range_rate_km_s = view.getFloat64(33);
  for (const key of ["range_km", "range_rate_km_s", "range_sigma_km"]) {
    if (m[key] !== expect[key]) return `${key} is ${m[key]}, the packet says ${expect[key]}`;
  }
  const observer = m.observer as { norad: number; r_km?: number[]; v_km_s?: number[] };
  if (observer.norad !== u32(bytes, at + 17)) return "observer.norad differs";
  if ((flags & 4) !== 0) {
    const r = [0, 1, 2].map((k) => view.getFloat64(45 + 8 * k));
    const v = [0, 1, 2].map((k) => view.getFloat64(69 + 8 * k));
    if (observer.r_km?.join() !== r.join() || observer.v_km_s?.join() !== v.join()) {
      return "observer state differs";
    }
  } else if (observer.r_km !== undefined || observer.v_km_s !== undefined) {
    return "observer state present without the state-valid flag";
  }
  return undefined;
}

/**
 * The accounting rule of this module's documentation for `decodeIslPackets`:
 * why its output does not cover every byte of the input, or undefined when
 * it does.
 */
export function islAccounting(
  bytes: Uint8Array,
  observations: readonly Observation[],
  deadLetters: readonly DeadLetter[],
): string | undefined {
  const raws: RawParts[] = [];
  for (const d of deadLetters) {
    if (typeof d.raw === "string") return `ISL dead letter with a text raw: ${preview(d)}`;
    raws.push(rawParts(d.raw));
  }
  let pos = 0;
  let o = 0;
  let d = 0;
  // A cut raw keeps the first bytes of its packet and says how long it was.
  const matchesLetter = (at: number, raw: RawParts) =>
    raw.size > 0 && at + raw.size <= bytes.length &&
    raw.bytes!.every((b: number, k: number) => bytes[at + k] === b);
  while (pos < bytes.length) {
    // A beacon or status packet is recognised by its CRC and fields, a dead
    // letter only by its bytes, which a short raw may match by chance: try
    // them first.
    if (o < observations.length && notBeaconAt(bytes, pos, observations[o]) === undefined) {
      o++;
      pos += BEACON;
      continue;
    }
    if (soundStatus(bytes, pos)) {
      pos += STATUS;
      continue;
    }
    if (d < raws.length && matchesLetter(pos, raws[d])) {
      pos += raws[d++].size;
      continue;
    }
    const why = o < observations.length
      ? notBeaconAt(bytes, pos, observations[o])
      : "no observation left";
    return `Accounting: ${
      bytes.length - pos
    } bytes from offset ${pos} are in no dead letter, observation or status packet (next observation: ${why}; ${
      raws.length - d
    } dead letters left)`;
  }
  if (o < observations.length || d < raws.length) {
    return `Accounting: ${observations.length - o} observations and ${
      raws.length - d
    } dead letters match no bytes of the input: ${preview(observations[o] ?? deadLetters[d])}`;
  }
  return undefined;
}

/** The ISL decoders. */
export const islTarget: Target = {
  name: "isl",
  ext: "spp",
  corpus: { dir: "isl", ext: [".spp"] },
  seeds(files) {
    // Whole captures, and datagrams as a gateway sends them: a status packet,
    // then whole packets up to 1400 bytes.
    const seeds = [...files];
    for (const file of files) {
      const offsets = packetOffsets(file);
      let start = 0;
      let seq = 1;
      for (let k = 0; k <= offsets.length; k++) {
        const at = k < offsets.length ? offsets[k] : file.length;
        if (at - start + STATUS > 1400 || k === offsets.length) {
          if (at > start) {
            const count = Math.floor((at - start) / BEACON);
            const status = statusPacket(seq++, 1, 1000, count);
            const datagram = new Uint8Array(STATUS + at - start);
            datagram.set(status);
            datagram.set(file.subarray(start, at), STATUS);
            seeds.push(datagram);
          }
          start = at;
        }
      }
    }
    return seeds;
  },
  generate(rng, corpus) {
    return {
      bytes: mutate(rng, corpus, [...BYTE_MUTATORS, ...ISL_MUTATORS, ...ISL_MUTATORS]),
      options: { deterministic: rng.chance(0.3) || undefined, chunkSeed: rng.next() },
    };
  },
  async check(input: FuzzInput) {
    const problems: string[] = [];
    const { bytes } = input;
    try {
      const { packets, faults } = decodeDatagram(bytes);
      const pieces = [
        ...packets.map((p) => ({
          position: p.position,
          offset: p.offset,
          length: p.type === "status" ? STATUS : BEACON,
        })),
        ...faults.map((f) => ({ position: f.position, offset: f.offset, length: f.bytes.length })),
      ].sort((a, b) => a.position - b.position);
      let at = 0;
      for (let k = 0; k < pieces.length; k++) {
        const p = pieces[k];
        if (p.position !== k || p.offset !== at || p.length <= 0) {
          problems.push(`decodeDatagram() pieces do not tile the datagram at ${at}: ${preview(p)}`);
          break;
        }
        at += p.length;
      }
      if (problems.length === 0 && at !== bytes.length) {
        problems.push(`decodeDatagram() covers ${at} of ${bytes.length} bytes`);
      }
    } catch (error) {
      problems.push(`decodeDatagram() threw: ${describe(error)}`);
    }

    const judged: Judged = input.options.deterministic
      ? {
        ctx: {
          source: "fuzz",
          transport: "replay",
          peer: "isl/fuzz.spp",
          deterministic: true,
          startedAt: NOW_MICROS,
        },
        now: NOW_MICROS,
      }
      : {
        ctx: { source: "fuzz", transport: "udp", peer: "127.0.0.1:40003", now: () => NOW_MICROS },
        now: NOW_MICROS,
      };
    let decoded: ReturnType<typeof decodeIslPackets>;
    try {
      decoded = decodeIslPackets(bytes, judged.ctx);
    } catch (error) {
      problems.push(`decodeIslPackets() threw: ${describe(error)}`);
      return problems;
    }
    const before = problems.length;
    checkOutputs(decoded.observations, decoded.deadLetters, judged, ["isl-spp"], problems);
    if (problems.length > before) return problems;
    const accounting = islAccounting(bytes, decoded.observations, decoded.deadLetters);
    if (accounting !== undefined) problems.push(accounting);

    // IslDecodeStream (the edge worker's): decodeIslPackets' outcome, in
    // input order, whatever the chunking.
    const decoder = () => new IslDecodeStream({ ctx: judged.ctx });
    const one = await streamItems("IslDecodeStream", decoder, [bytes], problems);
    const many = await streamItems(
      "IslDecodeStream",
      decoder,
      chunking(bytes, input.options.chunkSeed ?? 0),
      problems,
    );
    if (one === undefined || many === undefined) return problems;
    const diff = same(one, many);
    if (diff >= 0) {
      problems.push(
        `IslDecodeStream output depends on the chunking: item ${diff} is ${
          preview(one[diff])
        } in one chunk, ${preview(many[diff])} in random chunks`,
      );
    }
    // Past 4096 malformed packets held, the stream resolves the oldest index
    // from what came before only (its documented bound on memory).
    if (decoded.deadLetters.length > 4096) return problems;
    const o = same(decoded.observations, one.flatMap((i) => ("o" in i ? [i.o] : [])));
    const d = same(decoded.deadLetters, one.flatMap((i) => ("d" in i ? [i.d] : [])));
    if (o >= 0) problems.push(`decodeIslPackets() and IslDecodeStream differ at observation ${o}`);
    if (d >= 0) problems.push(`decodeIslPackets() and IslDecodeStream differ at dead letter ${d}`);
    return problems;
  },
};
