/**
 * A streaming tokenizer for one JSON array: text in, in pieces cut
 * anywhere; the source text of each top-level element out as soon as it is
 * complete, so a page of any size is decoded element by element without
 * holding more than one element.
 *
 * Why by hand: the JSON parsers on npm that stream (e.g. `@streamparser/json`)
 * build every value token by token in JavaScript, several times slower than
 * `JSON.parse` on the element text; this only finds where elements begin and
 * end (skipping strings with `indexOf`) and leaves the values to `JSON.parse`.
 *
 * Portable: web APIs only.
 *
 * @module
 */

/** Where the tokenizer hands its findings. */
export interface JsonArraySink {
  /** A complete element's text; `end` is its end in the whole input (UTF-16 units). */
  element(text: string, end: number): void;
  /** An element longer than the limit: its first characters (the rest is skipped). */
  tooLong(head: string, length: number): void;
  /** The input is not one well-formed array: the first characters of what broke it. */
  broken(reason: string, raw: string): void;
}

const enum State {
  /** Before the `[`. */
  Before,
  /** Inside the array, expecting an element (or `]` right after `[`). */
  Value,
  /** Inside an element. */
  Element,
  /** After the `]`: white space only. */
  After,
  /** Broken or not an array: the rest is ignored. */
  Done,
}

/** What a dead letter keeps of a broken input, in UTF-16 units. */
const HEAD = 1024;

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

/**
 * The tokenizer. Feed it with {@link JsonArraySplitter.push} and finish with
 * {@link JsonArraySplitter.end}; it reports to the sink passed each time.
 * Element boundaries follow JSON's grammar for strings (escapes included)
 * and brackets; the element text itself is checked by whoever parses it.
 * An input that does not begin with `[` is left to the caller
 * ({@link JsonArraySplitter.notArray}).
 *
 * Each piece is scanned once: the scanning state (depth, in a string, a
 * backslash run at the end of a piece) carries over to the next, and an
 * element's pieces are joined once, when it is complete — a long element
 * cut into many small pieces costs linear time.
 */
export class JsonArraySplitter {
  #max: number;
  #state = State.Before;
  /** Offset of the current piece in the whole input. */
  #base = 0;
  /** Bracket depth inside the current element, and whether in a string. */
  #depth = 0;
  #inString = false;
  /** In a string: the backslashes that ended the previous piece. */
  #backslashes = 0;
  /** True right after `[`: `[]` is an empty array, `[1,]` is not. */
  #empty = true;
  /** The current element's text in earlier pieces (none once dropped), and its length. */
  #pieces: string[] = [];
  #length = 0;
  /** Over the limit: the element's first characters (its text is no longer kept). */
  #dropped: string | undefined;
  /** Not an array: the input's first characters from its first that is not white space. */
  #notArray: string | undefined;
  /**
   * Why the input broke, and its text from there on as far as {@link HEAD}:
   * the dead letter waits for the end so that its raw does not depend on
   * where a piece happened to end.
   */
  #brokenReason: string | undefined;
  #brokenRaw = "";

  /** @param maxElementChars longest element kept between pieces, in UTF-16 units */
  constructor(maxElementChars: number) {
    this.#max = maxElementChars;
  }

  /**
   * The first characters of the input from the first one that is not white
   * space, when that is not `[`: the input is not an array, and the caller
   * reads it whole.
   */
  get notArray(): string | undefined {
    return this.#notArray;
  }

