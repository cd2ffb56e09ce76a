/**
 * The poll protocol with one ISL gateway (SPEC §6), without any I/O: it
 * builds poll requests, assembles the answers and keeps the watermark and
 * the loss counts. The transport (UDP, timers) lives in the source.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import { binaryRaw } from "../../envelope/raw.ts";
import { formatTimestamp } from "../../envelope/time.ts";
import { type DecodeContext, makeDeadLetter } from "../decode_context.ts";
import type { Beacon } from "./beacon.ts";
import { decodeDatagram, type IslPacket, type PacketFault } from "./decode_datagram.ts";
import { LinkSequenceTracker } from "./link_sequence_tracker.ts";
import { encodePoll } from "./poll_request.ts";
import type { StatusPacket } from "./status_packet.ts";
import { BeaconMapper } from "./_beacon_mapper.ts";
import { inferFaultIndexes } from "./_infer_index.ts";
import { apidAt, declaredLength, packetFault } from "./_frame.ts";
import { BEACON_BYTES, SEQUENCE_MODULUS, SERVICE_APID, viewOf } from "./_layout.ts";
import { readBeaconInto, readStatus } from "./_read.ts";

/** What a gateway's checkpoint holds (saved in `state.dir`). */
export interface IslGatewayState {
  /** The watermark `W`: every index ≤ W is durable, dead-lettered or counted lost. */
  after: number;
  /** Last sequence count per link at `W`, so link gaps across a restart still count. */
  seqs?: Record<string, number>;
}

/** Observations counted lost, by cause (SPEC §6). */
export interface IslLost {
  /** Overwritten in the gateway's ring before they were polled. */
  gateway: number;
  /** Skipped link sequence counts: never received by the gateway. */
  link: number;
  /** Delivered corrupt by 3 answers in a row. */
  corrupt: number;
}

/** Counters of a {@link GatewayPoller}, monotonic. */
export interface GatewayPollerCounters {
  /** Poll requests built. */
  polls: number;
  /** Answers complete (every beacon arrived sound). */
  answers: number;
  /** Datagrams handed to {@link GatewayPoller.receive}. */
  datagrams: number;
  /** Bytes of those datagrams. */
  bytes: number;
  /** Packets in them, sound or not. */
  packets: number;
  /** Beacons that became observations. */
  beacons: number;
  /** Malformed packets (framing dead letters). */
  corrupt_packets: number;
  /** Sound beacons that could not become observations (decoding/validation dead letters). */
  rejected_beacons: number;
  /** Datagrams whose status answers an older poll (ignored). */
  stale_answers: number;
  /** Status packets that contradict themselves (ignored; the poll times out). */
  bad_status: number;
  /** Beacons outside the range of the current answer (ignored). */
  stray_beacons: number;
  /** Datagrams dropped because too many arrived before their answer's status. */
  overflow_datagrams: number;
  /** Times the gateway's indexes went backwards (it restarted): `W` went back to 0. */
  gateway_resets: number;
  /**
   * Status packets that implied a gateway restart or a gateway loss of more
   * than `maxLossJump` beacons, not yet confirmed by the next answer: not
   * acted on, the poll was repeated.
   */
  suspect_status: number;
}

/** Options for {@link GatewayPoller}. */
export interface GatewayPollerOptions {
  /** Provenance of what this gateway delivers (`peer` = the gateway `host:port`). */
  ctx: DecodeContext;
  /** `max` of every poll: most beacons per answer (default 256, at most 65535). */
  maxPackets?: number;
  /** Answers in a row that deliver an index corrupt before it is counted lost (default 3). */
  corruptLimit?: number;
  /**
   * Most beacons one status may count as gateway loss before it needs the
   * next answer to confirm it (default 100,000; SPEC §6).
   */
  maxLossJump?: number;
}

/** What one datagram (or a timeout) did to the current answer. */
export interface AnswerProgress {
  /** The watermark moved: a new checkpoint is due. */
  advanced: boolean;
  /** Every beacon of the answer arrived sound (or was counted lost). */
  complete: boolean;
  /** Complete with `count == max`: poll again at once. */
  full: boolean;
  /**
   * Nothing more will come for this poll and something is missing, or its
   * status was suspect: poll again at once with the new watermark (and a new
   * sequence count) instead of waiting for the timeout.
   */
  retry: boolean;
}

