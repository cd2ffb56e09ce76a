/**
 * Split bytes into lines with a bound on line length.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** A line that could not be handed on as text. */
export interface LineFault {
  /** `"too-long"`: over `maxLineBytes`; `"invalid-utf8"`: not UTF-8. */
  readonly fault: "too-long" | "invalid-utf8";
  /** The line as far as it was kept (at most `maxLineBytes`), decoded leniently. */
  readonly raw: string;
}

/** One line of text (without its terminator), or a fault in its place. */
export type SplitLine = string | LineFault;

/** Options for {@link LineSplitStream}. */
export interface LineSplitStreamOptions {
  /** Longest line accepted, in bytes, without its terminator (default 4096). */
  maxLineBytes?: number;
}

const LF = 10;
const CR = 13;

/**
 * Splits a byte stream at LF (a CR before it is dropped, so CRLF works too)
 * and emits, for every input chunk, the array of complete lines it finished.
 *
 * A line longer than `maxLineBytes` is reported as a `"too-long"` fault as
 * soon as it passes the bound; the rest of it is skipped up to the next LF, so
 * the buffer never grows past the bound. A line that is not valid UTF-8 is an
 * `"invalid-utf8"` fault. Either way the following lines are unaffected, and
 * every line, good or bad, takes one place in the output, so line numbers
 * stay right.
 *
 * LF never occurs inside a multi-byte UTF-8 sequence, so splitting on bytes
 * first is safe; complete lines of a chunk are then decoded in one call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineSplitStream } from "./line_split_stream.ts";
 *
 * const bytes = new TextEncoder().encode("A = 1\r\nTOO LONG\nB = 2\n");
 * const out = await Array.fromAsync(
 *   ReadableStream.from([bytes]).pipeThrough(new LineSplitStream({ maxLineBytes: 6 })),
 * );
 * assert.deepEqual(out.flat(), ["A = 1", { fault: "too-long", raw: "TOO LO" }, "B = 2"]);
 * ```
 */
export class LineSplitStream extends TransformStream<Uint8Array, SplitLine[]> {
  /** Creates a line splitter. */
  constructor(options: LineSplitStreamOptions = {}) {
    const max = options.maxLineBytes ?? 4096;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Cannot split lines with maxLineBytes below 1: ${max}`);
    }
    const splitter = new LineSplitter(max);
    super({
      transform(chunk, controller) {
        const lines = splitter.push(chunk);
        if (lines.length > 0) controller.enqueue(lines);
      },
      flush(controller) {
        const lines = splitter.end();
        if (lines.length > 0) controller.enqueue(lines);
      },
    });
  }
}

const fatal = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder("utf-8", { ignoreBOM: true });

/**
 * The splitting state machine behind {@link LineSplitStream}, for callers
 * that read bytes themselves (a socket adapter, a file reader).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LineSplitter } from "./line_split_stream.ts";
 *
 * const splitter = new LineSplitter(100);
 * const enc = new TextEncoder();
 * assert.deepEqual(splitter.push(enc.encode("ab")), []);
 * assert.deepEqual(splitter.push(enc.encode("c\nd")), ["abc"]);
 * assert.deepEqual(splitter.end(), ["d"]);
 * ```
 */
export class LineSplitter {
  #max: number;
  #pending: Uint8Array | undefined;
  #skipping = false;

  /** @param maxLineBytes longest line accepted, in bytes, without its terminator */
  constructor(maxLineBytes: number) {
    this.#max = maxLineBytes;
  }

  /** Bytes of the unfinished last line held now (never more than `maxLineBytes` + 1). */
  get buffered(): number {
    return this.#pending?.length ?? 0;
  }

  /** Feeds bytes; returns the lines they completed. */
  push(chunk: Uint8Array): SplitLine[] {
    const out: SplitLine[] = [];
    let start = 0;
    if (this.#skipping) {
      const lf = chunk.indexOf(LF);
      if (lf < 0) return out;
      this.#skipping = false;
      start = lf + 1;
    }
    if (this.#pending !== undefined) {
      const lf = chunk.indexOf(LF, start);
      if (lf < 0) {
        this.#hold(chunk.subarray(start), out);
        return out;
      }
      const pending = this.#pending;
      this.#pending = undefined;
      const line = new Uint8Array(pending.length + lf - start);
      line.set(pending);
      line.set(chunk.subarray(start, lf), pending.length);
      this.#line(line, out);
      start = lf + 1;
    }
    const last = chunk.lastIndexOf(LF);
    if (last >= start) {
      this.#lines(chunk.subarray(start, last), out);
      start = last + 1;
    }
    if (start < chunk.length) this.#hold(chunk.subarray(start), out);
    return out;
  }

  /** Ends the input: an unterminated last line is returned as a line. */
  end(): SplitLine[] {
    const out: SplitLine[] = [];
    const pending = this.#pending;
    this.#pending = undefined;
    this.#skipping = false;
    if (pending !== undefined && pending.length > 0) this.#line(pending, out);
    return out;
  }

  /** Keeps the start of an unfinished line, or reports it once it is too long. */
  #hold(bytes: Uint8Array, out: SplitLine[]): void {
    const held = this.#pending?.length ?? 0;
    // One byte of slack: a CR that may turn out to belong to a CRLF.
    if (held + bytes.length > this.#max + 1) {
      const prefix = new Uint8Array(this.#max);
      if (this.#pending) prefix.set(this.#pending.subarray(0, this.#max));
      if (held < this.#max) prefix.set(bytes.subarray(0, this.#max - held), held);
      out.push({ fault: "too-long", raw: lenient.decode(prefix) });
      this.#pending = undefined;
      this.#skipping = true;
      return;
    }
    if (this.#pending === undefined) {
      this.#pending = bytes.slice();
    } else {
      const joined = new Uint8Array(held + bytes.length);
      joined.set(this.#pending);
      joined.set(bytes, held);
      this.#pending = joined;
    }
  }

  /** Complete lines separated by LF (the region ends before its last LF). */
  #lines(region: Uint8Array, out: SplitLine[]): void {
    let text: string | undefined;
    try {
      text = fatal.decode(region);
    } catch {
      // Some line is not UTF-8: find it line by line.
    }
    if (text !== undefined) {
      const lines = text.split("\n");
      const max = this.#max;
      let slow = false;
      for (let i = 0; i < lines.length; i++) {
        let line = lines[i];
        if (line.charCodeAt(line.length - 1) === CR) line = line.slice(0, -1);
        // A UTF-16 code unit is 1–3 UTF-8 bytes: only long lines need a count.
        if (line.length * 3 > max && (line.length > max || utf8Length(line) > max)) {
          slow = true;
          break;
        }
        lines[i] = line;
      }
      if (!slow) {
        for (let i = 0; i < lines.length; i++) out.push(lines[i]);
        return;
      }
    }
    let start = 0;
    while (start <= region.length) {
      let lf = region.indexOf(LF, start);
      if (lf < 0) lf = region.length;
      this.#line(region.subarray(start, lf), out);
      start = lf + 1;
    }
  }

  #line(bytes: Uint8Array, out: SplitLine[]): void {
    if (bytes.length > 0 && bytes[bytes.length - 1] === CR) {
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    if (bytes.length > this.#max) {
      out.push({ fault: "too-long", raw: lenient.decode(bytes.subarray(0, this.#max)) });
      return;
    }
    try {
      out.push(fatal.decode(bytes));
    } catch {
      out.push({ fault: "invalid-utf8", raw: lenient.decode(bytes) });
    }
  }
}

function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c < 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
