/**
 * `sim isl`: an inter-satellite-link gateway on UDP (SPEC §6, §11). It
 * relays ranging beacons of satellites in formation (SGP4 orbits of the
 * bundled catalogue) into a ring buffer with gateway-wide indexes, and
 * answers the service's polls with a status packet and the beacons asked
 * for, in datagrams of at most 1400 bytes, dropping a chosen fraction of
 * them. Hooks let tests inject link gaps, corrupt packets and lost
 * datagrams.
 *
 * @module
 */

import dgram from "node:dgram";
import {
  type Command,
  EXIT,
  integerOption,
  numberOption,
  parseOptions,
  portOption,
  UsageError,
} from "./_args.ts";
import { nowMicros } from "./_time.ts";
import {
  BEACON_BYTES,
  decodePoll,
  encodeStatus,
  MAX_DATAGRAM_BYTES,
  type PollRequest,
  STATUS_BYTES,
} from "./_isl_wire.ts";
import { Orbits } from "./orbits.ts";
import { BeaconGenerator } from "./_isl_beacons.ts";
import { mulberry32 } from "./_random.ts";
import { BeaconRing } from "./_isl_ring.ts";

/** Options for {@link startIslSim}. */
export interface IslSimOptions {
  /** Address to listen on (default `127.0.0.1`). */
  hostname?: string;
  /** UDP port (default 0: an ephemeral port, see {@link IslGatewaySim.port}). */
  port?: number;
  /** Beacons generated per second (default 1000; 0: only {@link IslGatewaySim.generate}). */
  rate?: number;
  /** Ring buffer size in beacons (default 65536). */
  ring?: number;
  /** Links (APIDs 1…K) over the formation pairs (default 8). */
  links?: number;
  /** Fraction of answer datagrams dropped, 0–1 (default 0). */
  loss?: number;
  /** Seed of the PRNG behind noise and losses (default 1). */
  seed?: number;
  /** Beacons generated at start (default 0). */
  prefill?: number;
  /** Largest answer datagram, bytes (default 1400). */
  maxDatagramBytes?: number;
  /**
   * Send each answer's status packet in a datagram of its own and drop it
   * (default false): answers whose beacons all arrive without their status.
   */
  dropStatus?: boolean;
  /** Simulated UTC clock, µs (default: the system clock). */
  clock?: () => number;
}

/** Counters of a {@link IslGatewaySim}. */
export interface IslSimCounters {
  /** Beacons generated (= newest index). */
  beacons: number;
  /** Beacons overwritten in the ring. */
  ring_dropped: number;
  /**
   * Beacons overwritten before any answer had carried them: exactly the
   * gateway loss a service polling from where it left off must count.
   */
  ring_dropped_unsent: number;
  /** Poll requests answered. */
  polls: number;
  /** Datagrams that were not a sound poll request (ignored). */
  bad_polls: number;
  /** Answer datagrams sent. */
  datagrams_sent: number;
  /** Answer datagrams dropped (`loss` or a hook). */
  datagrams_dropped: number;
  /** Beacon packets sent (re-sends included). */
  beacons_sent: number;
  /** Beacon packets sent corrupt (hook). */
  beacons_corrupted: number;
}

/** One answer datagram, as a drop hook sees it. */
export interface IslSimDatagram {
  /** 1 for the first answer, +1 per poll answered. */
  answer: number;
  /** 0 for the datagram holding the status packet, +1 per datagram. */
  datagram: number;
  /** The poll answered. */
  poll: PollRequest;
  /** Gateway indexes of the beacons in it (`first > last` when none). */
  first: number;
  /** Last index in it. */
  last: number;
}

/**
 * A running ISL gateway simulator.
 *
 * @example Ask a simulator for its beacons
 * ```ts
 * import assert from "node:assert/strict";
 * import dgram from "node:dgram";
 * import { startIslSim } from "./isl.ts";
 * import { crc16 } from "./_crc16.ts";
 *
 * const sim = await startIslSim({ rate: 0 });
 * sim.generate(20);
 * const socket = dgram.createSocket("udp4");
 * await new Promise<void>((resolve) => socket.bind(0, "127.0.0.1", resolve));
 * const datagrams: Uint8Array[] = [];
 * socket.on("message", (message) => datagrams.push(new Uint8Array(message)));
 * // A poll (SPEC §6): TC on APID 0x7FE, count 1, after 0, max 256, then the CRC.
 * const poll = new Uint8Array([0x17, 0xfe, 0xc0, 0x01, 0x00, 0x07, 0, 0, 0, 0, 0x01, 0x00, 0, 0]);
 * new DataView(poll.buffer).setUint16(12, crc16(poll, 0, 12));
 * socket.send(poll, sim.port, "127.0.0.1");
 * while (datagrams.length < 2) await new Promise((resolve) => setTimeout(resolve, 5));
 * // The status and 14 beacons fill 1362 of 1400 bytes; the other 6 come next.
 * assert.deepEqual(datagrams.map((d) => d.length), [18 + 14 * 96, 6 * 96]);
 * const status = new DataView(datagrams[0].buffer, 0, 18);
 * assert.deepEqual([status.getUint32(6), status.getUint32(10), status.getUint16(14)], [1, 20, 20]);
 * socket.close();
 * await sim.stop();
 * assert.equal(sim.counters.datagrams_sent, 2);
 * ```
 */
