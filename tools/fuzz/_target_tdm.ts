/**
 * Fuzz target: radar TDM (KVN) through `decodeTdm` and `TdmDecodeStream`.
 *
 * Oracle, besides the envelope checks of `_oracle.ts`:
 *
 * * Neither entry point throws; the stream does not error.
 * * Chunking does not matter: the stream fed the whole input as one chunk
 *   and the stream fed random chunks (single bytes, splits between CR and
 *   LF, empty chunks, …) give the same observations and dead letters in the
 *   same order (`deadLetterAt` places the dead letters among the
 *   observations), and `decodeTdm` the same lists.
 * * Accounting (SPEC §4: every data line either becomes part of an
 *   observation or a dead letter, never nothing). A line is a *data line*
 *   when, after leading blanks, it is `KEYWORD =` with a data keyword of
 *   503.0-B-2 Table 3-5 — a simple classifier that knows nothing of the
 *   message grammar. Each data line contributes exactly one value to an
 *   observation (a mapped key or an entry of `other`) or appears as a line
 *   of a dead letter's `raw`, wherever it sits (in a data section, in a
 *   header, in a bad segment, outside any message). So: data lines of the
 *   input = values in observations + data lines in dead-letter raws, exactly;
 *   at most, when a raw was cut at the SPEC §3 cap. A line longer than
 *   `maxLineBytes` is classified by the part the framing keeps of it.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Observation } from "../../envelope/observation.ts";
import { decodeTdm } from "../../sources/radar/decode_tdm.ts";
import { TdmDecodeStream } from "../../sources/radar/tdm_decode_stream.ts";
import { BYTE_MUTATORS } from "./_mutate_bytes.ts";
import { tdmDictionary, TEXT_MUTATORS } from "./_mutate_text.ts";
import { checkOutputs, describe, type Judged, preview, rawParts } from "./_oracle.ts";
import { chunking, same, streamItems } from "./_streams.ts";
import { type FuzzInput, mutate, NOW_MICROS, type Target } from "./_target.ts";

/** Data keywords of CCSDS 503.0-B-2 Table 3-5 (a superset of 503.0-B-1's). */
const DATA_KEYWORDS = new Set([
  "ANGLE_1",
  "ANGLE_2",
  "CARRIER_POWER",
  "CLOCK_BIAS",
  "CLOCK_DRIFT",
  "DOPPLER_COUNT",
  "DOPPLER_INSTANTANEOUS",
  "DOPPLER_INTEGRATED",
  "DOR",
  "MAG",
  "PC_N0",
  "PR_N0",
  "PRESSURE",
  "RANGE",
  "RCS",
  "RECEIVE_FREQ",
  "RHUMIDITY",
  "STEC",
  "TEMPERATURE",
  "TROPO_DRY",
  "TROPO_WET",
  "VLBI_DELAY",
  ...[1, 2, 3, 4, 5].flatMap((i) => [
    `RECEIVE_FREQ_${i}`,
    `RECEIVE_PHASE_CT_${i}`,
    `TRANSMIT_FREQ_${i}`,
    `TRANSMIT_FREQ_RATE_${i}`,
    `TRANSMIT_PHASE_CT_${i}`,
  ]),
]);

/** Measurement keys and the data keyword they come from (SPEC §4 mapping). */
const KEY_KEYWORD: Record<string, string> = {
  range_km: "RANGE",
  range_s: "RANGE",
  range_ru: "RANGE",
  range_rate_km_s: "DOPPLER_INSTANTANEOUS",
  doppler_integrated_km_s: "DOPPLER_INTEGRATED",
  az_deg: "ANGLE_1",
  ra_deg: "ANGLE_1",
  angle_1_deg: "ANGLE_1",
  el_deg: "ANGLE_2",
  dec_deg: "ANGLE_2",
  angle_2_deg: "ANGLE_2",
  rcs_m2: "RCS",
  mag: "MAG",
};

const KEY_LINE = /^[ \t\uFEFF]*([A-Za-z0-9_]+)[ \t]*=/;
const lenient = new TextDecoder("utf-8", { ignoreBOM: true });

/** Whether a line (text) is a data line by the simple classifier. */
function isDataLine(text: string): boolean {
  const m = KEY_LINE.exec(text);
  return m !== null && DATA_KEYWORDS.has(m[1]);
}

/** Data lines of the input, splitting at LF, a CR before it dropped, long lines cut. */
function inputDataLines(bytes: Uint8Array, maxLineBytes: number): number {
  let count = 0;
  let start = 0;
  while (start < bytes.length) {
    let lf = bytes.indexOf(10, start);
    if (lf < 0) lf = bytes.length;
    let end = lf;
    if (end > start && bytes[end - 1] === 13) end--;
    if (end - start > maxLineBytes) end = start + maxLineBytes;
    if (isDataLine(lenient.decode(bytes.subarray(start, end)))) count++;
    start = lf + 1;
  }
  return count;
}