  /**
   * Feeds the next piece of text; `last` when no more follows, so that the
   * element under way is not cut for its length (it is in memory already).
   */
  push(text: string, sink: JsonArraySink, last = false): void {
    if (text.length === 0) return;
    if (this.#state === State.Done) {
      if (this.#brokenReason !== undefined && this.#brokenRaw.length < HEAD) {
        this.#brokenRaw += text.slice(0, HEAD - this.#brokenRaw.length);
      } else if (this.#notArray !== undefined && this.#notArray.length < HEAD) {
        this.#notArray += text.slice(0, HEAD - this.#notArray.length);
      }
      return;
    }
    const start = this.#run(text, sink);
    if (this.#state === State.Element) this.#keep(text, start, last);
    this.#base += text.length;
  }

  /** Ends the input. */
  end(sink: JsonArraySink): void {
    if (this.#brokenReason !== undefined) {
      sink.broken(this.#brokenReason, this.#brokenRaw);
      this.#brokenReason = undefined;
    }
    switch (this.#state) {
      case State.Before:
        sink.broken("the body is empty, not a JSON array", "");
        break;
      case State.Value:
      case State.Element:
        sink.broken(
          "the array is not closed (unexpected end of input)",
          this.#dropped ?? this.#head(),
        );
        break;
    }
    this.#state = State.Done;
    this.#pieces.length = 0;
  }

  /**
   * Scans `text`; returns where in it the element under way (if any)
   * starts: 0 when it started in an earlier piece.
   */
  #run(text: string, sink: JsonArraySink): number {
    const n = text.length;
    let i = 0;
    let start = 0;
    while (i < n) {
      const state = this.#state;
      if (state === State.Element) {
        if (this.#inString) {
          const q = this.#closingQuote(text, i);
          if (q < 0) {
            this.#endInString(text, i);
            return start;
          }
          this.#inString = false;
          i = q + 1;
          continue;
        }
        const c = text.charCodeAt(i);
        if (c === 34) {
          this.#inString = true;
          this.#backslashes = 0;
        } else if (c === 123 || c === 91) {
          this.#depth++;
        } else if (c === 125 || c === 93) {
          if (this.#depth === 0) {
            if (c === 125) return this.#fail("unbalanced '}'", text, i);
            this.#element(sink, text, start, i);
            this.#state = State.After;
          } else {
            this.#depth--;
          }
        } else if (c === 44 && this.#depth === 0) {
          this.#element(sink, text, start, i);
          this.#state = State.Value;
          this.#empty = false;
        }
        i++;
        continue;
      }
      const c = text.charCodeAt(i);
      if (isSpace(c)) {
        i++;
        continue;
      }
      switch (state) {
        case State.Before:
          if (c !== 91) {
            // Not an array: the caller decodes it whole (and tells what it is).
            this.#notArray = text.slice(i, i + HEAD);
            this.#state = State.Done;
            return 0;
          }
          this.#state = State.Value;
          break;
        case State.Value:
          if (c === 93) {
            if (!this.#empty) return this.#fail("a value is missing before ']'", text, i);
            this.#state = State.After;
            break;
          }
          if (c === 44) return this.#fail("a value is missing before ','", text, i);
          this.#state = State.Element;
          this.#depth = 0;
          start = i;
          continue;
        case State.After:
          return this.#fail(`unexpected ${show(c)} after the array`, text, i);
        default:
          return 0;
      }
      i++;
    }
    return start;
  }

  /**
   * The first quote at or after `from` that ends the string: one with an
   * even number of backslashes before it, counting those that ended the
   * previous piece when the run reaches the start of this one.
   */
  #closingQuote(text: string, from: number): number {
    let q = text.indexOf('"', from);
    while (q >= 0) {
      let k = q - 1;
      while (k >= 0 && text.charCodeAt(k) === 92) k--;
      let run = q - 1 - k;
      if (k < 0) run += this.#backslashes;
      if (run % 2 === 0) return q;
      q = text.indexOf('"', q + 1);
    }
    return -1;
  }

  /** A piece that ends inside a string: its trailing backslashes escape what follows. */
  #endInString(text: string, from: number): void {
    let k = text.length - 1;
    while (k >= from && text.charCodeAt(k) === 92) k--;
    const run = text.length - 1 - k;
    this.#backslashes = k < 0 ? this.#backslashes + run : run;
  }

  /** Keeps the part of `text` from `start` that belongs to the element under way. */
  #keep(text: string, start: number, last: boolean): void {
    this.#length += text.length - start;
    if (this.#dropped !== undefined) return;
    this.#pieces.push(start === 0 ? text : text.slice(start));
    if (!last && this.#length > this.#max) {
      this.#dropped = this.#head();
      this.#pieces.length = 0;
    }
  }

  /** The first characters of the element under way. */
  #head(): string {
    let head = "";
    for (const piece of this.#pieces) {
      head += piece.slice(0, HEAD - head.length);
      if (head.length >= HEAD) break;
    }
    return head;
  }

  /** Hands on the element that ends at `text[end]` (it began at `text[start]` or earlier). */
  #element(sink: JsonArraySink, text: string, start: number, end: number): void {
    const pieces = this.#pieces;
    if (this.#dropped !== undefined) {
      sink.tooLong(this.#dropped, this.#length + end);
      this.#dropped = undefined;
    } else {
      let element = text.slice(start, end);
      if (pieces.length > 0) element = pieces.join("") + element;
      let e = element.length;
      while (e > 0 && isSpace(element.charCodeAt(e - 1))) e--;
      const to = this.#base + end - (element.length - e);
      sink.element(e === element.length ? element : element.slice(0, e), to);
    }
    pieces.length = 0;
    this.#length = 0;
  }

  #fail(reason: string, text: string, at: number): number {
    this.#brokenReason = reason + ` at character ${this.#base + at}`;
    this.#brokenRaw = text.slice(at, at + HEAD);
    this.#state = State.Done;
    this.#pieces.length = 0;
    return 0;
  }
}

function show(c: number): string {
  return JSON.stringify(String.fromCharCode(c));
}
