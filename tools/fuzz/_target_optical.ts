/**
 * Fuzz targets: optical archive pages, CSV and JSON, through
 * `decodeOpticalPage` and `OpticalDecodeStream`.
 *
 * Oracle, besides the envelope checks of `_oracle.ts`: the decoder does not
 * throw, and every record of the page is accounted for — observations +
 * dead letters = the records an independent parse of the page finds, or
 * the page is one dead letter when it cannot be read as a page at all.
 *
 * * JSON: `JSON.parse` of the body (UTF-8, BOM dropped). An array of n
 *   elements must give n outputs; anything else (not JSON, not an array,
 *   not UTF-8) exactly one dead letter.
 * * CSV: a strict RFC 4180 parse (line ends LF or CRLF, any other CR is
 *   data) counts the records that are not blank; the first is the header,
 *   each other one must give one output. Where the strict parse finds a
 *   quoting error, a lenient decoder may recover differently, so the check
 *   is only that something was said: at least one output when the page has
 *   a line after its header. A header with a CR in a column name (bare-CR
 *   line ends) is one dead letter for the page.
 * * JSON that begins with `[` but does not parse may keep the elements
 *   before where it breaks: at least one output.
 * * A Content-Type the SPEC does not name (`text/plain`, a charset nobody
 *   knows) may be one dead letter, or be read as either format.
 *
 * The streaming decoder of the edge worker (`OpticalDecodeStream`) is held
 * to the same envelope checks, to the same output whatever the chunking,
 * and — for a page both can read whole (UTF-8; CSV, or a JSON array) — to
 * the very observations and dead letters of `decodeOpticalPage`.
 *
 * @module
 */

import { decodeOpticalPage } from "../../sources/optical/decode_optical_page.ts";
import { OpticalDecodeStream } from "../../sources/optical/optical_decode_stream.ts";
import { chunking, same, streamItems } from "./_streams.ts";
import { BYTE_MUTATORS } from "./_mutate_bytes.ts";
import { jsonStructure } from "./_mutate_json.ts";
import { csvDictionary, csvFields, jsonDictionary, TEXT_MUTATORS } from "./_mutate_text.ts";
import { checkOutputs, describe, type Judged, preview } from "./_oracle.ts";
import { SPEC_FIELD_NAMES } from "./_spec_fields.ts";
import { type FuzzInput, mutate, NOW_MICROS, type Target } from "./_target.ts";

const CSV_TYPES = [
  "text/csv",
  "text/csv",
  "text/csv",
  "text/csv; charset=utf-8",
  "TEXT/CSV;charset=UTF-8",
  'text/csv; charset="utf-8"; header=present',
  "text/csv; charset=iso-8859-1",
  "text/csv; charset=utf-16le",
  "text/csv; charset=x-no-such-charset",
  "application/json",
  "text/plain",
  "",
];
const JSON_TYPES = [
  "application/json",
  "application/json",
  "application/json",
  "application/json; charset=utf-8",
  "Application/JSON",
  "application/vnd.udl+json",
  "application/json; charset=windows-1252",
  "application/json; charset=x-no-such-charset",
  "text/csv",
  "text/html",
  ";",
];

/** Media type and charset, parsed here (RFC 9110 §8.3), lower case. */
function parseType(contentType: string): { essence: string; charset: string | undefined } {
  const [head, ...params] = contentType.split(";");
  let charset: string | undefined;
  for (const p of params) {
    const eq = p.indexOf("=");
    if (eq >= 0 && p.slice(0, eq).trim().toLowerCase() === "charset") {
      charset = p.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1").toLowerCase();
    }
  }
  return { essence: head.trim().toLowerCase(), charset };
}

/**
 * Records of a CSV text by RFC 4180 that are not blank (a blank record is
 * one empty field: an empty line, or `""`); `irregular` when its quoting is
 * broken; `lines`, the non-blank physical lines.
 */