/** What a status packet implies that one unauthenticated packet may not decide alone. */
type Suspicion = "restart" | "jump";

const SLOT_MISSING = 0;
const SLOT_SOUND = 1;
const SLOT_LOST = 2;
/** Datagrams held while the status packet of their answer has not arrived. */
const MAX_EARLY_DATAGRAMS = 128;

/** What {@link GatewayPoller.#begin} made of a status. */
type Begin = 0 | 1 | 2;
const BEGIN_OK = 0;
const BEGIN_UNUSABLE = 1;
const BEGIN_SUSPECT = 2;

/**
 * One gateway's side of the poll protocol.
 *
 * * {@link GatewayPoller.poll} builds the next request with `after` = the
 *   watermark `W` and starts a new answer.
 * * {@link GatewayPoller.receive} takes each datagram: a status packet whose
 *   sequence count is not the latest poll's is stale and ignored; otherwise
 *   the beacons in range become observations, malformed packets framing
 *   dead letters, and `W` moves over every index that is now sound, counted
 *   lost or dead-lettered, in index order, counting link gaps on the way.
 * * `oldest > W + 1` counts the indexes the gateway no longer holds as lost
 *   (`gateway`) and moves `W` to `oldest − 1`.
 * * Status packets carry no authentication, so a status that implies a
 *   gateway restart (`newest < W`) or a gateway loss of more than
 *   `maxLossJump` beacons is suspect: counted (`suspect_status`), not acted
 *   on, and answered with `retry` — the poll is repeated with a new sequence
 *   count. The next answer's status acts on it only if it implies the same.
 * * A corrupt packet's index (known from its neighbours) is asked for again;
 *   the third answer in a row that delivers it corrupt counts it lost
 *   (`corrupt`) and `W` moves past it.
 * * {@link GatewayPoller.expire} closes an answer that timed out; the next
 *   poll asks again from `W`, and beacons sent twice are the same
 *   observations (same ids), dropped by the log's dedupe.
 *
 * Beacons beyond a gap are emitted at once (they are sound), but `W` only
 * moves over a gap-free prefix, so what is asked for again always covers
 * the gap.
 *
 * @example Poll, answer, watermark
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBeacon } from "./beacon.ts";
 * import { GatewayPoller } from "./gateway_poller.ts";
 * import { decodePoll } from "./poll_request.ts";
 * import { encodeStatus } from "./status_packet.ts";
 *
 * const poller = new GatewayPoller({
 *   ctx: { source: "isl", transport: "udp", peer: "127.0.0.1:7003" },
 *   maxPackets: 2,
 * });
 * const poll = decodePoll(poller.poll());
 * assert.deepEqual(poll, { seq: 0, after: 0, max: 2 });
 * const datagram = new Uint8Array(18 + 2 * 96);
 * encodeStatus({ seq: poll.seq, oldest: 1, newest: 9, count: 2 }, datagram, 0);
 * for (const index of [1, 2]) {
 *   encodeBeacon({
 *     apid: 1, seq: index, coarse: 2_174_299_237, fine: index, index, observer: 60001,
 *     target: 60002, range_km: 370, range_rate_km_s: 0, range_sigma_km: 0.5,
 *     r_km: [7000, 0, 0], v_km_s: [0, 7.5, 0], flags: 7,
 *   }, datagram, 18 + (index - 1) * 96);
 * }
 * const out = { observations: [], deadLetters: [] };
 * const progress = poller.receive(datagram, 0, out);
 * assert.deepEqual(progress, { advanced: true, complete: true, full: true, retry: false });
 * assert.equal(out.observations.length, 2);
 * assert.equal(poller.watermark, 2);
 * assert.deepEqual(poller.state(), { after: 2, seqs: { "1": 2 } });
 * ```
 */
