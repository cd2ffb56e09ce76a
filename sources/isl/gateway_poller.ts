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
import { internalErrorReason } from "../../operators/internal_error.ts";
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
import {
  BEACON_BYTES,
  MAX_DATAGRAM_BYTES,
  SEQUENCE_MODULUS,
  SERVICE_APID,
  viewOf,
} from "./_layout.ts";
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
  /** Answers complete (every beacon arrived sound, dead-lettered or counted lost). */
  answers: number;
  /**
   * Of those, answers whose status packet never arrived: their beacons
   * showed the answer's extent (SPEC §6: every beacon carries its index).
   */
  answers_without_status: number;
  /** Datagrams handed to {@link GatewayPoller.receive}. */
  datagrams: number;
  /** Bytes of those datagrams. */
  bytes: number;
  /** Packets in them, sound or not. */
  packets: number;
  /**
   * Beacons that became observations (with `deferMapping`, counted when
   * taken and corrected by {@link GatewayPoller.rejectedLater}).
   */
  beacons: number;
  /** Malformed packets (framing dead letters). */
  corrupt_packets: number;
  /** Sound beacons that could not become observations (decoding/validation dead letters). */
  rejected_beacons: number;
  /**
   * Status packets that answer an older poll (their answer is ignored, SPEC
   * §6), or repeat the current one's (ignored; the datagram's beacons are
   * still taken).
   */
  stale_answers: number;
  /**
   * Packets of answers to an older poll, ignored (SPEC §6): those in the
   * datagram with the stale status and, while this poll's status has not
   * arrived, in the status-less datagrams after it. The next poll asks for
   * them.
   */
  stale_packets: number;
  /** Status packets that contradict themselves (ignored; the datagram's beacons are still taken). */
  bad_status: number;
  /** Datagrams of no bytes from the gateway: nothing to decode, ignored (no answer is one). */
  empty_datagrams: number;
  /** Beacons at or below `W` (sent again) or beyond `W + max` (ignored). */
  stray_beacons: number;
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
  /**
   * Hand each sound beacon on as its packet bytes (`out.packets`) instead of
   * mapping it here: the caller maps them elsewhere — in a decode worker —
   * with the same rules (`decodeIslPackets`), and reports the beacons that
   * did not become observations with {@link GatewayPoller.rejectedLater}.
   */
  deferMapping?: boolean;
}

/**
 * Where {@link GatewayPoller.receive} puts what a datagram yields: the
 * observations and dead letters, and with `deferMapping` the packets of the
 * sound beacons to map (views into the datagrams, in arrival order).
 */
export interface PollerOutput {
  observations: Observation[];
  deadLetters: DeadLetter[];
  packets?: Uint8Array[];
}

