/**
 * When a feed of junk is cut off (SPEC §3: dead letters must not amplify an
 * attack).
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * Dead letters in a row, and no observation, after which a stream is read
 * no further: the radar TCP source closes such a connection as "not a TDM
 * stream", the edge worker stops reading such a body. Without it one
 * connection or request of junk — `x` lines, CSV rows of one field, a JSON
 * array of numbers — became ~100 bytes of dead letter per 2 bytes of input,
 * for as long as the peer cared to send it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEAD_LETTERS_IN_A_ROW } from "./dead_letters_in_a_row.ts";
 *
 * assert.equal(DEAD_LETTERS_IN_A_ROW, 1000);
 * ```
 */
export const DEAD_LETTERS_IN_A_ROW = 1000;
