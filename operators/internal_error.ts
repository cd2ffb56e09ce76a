/**
 * The words of the last line of defence (SPEC §3): whatever a decoder or
 * operator cannot handle — an exception, which is a bug, since every bad
 * input has a dead letter of its own — becomes a dead letter for that input
 * whose reason says so, never an exception that ends the pipeline. The
 * pipeline recognises these reasons to log them at ERROR.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** Every reason made by {@link internalErrorReason} starts with this. */
export const INTERNAL_ERROR = "Internal error";

/** Longest error text kept in a reason, in characters. */
const MAX_ERROR_CHARS = 300;

/**
 * The dead-letter reason for an exception thrown while `doing` something
 * with one input: `Internal error while <doing>: <Error name>: <message>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { internalErrorReason, isInternalError } from "./internal_error.ts";
 *
 * const reason = internalErrorReason("decoding line 7", new RangeError("Invalid time value"));
 * assert.equal(reason, "Internal error while decoding line 7: RangeError: Invalid time value");
 * assert.equal(isInternalError(reason), true);
 * assert.equal(isInternalError("Missing RANGE value"), false);
 * ```
 */
export function internalErrorReason(doing: string, error: unknown): string {
  let text: string;
  try {
    text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    // An object whose toString() throws says nothing more.
    text = Object.prototype.toString.call(error);
  }
  if (text.length > MAX_ERROR_CHARS) text = text.slice(0, MAX_ERROR_CHARS - 3) + "...";
  return `${INTERNAL_ERROR} while ${doing}: ${text}`;
}

/**
 * Whether a dead-letter reason was made by {@link internalErrorReason}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isInternalError } from "./internal_error.ts";
 *
 * assert.equal(isInternalError("Internal error while mapping a row: Error: x"), true);
 * ```
 */
export function isInternalError(reason: string): boolean {
  return reason.startsWith(INTERNAL_ERROR);
}