export class IslGatewaySim {
  /** Counters, live. */
  readonly counters: IslSimCounters = {
    beacons: 0,
    ring_dropped: 0,
    ring_dropped_unsent: 0,
    polls: 0,
    bad_polls: 0,
    datagrams_sent: 0,
    datagrams_dropped: 0,
    beacons_sent: 0,
    beacons_corrupted: 0,
  };
  /**
   * Test hook: return true to drop this answer datagram (in addition to
   * `loss`).
   */
  dropDatagram: ((datagram: IslSimDatagram) => boolean) | undefined;
  /** Test hook: sees every sound poll request and who sent it (`host:port`). */
  onPoll: ((poll: PollRequest, from: string) => void) | undefined;
  /**
   * Test hook: datagrams to send from the gateway's own socket just before
   * its answer to `poll` — e.g. a forged status packet, which then comes
   * from the gateway's address and port like the real one.
   */
  beforeAnswer: ((poll: PollRequest) => Uint8Array[] | undefined) | undefined;

  #socket: dgram.Socket;
  #hostname: string;
  #port: number;
  #ring: BeaconRing;
  #generator: BeaconGenerator;
  #random: () => number;
  #loss: number;
  #maxDatagram: number;
  #dropStatus: boolean;
  #clock: () => number;
  #nextLink = 0;
  #corrupt = new Map<number, number>();
  #timer: ReturnType<typeof setInterval> | undefined;
  #stopped = false;