export function countCsv(
  text: string,
): { records: number; irregular: boolean; lines: number; headerCr: boolean; header: string[] } {
  // SPEC §5: CRLF or LF; any other CR is data.
  let records = 0;
  let headerCr = false;
  // The header's fields, as far as read (while records === 0).
  let header: string[] = [];
  let field = "";
  let irregular = false;
  let fields = 1;
  let chars = 0;
  let fieldStart = true;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    if (c === '"' && fieldStart) {
      // A quoted field: "" is a quote; the closing quote must end the field.
      fieldStart = false;
      i++;
      for (;;) {
        const q = text.indexOf('"', i);
        if (q < 0) {
          irregular = true;
          chars += n - i;
          i = n;
          break;
        }
        chars += q - i;
        if (records === 0) {
          if (text.slice(i, q).includes("\r")) headerCr = true;
          field += text.slice(i, q);
        }
        if (text[q + 1] === '"') {
          chars++;
          if (records === 0) field += '"';
          i = q + 2;
          continue;
        }
        i = q + 1;
        if (i < n && text[i] !== "," && breakLength(text, i) === 0) irregular = true;
        break;
      }
      continue;
    }
    const br = breakLength(text, i);
    if (br > 0) {
      if (records === 0) header.push(field);
      field = "";
      if (fields > 1 || chars > 0) records++;
      else if (records === 0) header = [];
      fields = 1;
      chars = 0;
      fieldStart = true;
      i += br;
      continue;
    }
    if (c === ",") {
      if (records === 0) header.push(field);
      field = "";
      fields++;
      fieldStart = true;
    } else {
      if (c === "\r" && records === 0) headerCr = true;
      if (records === 0) field += c;
      chars++;
      fieldStart = false;
    }
    i++;
  }
  if (records === 0) header.push(field);
  if (fields > 1 || chars > 0) records++;
  let lines = 0;
  for (const line of text.split("\n")) if (line.replace(/\r$/, "") !== "") lines++;
  return { records, irregular, lines, headerCr, header };
}

/** SPEC §5's field names, as listed there. */
const SPEC_FIELDS = new Set(SPEC_FIELD_NAMES);

function breakLength(text: string, i: number): number {
  if (text[i] === "\n") return 1;
  if (text[i] === "\r" && text[i + 1] === "\n") return 2;
  // A CR that ends the text ends its last line (a CRLF cut after the CR).
  if (text[i] === "\r" && i + 1 === text.length) return 1;
  return 0;
}

/** What outputs a page may have: counts, and whether one page dead letter is fine. */
interface Expectation {
  /** Output counts that are right. */
  totals: Set<number>;
  /** At least this many outputs (irregular CSV). */
  atLeast?: number;
  /** One dead letter for the whole page is right. */
  pageLetter: boolean;
  why: string;
}

const strict = new TextDecoder("utf-8", { fatal: true });

function expectCsv(text: string, into: Expectation): void {
  const { records, irregular, lines, headerCr, header } = countCsv(text);
  if (headerCr) {
    into.pageLetter = true;
    into.why += ", a CR in the CSV header";
  }
  if (records > 0 && !header.some((name) => SPEC_FIELDS.has(name))) {
    into.pageLetter = true;
    into.why += ", a CSV header naming no SPEC §5 field";
  }
  if (irregular) {
    into.atLeast = lines >= 2 ? 1 : 0;
    into.why += `, irregular CSV with ${lines} non-blank lines`;
  } else {
    into.totals.add(Math.max(0, records - 1));
    into.why += `, ${records} CSV records`;
  }
}

function expectJson(text: string, into: Expectation): void {
  let page: unknown;
  try {
    page = JSON.parse(text);
  } catch {
    into.pageLetter = true;
    into.why += ", not JSON";
    if (text.trimStart().startsWith("[")) into.atLeast = 1;
    return;
  }
  if (Array.isArray(page)) {
    into.totals.add(page.length);
    into.why += `, a JSON array of ${page.length}`;
  } else {
    into.pageLetter = true;
    into.why += ", JSON but not an array";
  }
}

