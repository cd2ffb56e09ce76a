/**
 * A structure-aware JSON mutator: parses the page (when it parses), changes
 * a record or a value — type, presence, depth, extreme values — and writes
 * it back, so that mutations get past `JSON.parse` to the record mapping.
 *
 * @module
 */

import { EXTREME_NUMBERS, EXTREME_TIMES } from "./_mutate_text.ts";
import type { Prng } from "./_prng.ts";
import { SPEC_FIELD_NAMES } from "./_spec_fields.ts";

const strict = new TextDecoder("utf-8", { fatal: true });
const utf8 = new TextEncoder();

/** Field names of SPEC §5 and a few that trip naive object handling. */
const NAMES = [
  ...SPEC_FIELD_NAMES,
  "__proto__",
  "constructor",
  "toString",
  "valueOf",
  "hasOwnProperty",
  "",
  "ra ",
  "RA",
];

/** Placeholder for raw JSON text spliced in after stringify (1e309, deep nesting). */
const RAW = "\u0000raw\u0000";

/** A value of any JSON type, some of them extreme. */
function value(rng: Prng, raws: string[]): unknown {
  switch (rng.int(12)) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([
        0,
        -0,
        1,
        -1,
        359.999999,
        360,
        -90,
        90.000001,
        2 ** 53,
        2 ** 53 + 2,
        1e308,
        5e-324,
      ]);
    case 3:
      return rng.pick(EXTREME_TIMES);
    case 4:
      return rng.pick(EXTREME_NUMBERS);
    case 5: {
      // Text JSON cannot produce from a JS number: 1e309, -0.0, 1E+2.
      raws.push(
        rng.pick(["1e309", "-1e309", "-0.0", "1E+2", "1e-400", "123456789012345678901234567890"]),
      );
      return RAW;
    }
    case 6: {
      const depth = rng.pick([2, 100, 1000, 10_000, 100_000]);
      raws.push("[".repeat(depth) + "]".repeat(depth));
      return RAW;
    }
    case 7: {
      const depth = rng.pick([2, 100, 1000, 10_000, 100_000]);
      raws.push('{"a":'.repeat(depth) + "1" + "}".repeat(depth));
      return RAW;
    }
    case 8:
      return [];
    case 9:
      return { ra: 1, nested: [1, "x", null] };
    case 10:
      return "x".repeat(rng.pick([0, 1, 1100, 5000, 70_000]));
    default:
      return rng.pick(["\u0000", "\ud800", "\u2028", "é", "🛰", '"', "\\", ",\n"]);
  }
}

/** Changes one thing in a parsed page. */
function mutateTree(page: unknown, rng: Prng, raws: string[]): unknown {
  if (!Array.isArray(page) || page.length === 0 || rng.chance(0.05)) {
    return rng.chance(0.5) ? value(rng, raws) : [value(rng, raws)];
  }
  const i = rng.int(page.length);
  const record = page[i];
  switch (rng.int(8)) {
    case 0:
      // The same object twice: JSON.stringify writes it twice (and a record
      // nested too deep to clone is never written back anyway).
      page.splice(i, 0, record);
      return page;
    case 1:
      page.splice(i, 1);
      return page;
    case 2: {
      const j = rng.int(page.length);
      [page[i], page[j]] = [page[j], page[i]];
      return page;
    }
    case 3:
      page[i] = value(rng, raws);
      return page;
    default: {
      if (record === null || typeof record !== "object" || Array.isArray(record)) {
        page[i] = value(rng, raws);
        return page;
      }
      const object = record as Record<string, unknown>;
      const keys = Object.keys(object);
      const action = rng.int(3);
      if (action === 0 && keys.length > 0) {
        delete object[rng.pick(keys)];
      } else {
        const name = action === 1 && keys.length > 0 ? rng.pick(keys) : rng.pick(NAMES);
        // defineProperty: an own "__proto__" key, as JSON.parse makes one.
        Object.defineProperty(object, name, {
          value: value(rng, raws),
          enumerable: true,
          writable: true,
          configurable: true,
        });
      }
      return page;
    }
  }
}

/** Parses, mutates and re-serialises a JSON page; other inputs pass unchanged. */
export function jsonStructure(input: Uint8Array, rng: Prng): Uint8Array {
  let page: unknown;
  try {
    page = JSON.parse(strict.decode(input));
  } catch {
    return input;
  }
  const raws: string[] = [];
  const rounds = rng.range(1, 3);
  for (let k = 0; k < rounds; k++) page = mutateTree(page, rng, raws);
  const indent = rng.pick([undefined, 0, 1, 2, "\t"]);
  let text: string;
  try {
    text = JSON.stringify(page, null, indent) ?? "null";
  } catch {
    return input; // nested too deep to write back (a previous round's doing)
  }
  let r = 0;
  text = text.replaceAll(JSON.stringify(RAW), () => raws[r++] ?? "null");
  return utf8.encode(text);
}
