/**
 * How long the optical source waits before asking the archive again after
 * a failed request (SPEC §5).
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * The wait a `Retry-After` header asks for, in ms (RFC 9110 §10.2.3): either
 * delay-seconds (`120`) or an HTTP-date (`Wed, 25 Nov 2026 12:00:05 GMT`),
 * the latter measured against `nowMs`. Undefined when absent or unreadable,
 * so the caller falls back to its own backoff. A date in the past is 0.
 */
export function retryAfterMs(value: string | null, nowMs: number): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Some servers send fractional seconds; RFC 9110 does not, but the intent is clear.
  if (/^\d*\.\d+$/.test(text)) return Math.ceil(Number(text) * 1000);
  const date = Date.parse(text);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - nowMs);
}

/**
 * Exponential backoff with jitter: the `failures`-th failure in a row
 * (1-based) waits between half and all of `baseMs · 2^(failures − 1)`,
 * capped at `maxMs`. The random half spreads the retries of many sources
 * that failed together, so a recovering archive is not hit all at once.
 */
export function backoffMs(
  failures: number,
  baseMs: number,
  maxMs: number,
  random: () => number,
): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(Math.max(failures - 1, 0), 30));
  return Math.round(ceiling * (0.5 + 0.5 * random()));
}
