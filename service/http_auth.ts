/**
 * Bearer-token authentication of the HTTP port (SPEC §15).
 *
 * @module
 */

import { timingSafeEqual } from "node:crypto";

const encoder = new TextEncoder();

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", encoder.encode(text)));
}

/**
 * Checks the `Authorization` header of a request against a token in constant
 * time: both sides are hashed to 32 bytes first, so neither the comparison
 * nor an early length mismatch tells an attacker how much of a guess was
 * right.
 *
 * `Bearer <token>` is what SPEC §15 requires (Prometheus' `authorization`
 * scrape setting sends it). `Basic` with the token as the password (any user
 * name) is accepted too, because a browser cannot add a bearer header to a
 * page it navigates to, but it does ask for and then resend Basic credentials
 * — that is how an operator opens the status page at `/`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BearerAuth } from "./http_auth.ts";
 *
 * const auth = new BearerAuth("s3cret");
 * assert.equal(await auth.check("Bearer s3cret"), true);
 * assert.equal(await auth.check(`Basic ${btoa("ops:s3cret")}`), true);
 * assert.equal(await auth.check("Bearer s3cre"), false);
 * assert.equal(await auth.check(null), false);
 * ```
 */
export class BearerAuth {
  #expected: Promise<Uint8Array>;

  /** @param token the token every request must present */
  constructor(token: string) {
    if (token === "") throw new RangeError("The HTTP token must not be empty");
    this.#expected = sha256(token);
  }

  /** True when `header` (the `Authorization` value, or null) carries the token. */
  async check(header: string | null): Promise<boolean> {
    const presented = credential(header);
    // Hash even when nothing usable was sent: every answer takes the same path.
    const [expected, actual] = await Promise.all([this.#expected, sha256(presented ?? "")]);
    return timingSafeEqual(expected, actual) && presented !== undefined;
  }

  /** The `WWW-Authenticate` challenge of a 401 answer. */
  static readonly challenge =
    'Bearer realm="sda-ingest", Basic realm="sda-ingest", charset="UTF-8"';
}

/** The token in an `Authorization` header, or undefined. */
function credential(header: string | null): string | undefined {
  if (header === null) return undefined;
  const space = header.indexOf(" ");
  if (space < 0) return undefined;
  const scheme = header.slice(0, space).toLowerCase();
  const value = header.slice(space + 1).trim();
  if (scheme === "bearer") return value;
  if (scheme !== "basic") return undefined;
  let decoded: string;
  try {
    decoded = new TextDecoder().decode(Uint8Array.from(atob(value), (c) => c.charCodeAt(0)));
  } catch {
    return undefined;
  }
  const colon = decoded.indexOf(":");
  return colon < 0 ? undefined : decoded.slice(colon + 1);
}
