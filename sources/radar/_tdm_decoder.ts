/**
 * The TDM (KVN) state machine behind `TdmDecodeStream` and `decodeTdm`:
 * lines in, observations and dead letters out (SPEC §4).
 *
 * It is deliberately free of streams and timers so that the stream, the
 * whole-body function and the tests drive the very same code.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter, Stage } from "../../envelope/dead_letter.ts";
import type {
  Meta,
  RadarMeasurement,
  RadarObservation,
  Target,
} from "../../envelope/observation.ts";
import { observationId } from "../../envelope/observation_id.ts";
import { MAX_RAW_BYTES, textRaw } from "../../envelope/raw.ts";
import { formatTimestamp, parseTimestamp, type TimeSystem, toUtc } from "../../envelope/time.ts";
import { internalErrorReason } from "../../operators/internal_error.ts";
import type { SplitLine } from "../../operators/line_split_stream.ts";
import { admissionProblem, type DecodeContext, makeDeadLetter } from "../decode_context.ts";
import {
  ANGLE_TYPES,
  DATA_KEYWORDS,
  type DataKeyword,
  HEADER_KEYWORDS,
  METADATA_KEYWORDS,
  RANGE_UNITS,
  SLOT_ANGLE_1,
  SLOT_ANGLE_2,
  SLOT_COUNT,
  SLOT_DOPPLER_INSTANTANEOUS,
  SLOT_DOPPLER_INTEGRATED,
  SLOT_MAG,
  SLOT_OTHER,
  SLOT_RANGE,
  SLOT_RCS,
  TIME_SYSTEMS,
  VERSIONS,
} from "./_tdm_keywords.ts";

const FORMAT = "ccsds-tdm-kvn";

/** Where the decoder is in the message grammar of 503.0-B-2 §3/§4. */
const enum State {
  /** Before the first `CCSDS_TDM_VERS`: no message to interpret lines in. */
  Idle,
  /** After `CCSDS_TDM_VERS`, before the first `META_START`. */
  Header,
  /** Between `META_START` and `META_STOP`. */
  Meta,
  /** Between `META_STOP` and `DATA_START`. */
  Between,
  /** Between `DATA_START` and `DATA_STOP`. */
  Data,
  /** After `DATA_STOP`: the next segment or message may follow. */
  After,
}

/** How `ANGLE_1`/`ANGLE_2` map, from `ANGLE_TYPE`. */
const enum Angles {
  /** No `ANGLE_TYPE`: the angles are kept as given, without a type. */
  Untyped,
  Azel,
  Radec,
  /** `XEYN` or `XSYE`: kept as given, with the type. */
  Typed,
}

type RangeKey = "range_km" | "range_s" | "range_ru";

interface Segment {
  /** 0-based position in its message. */
  index: number;
  /** `<message ref>#<index>@`: a line number completes a ref. */
  refPrefix: string;
  /** Line number of `META_START` within the message. */
  firstLine: number;
  /** When `META_START` arrived. */
  receivedAt: number;
  /** Why the segment cannot be interpreted; undefined while it can. */
  bad: string | undefined;
  /** Raw lines kept for the segment's dead letter (bounded by the raw cut). */
  raw: string[];
  rawChars: number;
  /** UTF-8 bytes of the lines past the cut (with their line ends), for `…(N bytes)`. */
  rawBeyond: number;
  /** Metadata keywords in order of appearance. */
  keywords: Map<string, string>;
  // Known once META_STOP validated the metadata:
  meta: Meta;
  timeSystem: TimeSystem;
  sensor: string;
  target: Target;
  rangeKey: RangeKey;
  angles: Angles;
  angleType: "XEYN" | "XSYE" | undefined;
  frame: string | undefined;
}

/** What one call of {@link TdmDecoder.take} hands on. */
export interface TdmOutput {
  /** Observations completed since the last take, in order. */
  observations: RadarObservation[];
  /** Dead letters since the last take, in order. */
  deadLetters: DeadLetter[];
  /**
   * Input order: `deadLetterAt[k]` of the observations precede dead letter
   * `k` in the input (one entry per dead letter, non-decreasing).
   */
  deadLetterAt: number[];
  /** Receive time of the oldest input behind them, µs. */
  receivedAt: number;
}

const TWO_DIGITS = Array.from({ length: 60 }, (_, i) => (i < 10 ? "0" : "") + i);

const UNKNOWN_TARGET: Target = Object.freeze({ norad: null, id: null }) as Target;

/**
 * Dead letters held back behind an open group or a pending segment at most;
 * past it they go out at once (out of input order, but bounded in memory).
 */
const MAX_HELD = 1024;
/**
 * Most data lines one observation takes (a radar writes a handful per
 * timetag). Without a bound, one sender could make a single record of any
 * size — memory, and a log line no reader accepts (16 MiB) — by repeating a
 * timetag; the lines beyond it are dead letters, and a stream of them ends
 * the connection as any run of dead letters does.
 */
const MAX_GROUP_LINES = 1024;

/**
 * Decodes KVN lines of CCSDS TDM 1.0/2.0 messages, for one connection (or
 * file, or body): the caller feeds the lines of each read with the time they
 * arrived and takes what they completed.
 */