/** What one datagram (or a timeout) did to the current answer. */
export interface AnswerProgress {
  /** The watermark moved: a new checkpoint is due. */
  advanced: boolean;
  /** Every beacon of the answer arrived sound (or was dead-lettered or counted lost). */
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

/** Answers in a row that may be asked for again at once although they brought nothing new. */
const BARREN_RETRIES = 3;

/** What a status packet implies that one unauthenticated packet may not decide alone. */
type Suspicion = "restart" | "jump";

/** What {@link GatewayPoller.#begin} made of a status. */
type Begin = 0 | 1 | 2;
const BEGIN_OK = 0;
const BEGIN_UNUSABLE = 1;
const BEGIN_SUSPECT = 2;

// The state of each index in the window W + 1 … W + max.
/** Not arrived (yet). */
const SLOT_MISSING = 0;
/** Arrived corrupt in the current answer: still missing, its streak counted once. */
const SLOT_FAULTED = 1;
/** Arrived sound: emitted (as an observation or a dead letter). */
const SLOT_SOUND = 2;
/** Delivered corrupt by `corruptLimit` answers in a row: counted lost when `W` passes it. */
const SLOT_LOST = 3;

type Out = PollerOutput;

/**
 * One gateway's side of the poll protocol.
 *
 * * {@link GatewayPoller.poll} builds the next request with `after` = the
 *   watermark `W` and starts a new answer.
 * * {@link GatewayPoller.receive} takes each datagram. Every sound beacon
 *   whose index lies in the window `W + 1 … W + max` becomes an observation
 *   as soon as it arrives, with or without its answer's status packet:
 *   each beacon carries its gateway index. Malformed packets become
 *   framing dead letters. `W` moves over every index that is now sound,
 *   counted lost or dead-lettered, in index order, counting link gaps on
 *   the way; beacons beyond a gap are emitted too, and `W` passes them once
 *   the gap is filled.
 * * A status packet whose sequence count is not the latest poll's is stale:
 *   its answer is ignored (SPEC §6) — its datagram, and before this poll's
 *   status has arrived also the status-less ones after it
 *   (`stale_packets`); the next poll asks for them again. The current poll's status tells the
 *   answer's extent: `first = max(after + 1, oldest)`, `count` beacons. `oldest > W + 1` counts the indexes the
 *   gateway no longer holds as lost (`gateway`) and moves `W` to
 *   `oldest − 1`.
 * * Status packets carry no authentication, so a status that implies a
 *   gateway restart (`newest < W`) or a gateway loss of more than
 *   `maxLossJump` beacons is suspect: counted (`suspect_status`), not acted
 *   on, and answered with `retry` — the poll is repeated with a new sequence
 *   count. The next answer's status acts on it only if it implies the same.
 * * When the status is lost, the beacons still show the answer's extent when
 *   they fill the whole window (a full answer), or when a datagram with room
 *   for another beacon arrives (a gateway fills its datagrams, so that one
 *   ends the answer — a hint that only decides when to poll again, never
 *   what is counted).
 * * An answer that has ended with a gap is asked for again at once
 *   (`retry`) when it brought something new (`W` moved, a new beacon, a
 *   corrupt streak grew), and up to 3 times in a row when it did not (the
 *   same datagram may be lost again); a gap that always recurs waits for
 *   the timeout. {@link GatewayPoller.stalled} ends an answer whose burst
 *   is over in the same way.
 * * A corrupt packet's index (known from its neighbours) is asked for again;
 *   the third answer in a row that delivers it corrupt counts it lost
 *   (`corrupt`) and `W` moves past it.
 * * {@link GatewayPoller.expire} closes an answer that timed out; the next
 *   poll asks again from `W`. Beacons sent twice are the same observations
 *   (same ids): a beacon already emitted in the window is not emitted again,
 *   and the log's dedupe drops repeats of older ones.
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
 * const progress = poller.receive(datagram, 1_795_608_000_000_000, out);
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
  #deferMapping: boolean;
  #tracker = new LinkSequenceTracker();
  /** Streak of answers that delivered an index corrupt, by index. */
  #corrupt = new Map<number, number>();
  #w = 0;
  #nextSeq = 0;
  // The window W + 1 … W + max, a ring addressed by index % max; every
  // slot of an index ≤ W is SLOT_MISSING again.
  #slots: Uint8Array;
  #apids: Uint16Array;
  #seqs: Uint16Array;
  /** CUC time of each slot's beacon (coarse · 2^16 + fine): tells a late beacon from a link gap. */
  #times: Float64Array;
  /** Indexes marked SLOT_FAULTED in the current answer (missing again at the next poll). */
  #faulted: number[] = [];
  // The current answer.
  #pollSeq = -1;
  #pollAfter = 0;
  /** The current poll's status has arrived (or the answer is over). */
  #statusKnown = false;
  /** The answer's last index: from its status, else the end of the window. */
  #last = 0;
  /** `count` of the status (`max` until it arrives). */
  #count = 0;
  /** Highest index in the window that arrived in this answer (sound or not). */
  #highest = 0;
  /** A datagram with room for another beacon arrived: the answer's last (a hint). */
  #sawShort = false;
  /** Beacons new to the window that this answer brought. */
  #fresh = 0;
  /**
   * The last status since the poll answered an older poll: the datagrams
   * after it are that answer's (a gateway sends an answer's datagrams back
   * to back), so they fill the window but say nothing about this answer's
   * end. Without this, one answer that arrived after its timeout would
   * leave every later answer one poll behind, each beacon sent twice.
   */
  #staleRun = false;
  /** This answer moved a corrupt streak on. */
  #streaked = false;
  /** Answers in a row asked for again although they brought nothing new. */
  #barren = 0;
  /** The current answer is complete. */
  #complete = false;
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
  #tRxMicros = NaN;
  #tRx = "";

