/**
 * Which peers may connect to a listener (`allow`, SPEC §15): CIDR ranges,
 * IPv4 and IPv6.
 *
 * Portable: web APIs only (and the pure-JS `ipaddr.js`).
 *
 * @module
 */

import ipaddr from "ipaddr.js";

type Range = [ipaddr.IPv4 | ipaddr.IPv6, number];

/**
 * A list of CIDR ranges (`"10.20.0.0/16"`, `"::1/128"`; a bare address is
 * its own /32 or /128) and the test whether a peer address lies in one.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:10.20.0.7`, what a dual-stack
 * listener reports for an IPv4 peer) are matched as the IPv4 address they
 * carry, and an IPv4-mapped range (`::ffff:10.20.0.0/112`) as its IPv4
 * range, so one list works whatever the listener binds.
 *
 * @example Ranges of both families, and a mapped peer
 * ```ts
 * import assert from "node:assert/strict";
 * import { AllowList } from "./allow_list.ts";
 *
 * const allow = new AllowList(["10.20.0.0/16", "::1/128"]);
 * assert.equal(allow.allows("10.20.3.4"), true);
 * assert.equal(allow.allows("::ffff:10.20.3.4"), true);
 * assert.equal(allow.allows("10.21.0.1"), false);
 * assert.equal(allow.allows("::1"), true);
 * assert.equal(allow.allows("::2"), false);
 * assert.equal(AllowList.problem("10.20.0.0/33"), "prefix length /33 is out of range for IPv4 (0–32)");
 * ```
 */
export class AllowList {
  #ranges: Range[];

  /** Parses every range; throws a `TypeError` naming the first bad one. */
  constructor(cidrs: readonly string[]) {
    this.#ranges = cidrs.map((cidr) => {
      const problem = AllowList.problem(cidr);
      if (problem !== undefined) throw new TypeError(`Invalid CIDR range "${cidr}": ${problem}`);
      return parseRange(cidr);
    });
  }

  /** Why `cidr` is not a CIDR range or address, or undefined when it is one. */
  static problem(cidr: string): string | undefined {
    if (typeof cidr !== "string") return "not a string";
    const slash = cidr.indexOf("/");
    const address = slash < 0 ? cidr : cidr.slice(0, slash);
    if (!ipaddr.isValid(address)) {
      return `"${address}" is not an IPv4 or IPv6 address`;
    }
    if (slash < 0) return undefined;
    const bits = cidr.slice(slash + 1);
    const max = ipaddr.parse(address).kind() === "ipv4" ? 32 : 128;
    if (!/^\d{1,3}$/.test(bits) || Number(bits) > max) {
      return `prefix length /${bits} is out of range for ${
        max === 32 ? "IPv4 (0–32)" : "IPv6 (0–128)"
      }`;
    }
    return undefined;
  }

  /** Whether `address` (a peer's IP address, without a port) lies in a range. */
  allows(address: string): boolean {
    let ip: ipaddr.IPv4 | ipaddr.IPv6;
    try {
      // process() turns an IPv4-mapped IPv6 address into its IPv4 address.
      ip = ipaddr.process(address.replace(/^\[(.*)\]$/, "$1"));
    } catch {
      return false;
    }
    for (const [range, bits] of this.#ranges) {
      if (range.kind() === ip.kind() && (ip as ipaddr.IPv4).match(range as ipaddr.IPv4, bits)) {
        return true;
      }
    }
    return false;
  }
}

function parseRange(cidr: string): Range {
  const slash = cidr.indexOf("/");
  const address = ipaddr.parse(slash < 0 ? cidr : cidr.slice(0, slash));
  let bits = slash < 0 ? (address.kind() === "ipv4" ? 32 : 128) : Number(cidr.slice(slash + 1));
  if (address.kind() === "ipv6" && (address as ipaddr.IPv6).isIPv4MappedAddress() && bits >= 96) {
    return [(address as ipaddr.IPv6).toIPv4Address(), bits - 96];
  }
  if (address.kind() === "ipv4") bits = Math.min(bits, 32);
  return [address, bits];
}
