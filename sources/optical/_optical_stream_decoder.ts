/**
 * The state machine behind `OpticalDecodeStream` and the edge worker: an
 * archive page (CSV or JSON, SPEC §5) decoded record by record as its bytes
 * arrive.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import { MAX_RAW_BYTES } from "../../envelope/dead_letter.ts";
import type { OpticalObservation } from "../../envelope/observation.ts";
import type { DecodeContext } from "../decode_context.ts";
import { CsvChunker, type CsvRaw, type CsvSink } from "./_csv_chunker.ts";
import { type CsvColumns, csvColumns } from "./_decode_csv.ts";
import { decodeJson, decodeJsonRecord } from "./_decode_json.ts";
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
   * Longest CSV record or JSON element kept, in UTF-16 units (default
   * 1 MiB): a longer one is a `decoding` dead letter and is skipped, so
   * memory stays bounded whatever the body.
   */
  maxRecordChars?: number;
}

const EXTRA = -1;
const REPLACEMENT = "\ufffd";

/**
 * Decodes one page body incrementally, choosing CSV or JSON by its
 * Content-Type as `decodeOpticalPage` does, with the same observations and
 * the same dead letters for every record — in input order, holding one
 * record at a time. Differences, all for what cannot be known before the
 * end of a body: a JSON element that does not parse is a dead letter of its
 * own (`Cannot parse JSON record: …`) and the elements around it are still
 * decoded; a JSON array that breaks off (not closed, unbalanced, text after
 * it) is one dead letter from where it broke, after the elements before it;
 * a record with U+FFFD is a `not valid UTF-8` dead letter when invalid bytes
 * came at or before its end (for a whole page: anywhere in the page).
 */
export class OpticalStreamDecoder {
  #ctx: DecodeContext;
  #contentType: string;
  #max: number;
  #format: OpticalFormat | undefined;
  #mapper: RowMapper | undefined;
  #text: TextDecoder | undefined;
  /** Unsupported type or charset: the first bytes, for the one dead letter. */
  #head: Uint8Array | undefined;
  #headLength = 0;
  #charsetProblem: string | undefined;
  // UTF-8 validity: U+FFFD decoded against U+FFFD sent as such (EF BF BD).
  #utf8: boolean;
  #replacements = 0;
  #literal = 0;
  #tail = new Uint8Array(2);
  #textOffset = 0;
  /** Where (in text) the first undecodable bytes were, once seen. */
  #invalidFrom = Infinity;
  #csv: CsvChunker | undefined;
  #csvSink: CsvSink | undefined;
  #columns: CsvColumns | undefined;
  /** No text decoded yet: a byte order mark may come. */
  #atStart = true;
  #json: JsonArraySplitter | undefined;
  #jsonSink: JsonArraySink | undefined;
  /** JSON that is not an array: read whole, as a page is. */
  #whole: string | undefined;
  /** …and too big to read whole: dead-lettered by its beginning, the rest ignored. */
  #wholeTooBig = false;
  #dead = 0;
  #deadLetterAt: number[] = [];

