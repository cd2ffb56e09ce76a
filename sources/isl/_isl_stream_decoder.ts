/**
 * The one ISL packet decoder: beacon packets laid back to back, fed in
 * chunks cut anywhere (`IslDecodeStream`, the edge worker) or whole
 * (`decodeIslPackets`: the replay), decoded as they complete.
 *
 * Portable: web APIs only.
 *
 * @module */

import { concatBytes } from "../_concat_bytes.ts";
import type { DeadLetter, Raw } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import { binaryRaw, MAX_RAW_BYTES } from "../../envelope/raw.ts";
import { formatTimestamp } from "../../envelope/time.ts";
import { type DecodeContext, makeDeadLetter, receiveTime } from "../decode_context.ts";
import type { Beacon } from "./beacon.ts";
import { apidAt, declaredLength, packetFault, soundPacketAt } from "./_frame.ts";
import { faultIndex } from "./_infer_index.ts";
import { BeaconMapper } from "./_beacon_mapper.ts";
import { BEACON_BYTES, HEADER_BYTES, SERVICE_APID, STATUS_BYTES, viewOf } from "./_layout.ts";
import { readBeaconInto } from "./_read.ts";

/** What one {@link IslStreamDecoder.take} hands on. */
export interface IslOutput {
  /** Observations completed since the last take, in input order. */
  observations: Observation[];
  /** Dead letters since the last take, in input order. */
  deadLetters: DeadLetter[];
  /** `deadLetterAt[k]` of the observations precede dead letter `k` in the input. */
  deadLetterAt: number[];
  /** Receive time of the oldest input behind them, µs. */
  receivedAt: number;
}

/** A malformed packet waiting for the next sound beacon to learn its index. */
interface HeldFault {
  slot: number;
  reason: string;
  raw: Raw;
  beaconSized: boolean;
  receivedAt: number;
}

/** The most a declared length can be: a 16-bit data length field + 7. */
const MAX_PACKET_BYTES = 0xffff + 7;
/**
 * Malformed packets held for their index at most (count, raw bytes); past
 * that the oldest is resolved with what came before it only. The bound
 * keeps memory flat whatever the input, and changes an index only after
 * more than 4,096 malformed packets (or 4 MiB of their raw) in a row with no
 * sound beacon between: never for what the UDP source can receive (a
 * datagram is at most 1400 bytes, so at most 200 packets), and the same for
 * a chunk as for the stream, since both decode through this class.
 */
const MAX_HELD = 4096;
const MAX_HELD_BYTES = 4 * 1024 * 1024;

/**
 * Decodes one body (or capture) of ISL packets incrementally, in input
 * order, holding no more than one packet (at most 65,542 bytes) plus the
 * malformed packets since the last sound beacon (bounded: see `MAX_HELD`),
 * which wait for the next sound beacon to tell their gateway index (the
 * rule of `inferFaultIndexes`). Whatever the chunking, the outcome is the
 * same as for the whole input in one piece — which is `decodeIslPackets`.
 */
export class IslStreamDecoder {
  #ctx: DecodeContext;
  #mapper: BeaconMapper;
  #beacon = {} as Beacon;
  /** A packet cut by a chunk boundary: its first `#partLength` bytes. */
  #part = new Uint8Array(256);
  #partLength = 0;
  /**
   * After a header that cannot start a packet (an unknown version, a length
   * shorter than any packet): why, and the bytes skipped until a sound
   * packet starts.
   */
  #skip:
    | { why: string; head: Uint8Array; length: number; slot: number; receivedAt: number }
    | undefined;
  /** Bytes of a skip not scanned yet: a candidate packet at their start runs past the chunk. */
  #carry = new Uint8Array(0);
  /** Ordinal of the next packet, and sound status packets so far (not slots). */
  #position = 0;
  #statuses = 0;
  /** Slot and index of the last sound beacon. */
  #lastSlot = -1;
  #lastIndex = 0;
  #held: HeldFault[] = [];
  #heldBytes = 0;
  #receivedAt = 0;
  #tRx = "";
  #observations: Observation[] = [];
  #deadLetters: DeadLetter[] = [];
  #deadLetterAt: number[] = [];
  #outputReceivedAt = Infinity;