export class TdmDecoder {
  #ctx: DecodeContext;
  #maxLineBytes: number;
  #state = State.Idle;
  // The message.
  #line = 0;
  #header: [string, string][] = [];
  #messageBad: string | undefined;
  #messageRef = "";
  #segments = 0;
  #segment: Segment | undefined;
  // The open group: consecutive data lines with one timetag.
  #groupOpen = false;
  #groupText = "";
  #groupTime = 0;
  #groupTObs = "";
  #groupFirstLine = 0;
  #groupReceivedAt = 0;
  /** The group's data lines: its raw, should it not be admitted. */
  #groupLines: string[] = [];
  #present = 0;
  #values = new Float64Array(SLOT_COUNT);
  #other: Record<string, number> | undefined;
  #repeats: Map<string, number> | undefined;
  #recent: DataKeyword[] = [];
  #recentNext = 0;
  // Output.
  #observations: RadarObservation[] = [];
  #deadLetters: DeadLetter[] = [];
  #deadLetterAt: number[] = [];
  /** Line dead letters that follow an input not yet complete (see #emitLetter). */
  #held: DeadLetter[] = [];
  #outputReceivedAt = Infinity;
  #rxMicros = NaN;
  #minute = NaN;
  #minutePrefix = "";
  #timetagPrefix = "";
  #timetagMinute = 0;
  #rxText = "";
  #receivedAt = 0;
  #lines = 0;
  #emitted = 0;
  #dead = 0;
  /** `#dead` when the last observation was emitted. */
  #deadAtObservation = 0;

  /**
   * @param ctx where the input comes from
   * @param maxLineBytes the line bound the splitter enforces (for reasons)
   */
  constructor(ctx: DecodeContext, maxLineBytes: number) {
    this.#ctx = ctx;
    this.#maxLineBytes = maxLineBytes;
  }

  /** Whether a group is open (the idle flush has something to close). */
  get groupOpen(): boolean {
    return this.#groupOpen;
  }

  /** Whether output is waiting for {@link TdmDecoder.take}. */
  get pending(): boolean {
    return this.#observations.length > 0 || this.#deadLetters.length > 0;
  }

  /** Lines seen, observations and dead letters emitted, since the start. */
  get counts(): {
    lines: number;
    observations: number;
    deadLetters: number;
    deadLettersInARow: number;
  } {
    return {
      lines: this.#lines,
      observations: this.#emitted,
      deadLetters: this.#dead,
      deadLettersInARow: this.#dead - this.#deadAtObservation,
    };
  }