export class GatewayPoller {
  #ctx: DecodeContext;
  #max: number;
  #corruptLimit: number;
  #maxLossJump: number;
  /** What the last status implied and is waiting for the next answer to confirm. */
  #suspect: Suspicion | undefined;
  #mapper: BeaconMapper;
  #tracker = new LinkSequenceTracker();
  /** Streak of answers that delivered an index corrupt, by index. */
  #corrupt = new Map<number, number>();
  #w = 0;
  #nextSeq = 0;
  // The current answer.
  #pollSeq = -1;
  #pollAfter = 0;
  #ranged = false;
  #statusKnown = false;
  #first = 1;
  #last = 0;
  #count = 0;
  #slots: Uint8Array;
  #apids: Uint16Array;
  #seqs: Uint16Array;
  #early: { datagram: Uint8Array; receivedAt: number }[] = [];
  // The fast path's view of the last datagram framed: beacon offsets, status.
  #offsets = new Int32Array(1024);
  #beaconsFramed = 0;
  #packetsFramed = 0;
  #statusFramed: StatusPacket | undefined;
  #scratch: Beacon = {
    apid: 0,
    seq: 0,
    coarse: 0,
    fine: 0,
    index: 0,
    observer: 0,
    target: 0,
    range_km: 0,
    range_rate_km_s: 0,
    range_sigma_km: 0,
    r_km: [0, 0, 0],
    v_km_s: [0, 0, 0],
    flags: 0,
  };
  /** This answer moved a corrupt streak on. */
  #streaked = false;
  /** A packet (sound or not) with the answer's last index has arrived. */
  #sawLast = false;
  #tRxMicros = NaN;
  #tRx = "";

  /** Loss counts by cause. */
  readonly lost: IslLost = { gateway: 0, link: 0, corrupt: 0 };
  /** Counters. */
  readonly counters: GatewayPollerCounters = {
    polls: 0,
    answers: 0,
    datagrams: 0,
    bytes: 0,
    packets: 0,
    beacons: 0,
    corrupt_packets: 0,
    rejected_beacons: 0,
    stale_answers: 0,
    bad_status: 0,
    stray_beacons: 0,
    overflow_datagrams: 0,
    gateway_resets: 0,
    suspect_status: 0,
  };

  /** Creates a poller at watermark 0 (see {@link GatewayPoller.restore}). */
  constructor(options: GatewayPollerOptions) {
    this.#ctx = options.ctx;
    this.#max = options.maxPackets ?? 256;
    this.#corruptLimit = options.corruptLimit ?? 3;
    this.#maxLossJump = options.maxLossJump ?? 100_000;
    if (!Number.isInteger(this.#max) || this.#max < 1 || this.#max > 0xffff) {
      throw new RangeError(`maxPackets must be an integer in 1–65535: ${this.#max}`);
    }
    if (!Number.isInteger(this.#corruptLimit) || this.#corruptLimit < 1) {
      throw new RangeError(`corruptLimit must be a positive integer: ${this.#corruptLimit}`);
    }
    if (!Number.isInteger(this.#maxLossJump) || this.#maxLossJump < 0) {
      throw new RangeError(`maxLossJump must be a non-negative integer: ${this.#maxLossJump}`);
    }
    this.#mapper = new BeaconMapper(this.#ctx);
    this.#slots = new Uint8Array(this.#max);
    this.#apids = new Uint16Array(this.#max);
    this.#seqs = new Uint16Array(this.#max);
  }

  /** The watermark `W` the next poll asks from. */
  get watermark(): number {
    return this.#w;
  }

  /** Resumes from a checkpoint (`undefined`: first start, `W` = 0). */
  restore(state: IslGatewayState | undefined): void {
    const after = state?.after ?? 0;
    if (!Number.isInteger(after) || after < 0 || after > 0xffffffff) {
      throw new RangeError(`Cannot resume from a watermark that is not a u32: ${after}`);
    }
    this.#w = after;
    this.#tracker.restore(state?.seqs);
    this.#corrupt.clear();
    this.#suspect = undefined;
  }

  /** The checkpoint for the current watermark. */
  state(): IslGatewayState {
    return { after: this.#w, seqs: this.#tracker.snapshot() };
  }

  /** The next poll request (`after` = `W`); starts a new answer. */
  poll(): Uint8Array {
    this.#pollSeq = this.#nextSeq;
    this.#nextSeq = (this.#nextSeq + 1) % SEQUENCE_MODULUS;
    this.#pollAfter = this.#w;
    this.#ranged = false;
    this.#statusKnown = false;
    this.#streaked = false;
    this.#early.length = 0;
    this.counters.polls++;
    return encodePoll({ seq: this.#pollSeq, after: this.#w, max: this.#max });
  }

  /**
   * Takes one datagram received at `receivedAt` (µs) for the current poll,
   * appending what it yields to `out`. Returns undefined when the datagram
   * changed nothing (stale, held until its status arrives, or ignored).
   */
  receive(
    datagram: Uint8Array,
    receivedAt: number,
    out: { observations: Observation[]; deadLetters: DeadLetter[] },
  ): AnswerProgress | undefined {
    const counters = this.counters;
    counters.datagrams++;
    counters.bytes += datagram.length;
    // Fast path: a datagram of sound packets is framed without building a
    // packet list; one with a malformed packet takes the full decoder.
    let decoded: ReturnType<typeof decodeDatagram> | undefined;
    let status: StatusPacket | undefined;
    if (this.#frame(datagram)) {
      counters.packets += this.#packetsFramed;
      status = this.#statusFramed;
    } else {
      decoded = decodeDatagram(datagram);
      counters.packets += decoded.packets.length + decoded.faults.length;
      const head = decoded.packets[0];
      if (head !== undefined && head.type === "status" && head.position === 0) {
        status = head.status;
      }
    }
    if (status !== undefined) {
      if (status.seq !== this.#pollSeq || this.#statusKnown) {
        // An answer to an earlier poll (or a duplicate of this one's status).
        counters.stale_answers++;
        return undefined;
      }
      const w = this.#w;
      const begun = this.#begin(status);
      if (begun === BEGIN_UNUSABLE) return undefined;
      if (begun === BEGIN_SUSPECT) {
        return { advanced: false, complete: false, full: false, retry: true };
      }
      let advanced = this.#w !== w;
      advanced = (decoded === undefined
        ? this.#takeFramed(datagram, receivedAt, out)
        : this.#take(decoded.packets, decoded.faults, datagram, receivedAt, out)) || advanced;
      for (const early of this.#early) {
        advanced = this.#takeDatagram(early.datagram, early.receivedAt, out) || advanced;
      }
      this.#early.length = 0;
      return this.#progress(advanced);
    }
    if (!this.#ranged) {
      // Before its status: hold it (on loopback the status comes first; on
      // a real network the datagrams of an answer may be reordered).
      if (this.#early.length >= MAX_EARLY_DATAGRAMS) {
        counters.overflow_datagrams++;
        return undefined;
      }
      this.#early.push({ datagram, receivedAt });
      return undefined;
    }
    const advanced = decoded === undefined
      ? this.#takeFramed(datagram, receivedAt, out)
      : this.#take(decoded.packets, decoded.faults, datagram, receivedAt, out);
    return this.#progress(advanced);
  }

  /**
   * Frames `datagram` for the fast path: true when every packet is sound
   * (the status, if any, first), with the beacons' offsets noted.
   */
  #frame(datagram: Uint8Array): boolean {
    const length = datagram.length;
    const offsets = this.#offsets;
    let offset = 0;
    let beacons = 0;
    let packets = 0;
    this.#statusFramed = undefined;
    while (offset < length) {
      if (length - offset < 6 || datagram[offset] >> 5 !== 0) return false;
      const total = declaredLength(datagram, offset);
      if (total > length - offset || packetFault(datagram, offset, total) !== undefined) {
        return false;
      }
      if (apidAt(datagram, offset) === SERVICE_APID) {
        if (offset !== 0) return false;
        this.#statusFramed = readStatus(viewOf(datagram), 0);
      } else {
        if (beacons === offsets.length) return false;
        offsets[beacons++] = offset;
      }
      offset += total;
      packets++;
    }
    this.#beaconsFramed = beacons;
    this.#packetsFramed = packets;
    return true;
  }

  /** Takes a datagram held before its status, by whichever path fits. */
  #takeDatagram(
    datagram: Uint8Array,
    receivedAt: number,
    out: { observations: Observation[]; deadLetters: DeadLetter[] },
  ): boolean {
    if (this.#frame(datagram)) return this.#takeFramed(datagram, receivedAt, out);
    const decoded = decodeDatagram(datagram);
    return this.#take(decoded.packets, decoded.faults, datagram, receivedAt, out);
  }

  /** {@link GatewayPoller.#take} for a datagram just framed by {@link GatewayPoller.#frame}. */
  #takeFramed(
    datagram: Uint8Array,
    receivedAt: number,
    out: { observations: Observation[]; deadLetters: DeadLetter[] },
  ): boolean {
    const view = viewOf(datagram);
    const offsets = this.#offsets;
    const first = this.#first;
    const last = this.#last;
    const tRx = this.#formatRx(receivedAt);
    for (let k = 0; k < this.#beaconsFramed; k++) {
      const offset = offsets[k];
      // The index first: repeats and strays are skipped before any decoding.
      const index = view.getUint32(offset + 13);
      if (index < first || index > last) {
        this.counters.stray_beacons++;
        continue;
      }
      if (index === last) this.#sawLast = true;
      if (this.#slots[index - first] !== SLOT_MISSING) continue;
      this.#takeBeacon(
        readBeaconInto(view, offset, this.#scratch),
        datagram,
        offset,
        receivedAt,
        tRx,
        out,
      );
    }
    return this.#advance();
  }

  /** A sound beacon in range and not yet seen in this answer. */
  #takeBeacon(
    beacon: Beacon,
    datagram: Uint8Array,
    offset: number,
    receivedAt: number,
    tRx: string,
    out: { observations: Observation[]; deadLetters: DeadLetter[] },
  ): void {
    const index = beacon.index;
    const slot = index - this.#first;
    this.#slots[slot] = SLOT_SOUND;
    // Delivered sound: a corrupt streak for this index is broken.
    if (this.#corrupt.size > 0) this.#corrupt.delete(index);
    this.#apids[slot] = beacon.apid;
    this.#seqs[slot] = beacon.seq;
    const observation = this.#mapper.map(beacon, tRx, receivedAt);
    if (observation !== undefined) {
      out.observations.push(observation);
      this.counters.beacons++;
      return;
    }
    // Sound on the wire but not an observation: dead-lettered, which lets
    // `W` pass it like a logged one.
    this.counters.rejected_beacons++;
    const failure = this.#mapper.failure!;
    out.deadLetters.push(makeDeadLetter(this.#ctx, "isl-spp", {
      stage: failure.stage,
      reason: failure.reason,
      raw: binaryRaw(datagram.subarray(offset, offset + BEACON_BYTES)),
      ref: String(index),
      receivedAt,
    }));
  }

  /**
   * The answer timed out. Datagrams held for a status that never came are
   * taken now, for the indexes `W + 1 … W + max` that the poll asked for.
   */
  expire(
    out: { observations: Observation[]; deadLetters: DeadLetter[] },
  ): AnswerProgress {
    let advanced = false;
    if (!this.#ranged && this.#early.length > 0) {
      this.#range(this.#pollAfter + 1, this.#max);
      for (const early of this.#early) {
        advanced = this.#takeDatagram(early.datagram, early.receivedAt, out) || advanced;
      }
    }
    this.#early.length = 0;
    this.#ranged = true;
    this.#statusKnown = true; // a late status of this poll is stale now
    return { advanced, complete: false, full: false, retry: false };
  }

  /** Sets up the answer from its status, unless it is unusable or suspect. */
  #begin(status: StatusPacket): Begin {
    const w = this.#w;
    // Indexes never go backwards in a running gateway: a newest below W
    // means it restarted with an empty ring, and its index 1 is a new beacon.
    const restart = status.newest < w;
    const first = Math.max(this.#pollAfter + 1, status.oldest);
    if (
      !restart && (status.count > this.#max ||
        (status.count > 0 && (status.oldest === 0 || first + status.count - 1 > status.newest)))
    ) {
      this.counters.bad_status++;
      return BEGIN_UNUSABLE;
    }
    // One unauthenticated packet must not move W back, or far forward: a
    // restart or a large loss is believed when the next answer says it too.
    const implies: Suspicion | undefined = restart
      ? "restart"
      : status.oldest - 1 - w > this.#maxLossJump
      ? "jump"
      : undefined;
    if (implies !== undefined && this.#suspect !== implies) {
      this.#suspect = implies;
      this.counters.suspect_status++;
      this.#statusKnown = true; // this poll is over: later statuses of it are stale
      this.#range(w + 1, 0);
      return BEGIN_SUSPECT;
    }
    this.#suspect = undefined;
    this.#statusKnown = true;
    if (restart) {
      this.counters.gateway_resets++;
      this.#w = 0;
      this.#tracker.reset();
      this.#corrupt.clear();
      this.#range(1, 0);
      return BEGIN_OK;
    }
    if (status.oldest > w + 1) {
      // Overwritten in the ring before we asked: the gateway cannot send them.
      this.lost.gateway += status.oldest - 1 - w;
      this.#w = status.oldest - 1;
      this.#tracker.reset();
      for (const index of this.#corrupt.keys()) {
        if (index <= this.#w) this.#corrupt.delete(index);
      }
    }
    this.#range(first, status.count);
    return BEGIN_OK;
  }

  #range(first: number, count: number): void {
    this.#ranged = true;
    this.#first = first;
    this.#count = count;
    this.#last = first + count - 1;
    this.#sawLast = false;
    this.#slots.fill(SLOT_MISSING, 0, count);
  }

  /** Takes the packets of one datagram of the current answer; true when `W` moved. */
  #take(
    packets: IslPacket[],
    faults: PacketFault[],
    datagram: Uint8Array,
    receivedAt: number,
    out: { observations: Observation[]; deadLetters: DeadLetter[] },
  ): boolean {
    const first = this.#first;
    const last = this.#last;
    const slots = this.#slots;
    const counters = this.counters;
    const tRx = this.#formatRx(receivedAt);
    for (let i = 0; i < packets.length; i++) {
      const packet = packets[i];
      if (packet.type !== "beacon") continue;
      const index = packet.beacon.index;
      if (index < first || index > last) {
        counters.stray_beacons++;
        continue;
      }
      if (index === last) this.#sawLast = true;
      if (slots[index - first] !== SLOT_MISSING) continue;
      this.#takeBeacon(packet.beacon, datagram, packet.offset, receivedAt, tRx, out);
    }
    if (faults.length > 0) {
      const indexes = inferFaultIndexes(packets, faults);
      for (let k = 0; k < faults.length; k++) {
        const fault = faults[k];
        const index = indexes[k];
        counters.corrupt_packets++;
        out.deadLetters.push(makeDeadLetter(this.#ctx, "isl-spp", {
          stage: "framing",
          reason: fault.reason,
          raw: binaryRaw(fault.bytes),
          ref: index === undefined ? undefined : String(index),
          receivedAt,
        }));
        if (index === undefined || index < first || index > last) continue;
        if (index === last) this.#sawLast = true;
        const slot = index - first;
        if (slots[slot] !== SLOT_MISSING) continue;
        const streak = (this.#corrupt.get(index) ?? 0) + 1;
        this.#streaked = true;
        if (streak >= this.#corruptLimit) {
          this.#corrupt.delete(index);
          slots[slot] = SLOT_LOST;
        } else {
          this.#corrupt.set(index, streak);
        }
      }
    }
    return this.#advance();
  }

  /** Moves `W` over the gap-free prefix of the answer; true when it moved. */
  #advance(): boolean {
    const start = this.#w;
    const first = this.#first;
    const last = this.#last;
    const slots = this.#slots;
    let w = start;
    while (w < last) {
      const slot = w + 1 - first;
      const state = slots[slot];
      if (state === SLOT_MISSING) break;
      if (state === SLOT_SOUND) {
        this.lost.link += this.#tracker.observe(this.#apids[slot], this.#seqs[slot]);
      } else {
        this.lost.corrupt++;
        // The corrupt beacon may be any link's: a count skipped across it
        // is not known to be a link loss.
        this.#tracker.reset();
      }
      w++;
      if (this.#corrupt.size > 0) this.#corrupt.delete(w);
    }
    this.#w = w;
    return w !== start;
  }

  #progress(advanced: boolean): AnswerProgress {
    const complete = this.#statusKnown && this.#w >= this.#last;
    if (complete) {
      this.counters.answers++;
      return { advanced, complete, full: this.#count === this.#max, retry: false };
    }
    // The packet of the answer's last index has arrived (sound or not), so
    // on an ordered path nothing more is coming: ask again for the gap now
    // rather than after the timeout — but only when this answer made
    // progress (W moved, or a corrupt streak grew towards its limit), so a
    // gap that always recurs falls back to the timeout.
    const ended = this.#statusKnown && this.#sawLast;
    const progressed = this.#w !== this.#pollAfter || this.#streaked;
    return { advanced, complete: false, full: false, retry: ended && progressed };
  }

  #formatRx(receivedAt: number): string {
    if (this.#ctx.deterministic) return "";
    if (receivedAt !== this.#tRxMicros) {
      this.#tRxMicros = receivedAt;
      this.#tRx = formatTimestamp(receivedAt);
    }
    return this.#tRx;
  }
}