  /**
   * @param ctx where the body comes from
   * @param contentType the body's Content-Type (`text/csv`, `application/json`, …)
   */
  constructor(ctx: DecodeContext, contentType: string, options: OpticalStreamOptions = {}) {
    this.#ctx = ctx;
    this.#contentType = contentType;
    this.#max = options.maxRecordChars ?? 1024 * 1024;
    const type = mediaType(contentType);
    const charset = type.charset;
    this.#utf8 = charset === undefined || charset === "utf-8" || charset === "utf8" ||
      charset === "us-ascii";
    if (type.format === undefined) {
      this.#head = new Uint8Array(MAX_RAW_BYTES + 4);
      return;
    }
    this.#format = type.format;
    try {
      // The BOM is dropped by hand (see #decode): Deno's streaming decoder
      // also drops a U+FEFF that arrives at the start of a later chunk.
      this.#text = new TextDecoder(this.#utf8 ? "utf-8" : charset, { ignoreBOM: true });
    } catch {
      this.#charsetProblem = `Unsupported charset: "${charset}"`;
      this.#head = new Uint8Array(MAX_RAW_BYTES + 4);
      return;
    }
    this.#mapper = new RowMapper(ctx, type.format);
    if (type.format === "udl-eo-csv") {
      this.#csv = new CsvChunker(this.#max);
      this.#csvSink = {
        record: (fields, error, raw) => this.#csvRecord(fields, error, raw),
        tooLong: (head) =>
          this.#fail(
            `CSV record longer than ${this.#max} characters: skipped to its line end`,
            head,
          ),
      };
    } else {
      this.#json = new JsonArraySplitter(this.#max);
      this.#jsonSink = {
        element: (text, end) => this.#jsonElement(text, end),
        tooLong: (head) =>
          this.#fail(`JSON record longer than ${this.#max} characters: skipped`, head),
        broken: (reason, raw) => this.#fail(`Cannot parse JSON page: ${reason}`, raw),
      };
    }
  }

  /** Feeds the next bytes of the body. */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#head !== undefined) {
      const room = this.#head.length - this.#headLength;
      if (room > 0) {
        const add = bytes.subarray(0, room);
        this.#head.set(add, this.#headLength);
        this.#headLength += add.length;
      }
      return;
    }
    const text = this.#decode(bytes);
    if (this.#utf8) this.#check(bytes, text);
    this.#feed(text);
  }

  /** Ends the body. */
  end(): void {
    if (this.#head !== undefined) {
      this.#endUnsupported();
      return;
    }
    const text = this.#decode();
    if (this.#utf8 && text.length > 0) this.#check(new Uint8Array(0), text);
    this.#feed(text);
    if (this.#whole !== undefined) {
      const mapper = this.#mapper!;
      if (this.#wholeTooBig) {
        // Already dead-lettered.
      } else if (this.#invalidFrom !== Infinity) {
        mapper.fail("decoding", "JSON page is not valid UTF-8", this.#whole);
      } else {
        decodeJson(this.#whole, mapper);
      }
      this.#placeDeadLetters();
    } else if (this.#csv !== undefined) {
      this.#csv.end(this.#csvSink!);
    } else {
      this.#json!.end(this.#jsonSink!);
      this.#placeDeadLetters();
    }
  }

  /**
   * The text of the next bytes (none: the end), a byte order mark at the
   * very start of the body dropped — only there: a U+FEFF later on is text.
   */
  #decode(bytes?: Uint8Array): string {
    let text = bytes === undefined
      ? this.#text!.decode()
      : this.#text!.decode(bytes, { stream: true });
    if (this.#atStart && text.length > 0) {
      this.#atStart = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
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

  #feed(text: string): void {
    if (text.length === 0) return;
    if (this.#whole !== undefined) {
      this.#addWhole(text);
    } else if (this.#csv !== undefined) {
      this.#csv.push(text, this.#csvSink!);
    } else {
      const json = this.#json!;
      json.push(text, this.#jsonSink!);
      const notArray = json.notArray;
      if (notArray !== undefined) {
        this.#whole = "";
        this.#addWhole(notArray);
      }
    }
    this.#textOffset += text.length;
  }

  #addWhole(text: string): void {
    if (this.#wholeTooBig) return;
    if (this.#whole!.length + text.length <= this.#max) {
      this.#whole += text;
      return;
    }
    // Too big to read whole, and not an array all the same.
    const head = (this.#whole! + text).slice(0, 1024);
    this.#fail(`JSON page is not an array: it begins with ${JSON.stringify(head[0])}`, head);
    this.#wholeTooBig = true;
    this.#whole = "";
  }

  /**
   * Notes where the first undecodable bytes are: the decoder puts U+FFFD in
   * their place, and only there unless the body sent U+FFFD itself.
   */
  #check(bytes: Uint8Array, text: string): void {
    const first = text.indexOf(REPLACEMENT);
    if (first >= 0) {
      let count = 0;
      for (let i = first; i >= 0; i = text.indexOf(REPLACEMENT, i + 1)) count++;
      this.#replacements += count;
      // EF BF BD sequences completed by these bytes (the two before them included).
      const tail = this.#tail;
      const at = (i: number) => (i < 0 ? tail[2 + i] : bytes[i]);
      for (let i = 0; i < bytes.length; i++) {
        if (bytes[i] === 0xbd && at(i - 1) === 0xbf && at(i - 2) === 0xef) this.#literal++;
      }
      if (this.#replacements > this.#literal && this.#invalidFrom === Infinity) {
        this.#invalidFrom = this.#textOffset + first;
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
    const mapper = this.#mapper!;
    if (fields.length === 1 && fields[0] === "" && error === undefined) return;
    const columns = this.#columns;
    if (columns === undefined) {
      this.#columns = csvColumns(fields);
      return;
    }
    mapper.reset();
    const { names, roles } = columns;
    if (error !== undefined) {
      mapper.fail("decoding", `Cannot parse CSV record: ${error}`, raw().text);
    } else if (fields.length !== roles.length) {
      mapper.fail(
        "decoding",
        `CSV record has ${fields.length} fields, the header has ${roles.length}`,
        raw().text,
      );
    } else {
      const values = mapper.values;
      for (let j = 0; j < fields.length; j++) {
        const value = fields[j];
        // SPEC §5: an empty cell is an absent field.
        if (value === "") continue;
        const role = roles[j];
        if (role === EXTRA) {
          mapper.extraNames.push(names[j]);
          mapper.extraValues.push(value);
        } else {
          values[role] = value;
        }
      }
      let bad = false;
      if (this.#invalidFrom !== Infinity) {
        const { text, end } = raw();
        if (end > this.#invalidFrom && text.includes(REPLACEMENT)) {
          mapper.fail("decoding", "CSV record is not valid UTF-8", text);
          bad = true;
        }
      }
      if (!bad) {
        const failure = mapper.map();
        if (failure !== undefined) mapper.reject(failure, raw().text);
      }
    }
    this.#placeDeadLetters();
  }

  #jsonElement(text: string, end: number): void {
    const mapper = this.#mapper!;
    if (end > this.#invalidFrom && text.includes(REPLACEMENT)) {
      mapper.reset();
      mapper.fail("decoding", "JSON record is not valid UTF-8", text);
    } else {
      let record: unknown;
      try {
        record = JSON.parse(text);
      } catch (error) {
        mapper.reset();
        mapper.fail("decoding", `Cannot parse JSON record: ${(error as Error).message}`, text);
        this.#placeDeadLetters();
        return;
      }
      decodeJsonRecord(record, mapper);
    }
    this.#placeDeadLetters();
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

  /** An unsupported Content-Type or charset: one dead letter for the body. */
  #endUnsupported(): void {
    const head = this.#head!.subarray(0, this.#headLength);
    this.#head = undefined;
    const type = mediaType(this.#contentType);
    const format = type.format ?? guessFormat(head);
    const mapper = new RowMapper(this.#ctx, format);
    this.#mapper = mapper;
    let text: string;
    if (this.#charsetProblem === undefined && !this.#utf8) {
      try {
        text = new TextDecoder(type.charset).decode(head);
      } catch {
        text = new TextDecoder().decode(head);
      }
    } else {
      text = new TextDecoder().decode(head);
    }
    mapper.fail(
      "decoding",
      this.#charsetProblem ?? `Unsupported Content-Type: ${JSON.stringify(this.#contentType)}`,
      text,
    );
    this.#placeDeadLetters();
  }
}

/** The format a dead letter names when the Content-Type names none (as `decodeOpticalPage`). */
function guessFormat(body: Uint8Array): OpticalFormat {
  for (let i = 0; i < body.length && i < 64; i++) {
    const c = body[i];
    if (c === 0x5b || c === 0x7b) return "udl-eo-json"; // [ {
    if (
      c !== 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0xef && c !== 0xbb && c !== 0xbf
    ) {
      return "udl-eo-csv";
    }
  }
  return "udl-eo-csv";
}