/** Values an observation carries for data lines of the classifier. */
function observationValues(o: Observation): number {
  let n = 0;
  for (const [key, value] of Object.entries(o.measurement as Record<string, unknown>)) {
    if (key === "other") {
      for (const name of Object.keys(value as object)) {
        if (DATA_KEYWORDS.has(name.split("#")[0])) n++;
      }
    } else if (KEY_KEYWORD[key] !== undefined) {
      n++;
    }
  }
  return n;
}

/**
 * The accounting rule of this module's documentation: why the output does
 * not account for every data line of the input, or undefined when it does.
 */
export function tdmAccounting(
  bytes: Uint8Array,
  maxLineBytes: number,
  observations: readonly Observation[],
  deadLetters: readonly DeadLetter[],
): string | undefined {
  const lines = inputDataLines(bytes, maxLineBytes);
  let values = 0;
  for (const o of observations) values += observationValues(o);
  let lettered = 0;
  let cut = false;
  for (const d of deadLetters) {
    if (typeof d.raw !== "string") continue;
    const raw = rawParts(d.raw);
    if (raw.cut) cut = true;
    for (const line of raw.text!.split("\n")) if (isDataLine(line)) lettered++;
  }
  if (cut ? values + lettered <= lines : values + lettered === lines) return undefined;
  return `Accounting: ${lines} data lines, ${values} values in ${observations.length} observations + ${lettered} data lines in ${deadLetters.length} dead letters${
    cut ? " (some raw cut)" : ""
  }`;
}

/** The radar decoders. */
export const tdmTarget: Target = {
  name: "tdm",
  ext: "kvn",
  corpus: { dir: "radar", ext: [".kvn"] },
  generate(rng, corpus) {
    const bytes = mutate(rng, corpus, [
      ...BYTE_MUTATORS,
      ...TEXT_MUTATORS,
      ...TEXT_MUTATORS,
      tdmDictionary,
      tdmDictionary,
    ]);
    return {
      bytes,
      options: {
        maxLineBytes: rng.chance(0.7) ? 4096 : rng.pick([64, 100, 256, 1024, 70_000]),
        chunkSeed: rng.next(),
        deterministic: rng.chance(0.3),
      },
    };
  },
  async check(input: FuzzInput) {
    const problems: string[] = [];
    const { bytes, options } = input;
    const maxLineBytes = options.maxLineBytes ?? 4096;
    const judged: Judged = options.deterministic
      ? {
        ctx: {
          source: "fuzz",
          transport: "replay",
          peer: "radar/fuzz.kvn",
          deterministic: true,
          startedAt: NOW_MICROS,
        },
        now: NOW_MICROS,
      }
      : {
        ctx: { source: "fuzz", transport: "tcp", peer: "127.0.0.1:40000", now: () => NOW_MICROS },
        now: NOW_MICROS,
      };
    const ctx = judged.ctx;

    let whole: ReturnType<typeof decodeTdm> | undefined;
    try {
      whole = decodeTdm(bytes, ctx, { maxLineBytes });
    } catch (error) {
      problems.push(`decodeTdm() threw: ${describe(error)}`);
    }
    const decoder = () => new TdmDecodeStream({ ctx, maxLineBytes, groupIdleMs: Infinity });
    const one = await streamItems("TdmDecodeStream", decoder, [bytes], problems);
    const many = await streamItems(
      "TdmDecodeStream",
      decoder,
      chunking(bytes, options.chunkSeed ?? 0),
      problems,
    );
    if (one === undefined || many === undefined) return problems;

    const diff = same(one, many);
    if (diff >= 0) {
      problems.push(
        `TdmDecodeStream output depends on the chunking: item ${diff} is ${
          preview(one[diff])
        } in one chunk, ${preview(many[diff])} in random chunks`,
      );
    }
    const observations = one.flatMap((i) => ("o" in i ? [i.o] : []));
    const deadLetters = one.flatMap((i) => ("d" in i ? [i.d] : []));
    if (whole !== undefined) {
      const o = same(whole.observations, observations);
      const d = same(whole.deadLetters, deadLetters);
      if (o >= 0) problems.push(`decodeTdm() and TdmDecodeStream differ at observation ${o}`);
      if (d >= 0) problems.push(`decodeTdm() and TdmDecodeStream differ at dead letter ${d}`);
    }

    checkOutputs(observations, deadLetters, judged, ["ccsds-tdm-kvn"], problems);

    const accounting = tdmAccounting(bytes, maxLineBytes, observations, deadLetters);
    if (accounting !== undefined) problems.push(accounting);
    return problems;
  },
};
