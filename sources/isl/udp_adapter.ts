/**
 * The ISL source on UDP sockets: the runtime adapter of the portable
 * {@link IslPollSource}.
 *
 * `node:dgram` rather than `Deno.listenDatagram`, which still needs the
 * `--unstable-net` flag; Deno implements `node:dgram` on its own UDP ops.
 * Two of its quirks shape this file: `connect()` does not filter incoming
 * datagrams (so the sender is checked here), and the `recvBufferSize`
 * option makes receiving pathologically slow (so the kernel default,
 * ~208 KiB, is kept: it holds an answer of 256 beacons six times over).
 *
 * @module
 */

import dgram from "node:dgram";
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { DecodePool } from "../../service/workers/decode_pool.ts";
import { wireContext } from "../../service/workers/_protocol.ts";
import type { DatagramChannel, IslGateway } from "./datagram_channel.ts";
import { canonicalIp } from "../ip_address.ts";
import { IslPollSource, type IslPollSourceOptions } from "./isl_poll_source.ts";
import { type MapBeacons, mapBeaconsHere } from "./map_beacons.ts";

/**
 * A batch's beacons go to a worker only while the least busy one has fewer
 * than this many chunks and pages waiting; otherwise they are mapped on the
 * main thread. With one worker on two cores, radar keeps the worker busy and
 * the main thread has time to spare, so ISL beacons sent to the worker
 * regardless slowed the mixed scenario (alternated, two runs each: 132 and
 * 141k obs/s against 135 and 150k before ISL mapping moved; with this
 * bound 145 and 182k; at 1, 128 and 166k), while the ISL scenario alone
 * still gains (117 and 108k obs/s against 76 and 91k; 141 and 103k
 * without the bound).
 */
const MAX_BACKLOG = 2;

/** Datagrams queued before the source takes them; more are dropped and counted. */
const MAX_QUEUED = 8192;
/** …and their bytes: a gateway may send datagrams of up to 64 KiB. */
const MAX_QUEUED_BYTES = 8 << 20;

/** Options for {@link IslUdpSource}: those of {@link IslPollSource} without the transport. */
export type IslUdpSourceOptions = Omit<IslPollSourceOptions, "openChannel" | "mapBeacons"> & {
  /**
   * Map the beacons in these workers (issue 16) rather than on the main
   * thread, which keeps the polling, the watermark and the loss counts.
   */
  workers?: DecodePool;
};

/**
 * The ISL source (SPEC §6) polling gateways over UDP, one socket per gateway.
 *
 * @example Poll a gateway simulator on loopback
 * ```ts
 * import assert from "node:assert/strict";
 * import { startIslSim } from "../../sim/isl.ts";
 * import { IslUdpSource } from "./udp_adapter.ts";
 *
 * const sim = await startIslSim({ rate: 0 });
 * sim.generate(10);
 * const source = new IslUdpSource({
 *   name: "isl",
 *   gateways: [{ hostname: "127.0.0.1", port: sim.port }],
 *   checkpoint: () => ({ load: () => Promise.resolve(undefined), save: () => Promise.resolve() }),
 * });
 * const reader = source.readable.getReader();
 * const { value } = await reader.read();
 * assert.equal(value!.observations.length, 10);
 * assert.equal(value!.observations[0].provenance.peer, `127.0.0.1:${sim.port}`);
 * value!.acks.forEach((ack) => ack.release());
 * await source.stop();
 * reader.releaseLock();
 * await sim.stop();
 * ```
 */
export class IslUdpSource extends IslPollSource {
  /** Opens one UDP socket per gateway; polling starts on demand. */
  constructor(options: IslUdpSourceOptions) {
    const { workers, ...rest } = options;
    super({
      ...rest,
      openChannel: openUdpChannel,
      mapBeacons: workers === undefined ? undefined : beaconsInWorkers(workers),
    });
  }
}

/**
 * {@link MapBeacons} in decode workers: each batch's beacon packets go to a
 * worker as one page (`isl-packets`, with the batch's receive time) and come
 * back as packed lines, their ids hashed on arrival — unless every worker is
 * busy (see `MAX_BACKLOG`): then they are mapped on the main thread.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DecodePool } from "../../service/workers/decode_pool.ts";
 * import { encodeBeacon } from "./beacon.ts";
 * import { beaconsInWorkers } from "./udp_adapter.ts";
 *
 * const pool = new DecodePool(1);
 * const packets = encodeBeacon({
 *   apid: 1, seq: 5, coarse: 2_174_299_237, fine: 0, index: 42, observer: 60001,
 *   target: 60002, range_km: 370.25, range_rate_km_s: -0.5, range_sigma_km: 0.5,
 *   r_km: [7000, 0, 0], v_km_s: [0, 7.5, 0], flags: 0b011,
 * });
 * const ctx = { source: "isl", transport: "udp" as const, peer: "127.0.0.1:7003" };
 * const { packed } = await beaconsInWorkers(pool)(packets, ctx, 1_795_608_000_000_000);
 * const line = JSON.parse(new TextDecoder().decode(packed!.lines));
 * assert.equal(line.provenance.ref, "42");
 * assert.equal(line.t_rx, "2026-11-25T12:00:00.000000Z");
 * pool.close();
 * ```
 */
