/**
 * The client address a proxy in front of the edge worker reports, for
 * `provenance.peer` (SPEC §2).
 *
 * A request header is whatever the sender wrote unless a proxy in front
 * sets it, so the address is only as trustworthy as that proxy: Cloudflare
 * sets `CF-Connecting-IP` itself, and a reverse proxy appends the address
 * it saw to `X-Forwarded-For`. Without such a proxy either header is the
 * client's word. Whatever it says, only an IP address is taken, so a
 * header cannot put arbitrary text (`10.0.0.5 (XR1 trusted)`) into every
 * observation's provenance.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { canonicalIp } from "../sources/ip_address.ts";

/** `text`, trimmed, as one IP address in its canonical spelling (see {@link canonicalIp}). */
function ipAddress(text: string | undefined): string | undefined {
  return text === undefined ? undefined : canonicalIp(text.trim())?.address;
}

/**
 * The client's address from the proxy headers, or undefined: a valid IP
 * address in `CF-Connecting-IP`, else the last entry of `X-Forwarded-For`
 * when that is one. A header that holds no address is ignored.
 *
 * The last `X-Forwarded-For` entry is the one the nearest proxy appended:
 * the address it received the request from. Every entry before it arrived
 * in the request as the client wrote it, so the first — the "original
 * client" by convention — is the one a client chooses at will. Behind a
 * chain of proxies the last entry names the hop before the nearest proxy;
 * a deployment that needs the client beyond the chain has its outer proxy
 * set `CF-Connecting-IP` (or strip and rewrite the header) instead.
 *
 * @example A client-written entry is not taken, nor a header that is no address
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientAddress } from "./_client_address.ts";
 *
 * const forwarded = new Headers({ "x-forwarded-for": "10.20.0.5:7001 (XR1 trusted), 192.0.2.7" });
 * assert.equal(clientAddress(forwarded), "192.0.2.7");
 * assert.equal(clientAddress(new Headers({ "cf-connecting-ip": "totally-not-an-ip" })), undefined);
 * ```
 */
export function clientAddress(headers: Headers): string | undefined {
  return ipAddress(headers.get("cf-connecting-ip") ?? undefined) ??
    ipAddress(headers.get("x-forwarded-for")?.split(",").at(-1));
}