  /** @param ctx where the packets come from */
  constructor(ctx: DecodeContext) {
    this.#ctx = ctx;
    this.#mapper = new BeaconMapper(ctx);
  }

  /** Feeds the next bytes of the input. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    this.#stamp();
    this.#consume(chunk);
  }

  /**
   * Ends the input, with `last` its last bytes (or all of it, as
   * `decodeIslPackets` hands it): a packet it cut short, or the
   * unsplittable rest, is a fault.
   */
  end(last?: Uint8Array): void {
    this.#stamp();
    if (last !== undefined && last.length > 0) this.#consume(last);
    this.#finish();
  }

  #consume(chunk: Uint8Array): void {
    let offset = 0;
    if (this.#skip !== undefined) {
      if (this.#carry.length > 0) {
        chunk = concatBytes([this.#carry, chunk]);
        this.#carry = new Uint8Array(0);
      }
      offset = this.#scan(chunk, 0, false);
      if (offset < 0) return;
    } else if (this.#partLength > 0) {
      offset = this.#fill(chunk);
      if (offset < 0) return;
    }
    this.#parse(chunk, offset);
  }

  #parse(chunk: Uint8Array, offset: number): void {
    const view = viewOf(chunk);
    const length = chunk.length;
    while (offset < length) {
      const left = length - offset;
      if (left < HEADER_BYTES) {
        this.#keep(chunk, offset, length);
        return;
      }
      const version = chunk[offset] >> 5;
      const total = declaredLength(chunk, offset);
      const why = version !== 0
        ? `Unknown packet version ${version} (expected 0)`
        : total < STATUS_BYTES
        // Zero padding reads as a version-0 header of a 7-byte packet: split
        // where such lengths lead, it was a dead letter per 7 bytes.
        ? `A header declaring a ${total}-byte packet, shorter than any (a status packet has ${STATUS_BYTES})`
        : undefined;
      if (why !== undefined) {
        this.#startSkip(chunk, offset, why);
        offset = this.#scan(chunk, offset + 1, false);
        if (offset < 0) return;
        continue;
      }
      if (total > left) {
        this.#keep(chunk, offset, length);
        return;
      }
      this.#packet(chunk, view, offset, total);
      offset += total;
    }
  }