/** What a page must decode to, from an independent reading of it. */
function expectation(input: FuzzInput): Expectation {
  const { essence, charset } = parseType(input.options.contentType ?? "");
  const csv = essence === "text/csv";
  const json = essence === "application/json" || essence.endsWith("+json");
  const into: Expectation = {
    totals: new Set(),
    pageLetter: false,
    why: `${essence || "no type"}`,
  };
  let text: string;
  let valid = true;
  if (input.options.asString) {
    // What the caller handed over (the bytes read leniently), a BOM dropped.
    text = new TextDecoder("utf-8", { ignoreBOM: true }).decode(input.bytes);
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  } else if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") {
    try {
      text = new TextDecoder(charset).decode(input.bytes);
    } catch {
      into.pageLetter = true;
      into.why += ", unknown charset";
      text = "";
    }
  } else {
    try {
      text = strict.decode(input.bytes);
    } catch {
      text = new TextDecoder().decode(input.bytes);
      valid = false;
    }
  }
  if (!csv && !json) {
    // Not a type of SPEC §5: a page dead letter, or read as CSV or as JSON.
    into.pageLetter = true;
    expectCsv(text, into);
    expectJson(text, into);
    into.atLeast = undefined;
    return into;
  }
  if (csv) expectCsv(text, into);
  if (json) {
    if (!valid) {
      into.pageLetter = true;
      into.why += ", not UTF-8";
    }
    expectJson(text, into);
  }
  return into;
}

/**
 * The accounting rule of this module's documentation: why `observations`
 * and `deadLetters` (counts) do not account for every record of the page,
 * or undefined when they do.
 */
export function opticalAccounting(
  input: FuzzInput,
  observations: number,
  deadLetters: number,
): string | undefined {
  const expect = expectation(input);
  const total = observations + deadLetters;
  const isPageLetter = observations === 0 && deadLetters === 1;
  const ok = expect.totals.has(total) || (expect.pageLetter && isPageLetter) ||
    (expect.atLeast !== undefined && total >= expect.atLeast);
  return ok
    ? undefined
    : `Accounting: ${observations} observations + ${deadLetters} dead letters for a page with ${expect.why}`;
}

const CSV_MUTATORS = [...BYTE_MUTATORS, ...TEXT_MUTATORS, csvDictionary, csvFields, csvFields];

function opticalTarget(
  name: string,
  ext: string,
  types: readonly string[],
  mutators: Parameters<typeof mutate>[2],
  stream: "csv" | "json" | undefined,
): Target {
  return {
    name,
    ext,
    corpus: { dir: "optical", ext: [`.${ext}`] },
    generate(rng, corpus) {
      return {
        bytes: mutate(rng, corpus, mutators),
        options: {
          contentType: rng.pick(types),
          asString: rng.chance(0.1) || undefined,
          deterministic: rng.chance(0.3) || undefined,
          chunkSeed: rng.next(),
        },
      };
    },
    async check(input) {
      const problems: string[] = [];
      const judged: Judged = input.options.deterministic
        ? {
          ctx: {
            source: "fuzz",
            transport: "replay",
            peer: `optical/fuzz.${ext}`,
            deterministic: true,
            startedAt: NOW_MICROS,
          },
          now: NOW_MICROS,
        }
        : {
          ctx: {
            source: "fuzz",
            transport: "http",
            peer: "http://127.0.0.1:1/eo",
            now: () => NOW_MICROS,
          },
          now: NOW_MICROS,
        };
      const body = input.options.asString
        ? new TextDecoder("utf-8", { ignoreBOM: true }).decode(input.bytes)
        : input.bytes;
      let page: ReturnType<typeof decodeOpticalPage>;
      try {
        page = decodeOpticalPage(body, input.options.contentType ?? "", judged.ctx);
      } catch (error) {
        problems.push(`decodeOpticalPage() threw: ${describe(error)}`);
        return problems;
      }
      checkOutputs(
        page.observations,
        page.deadLetters,
        judged,
        ["udl-eo-csv", "udl-eo-json"],
        problems,
      );
      const accounting = opticalAccounting(
        input,
        page.observations.length,
        page.deadLetters.length,
      );
      if (accounting !== undefined) problems.push(accounting);
      if (stream !== undefined) await checkStream(input, judged, page, stream, problems);
      return problems;
    },
  };
}