  /** Feeds the lines completed by one read that arrived at `receivedAt` (µs). */
  push(lines: readonly SplitLine[], receivedAt: number): void {
    this.#receivedAt = receivedAt;
    this.#lines += lines.length;
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i];
      this.#line++;
      try {
        if (typeof line === "string") this.#text(line);
        else this.#fault(line.fault, line.raw);
      } catch (error) {
        this.fail(`decoding line ${this.#line}`, typeof line === "string" ? line : line.raw, error);
      }
    }
  }

  /**
   * An unterminated last line that the caller refuses to interpret (a TCP
   * connection closed in the middle of it): a framing dead letter.
   */
  incomplete(raw: string, receivedAt: number): void {
    this.#receivedAt = receivedAt;
    this.#lines++;
    this.#line++;
    this.#dead++;
    this.#emitLetter(
      this.#letter("framing", "Incomplete last line: the input ended before its line end", raw),
    );
  }

  /** Closes the open group, if any (no line arrived for a while). */
  closeGroup(): void {
    if (!this.#groupOpen) return;
    try {
      this.#emitGroup();
    } catch (error) {
      this.fail("closing an idle group", undefined, error);
    }
  }

  /**
   * Ends the input: the open group is emitted, and a segment that cannot be
   * interpreted (its metadata incomplete or invalid) becomes its dead letter.
   */
  end(receivedAt: number): void {
    this.#receivedAt = receivedAt;
    try {
      this.#endMessage();
    } catch (error) {
      this.fail("ending the input", undefined, error);
      this.#segment = undefined;
    }
    this.#state = State.Idle;
  }

  /** Hands on what was completed since the last call (or undefined if nothing). */
  take(): TdmOutput | undefined {
    if (!this.pending) return undefined;
    const out: TdmOutput = {
      observations: this.#observations,
      deadLetters: this.#deadLetters,
      deadLetterAt: this.#deadLetterAt,
      receivedAt: this.#outputReceivedAt,
    };
    this.#observations = [];
    this.#deadLetters = [];
    this.#deadLetterAt = [];
    this.#outputReceivedAt = Infinity;
    return out;
  }

  // --- Lines -------------------------------------------------------------

  #text(line: string): void {
    const n = line.length;
    let i = 0;
    let c = 0;
    // Leading white space is ignored (KVN); so is a byte order mark, which
    // files and HTTP bodies written by some tools begin with.
    while (i < n && ((c = line.charCodeAt(i)) === 32 || c === 9 || c === 0xfeff)) i++;
    const segment = this.#segment;
    if (i === n) {
      // Blank lines are ignored, but belong to a segment's raw lines.
      if (segment !== undefined && this.#keepsRaw()) this.#raw(segment, line);
      return;
    }
    if (this.#state === State.Data && segment!.bad === undefined) {
      const keyword = this.#dataKeyword(line, i);
      if (keyword !== undefined) {
        this.#data(line, keyword, i + keyword.name.length);
        return;
      }
    }
    let j = i;
    while (j < n && isKeywordChar(line.charCodeAt(j))) j++;
    this.#nonData(line, line.slice(i, j), j);
  }

  /**
   * The data keyword at `i`, if any. A radar repeats the same few keywords
   * in the same order, so the keyword after the last one matched is tried
   * first, in place, before slicing the keyword out for a table look-up.
   */
  #dataKeyword(line: string, i: number): DataKeyword | undefined {
    const recent = this.#recent;
    const count = recent.length;
    let p = this.#recentNext;
    for (let k = 0; k < count; k++) {
      const keyword = recent[p];
      if (++p === count) p = 0;
      const end = i + keyword.name.length;
      if (line.slice(i, end) === keyword.name && !isKeywordChar(line.charCodeAt(end))) {
        this.#recentNext = p;
        return keyword;
      }
    }
    let j = i;
    while (j < line.length && isKeywordChar(line.charCodeAt(j))) j++;
    const keyword = DATA_KEYWORDS.get(line.slice(i, j));
    if (keyword !== undefined && count < 16) {
      recent.push(keyword);
      this.#recentNext = 0;
    }
    return keyword;
  }

  /** A line that is not a data line of a good segment. */
  #nonData(line: string, keyword: string, end: number): void {
    const n = line.length;
    let k = end;
    let c = 0;
    while (k < n && ((c = line.charCodeAt(k)) === 32 || c === 9)) k++;
    // KVN: COMMENT is followed by free text (or nothing).
    if (keyword === "COMMENT" && (end === n || k > end)) {
      if (this.#segment !== undefined && this.#keepsRaw()) this.#raw(this.#segment, line);
      return;
    }
    let value: string | undefined;
    if (k < n && line.charCodeAt(k) === 61) {
      value = line.slice(k + 1).trim();
    } else if (k !== n || keyword === "") {
      this.#malformed(line);
      return;
    }
    if (keyword === "CCSDS_TDM_VERS" && value !== undefined) {
      this.#startMessage(value);
      return;
    }
    if (value === undefined) this.#structural(line, keyword);
    else this.#keyValue(line, keyword, value);
  }

  /** A line with no `=`: `META_START`, `META_STOP`, `DATA_START`, `DATA_STOP`, or junk. */
  #structural(line: string, keyword: string): void {
    const segment = this.#segment;
    switch (keyword) {
      case "META_START":
        if (this.#state === State.Idle) break;
        this.#endSegment();
        this.#startSegment(line);
        return;
      case "META_STOP":
        if (this.#state !== State.Meta) break;
        this.#raw(segment!, line);
        this.#endMetadata(segment!);
        return;
      case "DATA_START":
        if (this.#state === State.Between) {
          if (segment!.bad !== undefined) this.#raw(segment!, line);
          this.#state = State.Data;
          return;
        }
        if (this.#state === State.Meta) {
          this.#raw(segment!, line);
          segment!.bad ??= "DATA_START before META_STOP: the metadata section is not closed";
          this.#state = State.Data;
          return;
        }
        break;
      case "DATA_STOP":
        if (this.#state !== State.Data) break;
        if (this.#groupOpen) this.#emitGroup();
        if (segment!.bad !== undefined) this.#raw(segment!, line);
        this.#endSegment();
        this.#state = State.After;
        return;
    }
    this.#unexpected(line, keyword);
  }

  /** `KEYWORD = value` outside a good segment's data section. */
  #keyValue(line: string, keyword: string, value: string): void {
    const segment = this.#segment;
    switch (this.#state) {
      case State.Header:
        if (!HEADER_KEYWORDS.has(keyword)) {
          this.#lineLetter(
            "decoding",
            METADATA_KEYWORDS.has(keyword)
              ? `Metadata keyword ${keyword} in the message header (before META_START)`
              : `Unknown header keyword: "${keyword}"`,
            line,
          );
        } else if (this.#header.some(([k]) => k === keyword)) {
          this.#lineLetter("decoding", `Repeated header keyword: "${keyword}"`, line);
        } else if (value === "") {
          this.#lineLetter("decoding", `Missing value for header keyword ${keyword}`, line);
        } else {
          this.#header.push([keyword, value]);
        }
        return;
      case State.Meta:
        this.#raw(segment!, line);
        this.#metadata(segment!, keyword, value);
        return;
      case State.Data:
      case State.Between:
        if (segment!.bad !== undefined) {
          this.#raw(segment!, line);
          return;
        }
        if (this.#state === State.Data) {
          this.#lineLetter("decoding", `Unknown data keyword: "${keyword}"`, line);
          return;
        }
        break;
    }
    this.#unexpected(line, keyword);
  }

  /** A line that has no place where it is. */
  #unexpected(line: string, keyword: string): void {
    const segment = this.#segment;
    if (segment !== undefined && segment.bad !== undefined && this.#keepsRaw()) {
      this.#raw(segment, line);
      return;
    }
    if (this.#state === State.Meta) {
      this.#raw(segment!, line);
      segment!.bad ??= `Unexpected ${keyword} in the metadata section`;
      return;
    }
    let reason: string;
    switch (this.#state) {
      case State.Idle:
        reason = `Line outside a message: ${keyword} before any CCSDS_TDM_VERS`;
        break;
      case State.Header:
        reason = `Unexpected ${keyword} in the message header (expected META_START)`;
        break;
      case State.Between:
        reason = `Unexpected ${keyword} between META_STOP and DATA_START`;
        break;
      case State.Data:
        reason = `Unexpected ${keyword} in the data section`;
        break;
      default:
        reason = `Unexpected ${keyword} after DATA_STOP (expected META_START or CCSDS_TDM_VERS)`;
    }
    this.#lineLetter("decoding", reason, line);
  }

  /** A line that is not `KEYWORD = value`, `KEYWORD` or `COMMENT …`. */
  #malformed(line: string): void {
    const segment = this.#segment;
    if (segment !== undefined && this.#keepsRaw()) {
      this.#raw(segment, line);
      if (this.#state === State.Meta) {
        segment.bad ??= `Cannot parse metadata line ${this.#line} (expected KEYWORD = value)`;
      }
      if (segment.bad !== undefined) return;
    }
    const expected = this.#state === State.Data ? "KEYWORD = timetag value" : "KEYWORD = value";
    this.#lineLetter(
      "decoding",
      `Cannot parse line (expected ${expected}): "${clip(line.trim())}"`,
      line,
    );
  }

  /** A line the splitter could not hand on as text. */
  #fault(fault: "too-long" | "invalid-utf8", raw: string): void {
    const what = fault === "too-long"
      ? `Line longer than ${this.#maxLineBytes} bytes`
      : "Line is not valid UTF-8";
    const segment = this.#segment;
    if (this.#state === State.Meta && segment !== undefined) {
      // An unreadable metadata line could have been RANGE_UNITS or
      // TIME_SYSTEM: the segment's data can no longer be read safely.
      segment.bad ??= `Cannot read metadata line ${this.#line}: ${what.toLowerCase()}`;
    }
    // A too-long line's raw is what the splitter kept (maxLineBytes): its
    // end may not have arrived, and the output must not depend on chunking.
    this.#lineLetter("framing", what, raw);
  }

  /** Whether lines now belong to the raw of a segment's possible dead letter. */
  #keepsRaw(): boolean {
    const state = this.#state;
    if (state === State.Meta) return true;
    return (state === State.Between || state === State.Data) && this.#segment!.bad !== undefined;
  }

  #raw(segment: Segment, line: string): void {
    if (segment.rawChars > MAX_RAW_BYTES) {
      segment.rawBeyond += utf8Length(line) + 1;
      return;
    }
    segment.raw.push(line);
    segment.rawChars += line.length + 1;
  }

  // --- Messages and segments ---------------------------------------------

  #startMessage(version: string): void {
    this.#endMessage();
    this.#state = State.Header;
    this.#line = 1;
    this.#header = [["CCSDS_TDM_VERS", version]];
    this.#messageBad = VERSIONS.has(version)
      ? undefined
      : `Unsupported CCSDS_TDM_VERS: "${version}" (expected 1.0 or 2.0)`;
    this.#segments = 0;
  }

  #endMessage(): void {
    this.#endSegment();
    this.#segment = undefined;
  }

  #startSegment(line: string): void {
    if (this.#state === State.Header) {
      // The header is complete: it names the message for every ref.
      const header = new Map(this.#header);
      this.#messageRef = header.get("MESSAGE_ID") ??
        `${header.get("ORIGINATOR") ?? ""}/${header.get("CREATION_DATE") ?? ""}`;
    }
    const index = this.#segments++;
    this.#segment = {
      index,
      refPrefix: `${this.#messageRef}#${index}@`,
      firstLine: this.#line,
      receivedAt: this.#receivedAt,
      bad: this.#messageBad,
      raw: [line],
      rawChars: line.length + 1,
      rawBeyond: 0,
      keywords: new Map(),
      meta: {},
      timeSystem: "UTC",
      sensor: "",
      target: UNKNOWN_TARGET,
      rangeKey: "range_km",
      angles: Angles.Untyped,
      angleType: undefined,
      frame: undefined,
    };
    this.#state = State.Meta;
  }

  /**
   * Ends the current segment (if any): emits its open group, or its dead
   * letter when it could not be interpreted.
   */
  #endSegment(): void {
    const segment = this.#segment;
    if (segment === undefined) return;
    const state = this.#state;
    if (state === State.Meta) {
      segment.bad ??= "Metadata section not closed by META_STOP";
    }
    if (state === State.Meta || state === State.Between || state === State.Data) {
      if (this.#groupOpen) this.#emitGroup();
      if (segment.bad !== undefined) this.#segmentLetter(segment);
    }
    this.#state = State.After;
    this.#release();
  }

  #metadata(segment: Segment, keyword: string, value: string): void {
    if (!METADATA_KEYWORDS.has(keyword)) {
      segment.bad ??= HEADER_KEYWORDS.has(keyword)
        ? `Header keyword ${keyword} in the metadata section`
        : `Unknown metadata keyword: "${keyword}"`;
      return;
    }
    if (segment.keywords.has(keyword)) {
      segment.bad ??= `Repeated metadata keyword: "${keyword}"`;
      return;
    }
    segment.keywords.set(keyword, value);
    if (value === "") {
      segment.bad ??= `Missing value for metadata keyword ${keyword}`;
    } else if (keyword === "TIME_SYSTEM" && !TIME_SYSTEMS.has(value)) {
      segment.bad ??= `Unsupported TIME_SYSTEM: "${value}" (expected UTC, TAI or GPS)`;
    } else if (keyword === "RANGE_UNITS" && !RANGE_UNITS.has(value)) {
      segment.bad ??= `Unsupported RANGE_UNITS: "${value}" (expected km, s or RU)`;
    } else if (keyword === "ANGLE_TYPE" && !ANGLE_TYPES.has(value)) {
      segment.bad ??= `Unsupported ANGLE_TYPE: "${value}" (expected AZEL, RADEC, XEYN or XSYE)`;
    }
  }

  /** `META_STOP`: checks what the data cannot be read without, and maps it. */
  #endMetadata(segment: Segment): void {
    this.#state = State.Between;
    const keywords = segment.keywords;
    if (segment.bad === undefined) {
      if (!keywords.has("TIME_SYSTEM")) segment.bad = "Missing TIME_SYSTEM in metadata";
      else if (!keywords.has("PARTICIPANT_1")) segment.bad = "Missing PARTICIPANT_1 in metadata";
    }
    if (segment.bad !== undefined) return;
    // Good: the raw lines are no longer needed.
    segment.raw = [];
    const meta: Meta = {};
    for (const [key, value] of this.#header) meta[key] = value;
    for (const [key, value] of keywords) meta[key] = value;
    segment.meta = meta;
    segment.timeSystem = keywords.get("TIME_SYSTEM") as TimeSystem;
    segment.sensor = keywords.get("PARTICIPANT_1")!;
    segment.target = target(keywords.get("PARTICIPANT_2"));
    const units = keywords.get("RANGE_UNITS");
    segment.rangeKey = units === "s" ? "range_s" : units === "RU" ? "range_ru" : "range_km";
    const angleType = keywords.get("ANGLE_TYPE");
    segment.angles = angleType === "AZEL"
      ? Angles.Azel
      : angleType === "RADEC"
      ? Angles.Radec
      : angleType === undefined
      ? Angles.Untyped
      : Angles.Typed;
    segment.angleType = angleType === "XEYN" || angleType === "XSYE" ? angleType : undefined;
    segment.frame = keywords.get("REFERENCE_FRAME");
  }

  // --- Data lines (the hot path) -----------------------------------------

  /** `KEYWORD = timetag value` in a good segment; `end` is where the keyword ends. */
  #data(line: string, keyword: DataKeyword, end: number): void {
    const n = line.length;
    let i = end;
    let c = 0;
    while (i < n && ((c = line.charCodeAt(i)) === 32 || c === 9)) i++;
    if (c !== 61 || i === n) {
      this.#malformed(line);
      return;
    }
    i++;
    while (i < n && ((c = line.charCodeAt(i)) === 32 || c === 9)) i++;
    const t0 = i;
    const name = keyword.name;
    // Timetag: text equal to the open group's needs neither scanning nor
    // parsing — the common case, as a radar writes one timetag per line.
    const group = this.#groupOpen;
    let same = false;
    let time = this.#groupTime;
    let text = "";
    let tObs = "";
    if (group) {
      // (On the sliced strings a line splitter makes, slice-and-compare
      // measured 4× faster than startsWith in V8.)
      const groupText = this.#groupText;
      const after = t0 + groupText.length;
      if (
        line.slice(t0, after) === groupText &&
        (after === n || (c = line.charCodeAt(after)) === 32 || c === 9)
      ) {
        same = true;
        i = after;
      }
    }
    if (!same) {
      while (i < n && (c = line.charCodeAt(i)) !== 32 && c !== 9) i++;
      if (i === t0) {
        this.#lineLetter("decoding", `Missing ${name} timetag and value`, line);
        return;
      }
      text = line.slice(t0, i);
      const timeSystem = this.#segment!.timeSystem;
      try {
        time = toUtc(this.#parseTimetag(text), timeSystem);
      } catch (error) {
        this.#lineLetter(
          "decoding",
          `Invalid ${name} timetag: ${(error as Error).message}`,
          line,
        );
        return;
      }
      same = group && time === this.#groupTime;
      // Another timetag closes the open group, whatever the rest of this
      // line turns out to be (SPEC §4): a bad value must not merge the
      // lines before and after it into one observation.
      if (group && !same) this.#emitGroup();
      try {
        tObs = this.#tObs(text, time, timeSystem);
      } catch {
        // A valid timetag whose instant has no envelope form (past 9999 or
        // before 0000 once in UTC, or so near that microseconds round it
        // over): outside SPEC §14's range either way, like any t_obs there.
        this.#lineLetter(
          "validation",
          time < 0
            ? `t_obs ${text} (${timeSystem}) is before 1957-10-04T00:00:00Z, earlier than any orbital observation`
            : `t_obs ${text} (${timeSystem}) is more than one day after ${
              this.#ctx.deterministic ? "the replay started" : "it was received"
            }`,
          line,
        );
        return;
      }
    }
    while (i < n && ((c = line.charCodeAt(i)) === 32 || c === 9)) i++;
    if (i === n) {
      this.#lineLetter("decoding", `Missing ${name} value`, line);
      return;
    }
    let e = n;
    while ((c = line.charCodeAt(e - 1)) === 32 || c === 9) e--;
    const value = parseNumber(line, i, e);
    if (value !== value) {
      this.#lineLetter(
        "decoding",
        `Cannot parse ${name} value as a number: "${clip(line.slice(i, e))}"`,
        line,
      );
      return;
    }
    if (value === Infinity || value === -Infinity) {
      this.#lineLetter(
        "decoding",
        `Cannot parse ${name} value as a finite number: "${clip(line.slice(i, e))}"`,
        line,
      );
      return;
    }
    const slot = keyword.slot;
    if (slot === SLOT_ANGLE_1 || slot === SLOT_ANGLE_2) {
      const reason = this.#angleProblem(slot, name, value, line.slice(i, e));
      if (reason !== undefined) {
        this.#lineLetter("validation", reason, line);
        return;
      }
    } else if ((slot === SLOT_RANGE || slot === SLOT_RCS) && value < 0) {
      // SPEC §4: a distance, a light time or a cross-section is never negative.
      this.#lineLetter(
        "validation",
        `${name} value must not be negative: ${clip(line.slice(i, e))}`,
        line,
      );
      return;
    }
    if (same && this.#groupLines.length >= MAX_GROUP_LINES) {
      this.#lineLetter(
        "decoding",
        `More than ${MAX_GROUP_LINES} data lines share the timetag ${this.#groupText}: ` +
          `${name} is not added to that observation`,
        line,
      );
      return;
    }
    if (!same) {
      this.#groupOpen = true;
      this.#groupText = text;
      this.#groupTime = time;
      this.#groupTObs = tObs;
      this.#groupFirstLine = this.#line;
      this.#groupReceivedAt = this.#receivedAt;
    }
    this.#groupLines.push(line);
    const bit = 1 << slot;
    if (slot !== SLOT_OTHER && (this.#present & bit) === 0) {
      this.#present |= bit;
      this.#values[slot] = value;
    } else {
      this.#addOther(name, value);
    }
  }

  /** TDM Table 3-5: −180 ≤ angle < 360; elevation and declination in [−90, 90]. */
  #angleProblem(slot: number, name: string, value: number, text: string): string | undefined {
    if (!(value >= -180 && value < 360)) {
      return `${name} value out of range [-180, 360): ${clip(text)}`;
    }
    if (slot === SLOT_ANGLE_2 && !(value >= -90 && value <= 90)) {
      const angles = this.#segment!.angles;
      if (angles === Angles.Azel) {
        return `Elevation (ANGLE_2) out of range [-90, 90]: ${clip(text)}`;
      }
      if (angles === Angles.Radec) {
        return `Declination (ANGLE_2) out of range [-90, 90]: ${clip(text)}`;
      }
    }
    return undefined;
  }

  /** A keyword without its own envelope field, or a repeat within the group. */
  #addOther(name: string, value: number): void {
    const other = this.#other ??= {};
    let key = name;
    const mapped = DATA_KEYWORDS.get(name)!.slot !== SLOT_OTHER;
    if (mapped || name in other) {
      // SPEC §4: the second value of a keyword within one group is KEYWORD#2, …
      const repeats = this.#repeats ??= new Map();
      const count = (repeats.get(name) ?? 1) + 1;
      repeats.set(name, count);
      key = `${name}#${count}`;
    }
    other[key] = value;
  }

  #emitGroup(): void {
    const segment = this.#segment!;
    const present = this.#present;
    const values = this.#values;
    const measurement: RadarMeasurement = {};
    if (present & (1 << SLOT_RANGE)) measurement[segment.rangeKey] = values[SLOT_RANGE];
    if (present & (1 << SLOT_DOPPLER_INSTANTANEOUS)) {
      measurement.range_rate_km_s = values[SLOT_DOPPLER_INSTANTANEOUS];
    }
    if (present & (1 << SLOT_DOPPLER_INTEGRATED)) {
      measurement.doppler_integrated_km_s = values[SLOT_DOPPLER_INTEGRATED];
    }
    const has1 = (present & (1 << SLOT_ANGLE_1)) !== 0;
    const has2 = (present & (1 << SLOT_ANGLE_2)) !== 0;
    if (has1 || has2) {
      switch (segment.angles) {
        case Angles.Azel:
          if (has1) measurement.az_deg = wrap360(values[SLOT_ANGLE_1]);
          if (has2) measurement.el_deg = values[SLOT_ANGLE_2];
          break;
        case Angles.Radec:
          if (has1) measurement.ra_deg = wrap360(values[SLOT_ANGLE_1]);
          if (has2) measurement.dec_deg = values[SLOT_ANGLE_2];
          if (segment.frame !== undefined) measurement.frame = segment.frame;
          break;
        default:
          if (has1) measurement.angle_1_deg = values[SLOT_ANGLE_1];
          if (has2) measurement.angle_2_deg = values[SLOT_ANGLE_2];
          if (segment.angleType !== undefined) measurement.angle_type = segment.angleType;
      }
    }
    if (present & (1 << SLOT_RCS)) measurement.rcs_m2 = values[SLOT_RCS];
    if (present & (1 << SLOT_MAG)) measurement.mag = values[SLOT_MAG];
    if (this.#other !== undefined) measurement.other = this.#other;
    const tObs = this.#groupTObs;
    const ctx = this.#ctx;
    const problem = admissionProblem(ctx, segment.sensor, tObs, this.#groupReceivedAt);
    if (problem !== undefined) {
      this.#dead++;
      if (this.#groupReceivedAt < this.#outputReceivedAt) {
        this.#outputReceivedAt = this.#groupReceivedAt;
      }
      // In the group's place: before what was held behind it.
      this.#deadLetterAt.push(this.#observations.length);
      this.#deadLetters.push(makeDeadLetter(ctx, FORMAT, {
        stage: "validation",
        reason: problem,
        raw: textRaw(this.#groupLines.join("\n")),
        ref: segment.refPrefix + this.#groupFirstLine,
        receivedAt: this.#groupReceivedAt,
      }));
      this.#resetGroup();
      return;
    }
    const ref = segment.refPrefix + this.#groupFirstLine;
    const observation: RadarObservation = {
      v: 1,
      id: "",
      kind: "radar",
      t_obs: tObs,
      t_rx: ctx.deterministic ? tObs : this.#rx(this.#groupReceivedAt),
      sensor: segment.sensor,
      target: segment.target,
      measurement,
      // Two literals, so that each keeps one object shape (SPEC §15: client
      // only for authenticated connections).
      provenance: ctx.client === undefined
        ? {
          source: ctx.source,
          format: FORMAT,
          transport: ctx.transport,
          peer: ctx.peer,
          ref,
          time_system: segment.timeSystem,
          meta: segment.meta,
        }
        : {
          source: ctx.source,
          format: FORMAT,
          transport: ctx.transport,
          peer: ctx.peer,
          client: ctx.client,
          ref,
          time_system: segment.timeSystem,
          meta: segment.meta,
        },
    };
    observation.id = ctx.deferIds ? "" : observationId(observation);
    this.#observations.push(observation);
    this.#emitted++;
    this.#deadAtObservation = this.#dead;
    if (this.#groupReceivedAt < this.#outputReceivedAt) {
      this.#outputReceivedAt = this.#groupReceivedAt;
    }
    this.#resetGroup();
  }

  #resetGroup(): void {
    this.#groupOpen = false;
    this.#groupLines.length = 0;
    this.#present = 0;
    this.#other = undefined;
    this.#repeats = undefined;
    if (this.#held.length > 0) this.#release();
  }

  /**
   * The `t_obs` text of a timetag: a UTC timetag already in the envelope's
   * form (six fraction digits) is its own — it parsed, so only its last
   * digit needs a look; any other is formatted from `utc`.
   */
  #tObs(text: string, utc: number, timeSystem: TimeSystem): string {
    const length = text.length;
    if (
      timeSystem === "UTC" &&
      (length === 26 || (length === 27 && text.charCodeAt(26) === 90)) &&
      text.charCodeAt(19) === 46 && text.charCodeAt(25) >= 48 && text.charCodeAt(25) <= 57
    ) {
      return length === 26 ? text + "Z" : text;
    }
    return this.#timestamp(utc);
  }

  /**
   * `parseTimestamp`, with the date, hour and minute parsed once per
   * minute: consecutive timetags nearly always share them, leaving only the
   * seconds to read. Anything unusual goes to `parseTimestamp`, which also
   * produces the errors, so the result is the same in every case.
   */
  #parseTimetag(text: string): number {
    const n = text.length;
    if (n >= 19 && text.charCodeAt(16) === 58 && text.charCodeAt(10) === 84) {
      const prefix = text.slice(0, 17);
      if (prefix !== this.#timetagPrefix) {
        let minute: number;
        try {
          minute = parseTimestamp(prefix + "00");
        } catch {
          return parseTimestamp(text);
        }
        this.#timetagPrefix = prefix;
        this.#timetagMinute = minute;
      }
      const tens = text.charCodeAt(17) - 48;
      const units = text.charCodeAt(18) - 48;
      if (tens >= 0 && tens <= 5 && units >= 0 && units <= 9) {
        let i = 19;
        let micros = 0;
        if (i < n && text.charCodeAt(i) === 46) {
          i++;
          const start = i;
          let scale = 100_000;
          while (i < n) {
            const digit = text.charCodeAt(i) - 48;
            if (digit < 0 || digit > 9) break;
            // Digits past the microsecond are truncated (SPEC §2).
            micros += digit * scale;
            scale = scale >= 10 ? scale / 10 : 0;
            i++;
          }
          if (i === start) return parseTimestamp(text);
        }
        if (i < n && text.charCodeAt(i) === 90) i++;
        if (i === n) return this.#timetagMinute + (tens * 10 + units) * 1_000_000 + micros;
      }
    }
    return parseTimestamp(text);
  }

  /**
   * `formatTimestamp`, with the date, hour and minute formatted once per
   * minute: consecutive observations share them.
   */
  #timestamp(micros: number): string {
    // A leap second (half-µs mark) or an instant beyond 2^53 µs: rare, and
    // not exact in minute arithmetic.
    if (!Number.isSafeInteger(micros)) return formatTimestamp(micros);
    const minute = Math.floor(micros / 60_000_000);
    if (minute !== this.#minute) {
      this.#minute = minute;
      this.#minutePrefix = formatTimestamp(minute * 60_000_000).slice(0, 17);
    }
    const rest = micros - minute * 60_000_000;
    const second = Math.floor(rest / 1_000_000);
    return this.#minutePrefix + TWO_DIGITS[second] + "." +
      String(1_000_000 + rest - second * 1_000_000).slice(1) + "Z";
  }

  /** `t_rx` text, formatted once per read rather than once per observation. */
  #rx(micros: number): string {
    if (micros !== this.#rxMicros) {
      this.#rxMicros = micros;
      this.#rxText = formatTimestamp(micros);
    }
    return this.#rxText;
  }

  // --- Dead letters ------------------------------------------------------

  /**
   * The guard (SPEC §3): an exception while handling a line (or, from the
   * stream around the decoder, a chunk) is a bug, not bad input, so where it
   * left the state is unknown. The open group is
   * discarded — its lines and `raw` (the line being read, if any) go into
   * one `decoding` dead letter — so the next line starts from a known state:
   * the segment as it was, no group.
   */
  fail(doing: string, raw: string | undefined, error: unknown): void {
    const group = this.#groupOpen ? this.#groupLines.join("\n") : "";
    this.#groupOpen = false;
    this.#groupLines.length = 0;
    this.#present = 0;
    this.#other = undefined;
    this.#repeats = undefined;
    const text = raw === undefined ? group : group === "" ? raw : group + "\n" + raw;
    this.#dead++;
    const letter = this.#letter("decoding", internalErrorReason(doing, error), text);
    this.#deadLetterAt.push(this.#observations.length);
    this.#deadLetters.push(letter);
    this.#release();
  }

  /** A dead letter for one line; in a segment, its ref points at the line. */
  #lineLetter(stage: Stage, reason: string, raw: string): void {
    this.#dead++;
    this.#emitLetter(this.#letter(stage, reason, raw));
  }

  /**
   * Hands on a line's dead letter in input order (SPEC §13): while a group
   * is open, or a segment may still end as one dead letter, their output
   * belongs before this line's, so the letter waits for them.
   */
  #emitLetter(letter: DeadLetter): void {
    if (this.#groupOpen || this.#keepsRaw()) {
      if (this.#held.length < MAX_HELD) {
        this.#held.push(letter);
        return;
      }
      // Memory stays bounded; only this pathological run goes out early.
      this.#flushHeld();
    }
    this.#deadLetterAt.push(this.#observations.length);
    this.#deadLetters.push(letter);
  }

  /** Hands on the held dead letters once what they wait for is out. */
  #release(): void {
    if (this.#held.length > 0 && !this.#groupOpen && !this.#keepsRaw()) this.#flushHeld();
  }

  #flushHeld(): void {
    const held = this.#held;
    for (let i = 0; i < held.length; i++) {
      this.#deadLetterAt.push(this.#observations.length);
      this.#deadLetters.push(held[i]);
    }
    this.#held = [];
  }

  #letter(stage: Stage, reason: string, raw: string): DeadLetter {
    const state = this.#state;
    const inSegment = state === State.Meta || state === State.Between || state === State.Data;
    const receivedAt = this.#receivedAt;
    if (receivedAt < this.#outputReceivedAt) this.#outputReceivedAt = receivedAt;
    return makeDeadLetter(this.#ctx, FORMAT, {
      stage,
      reason,
      raw: textRaw(raw),
      ref: inSegment ? this.#segment!.refPrefix + this.#line : undefined,
      receivedAt,
    });
  }

  /** One dead letter for a whole segment, with every raw line of it. */
  #segmentLetter(segment: Segment): void {
    this.#dead++;
    if (segment.receivedAt < this.#outputReceivedAt) {
      this.#outputReceivedAt = segment.receivedAt;
    }
    this.#deadLetters.push(makeDeadLetter(this.#ctx, FORMAT, {
      stage: "decoding",
      reason: segment.bad!,
      raw: segmentRaw(segment),
      ref: segment.refPrefix + segment.firstLine,
      receivedAt: segment.receivedAt,
    }));
    this.#deadLetterAt.push(this.#observations.length);
    segment.raw = [];
  }
}