  /** Loss counts by cause. */
  readonly lost: IslLost = { gateway: 0, link: 0, corrupt: 0 };
  /** Counters. */
  readonly counters: GatewayPollerCounters = {
    polls: 0,
    answers: 0,
    answers_without_status: 0,
    datagrams: 0,
    bytes: 0,
    packets: 0,
    beacons: 0,
    corrupt_packets: 0,
    rejected_beacons: 0,
    stale_answers: 0,
    stale_packets: 0,
    bad_status: 0,
    empty_datagrams: 0,
    stray_beacons: 0,
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
    this.#deferMapping = options.deferMapping ?? false;
    this.#slots = new Uint8Array(this.#max);
    this.#apids = new Uint16Array(this.#max);
    this.#seqs = new Uint16Array(this.#max);
    this.#times = new Float64Array(this.#max);
  }

  /** The watermark `W` the next poll asks from. */
  get watermark(): number {
    return this.#w;
  }

  /** Resumes from a checkpoint (`undefined`: first start, `W` = 0). */
  restore(state: IslGatewayState | undefined): void {
    // A saved state that is not a watermark (an optical cursor copied over
    // it, `{}`) is damage, not a first start: W = 0 would count the whole
    // ring as lost.
    if (
      state !== undefined &&
      (state === null || typeof state !== "object" || !Object.hasOwn(state, "after"))
    ) {
      throw new RangeError(
        `Cannot resume from a saved state that is not an ISL watermark: ${
          String(JSON.stringify(state)).slice(0, 64)
        }`,
      );
    }
    const after = state?.after ?? 0;
    if (!Number.isInteger(after) || after < 0 || after > 0xffffffff) {
      throw new RangeError(`Cannot resume from a watermark that is not a u32: ${after}`);
    }
    this.#w = after;
    this.#tracker.restore(state?.seqs);
    this.#corrupt.clear();
    this.#slots.fill(SLOT_MISSING);
    this.#faulted.length = 0;
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
    this.#statusKnown = false;
    this.#count = this.#max;
    this.#last = this.#w + this.#max;
    this.#highest = 0;
    this.#sawShort = false;
    this.#fresh = 0;
    this.#streaked = false;
    this.#staleRun = false;
    this.#complete = false;
    // A corrupt delivery counts once per answer: the next one may count again.
    const w = this.#w;
    for (const index of this.#faulted) {
      const slot = index % this.#max;
      if (index > w && this.#slots[slot] === SLOT_FAULTED) this.#slots[slot] = SLOT_MISSING;
    }
    this.#faulted.length = 0;
    this.counters.polls++;
    return encodePoll({ seq: this.#pollSeq, after: w, max: this.#max });
  }

  /**
   * Takes one datagram received at `receivedAt` (µs) for the current poll,
   * appending what it yields to `out`, and says where the answer stands.
   */
  receive(datagram: Uint8Array, receivedAt: number, out: Out): AnswerProgress {
    try {
      return this.#receive(datagram, receivedAt, out);
    } catch (error) {
      // The guard (SPEC §3): a bug, not a bad datagram. The datagram is the
      // dead letter, and the answer is not trusted further: poll again from
      // the watermark (dedupe drops what is delivered twice).
      out.deadLetters.push(makeDeadLetter(this.#ctx, "isl-spp", {
        stage: "decoding",
        reason: internalErrorReason("decoding a datagram", error),
        raw: binaryRaw(datagram),
        receivedAt,
      }));
      return { advanced: false, complete: false, full: false, retry: true };
    }
  }

  #receive(datagram: Uint8Array, receivedAt: number, out: Out): AnswerProgress {
    const counters = this.counters;
    counters.datagrams++;
    counters.bytes += datagram.length;
    if (datagram.length === 0) {
      counters.empty_datagrams++;
      return this.#progress(false);
    }
    const w = this.#w;
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
    let stale = false;
    // The index of the packet right after this poll's status, in the
    // datagram that carries it: the answer's first (SPEC §6).
    let anchor: number | undefined;
    if (status !== undefined) {
      if (status.seq !== this.#pollSeq) {
        // An answer to an earlier poll (late, or not ours at all). Until
        // this poll's status has come, the status-less datagrams after it
        // are taken for the rest of that answer; once it has, a stale one
        // in the middle of this answer costs only its own datagram.
        counters.stale_answers++;
        stale = true;
        if (!this.#statusKnown) this.#staleRun = true;
      } else if (this.#statusKnown) {
        counters.stale_answers++; // a repeat of this poll's status, or one after its timeout
      } else {
        const begun = this.#begin(status);
        if (begun === BEGIN_SUSPECT) {
          return { advanced: false, complete: false, full: false, retry: true };
        }
        if (begun === BEGIN_OK && this.#count > 0) anchor = this.#last - this.#count + 1;
        this.#staleRun = false;
      }
    }
    if (stale || this.#staleRun) {
      // Its beacons and faults, not the stale status itself.
      counters.stale_packets += decoded === undefined
        ? this.#beaconsFramed
        : decoded.packets.length + decoded.faults.length - (status === undefined ? 0 : 1);
      return this.#progress(false);
    }
    const inWindow = decoded === undefined
      ? this.#takeFramed(datagram, receivedAt, out)
      : this.#take(decoded.packets, decoded.faults, datagram, receivedAt, out, anchor);
    // A datagram of this answer with room for one more beacon is its last.
    if (inWindow && datagram.length + BEACON_BYTES <= MAX_DATAGRAM_BYTES) {
      this.#sawShort = true;
    }
    this.#advance();
    return this.#progress(this.#w !== w);
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

  /**
   * {@link GatewayPoller.#take} for a datagram just framed by
   * {@link GatewayPoller.#frame}; true when it held an index of the window.
   */
  #takeFramed(datagram: Uint8Array, receivedAt: number, out: Out): boolean {
    const view = viewOf(datagram);
    const offsets = this.#offsets;
    const slots = this.#slots;
    const max = this.#max;
    const w = this.#w;
    const end = w + max;
    const tRx = this.#formatRx(receivedAt);
    let inWindow = false;
    for (let k = 0; k < this.#beaconsFramed; k++) {
      const offset = offsets[k];
      // The index first: repeats and strays are skipped before any decoding.
      const index = view.getUint32(offset + 13);
      if (index <= w || index > end) {
        this.counters.stray_beacons++;
        continue;
      }
      inWindow = true;
      if (index > this.#highest) this.#highest = index;
      if (slots[index % max] >= SLOT_SOUND) continue;
      this.#takeBeacon(
        readBeaconInto(view, offset, this.#scratch),
        datagram,
        offset,
        receivedAt,
        tRx,
        out,
      );
    }
    return inWindow;
  }

  /** A sound beacon in the window, not yet taken. */
  #takeBeacon(
    beacon: Beacon,
    datagram: Uint8Array,
    offset: number,
    receivedAt: number,
    tRx: string,
    out: Out,
  ): void {
    const index = beacon.index;
    const slot = index % this.#max;
    this.#slots[slot] = SLOT_SOUND;
    this.#fresh++;
    // Delivered sound: a corrupt streak for this index is broken.
    if (this.#corrupt.size > 0) this.#corrupt.delete(index);
    this.#apids[slot] = beacon.apid;
    this.#seqs[slot] = beacon.seq;
    this.#times[slot] = beacon.coarse * 65536 + beacon.fine;
    if (this.#deferMapping) {
      (out.packets ??= []).push(datagram.subarray(offset, offset + BEACON_BYTES));
      this.counters.beacons++;
      return;
    }
    // The mapper never throws: its own guard makes a bug a dead letter.
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
   * With `deferMapping`: `count` of the beacons handed on as packets did
   * not become observations (they are dead letters now).
   */
  rejectedLater(count: number): void {
    this.counters.beacons -= count;
    this.counters.rejected_beacons += count;
  }

  /**
   * The answer timed out: it is over, and a late status of its poll is
   * stale. Every beacon that arrived was taken already.
   */
  expire(): AnswerProgress {
    this.#statusKnown = true;
    return { advanced: false, complete: false, full: false, retry: false };
  }

  /** Sets up the answer from its status, unless it is unusable or suspect. */
  #begin(status: StatusPacket): Begin {
    const w = this.#w;
    // Indexes never go backwards in a running gateway: a newest below W
    // means it restarted with an empty ring, and its index 1 is a new beacon.
    const restart = status.newest < w;
    const first = Math.max(this.#pollAfter + 1, status.oldest);
    if (
      // A ring holds oldest … newest, or nothing (both 0): anything else
      // is no restart to act on (it kept a source at W = 0 for good).
      status.oldest > status.newest || (status.oldest === 0) !== (status.newest === 0) ||
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
    this.#statusKnown = true; // later statuses of this poll are stale
    if (implies !== undefined && this.#suspect !== implies) {
      this.#suspect = implies;
      this.counters.suspect_status++;
      return BEGIN_SUSPECT;
    }
    this.#suspect = undefined;
    if (restart) {
      this.counters.gateway_resets++;
      this.#w = 0;
      this.#tracker.reset();
      this.#corrupt.clear();
      this.#slots.fill(SLOT_MISSING);
      this.#count = 0;
      this.#last = 0;
      return BEGIN_OK;
    }
    if (status.oldest > w + 1) this.#gatewayLoss(status.oldest - 1);
    this.#count = status.count;
    this.#last = first + status.count - 1;
    return BEGIN_OK;
  }

  /** The gateway no longer holds `W + 1 … to`: count them lost and move `W` to `to`. */
  #gatewayLoss(to: number): void {
    const w = this.#w;
    const max = this.#max;
    const slots = this.#slots;
    let gone = to - w;
    // Those that came before this status (in an earlier answer) were
    // emitted, not lost; the window's slots up to `to` are free again.
    if (gone >= max) {
      for (let slot = 0; slot < max; slot++) {
        if (slots[slot] === SLOT_SOUND) gone--;
      }
      slots.fill(SLOT_MISSING);
    } else {
      for (let index = w + 1; index <= to; index++) {
        const slot = index % max;
        if (slots[slot] === SLOT_SOUND) gone--;
        slots[slot] = SLOT_MISSING;
      }
    }
    this.lost.gateway += gone;
    this.#w = to;
    // A count skipped across the loss may be those very beacons.
    this.#tracker.reset();
    for (const index of this.#corrupt.keys()) {
      if (index <= to) this.#corrupt.delete(index);
    }
  }

  /**
   * Takes the packets of one datagram: beacons in the window, faults as
   * dead letters; true when it held an index of the window.
   */
  #take(
    packets: IslPacket[],
    faults: PacketFault[],
    datagram: Uint8Array,
    receivedAt: number,
    out: Out,
    anchor?: number,
  ): boolean {
    const max = this.#max;
    const w = this.#w;
    const end = w + max;
    const slots = this.#slots;
    const counters = this.counters;
    const tRx = this.#formatRx(receivedAt);
    let inWindow = false;
    for (let i = 0; i < packets.length; i++) {
      const packet = packets[i];
      if (packet.type !== "beacon") continue;
      const index = packet.beacon.index;
      if (index <= w || index > end) {
        counters.stray_beacons++;
        continue;
      }
      inWindow = true;
      if (index > this.#highest) this.#highest = index;
      if (slots[index % max] >= SLOT_SOUND) continue;
      this.#takeBeacon(packet.beacon, datagram, packet.offset, receivedAt, tRx, out);
    }
    if (faults.length > 0) {
      const indexes = inferFaultIndexes(packets, faults, anchor);
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
        if (index === undefined || index <= w || index > end) continue;
        inWindow = true;
        if (index > this.#highest) this.#highest = index;
        const slot = index % max;
        // Counted once per answer, and never against one that arrived sound.
        if (slots[slot] !== SLOT_MISSING) continue;
        const streak = (this.#corrupt.get(index) ?? 0) + 1;
        this.#streaked = true;
        if (streak >= this.#corruptLimit) {
          this.#corrupt.delete(index);
          slots[slot] = SLOT_LOST;
        } else {
          this.#corrupt.set(index, streak);
          slots[slot] = SLOT_FAULTED;
          this.#faulted.push(index);
        }
      }
    }
    return inWindow;
  }

  /** Moves `W` over every index in order that is sound or counted lost. */
  #advance(): void {
    const max = this.#max;
    const slots = this.#slots;
    let w = this.#w;
    for (;;) {
      const slot = (w + 1) % max;
      const state = slots[slot];
      if (state < SLOT_SOUND) break;
      if (state === SLOT_SOUND) {
        this.lost.link += this.#tracker.observe(
          this.#apids[slot],
          this.#seqs[slot],
          this.#times[slot],
        );
      } else {
        this.lost.corrupt++;
        // The corrupt beacon may be any link's: a count skipped across it
        // is not known to be a link loss.
        this.#tracker.reset();
      }
      slots[slot] = SLOT_MISSING;
      w++;
      if (this.#corrupt.size > 0) this.#corrupt.delete(w);
    }
    this.#w = w;
  }

  /**
   * Nothing has arrived for a while since this answer's last datagram: its
   * burst is over, whatever is missing was lost on the way. Like the end of
   * an answer, this completes one whose status was lost and that has no
   * gap, and asks for a gap again at once (`retry`) when the answer brought
   * something; otherwise the answer waits for its timeout.
   */
  stalled(): AnswerProgress {
    if (this.#complete || (!this.#statusKnown && this.#highest === 0)) {
      // Complete already, or nothing of this answer has arrived yet.
      return { advanced: false, complete: false, full: false, retry: false };
    }
    return this.#progress(false, true);
  }

  #progress(advanced: boolean, stalled = false): AnswerProgress {
    const w = this.#w;
    const statusKnown = this.#statusKnown;
    if (w >= this.#last) {
      // Every index of the answer's extent is in: from its status, or,
      // without it, the whole window.
      this.counters.answers++;
      if (!statusKnown) this.counters.answers_without_status++;
      this.#statusKnown = true;
      this.#barren = 0;
      this.#complete = true;
      return { advanced, complete: true, full: this.#count === this.#max, retry: false };
    }
    // Nothing more is coming for this poll when the packet of its last
    // index has arrived (sound or not), or, without the status, a datagram
    // that was not full.
    const ended = stalled || this.#highest >= this.#last || (!statusKnown && this.#sawShort);
    if (!ended) return { advanced, complete: false, full: false, retry: false };
    if (!statusKnown && w >= this.#highest) {
      // Without its status, the beacons end here and none is missing.
      this.counters.answers++;
      this.counters.answers_without_status++;
      this.#statusKnown = true;
      this.#barren = 0;
      this.#complete = true;
      return { advanced, complete: true, full: false, retry: false };
    }
    // Something is missing: ask again for the gap now rather than after the
    // timeout — when this answer brought something, or a few times in a row
    // when it did not (a datagram may be lost again), so that only a gap
    // that always recurs falls back to the timeout.
    const progressed = w !== this.#pollAfter || this.#fresh > 0 || this.#streaked;
    if (progressed) {
      this.#barren = 0;
    } else if (this.#barren < BARREN_RETRIES) {
      this.#barren++;
    } else {
      return { advanced, complete: false, full: false, retry: false };
    }
    return { advanced, complete: false, full: false, retry: true };
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