/**
 * `OpticalDecodeStream` (the edge worker's): the same output whatever the
 * chunking; envelopes as sound as the page decoder's; and the very
 * observations and dead letters of `decodeOpticalPage` (the same decoder
 * handed the page in one piece) — for every page it had as bytes, and for
 * a page it had as text that is valid UTF-8 in a UTF-8 charset.
 */
async function checkStream(
  input: FuzzInput,
  judged: Judged,
  page: { observations: unknown[]; deadLetters: unknown[] },
  format: "csv" | "json",
  problems: string[],
): Promise<void> {
  const contentType = input.options.contentType ?? "";
  const { essence, charset } = parseType(contentType);
  const json = essence === "application/json" || essence.endsWith("+json");
  if (format === "json" ? !json : essence !== "text/csv") return;
  const decoder = () => new OpticalDecodeStream({ ctx: judged.ctx, contentType });
  const one = await streamItems("OpticalDecodeStream", decoder, [input.bytes], problems);
  const chunks = chunking(input.bytes, input.options.chunkSeed ?? 0);
  const many = await streamItems("OpticalDecodeStream", decoder, chunks, problems);
  if (one === undefined || many === undefined) return;
  // A record longer than the stream's 1 Mi-char bound is read when it
  // arrives within one chunk and skipped when it does not (documented).
  const diff = input.bytes.length > 1_000_000 ? -1 : same(one, many);
  if (diff >= 0) {
    problems.push(
      `OpticalDecodeStream output depends on the chunking: item ${diff} is ${
        preview(one[diff])
      } in one chunk, ${preview(many[diff])} in random chunks`,
    );
  }
  const observations = one.flatMap((i) => ("o" in i ? [i.o] : []));
  const deadLetters = one.flatMap((i) => ("d" in i ? [i.d] : []));
  checkOutputs(observations, deadLetters, judged, ["udl-eo-csv", "udl-eo-json"], problems);
  if (input.bytes.length > 1_000_000) return; // as above
  if (input.options.asString) {
    // The page decoder had text: no charset, and no undecodable bytes to tell.
    if (charset !== undefined && charset !== "utf-8" && charset !== "utf8") return;
    try {
      strict.decode(input.bytes);
    } catch {
      return;
    }
  }
  const o = same(page.observations, observations);
  const d = same(page.deadLetters, deadLetters);
  if (o >= 0) {
    problems.push(
      `decodeOpticalPage() and OpticalDecodeStream differ at observation ${o}: ${
        preview(page.observations[o])
      } vs ${preview(observations[o])}`,
    );
  }
  if (d >= 0) {
    problems.push(
      `decodeOpticalPage() and OpticalDecodeStream differ at dead letter ${d}: ${
        preview(page.deadLetters[d])
      } vs ${preview(deadLetters[d])}`,
    );
  }
}

/** Optical pages as CSV through `decodeOpticalPage`. */
export const opticalCsvTarget: Target = opticalTarget(
  "optical-csv",
  "csv",
  CSV_TYPES,
  CSV_MUTATORS,
  undefined,
);

/**
 * Optical pages as CSV through `OpticalDecodeStream` too, against
 * `decodeOpticalPage` (a target of its own: the CSV target's inputs
 * without the stream run faster).
 */
export const opticalCsvStreamTarget: Target = opticalTarget(
  "optical-csv-stream",
  "csv",
  CSV_TYPES,
  CSV_MUTATORS,
  "csv",
);

/** Optical pages as JSON through `decodeOpticalPage` and `OpticalDecodeStream`. */
export const opticalJsonTarget: Target = opticalTarget("optical-json", "json", JSON_TYPES, [
  ...BYTE_MUTATORS,
  ...TEXT_MUTATORS,
  jsonDictionary,
  jsonStructure,
  jsonStructure,
  jsonStructure,
], "json");
