/**
 * What the ISL source needs from a datagram transport: the one seam between
 * the portable poll logic and a runtime's sockets.
 *
 * Portable: web APIs only (types only).
 *
 * @module
 */

/** An ISL gateway's address. */
export interface IslGateway {
  /** Host name or IP address. */
  hostname: string;
  /** UDP port. */
  port: number;
}

/**
 * A datagram socket talking to one gateway. Datagrams from anyone else are
 * not delivered. Receiving has no flow control (UDP has none): a channel
 * keeps a bounded queue and counts what it drops.
 */
export interface DatagramChannel {
  /** Sends one datagram to the gateway. */
  send(datagram: Uint8Array): Promise<void>;
  /** A datagram already received, without waiting; undefined if none. */
  take(): Uint8Array | undefined;
  /**
   * The next datagram from the gateway; undefined when none arrived within
   * `timeoutMs` or the channel was closed.
   */
  receive(timeoutMs: number): Promise<Uint8Array | undefined>;
  /** Closes the socket; a pending {@link DatagramChannel.receive} resolves undefined. */
  close(): void;
  /** Monotonic counters (e.g. `foreign_datagrams`, `dropped_datagrams`). */
  readonly counters: Readonly<Record<string, number>>;
  /** The last socket error, in words. */
  readonly lastError?: string;
}

/**
 * `host:port` of a gateway (`[v6]:port` for IPv6 literals): its
 * `provenance.peer` and the key of its checkpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gatewayPeer } from "./datagram_channel.ts";
 *
 * assert.equal(gatewayPeer({ hostname: "127.0.0.1", port: 7003 }), "127.0.0.1:7003");
 * assert.equal(gatewayPeer({ hostname: "::1", port: 7003 }), "[::1]:7003");
 * ```
 */
export function gatewayPeer(gateway: IslGateway): string {
  return gateway.hostname.includes(":")
    ? `[${gateway.hostname}]:${gateway.port}`
    : `${gateway.hostname}:${gateway.port}`;
}
