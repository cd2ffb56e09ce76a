/**
 * The one optical decoder (SPEC §5): an archive page, CSV or JSON, decoded
 * record by record as its bytes arrive. `OpticalDecodeStream` and the edge
 * worker feed it chunk by chunk; `decodeOpticalPage` hands it the whole
 * page as its last piece.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { OpticalObservation } from "../../envelope/observation.ts";
import { MAX_RAW_BYTES } from "../../envelope/raw.ts";
import type { DecodeContext } from "../decode_context.ts";
import { CsvChunker, type CsvRaw, type CsvSink } from "./_csv_chunker.ts";
import { type CsvColumns, csvColumns, mapCsvRecord } from "./_decode_csv.ts";
import { decodeJson, decodeJsonRecord, decodeJsonValue } from "./_decode_json.ts";
import { type JsonArraySink, JsonArraySplitter } from "./_json_array_splitter.ts";
import { mediaType } from "./_media_type.ts";
import { type OpticalFormat, RowMapper } from "./_row_mapper.ts";

/** What one {@link OpticalStreamDecoder.take} hands on. */
export interface OpticalOutput {
  /** Observations completed since the last take, in input order. */
  observations: OpticalObservation[];
  /** Dead letters since the last take, in input order. */
  deadLetters: DeadLetter[];
  /** `deadLetterAt[k]` of the observations precede dead letter `k` in the input. */
  deadLetterAt: number[];
}

/** Options for {@link OpticalStreamDecoder}. */
export interface OpticalStreamOptions {
  /**
   * Longest part of a CSV record or JSON element kept between chunks, in
   * UTF-16 units (default 1 MiB): a record of which more would have to be
   * kept is a `decoding` dead letter and is skipped, so memory stays
   * bounded whatever the body. A record that completes within one chunk is
   * in memory already and is read, and a whole page handed over in one
   * piece is never cut; so for records longer than this, the outcome
   * depends on where the body is cut.
   */
  maxRecordChars?: number;
}

/** Options of the decoder itself. */
export interface OpticalDecoderOptions extends OpticalStreamOptions {
  /** The body comes as text, not bytes: no charset applies (`decodeOpticalPage` of a string). */
  text?: boolean;
  /**
   * Most records the page may hold (the `maxResults` it was asked for;
   * default: no limit). The records after them are counted but not mapped,
   * and are one `decoding` dead letter at the end of the page, its `raw`
   * the first of them: a page of a million tiny rows cannot make a million
   * objects (it ran the process out of memory at 64 MiB).
   */
  maxRecords?: number;
}

const REPLACEMENT = "\ufffd";
/** Characters of the page kept for a dead letter of the whole page (≥ 1 KiB of UTF-8). */
const PAGE_HEAD = 2048;
/**
 * Largest JSON page parsed in one `JSON.parse` when handed over whole;
 * a larger one is split element by element, so that a page of many small
 * elements is never a heap of objects at once (~16 bytes of page made
 * ~300 bytes of heap each).
 */
const WHOLE_PARSE_CHARS = 4 << 20;

/**
 * Decodes one page body incrementally, choosing CSV or JSON by its
 * Content-Type: every record becomes an Observation or a dead letter, in
 * input order, holding one record at a time. Feed it with
 * {@link OpticalStreamDecoder.push}, end with
 * {@link OpticalStreamDecoder.end} (which takes the last piece, or the
 * whole page), and collect with {@link OpticalStreamDecoder.take}.
 *
 * * CSV (RFC 4180): records end at LF or CRLF; any other CR is data. Blank
 *   records are skipped; a record with a quoting error or with another
 *   number of fields than the header is a `decoding` dead letter. A header
 *   that has a quoting error, holds a CR, or is too long to keep names no
 *   column one can trust: the page is one `decoding` dead letter.
 * * JSON: until its first element is complete the page is held (as far as
 *   `maxRecordChars`, or whole in the last chunk). A page that ends before
 *   — `[]`, not JSON, not an array, an array broken in or before its first
 *   element — is read whole: one dead letter for a page that is not an
 *   array of records. (A page handed over whole is parsed whole when it
 *   parses: the same records, faster.) Otherwise elements are decoded one
 *   by one: an
 *   element that does not parse is a dead letter of its own (`Cannot parse
 *   JSON record: …`) and the ones around it are still decoded; an array
 *   that breaks off (not closed, unbalanced, text after it) is one dead
 *   letter from where it broke, after the elements before it.
 * * Bytes that are not valid UTF-8 dead-letter the record (or the held
 *   page) they are in — a record with U+FFFD when undecodable bytes came at
 *   or before its end — not the rest.
 * * A dead letter for the whole page keeps its first KiB and the body's
 *   size in bytes.
 */
