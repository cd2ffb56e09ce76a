/**
 * What a bearer token must be to travel in an `Authorization` header.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Whether `token` can be sent as `Authorization: Bearer <token>`: visible
 * ASCII, no white space. Anything else (two lines of a secret file, a
 * control character, a non-ASCII letter) is refused by an HTTP client —
 * whose error quotes the header, token and all — or never matches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isBearerToken } from "./bearer_token.ts";
 *
 * assert.equal(isBearerToken("eyJhbGciOi.x-_~+/="), true);
 * assert.equal(isBearerToken("line-1\nline-2"), false);
 * assert.equal(isBearerToken(""), false);
 * ```
 */
export function isBearerToken(token: string): boolean {
  return /^[\x21-\x7e]+$/.test(token);
}