  /** Use {@link startIslSim}. */
  constructor(socket: dgram.Socket, hostname: string, options: IslSimOptions) {
    const loss = options.loss ?? 0;
    if (!(loss >= 0 && loss <= 1)) throw new RangeError(`Loss must be in 0–1: ${loss}`);
    this.#maxDatagram = options.maxDatagramBytes ?? MAX_DATAGRAM_BYTES;
    if (!(this.#maxDatagram >= STATUS_BYTES + BEACON_BYTES)) {
      throw new RangeError(`Datagrams must hold a status and a beacon: ${this.#maxDatagram}`);
    }
    this.#socket = socket;
    this.#hostname = hostname;
    this.#port = socket.address().port;
    this.#loss = loss;
    this.#dropStatus = options.dropStatus ?? false;
    this.#ring = new BeaconRing(options.ring ?? 65536);
    const seed = options.seed ?? 1;
    this.#generator = new BeaconGenerator(new Orbits(), options.links ?? 8, seed);
    this.#random = mulberry32(seed ^ 0x5bd1e995);
    this.#clock = options.clock ?? (() => nowMicros());
    socket.on("message", (message: Uint8Array, from: dgram.RemoteInfo) => {
      this.#answer(message, from);
    });
  }

  /** The UDP port it listens on. */
  get port(): number {
    return this.#port;
  }

  /** `host:port` it listens on. */
  get address(): string {
    return `${this.#hostname}:${this.port}`;
  }

  /** Oldest and newest index held (0 when empty). */
  get held(): { oldest: number; newest: number } {
    return { oldest: this.#ring.oldest, newest: this.#ring.newest };
  }

  /** Generates `count` beacons now, round robin over the links. */
  generate(count: number): void {
    const ring = this.#ring;
    const generator = this.#generator;
    const links = generator.links;
    const t = this.#clock();
    for (let i = 0; i < count; i++) {
      const { index, offset } = ring.push();
      generator.write(this.#nextLink + 1, t, index, ring.bytes, offset);
      this.#nextLink = (this.#nextLink + 1) % links;
    }
    this.counters.beacons = ring.newest;
    this.counters.ring_dropped = ring.overwritten;
    this.counters.ring_dropped_unsent = ring.overwrittenUnsent;
  }

  /** Starts generating `rate` beacons per second (called by {@link startIslSim}). */
  run(rate: number): void {
    if (!(rate >= 0)) throw new RangeError(`Rate must not be negative: ${rate}`);
    clearInterval(this.#timer);
    this.#timer = undefined;
    if (rate === 0 || this.#stopped) return;
    const start = performance.now();
    let made = 0;
    this.#timer = setInterval(() => {
      const due = Math.floor((performance.now() - start) / 1000 * rate);
      if (due > made) {
        this.generate(due - made);
        made = due;
      }
    }, 10);
  }

  /** Test hook: the next beacon of link `apid` skips `count` sequence counts (a link gap). */
  skipSequence(apid: number, count: number): void {
    this.#generator.skip(apid, count);
  }

  /** Test hook: the next beacon of link `apid` has sequence count `seq`. */
  setSequence(apid: number, seq: number): void {
    this.#generator.setSequence(apid, seq);
  }

  /** Test hook: send beacon `index` corrupt (one bit flipped) in the next `times` answers. */
  corrupt(index: number, times = 1): void {
    this.#corrupt.set(index, times);
  }

  /** Stops generating and closes the socket. */
  stop(): Promise<void> {
    if (this.#stopped) return Promise.resolve();
    this.#stopped = true;
    clearInterval(this.#timer);
    this.#timer = undefined;
    return new Promise((resolve) => this.#socket.close(() => resolve()));
  }

  /** One line for the end of a run. */
  summary(): string {
    const c = this.counters;
    const { oldest, newest } = this.held;
    return `sim isl ${this.address}: generated ${c.beacons} beacons (ring dropped ${c.ring_dropped}, ${c.ring_dropped_unsent} of them never sent; holds ${oldest}–${newest}); answered ${c.polls} polls with ${c.datagrams_sent} datagrams (${c.datagrams_dropped} dropped, ${c.beacons_sent} beacons sent, ${c.beacons_corrupted} corrupt); ${c.bad_polls} bad polls`;
  }

  #answer(message: Uint8Array, from: dgram.RemoteInfo): void {
    if (this.#stopped) return;
    let poll: PollRequest;
    try {
      poll = decodePoll(message);
    } catch {
      this.counters.bad_polls++;
      return;
    }
    const answer = ++this.counters.polls;
    this.onPoll?.(poll, `${from.address}:${from.port}`);
    for (const extra of this.beforeAnswer?.(poll) ?? []) {
      this.#socket.send(extra, from.port, from.address);
    }
    const ring = this.#ring;
    const oldest = ring.oldest;
    const newest = ring.newest;
    const first = Math.max(poll.after + 1, oldest);
    const count = oldest === 0 || newest < first ? 0 : Math.min(poll.max, newest - first + 1);
    const perFirst = this.#dropStatus
      ? 0
      : Math.floor((this.#maxDatagram - STATUS_BYTES) / BEACON_BYTES);
    const perNext = Math.floor(this.#maxDatagram / BEACON_BYTES);
    let index = first;
    const end = first + count;
    for (let datagram = 0; datagram === 0 || index < end; datagram++) {
      const head = datagram === 0 ? STATUS_BYTES : 0;
      const n = Math.min(datagram === 0 ? perFirst : perNext, end - index);
      const bytes = new Uint8Array(head + n * BEACON_BYTES);
      if (datagram === 0) {
        encodeStatus({ seq: poll.seq, oldest, newest, count }, bytes, 0);
      }
      for (let k = 0; k < n; k++) {
        const at = ring.offsetOf(index + k);
        const to = head + k * BEACON_BYTES;
        bytes.set(ring.bytes.subarray(at, at + BEACON_BYTES), to);
        if (this.#corrupt.size > 0) this.#maybeCorrupt(index + k, bytes, to);
      }
      const info = { answer, datagram, poll, first: index, last: index + n - 1 };
      index += n;
      if (
        (this.#dropStatus && datagram === 0) ||
        (this.#loss > 0 && this.#random() < this.#loss) ||
        (this.dropDatagram !== undefined && this.dropDatagram(info))
      ) {
        this.counters.datagrams_dropped++;
        continue;
      }
      this.counters.datagrams_sent++;
      this.counters.beacons_sent += n;
      if (n > 0 && index - 1 > ring.sentUpTo) ring.sentUpTo = index - 1;
      this.#socket.send(bytes, from.port, from.address);
    }
  }

  #maybeCorrupt(index: number, bytes: Uint8Array, offset: number): void {
    const times = this.#corrupt.get(index);
    if (times === undefined) return;
    // One bit flipped in the range field: only the CRC can tell.
    bytes[offset + 30] ^= 0x10;
    this.counters.beacons_corrupted++;
    if (times <= 1) this.#corrupt.delete(index);
    else this.#corrupt.set(index, times - 1);
  }
}

/**
 * Starts an ISL gateway simulator listening on UDP.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startIslSim } from "./isl.ts";
 *
 * const sim = await startIslSim({ rate: 0, ring: 100, prefill: 150 });
 * assert.deepEqual(sim.held, { oldest: 51, newest: 150 });
 * assert.equal(sim.counters.ring_dropped, 50);
 * await sim.stop();
 * ```
 */
export async function startIslSim(options: IslSimOptions = {}): Promise<IslGatewaySim> {
  const hostname = options.hostname ?? "127.0.0.1";
  const socket = dgram.createSocket(hostname.includes(":") ? "udp6" : "udp4");
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(options.port ?? 0, hostname, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  let sim: IslGatewaySim;
  try {
    sim = new IslGatewaySim(socket, hostname, options);
  } catch (error) {
    socket.close();
    throw error;
  }
  if (options.prefill) sim.generate(options.prefill);
  sim.run(options.rate ?? 1000);
  return sim;
}

const HELP = `Usage: main.ts sim isl [--port P] [--hostname H] [--rate N] [--loss F]
                        [--ring N] [--links K] [--seed S] [--prefill N] [--duration S]
                        [--drop-status]

Runs an inter-satellite-link gateway on UDP (SPEC §6): satellites of four
formation pairs range each other (SGP4 orbits, NORAD 60001–60008); the
gateway keeps their beacons in a ring buffer with indexes from 1 and answers
each poll with a status packet and the beacons asked for, in datagrams of
at most 1400 bytes. Prints one summary line on stderr when it stops
(Ctrl-C, SIGTERM or --duration).

Options:
  --port P        UDP port to listen on (default 7003; 0 picks a free one)
  --hostname H    address to listen on (default 127.0.0.1)
  --rate N        beacons generated per second, spread over the links
                  (default 1000; 0 generates only --prefill)
  --loss F        fraction of answer datagrams dropped, 0–1 (default 0)
  --ring N        ring buffer size in beacons (default 65536); older
                  beacons are overwritten: gateway loss if not yet polled
  --links K       links, APIDs 1…K, each with its own 14-bit sequence
                  count (default 8)
  --seed S        seed of the noise and loss PRNG (default 1)
  --prefill N     beacons generated at start (default 0)
  --duration S    stop after S seconds (default: run until a signal)
  --drop-status   send each answer's status packet alone and drop it: the
                  beacons arrive without their status
  --help          show this help
`;

/** The `sim isl` command. */
export const islSim: Command = {
  help: HELP,
  async run(args) {
    const { values } = parseOptions(args, {
      port: { type: "string" },
      hostname: { type: "string" },
      rate: { type: "string" },
      loss: { type: "string" },
      ring: { type: "string" },
      links: { type: "string" },
      seed: { type: "string" },
      prefill: { type: "string" },
      duration: { type: "string" },
      "drop-status": { type: "boolean" },
    });
    const port = portOption(values.port, 7003);
    const loss = numberOption(values.loss, "loss", 0);
    if (loss > 1) throw new UsageError(`--loss must be at most 1: "${values.loss}"`);
    const links = integerOption(values.links, "links", 8);
    if (links < 1 || links > 2046) {
      throw new UsageError(`--links must be in 1–2046: "${values.links}"`);
    }
    const ring = integerOption(values.ring, "ring", 65536);
    if (ring < 1 || ring > 1 << 24) {
      throw new UsageError(`--ring must be in 1–16777216: "${values.ring}"`);
    }
    const duration = numberOption(values.duration, "duration", Infinity);
    const sim = await startIslSim({
      hostname: values.hostname ?? "127.0.0.1",
      port,
      rate: numberOption(values.rate, "rate", 1000),
      loss,
      ring,
      links,
      seed: integerOption(values.seed, "seed", 1),
      prefill: integerOption(values.prefill, "prefill", 0),
      dropStatus: values["drop-status"] === true,
    });
    console.error(`sim isl: gateway listening on udp://${sim.address}`);
    let stop!: () => void;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
    const timer = Number.isFinite(duration) ? setTimeout(stop, duration * 1000) : undefined;
    await stopped;
    clearTimeout(timer);
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
    await sim.stop();
    console.error(sim.summary());
    return EXIT.ok;
  },
};

if (import.meta.main) {
  try {
    Deno.exit(await islSim.run(Deno.args));
  } catch (error) {
    console.error(`sim isl: ${error instanceof Error ? error.message : error}\n\n${HELP}`);
    Deno.exit(error instanceof UsageError ? EXIT.usage : EXIT.failure);
  }
}