  /** A header that cannot start a packet: it, and the bytes after it up to a sound packet, are one fault. */
  #startSkip(bytes: Uint8Array, offset: number, why: string): void {
    this.#skip = {
      why,
      head: new Uint8Array(0),
      length: 0,
      slot: this.#slot(),
      receivedAt: this.#receivedAt,
    };
    this.#addSkip(bytes, offset, offset + 1);
  }

  #addSkip(bytes: Uint8Array, from: number, to: number): void {
    const skip = this.#skip!;
    const room = MAX_RAW_BYTES - skip.head.length;
    if (room > 0 && from < to) {
      skip.head = concatBytes([skip.head, bytes.subarray(from, Math.min(to, from + room))]);
    }
    skip.length += to - from;
  }

  /**
   * Skips from `from` to the next offset where a sound status or beacon
   * packet starts (version 0, TM, unsegmented, its kind's length, a good
   * CRC); there the skip ends as one fault and the offset is returned. −1
   * when none starts in `bytes`: the undecided tail is carried to the next
   * chunk, or, when `final`, the skip ends at the end of the input.
   */
  #scan(bytes: Uint8Array, from: number, final: boolean): number {
    const length = bytes.length;
    for (let p = from; p < length; p++) {
      const left = length - p;
      if (left < HEADER_BYTES) {
        if (final) break;
        return this.#carryFrom(bytes, from, p);
      }
      const sound = soundPacketAt(bytes, p, length);
      if (sound === false) continue;
      if (sound === undefined) {
        if (final) continue;
        return this.#carryFrom(bytes, from, p);
      }
      this.#addSkip(bytes, from, p);
      this.#endSkip(`${this.#skip!.length} bytes skipped to the next sound packet`);
      return p;
    }
    this.#addSkip(bytes, from, length);
    if (final) {
      this.#endSkip(`${this.#skip!.length} bytes skipped to the end, no sound packet among them`);
    }
    return -1;
  }

  #carryFrom(bytes: Uint8Array, from: number, p: number): number {
    this.#addSkip(bytes, from, p);
    this.#carry = bytes.slice(p);
    return -1;
  }

  #endSkip(detail: string): void {
    const skip = this.#skip!;
    this.#skip = undefined;
    this.#fault(
      skip.slot,
      `${skip.why}: ${detail}`,
      binaryRaw(skip.head, skip.length),
      skip.length === BEACON_BYTES,
      skip.receivedAt,
    );
    this.#position++;
  }

  #finish(): void {
    while (this.#skip !== undefined) {
      const carry = this.#carry;
      this.#carry = new Uint8Array(0);
      const at = this.#scan(carry, 0, true);
      if (at >= 0) this.#parse(carry, at);
    }
    if (this.#partLength > 0) {
      const part = this.#part.subarray(0, this.#partLength);
      const reason = part.length < HEADER_BYTES
        ? `Truncated packet: ${part.length} bytes left, a primary header needs 6`
        : `Truncated packet: the header declares ${
          declaredLength(part, 0)
        } bytes, ${part.length} left`;
      this.#fault(this.#slot(), reason, binaryRaw(part), part.length === BEACON_BYTES);
      this.#partLength = 0;
    }
    // No sound beacon follows: what is held is resolved from before only.
    this.#resolve(-1, 0, this.#held.length);
  }

  /** Hands on what was completed since the last call (or undefined if nothing). */
  take(): IslOutput | undefined {
    if (this.#observations.length === 0 && this.#deadLetters.length === 0) return undefined;
    const out: IslOutput = {
      observations: this.#observations,
      deadLetters: this.#deadLetters,
      deadLetterAt: this.#deadLetterAt,
      receivedAt: this.#outputReceivedAt,
    };
    this.#observations = [];
    this.#deadLetters = [];
    this.#deadLetterAt = [];
    this.#outputReceivedAt = Infinity;
    return out;
  }

  #stamp(): void {
    const receivedAt = receiveTime(this.#ctx);
    if (receivedAt !== this.#receivedAt || this.#tRx === "") {
      this.#receivedAt = receivedAt;
      this.#tRx = this.#ctx.deterministic ? "" : formatTimestamp(receivedAt);
    }
  }

  /** Completes the cut packet from the start of `chunk`; where the rest begins, or −1. */
  #fill(chunk: Uint8Array): number {
    let offset = 0;
    if (this.#partLength < HEADER_BYTES) {
      const take = Math.min(HEADER_BYTES - this.#partLength, chunk.length);
      this.#append(chunk, 0, take);
      offset = take;
      if (this.#partLength < HEADER_BYTES) return -1;
      // A header that cannot start a packet: #parse skips from it.
      if (this.#part[0] >> 5 !== 0 || declaredLength(this.#part, 0) < STATUS_BYTES) {
        const bytes = concatBytes([
          this.#part.subarray(0, this.#partLength),
          chunk.subarray(offset),
        ]);
        this.#partLength = 0;
        this.#parse(bytes, 0);
        return -1;
      }
    }
    const total = declaredLength(this.#part, 0);
    const take = Math.min(total - this.#partLength, chunk.length - offset);
    this.#append(chunk, offset, offset + take);
    offset += take;
    if (this.#partLength < total) return -1;
    const part = this.#part.subarray(0, total);
    this.#partLength = 0;
    this.#packet(part, viewOf(part), 0, total);
    return offset;
  }

  #append(chunk: Uint8Array, from: number, to: number): void {
    const need = this.#partLength + to - from;
    if (need > this.#part.length) {
      const grown = new Uint8Array(
        Math.min(Math.max(need, this.#part.length * 2), MAX_PACKET_BYTES),
      );
      grown.set(this.#part.subarray(0, this.#partLength));
      this.#part = grown;
    }
    this.#part.set(chunk.subarray(from, to), this.#partLength);
    this.#partLength = need;
  }

  #keep(chunk: Uint8Array, from: number, to: number): void {
    this.#partLength = 0;
    this.#append(chunk, from, to);
  }

  /** The slot of the next packet: its position among all but sound status packets. */
  #slot(): number {
    return this.#position - this.#statuses;
  }

  /** One whole packet, `bytes[offset, offset + total)`. */
  #packet(bytes: Uint8Array, view: DataView, offset: number, total: number): void {
    const reason = packetFault(bytes, offset, total);
    if (reason !== undefined) {
      this.#fault(
        this.#slot(),
        reason,
        binaryRaw(bytes.subarray(offset, offset + total)),
        total === BEACON_BYTES,
      );
    } else if (apidAt(bytes, offset) === SERVICE_APID) {
      // Status packets carry no measurement; they take no slot either.
      this.#statuses++;
    } else {
      const beacon = readBeaconInto(view, offset, this.#beacon);
      const slot = this.#slot();
      if (this.#held.length > 0) this.#resolve(slot, beacon.index, this.#held.length);
      this.#lastSlot = slot;
      this.#lastIndex = beacon.index;
      this.#beaconOutput(beacon, bytes, offset);
    }
    this.#position++;
  }

  #beaconOutput(beacon: Beacon, bytes: Uint8Array, offset: number): void {
    const mapper = this.#mapper;
    const observation = mapper.map(beacon, this.#tRx, this.#receivedAt);
    if (this.#receivedAt < this.#outputReceivedAt) this.#outputReceivedAt = this.#receivedAt;
    if (observation !== undefined) {
      this.#observations.push(observation);
      return;
    }
    this.#letter(makeDeadLetter(this.#ctx, "isl-spp", {
      stage: mapper.failure!.stage,
      reason: mapper.failure!.reason,
      raw: binaryRaw(bytes.subarray(offset, offset + BEACON_BYTES)),
      ref: String(beacon.index),
      receivedAt: this.#receivedAt,
    }));
  }

  /** A malformed packet: held until a sound beacon after it tells its index. */
  #fault(
    slot: number,
    reason: string,
    raw: Raw,
    beaconSized: boolean,
    receivedAt = this.#receivedAt,
  ): void {
    const held = this.#held;
    const size = typeof raw === "string" ? raw.length : raw.base64.length;
    held.push({ slot, reason, raw, beaconSized, receivedAt });
    this.#heldBytes += size;
    if (held.length > MAX_HELD || this.#heldBytes > MAX_HELD_BYTES) this.#resolve(-1, 0, 1);
  }

  /**
   * Dead letters for the first `count` held faults, with the index their
   * slot gives between the last sound beacon and the one at `afterSlot`
   * (−1: none), as `inferFaultIndexes` does for a whole capture.
   */
  #resolve(afterSlot: number, afterIndex: number, count: number): void {
    const held = this.#held;
    for (let k = 0; k < count; k++) {
      const fault = held[k];
      const index = faultIndex(
        fault.slot,
        fault.beaconSized,
        this.#lastSlot,
        this.#lastIndex,
        afterSlot,
        afterIndex,
      );
      if (fault.receivedAt < this.#outputReceivedAt) this.#outputReceivedAt = fault.receivedAt;
      this.#letter(makeDeadLetter(this.#ctx, "isl-spp", {
        stage: "framing",
        reason: fault.reason,
        raw: fault.raw,
        ref: index === undefined ? undefined : String(index),
        receivedAt: fault.receivedAt,
      }));
      this.#heldBytes -= typeof fault.raw === "string" ? fault.raw.length : fault.raw.base64.length;
    }
    if (count === held.length) held.length = 0;
    else held.splice(0, count);
  }

  #letter(letter: DeadLetter): void {
    this.#deadLetterAt.push(this.#observations.length);
    this.#deadLetters.push(letter);
  }
}