/** A segment's raw lines, cut at 1 KiB, with the size of all of them. */
function segmentRaw(segment: Segment): string {
  const text = segment.raw.join("\n");
  if (segment.rawBeyond === 0) return textRaw(text);
  return textRaw(text, utf8Length(text) + segment.rawBeyond);
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    // A surrogate half is 3 bytes alone, a pair 4: 2 + 2 counts a pair right.
    bytes += c < 0x80 ? 1 : c < 0x800 || (c >= 0xd800 && c < 0xe000) ? 2 : 3;
  }
  return bytes;
}

/** `A–Z`, `a–z`, `0–9`, `_`: what a KVN keyword is made of. */
function isKeywordChar(c: number): boolean {
  return (c >= 65 && c <= 90) || c === 95 || (c >= 48 && c <= 57) || (c >= 97 && c <= 122);
}

/** Exact powers of ten: every one up to 10^22 is a double without rounding. */
const POW10 = Array.from({ length: 23 }, (_, k) => Number(`1e${k}`));

/**
 * The KVN real (503.0-B-2 §4.2) in `text[start, end)`: optional sign, digits
 * with an optional decimal point, optional exponent. Anything else — hex,
 * `Infinity`, a second point — is NaN, where `Number()` alone would accept
 * some of it.
 *
 * Numbers of at most 15 significant digits and 22 decimals without an
 * exponent — what sensors write — are computed in place as `m / 10^k`: both
 * are exact doubles, so IEEE division rounds the quotient exactly as
 * `Number()` rounds the decimal text (Clinger's fast path), without slicing
 * a string per value. Everything else goes through `Number()`.
 *
 * @example Reals as TDM writes them, and what it refuses
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNumber } from "./_tdm_decoder.ts";
 *
 * assert.equal(parseNumber("-1.25e3"), -1250);
 * assert.equal(parseNumber("RANGE 42.5 x", 6, 10), 42.5);
 * assert.ok(Number.isNaN(parseNumber("0x10")));
 * assert.ok(Number.isNaN(parseNumber("12.3.4")));
 * ```
 */
