/**
 * One spelling of an IP address.
 *
 * Portable: web APIs only (and the pure-JS `ipaddr.js`).
 *
 * @module
 */

import ipaddr from "ipaddr.js";

/** An IP address in its one spelling. */
export interface IpAddress {
  /** IPv4 dotted quad, or IPv6 compressed and lowercase (RFC 5952). */
  address: string;
  family: 4 | 6;
  /** A loopback address (127.0.0.0/8, ::1). */
  loopback: boolean;
}

/**
 * `text` as one IP address in the spelling a socket reports a peer in —
 * `0:0:0:0:0:0:0:1` is `::1`, `2001:DB8::1` is `2001:db8::1`, an
 * IPv4-mapped IPv6 address is the IPv4 address — or undefined when it is
 * not exactly one address: a port, a bracket, anything around it, and the
 * IPv4 forms some parsers take (`127.1`, `0x7f.0.0.1`, `010.0.0.1`, octal
 * to some) are refused.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canonicalIp } from "./ip_address.ts";
 *
 * assert.deepEqual(canonicalIp("0:0:0:0:0:0:0:1"), { address: "::1", family: 6, loopback: true });
 * assert.deepEqual(canonicalIp("::ffff:127.0.0.1"), { address: "127.0.0.1", family: 4, loopback: true });
 * assert.equal(canonicalIp("10.0.0.5:7001"), undefined);
 * ```
 */
export function canonicalIp(text: string): IpAddress | undefined {
  let parsed: ipaddr.IPv4 | ipaddr.IPv6;
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) {
    parsed = ipaddr.IPv4.parse(text);
  } else if (ipaddr.IPv6.isValid(text)) {
    parsed = ipaddr.IPv6.parse(text);
    if (parsed.isIPv4MappedAddress()) parsed = parsed.toIPv4Address();
  } else {
    return undefined;
  }
  return {
    address: parsed.toString(),
    family: parsed.kind() === "ipv6" ? 6 : 4,
    loopback: parsed.range() === "loopback",
  };
}