export function beaconsInWorkers(workers: DecodePool): MapBeacons {
  return (packets, ctx, receivedAt) =>
    workers.backlog < MAX_BACKLOG
      ? workers.page({ kind: "isl-packets", ctx: wireContext(ctx, receivedAt) }, packets)
      : mapBeaconsHere(packets, ctx, receivedAt);
}

/**
 * A {@link DatagramChannel} to one gateway over a UDP socket bound to an
 * ephemeral port (on loopback when the gateway is on loopback).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import dgram from "node:dgram";
 * import { openUdpChannel } from "./udp_adapter.ts";
 *
 * const echo = dgram.createSocket("udp4");
 * await new Promise<void>((resolve) => echo.bind(0, "127.0.0.1", resolve));
 * echo.on("message", (message, from) => echo.send(message, from.port, from.address));
 * const channel = await openUdpChannel({ hostname: "127.0.0.1", port: echo.address().port });
 * await channel.send(new Uint8Array([1, 2, 3]));
 * assert.deepEqual([...(await channel.receive(1000))!], [1, 2, 3]);
 * channel.close();
 * echo.close();
 * ```
 */
export async function openUdpChannel(gateway: IslGateway): Promise<DatagramChannel> {
  let ip = gateway.hostname.replace(/^\[(.*)\]$/, "$1");
  if (isIP(ip) === 0) ip = (await lookup(ip)).address;
  const canonical = canonicalIp(ip);
  if (canonical === undefined) throw new TypeError(`Cannot use gateway address ${ip}`);
  const { address, family, loopback } = canonical;
  const socket = dgram.createSocket(family === 6 ? "udp6" : "udp4");
  const local = loopback ? (family === 6 ? "::1" : "127.0.0.1") : undefined;
  await new Promise<void>((resolve, reject) => {
    socket.once("error", reject);
    socket.bind(0, local, () => {
      socket.off("error", reject);
      resolve();
    });
  });
  return new UdpChannel(socket, address, gateway.port);
}

class UdpChannel implements DatagramChannel {
  #socket: dgram.Socket;
  #address: string;
  #port: number;
  #queue: Uint8Array[] = [];
  #head = 0;
  #queuedBytes = 0;
  #waiter: ((datagram: Uint8Array | undefined) => void) | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  readonly counters = { foreign_datagrams: 0, dropped_datagrams: 0, socket_errors: 0 };
  lastError: string | undefined;

  constructor(socket: dgram.Socket, address: string, port: number) {
    this.#socket = socket;
    this.#address = address;
    this.#port = port;
    socket.on("message", (message: Uint8Array, from: dgram.RemoteInfo) => {
      if (from.port !== port || from.address !== address) {
        this.counters.foreign_datagrams++;
        return;
      }
      const waiter = this.#waiter;
      if (waiter !== undefined) {
        this.#waiter = undefined;
        clearTimeout(this.#timer);
        this.#timer = undefined;
        waiter(message);
        return;
      }
      if (
        this.#queue.length - this.#head >= MAX_QUEUED ||
        this.#queuedBytes + message.length > MAX_QUEUED_BYTES
      ) {
        this.counters.dropped_datagrams++;
        return;
      }
      // Deno's node:dgram hands each datagram over as a view of a 64 KiB
      // buffer: kept as it is, a queue of 18-byte datagrams held ~460 MB.
      const datagram = message.byteLength < message.buffer.byteLength ? message.slice() : message;
      this.#queue.push(datagram);
      this.#queuedBytes += datagram.length;
    });
    socket.on("error", (error: Error) => {
      this.counters.socket_errors++;
      this.lastError = error.message;
    });
  }

  send(datagram: Uint8Array): Promise<void> {
    if (this.#closed) return Promise.reject(new TypeError("Cannot send on a closed channel"));
    return new Promise((resolve, reject) => {
      this.#socket.send(datagram, this.#port, this.#address, (error) => {
        if (error) reject(error);
        else resolve();
      });
    });
  }

  take(): Uint8Array | undefined {
    if (this.#head >= this.#queue.length) return undefined;
    const datagram = this.#queue[this.#head++];
    this.#queuedBytes -= datagram.length;
    if (this.#head === this.#queue.length) {
      this.#queue.length = 0;
      this.#head = 0;
    }
    return datagram;
  }

  receive(timeoutMs: number): Promise<Uint8Array | undefined> {
    const ready = this.take();
    if (ready !== undefined || this.#closed) return Promise.resolve(ready);
    if (this.#waiter !== undefined) {
      return Promise.reject(new TypeError("Cannot receive twice at once on one channel"));
    }
    return new Promise((resolve) => {
      this.#waiter = resolve;
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#waiter = undefined;
        resolve(undefined);
      }, timeoutMs);
    });
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
    const waiter = this.#waiter;
    this.#waiter = undefined;
    waiter?.(undefined);
    this.#queue.length = 0;
    this.#head = 0;
    this.#queuedBytes = 0;
    this.#socket.close();
  }
}