export function parseNumber(text: string, start = 0, end: number = text.length): number {
  let i = start;
  let c = text.charCodeAt(i);
  const negative = c === 45;
  if (negative || c === 43) i++;
  let digits = 0;
  let significant = 0;
  let mantissa = 0;
  let decimals = 0;
  while (i < end && (c = text.charCodeAt(i)) >= 48 && c <= 57) {
    i++;
    digits++;
    if (significant > 0 || c !== 48) {
      significant++;
      mantissa = mantissa * 10 + (c - 48);
    }
  }
  if (i < end && c === 46) {
    i++;
    while (i < end && (c = text.charCodeAt(i)) >= 48 && c <= 57) {
      i++;
      digits++;
      decimals++;
      if (significant > 0 || c !== 48) {
        significant++;
        mantissa = mantissa * 10 + (c - 48);
      }
    }
  }
  if (digits === 0) return NaN;
  let exponent = false;
  if (i < end && (c === 101 || c === 69)) {
    exponent = true;
    i++;
    c = text.charCodeAt(i);
    if (i < end && (c === 43 || c === 45)) i++;
    const first = i;
    while (i < end && (c = text.charCodeAt(i)) >= 48 && c <= 57) i++;
    if (i === first) return NaN;
  }
  if (i !== end) return NaN;
  if (exponent || significant > 15 || decimals > 22) {
    return +text.slice(start, end);
  }
  const value = decimals === 0 ? mantissa : mantissa / POW10[decimals];
  return negative ? -value : value;
}

/** Azimuth and right ascension are reported in [0, 360) (SPEC §4). */
function wrap360(angle: number): number {
  if (angle >= 0) return angle;
  const wrapped = angle + 360;
  // −1e-14 + 360 rounds to 360, which is the same direction as 0.
  return wrapped < 360 ? wrapped : 0;
}

/** SPEC §4: digits → a NORAD number; `UNKNOWN` or absent → nothing known. */
function target(participant: string | undefined): Target {
  if (participant === undefined || participant === "UNKNOWN") return UNKNOWN_TARGET;
  let digits = participant.length > 0 && participant.length <= 15;
  for (let i = 0; digits && i < participant.length; i++) {
    const c = participant.charCodeAt(i);
    digits = c >= 48 && c <= 57;
  }
  if (!digits) return { norad: null, id: participant };
  const norad = Number(participant);
  return { norad, id: String(norad) };
}

/** Keeps reasons readable when the offending text is huge. */
function clip(text: string): string {
  return text.length > 80 ? text.slice(0, 77) + "..." : text;
}