export class OpticalStreamDecoder {
  #ctx: DecodeContext;
  #contentType: string;
  #max: number;
  #mapper: RowMapper | undefined;
  #text: TextDecoder | undefined;
  /** Text chunks: nothing to decode. */
  #isText: boolean;
  /** Unsupported type or charset: the first bytes (or text), for the one dead letter. */
  #head: Uint8Array | undefined;
  #headLength = 0;
  #headText = "";
  #charsetProblem: string | undefined;
  /** Bytes of the body so far (text: its chunks, to measure at the end if need be). */
  #bytes = 0;
  #texts: string[] | undefined;
  // UTF-8 validity: U+FFFD decoded against U+FFFD sent as such (EF BF BD).
  #utf8: boolean;
  #replacements = 0;
  #literal = 0;
  #tail = new Uint8Array(2);
  #textOffset = 0;
  /** Where (in text) the first undecodable bytes were, once seen. */
  #invalidFrom = Infinity;
  /** No text decoded yet: a byte order mark may come. */
  #atStart = true;
  /** …and the bytes of the one that came. */
  #bomBytes = 0;
  /** The first characters of the text, for a dead letter of the whole page. */
  #pageHead = "";
  #csv: CsvChunker | undefined;
  #csvSink: CsvSink | undefined;
  #columns: CsvColumns | undefined;
  /** Why the page is one dead letter (CSV header), once known. */
  #pageFailure: string | undefined;
  #json: JsonArraySplitter | undefined;
  #jsonSink: JsonArraySink | undefined;
  /** JSON before its first element is complete: the page so far. */
  #held: string[] | undefined;
  #heldLength = 0;
  /** JSON decoded already (read whole), or not an array and too big to hold: nothing more to split. */
  #jsonDone = false;
  #dead = 0;
  #deadLetterAt: number[] = [];
  readonly #maxRecords: number;
  /** Records of the page so far (after a CSV header). */
  #records = 0;
  /** The first record beyond `maxRecords`, for its dead letter. */
  #excessRaw = "";

