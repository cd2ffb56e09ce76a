/**
 * One spelling of a gateway's IP address: the one its answers come from.
 *
 * @module
 */

import ipaddr from "ipaddr.js";

/** A gateway address as answers arrive from it. */
export interface GatewayAddress {
  /** IPv4 dotted quad, or IPv6 in its compressed lowercase form (RFC 5952). */
  address: string;
  family: 4 | 6;
  /** On a loopback interface: the socket binds there too. */
  loopback: boolean;
}

/**
 * The address `ip` (an IPv4 or IPv6 address, not a name) as datagrams from
 * it are reported: `0:0:0:0:0:0:0:1` or `2001:DB8::1` never equal an
 * answer's `::1` or `2001:db8::1` (every answer was dropped as foreign), and
 * an IPv4-mapped IPv6 address is the IPv4 address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gatewayAddress } from "./_gateway_address.ts";
 *
 * assert.deepEqual(gatewayAddress("0:0:0:0:0:0:0:1"), { address: "::1", family: 6, loopback: true });
 * assert.deepEqual(gatewayAddress("::ffff:127.0.0.1"), { address: "127.0.0.1", family: 4, loopback: true });
 * ```
 */
export function gatewayAddress(ip: string): GatewayAddress {
  let parsed = ipaddr.parse(ip);
  if (parsed.kind() === "ipv6" && (parsed as ipaddr.IPv6).isIPv4MappedAddress()) {
    parsed = (parsed as ipaddr.IPv6).toIPv4Address();
  }
  return {
    address: parsed.toString(),
    family: parsed.kind() === "ipv6" ? 6 : 4,
    loopback: parsed.range() === "loopback",
  };
}