  /**
   * @param ctx where the body comes from
   * @param contentType the body's Content-Type (`text/csv`, `application/json`, …)
   */
  constructor(ctx: DecodeContext, contentType: string, options: OpticalDecoderOptions = {}) {
    this.#ctx = ctx;
    this.#contentType = contentType;
    this.#max = options.maxRecordChars ?? 1024 * 1024;
    this.#maxRecords = options.maxRecords ?? Infinity;
    this.#isText = options.text === true;
    if (this.#isText) this.#texts = [];
    const type = mediaType(contentType);
    const charset = type.charset;
    this.#utf8 = this.#isText || charset === undefined || charset === "utf-8" ||
      charset === "utf8" || charset === "us-ascii";
    if (type.format === undefined) {
      this.#head = new Uint8Array(MAX_RAW_BYTES + 4);
      return;
    }
    if (!this.#isText) {
      try {
        // The BOM is dropped by hand (see #decode): Deno's streaming decoder
        // also drops a U+FEFF that arrives at the start of a later chunk.
        this.#text = new TextDecoder(this.#utf8 ? "utf-8" : charset, { ignoreBOM: true });
      } catch {
        this.#charsetProblem = `Unsupported charset: "${charset}"`;
        this.#head = new Uint8Array(MAX_RAW_BYTES + 4);
        return;
      }
    }
    this.#mapper = new RowMapper(ctx, type.format);
    if (type.format === "udl-eo-csv") {
      this.#csv = new CsvChunker(this.#max);
      this.#csvSink = {
        record: (fields, error, raw) => this.#csvRecord(fields, error, raw),
        tooLong: (head) => this.#csvTooLong(head),
      };
    } else {
      this.#held = [];
      this.#json = new JsonArraySplitter(this.#max);
      this.#jsonSink = {
        element: (text, end) => this.#jsonElement(text, end),
        tooLong: (head) => {
          this.#held = undefined;
          this.#fail(`JSON record longer than ${this.#max} characters: skipped`, head);
        },
        broken: (reason, raw) => this.#fail(`Cannot parse JSON page: ${reason}`, raw),
      };
    }
  }

  /** Feeds the next bytes of the body (text, for a decoder made for text). */
  push(chunk: Uint8Array | string): void {
    if (chunk.length === 0) return;
    if (this.#head !== undefined) {
      this.#keepHead(chunk);
      return;
    }
    this.#feed(this.#decode(chunk), false);
  }

  /** Ends the body, with `last` its last chunk (or all of it). */
  end(last?: Uint8Array | string): void {
    if (this.#head !== undefined) {
      if (last !== undefined) this.#keepHead(last);
      this.#endUnsupported();
      return;
    }
    let text = last === undefined ? "" : this.#decode(last);
    if (!this.#isText) {
      const flushed = this.#text!.decode();
      if (flushed.length > 0) {
        if (this.#utf8) this.#check(new Uint8Array(0), flushed, text.length);
        text += flushed;
      }
    }
    this.#feed(text, true);
    const mapper = this.#mapper!;
    if (this.#csv !== undefined) {
      if (this.#pageFailure !== undefined) {
        mapper.reset();
        mapper.fail("decoding", this.#pageFailure, this.#pageHead, undefined, this.#pageSize());
        this.#placeDeadLetters();
      }
    } else {
      const held = this.#held;
      if (held !== undefined) {
        // The page ended before its first element: read whole, as a page is.
        const whole = held.length === 1 ? held[0] : held.join("");
        if (this.#invalidFrom !== Infinity) {
          mapper.fail("decoding", "JSON page is not valid UTF-8", whole);
        } else {
          // (Never an array with a complete element: the splitter took those.)
          decodeJson(whole, mapper);
        }
        this.#placeDeadLetters();
      } else if (!this.#jsonDone) {
        this.#json!.end(this.#jsonSink!);
      }
    }
    const excess = this.#records - this.#maxRecords;
    if (excess > 0) {
      this.#fail(
        `Page holds ${this.#records} records, more than the ${this.#maxRecords} asked for (maxResults): the ${excess} after them were not read`,
        this.#excessRaw,
      );
    }
  }

  /** Hands on what was completed since the last call (or undefined if nothing). */
  take(): OpticalOutput | undefined {
    const mapper = this.#mapper;
    if (mapper === undefined) return undefined;
    if (mapper.observations.length === 0 && mapper.deadLetters.length === 0) return undefined;
    const out: OpticalOutput = {
      observations: mapper.observations.splice(0),
      deadLetters: mapper.deadLetters.splice(0),
      deadLetterAt: this.#deadLetterAt,
    };
    this.#deadLetterAt = [];
    this.#dead = 0;
    return out;
  }

  /**
   * The guard (SPEC §3) of `decodeOpticalPage`: what an exception left of
   * the page becomes one dead letter; the records mapped before it stay.
   */
  failPage(reason: string, raw: string): void {
    const mapper = this.#mapper ?? new RowMapper(this.#ctx, "udl-eo-csv");
    this.#mapper = mapper;
    mapper.fail("decoding", reason, raw);
    this.#placeDeadLetters();
  }

  /**
   * The text of the next chunk, a byte order mark at the very start of the
   * body dropped — only there: a U+FEFF later on is text.
   */
  #decode(chunk: Uint8Array | string): string {
    let text: string;
    if (typeof chunk === "string") {
      text = chunk;
      this.#texts?.push(chunk);
    } else {
      this.#bytes += chunk.length;
      text = this.#text!.decode(chunk, { stream: true });
    }
    if (this.#atStart && text.length > 0) {
      this.#atStart = false;
      if (text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
        this.#bomBytes = this.#isText ? 0 : this.#utf8 ? 3 : 2;
      }
    }
    if (this.#utf8 && typeof chunk !== "string" && !this.#isText) this.#check(chunk, text, 0);
    return text;
  }

  #feed(text: string, last: boolean): void {
    if (this.#csv !== undefined && this.#pageHead.length < PAGE_HEAD && text.length > 0) {
      this.#pageHead += text.slice(0, PAGE_HEAD - this.#pageHead.length);
    }
    if (this.#csv !== undefined) {
      if (this.#pageFailure !== undefined) {
        // The page is one dead letter already: the rest is only counted.
      } else if (last) {
        this.#csv.end(this.#csvSink!, text);
      } else {
        this.#csv.push(text, this.#csvSink!);
      }
    } else if (!this.#jsonDone) {
      this.#feedJson(text, last);
    }
    this.#textOffset += text.length;
  }

  #feedJson(text: string, last: boolean): void {
    const held = this.#held;
    if (held !== undefined && text.length > 0) {
      held.push(text);
      this.#heldLength += text.length;
    }
    if (
      held !== undefined && last && this.#invalidFrom === Infinity &&
      this.#heldLength <= WHOLE_PARSE_CHARS
    ) {
      // Held to its end (a page handed over whole): one JSON.parse of the
      // page, when it parses, gives each element the value that parsing
      // its text alone gives — the same output, without the splitter's
      // scan and a JSON.parse per element. Anything else is split as ever.
      const whole = held.length === 1 ? held[0] : held.join("");
      let page: unknown;
      try {
        page = JSON.parse(whole);
      } catch {
        page = undefined;
      }
      if (page !== undefined) {
        this.#held = undefined;
        this.#jsonDone = true;
        this.#decodeWhole(page, whole);
        this.#placeDeadLetters();
        return;
      }
    }
    const json = this.#json!;
    json.push(text, this.#jsonSink!, last);
    if (this.#held === undefined || last || this.#heldLength <= this.#max) return;
    // Too big to hold before a first element: stream on, or — not an
    // array — dead-letter it by its beginning and ignore the rest.
    this.#held = undefined;
    const head = json.notArray;
    if (head !== undefined) {
      this.#fail(`JSON page is not an array: it begins with ${JSON.stringify(head[0])}`, head);
      this.#jsonDone = true;
    }
  }

  /**
   * Notes where the first undecodable bytes are: the decoder puts U+FFFD in
   * their place, and only there unless the body sent U+FFFD itself. `at`:
   * where `text` begins after the text fed so far.
   */
  #check(bytes: Uint8Array, text: string, at: number): void {
    const first = text.indexOf(REPLACEMENT);
    if (first >= 0) {
      let count = 0;
      for (let i = first; i >= 0; i = text.indexOf(REPLACEMENT, i + 1)) count++;
      this.#replacements += count;
      // EF BF BD sequences completed by these bytes (the two before them included).
      const tail = this.#tail;
      const byteAt = (i: number) => (i < 0 ? tail[2 + i] : bytes[i]);
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] === 0xbd && byteAt(i - 1) === 0xbf && byteAt(i - 2) === 0xef) this.#literal++;
      }
      if (this.#replacements > this.#literal && this.#invalidFrom === Infinity) {
        this.#invalidFrom = this.#textOffset + at + first;
      }
    }
    if (bytes.length >= 2) {
      this.#tail[0] = bytes[bytes.length - 2];
      this.#tail[1] = bytes[bytes.length - 1];
    } else if (bytes.length === 1) {
      this.#tail[0] = this.#tail[1];
      this.#tail[1] = bytes[0];
    }
  }

  #csvRecord(fields: string[], error: string | undefined, raw: () => CsvRaw): void {
    if (this.#pageFailure !== undefined) return;
    if (fields.length === 1 && fields[0] === "" && error === undefined) return;
    const columns = this.#columns;
    if (columns === undefined) {
      if (error !== undefined) {
        // A header with a quoting error names no columns one can trust, and
        // an unterminated quote swallows the rest of the page into it.
        this.#pageFailure = `Cannot parse CSV header: ${error}`;
      } else if (fields.some((name) => name.includes("\r"))) {
        // SPEC §5 line ends are CRLF or LF: a page with bare CR line ends
        // would otherwise be one long header and nothing else, silently.
        this.#pageFailure =
          "Cannot parse CSV header: a column name holds a CR (line ends are CRLF or LF)";
      } else {
        const columns = csvColumns(fields);
        if (columns.known) {
          this.#columns = columns;
        } else {
          // Not a page of the archive, or not in the charset it names (UTF-8
          // read as UTF-16 is one long column name): without a dead letter
          // it passed for an empty page, and its records vanished.
          this.#pageFailure =
            `CSV header names none of the SPEC §5 fields (id, obTime, idSensor, ra, declination, …): ${
              JSON.stringify(fields.join(",").slice(0, 64))
            }`;
        }
      }
      return;
    }
    if (this.#records++ >= this.#maxRecords) {
      if (this.#excessRaw === "") this.#excessRaw = raw().text;
      return;
    }
    const mapper = this.#mapper!;
    mapper.reset();
    mapCsvRecord(mapper, columns, fields, error, raw, this.#invalidFrom);
    this.#placeDeadLetters();
  }

  #csvTooLong(head: string): void {
    if (this.#pageFailure !== undefined) return;
    if (this.#columns === undefined) {
      this.#pageFailure = `Cannot parse CSV header: longer than ${this.#max} characters`;
      return;
    }
    this.#fail(`CSV record longer than ${this.#max} characters: skipped to its line end`, head);
  }

  #jsonElement(text: string, end: number): void {
    this.#held = undefined;
    if (this.#records++ >= this.#maxRecords) {
      if (this.#excessRaw === "") this.#excessRaw = text;
      return;
    }
    const mapper = this.#mapper!;
    mapper.reset();
    if (end > this.#invalidFrom && text.includes(REPLACEMENT)) {
      mapper.fail("decoding", "JSON record is not valid UTF-8", text);
    } else {
      let record: unknown;
      try {
        record = JSON.parse(text);
      } catch (error) {
        mapper.fail("decoding", `Cannot parse JSON record: ${(error as Error).message}`, text);
        this.#placeDeadLetters();
        return;
      }
      decodeJsonRecord(record, mapper);
    }
    this.#placeDeadLetters();
  }

  /** A whole JSON page, parsed already (`text` its source), as far as `maxRecords` allows. */
  #decodeWhole(page: unknown, text: string): void {
    const mapper = this.#mapper!;
    if (!Array.isArray(page) || page.length <= this.#maxRecords) {
      decodeJsonValue(page, text, mapper);
      return;
    }
    decodeJsonValue(page.slice(0, this.#maxRecords), text, mapper);
    this.#records = page.length;
    this.#excessRaw = JSON.stringify(page[this.#maxRecords]);
  }

  #fail(reason: string, raw: string): void {
    const mapper = this.#mapper!;
    mapper.reset();
    mapper.fail("decoding", reason, raw);
    this.#placeDeadLetters();
  }

  /** Dead letters added since the last call follow every observation so far. */
  #placeDeadLetters(): void {
    const mapper = this.#mapper!;
    const count = mapper.deadLetters.length;
    while (this.#dead < count) {
      this.#deadLetterAt.push(mapper.observations.length);
      this.#dead++;
    }
  }

  /** The body's size in bytes, its byte order mark left out. */
  #pageSize(): number {
    if (this.#texts === undefined) return this.#bytes - this.#bomBytes;
    let text = this.#texts.join("");
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    return new TextEncoder().encode(text).length;
  }

  #keepHead(chunk: Uint8Array | string): void {
    if (typeof chunk === "string") {
      this.#texts!.push(chunk);
      if (this.#headText.length < MAX_RAW_BYTES + 4) {
        this.#headText += chunk.slice(0, MAX_RAW_BYTES + 4 - this.#headText.length);
      }
      return;
    }
    this.#bytes += chunk.length;
    const room = this.#head!.length - this.#headLength;
    if (room > 0) {
      const add = chunk.subarray(0, room);
      this.#head!.set(add, this.#headLength);
      this.#headLength += add.length;
    }
  }

  /** An unsupported Content-Type or charset: one dead letter for the body. */
  #endUnsupported(): void {
    const head = this.#head!.subarray(0, this.#headLength);
    this.#head = undefined;
    const type = mediaType(this.#contentType);
    let text: string;
    if (this.#isText) {
      text = this.#headText;
      if (text.charCodeAt(0) === 0xfeff) {
        text = text.slice(1);
      }
    } else if (this.#charsetProblem === undefined && !this.#utf8) {
      try {
        text = new TextDecoder(type.charset).decode(head);
      } catch {
        text = new TextDecoder().decode(head);
      }
    } else {
      text = new TextDecoder().decode(head);
      if (head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf) this.#bomBytes = 3;
    }
    const format = type.format ?? guessFormat(this.#isText ? this.#headText : head);
    const mapper = new RowMapper(this.#ctx, format);
    this.#mapper = mapper;
    mapper.fail(
      "decoding",
      this.#charsetProblem ?? `Unsupported Content-Type: ${JSON.stringify(this.#contentType)}`,
      text,
      undefined,
      this.#pageSize(),
    );
    this.#placeDeadLetters();
  }
}

/** The format a dead letter names when the Content-Type names none. */
function guessFormat(body: string | Uint8Array): OpticalFormat {
  for (let i = 0; i < body.length && i < 64; i++) {
    const c = typeof body === "string" ? body.charCodeAt(i) : body[i];
    if (c === 0x5b || c === 0x7b) return "udl-eo-json"; // [ {
    if (
      c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0xef && c !== 0xbb &&
      c !== 0xbf && c !== 0xfeff
    ) {
      return "udl-eo-csv";
    }
  }
  return "udl-eo-csv";
}
