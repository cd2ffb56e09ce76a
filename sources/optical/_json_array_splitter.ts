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
  /** After an element, expecting `,` or `]`. */
  Separator,
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
 */
export class JsonArraySplitter {
  #max: number;
  #state = State.Before;
  /** Unconsumed text, from the start of the current element. */
  #text = "";
  /** Offset of `#text` in the whole input. */
  #base = 0;
  /** Where scanning resumes in `#text`, and where the current element starts. */
  #scan = 0;
  /** Bracket depth inside the current element, and whether in a string. */
  #depth = 0;
  #inString = false;
  /** True right after `[`: `[]` is an empty array, `[1,]` is not. */
  #empty = true;
  /** Over the limit: the element's first characters (its text is no longer kept). */
  #dropped: string | undefined;
  #droppedLength = 0;
  #notArray = false;
  /**
   * Why the input broke, and its text from there on as far as {@link HEAD}:
   * the dead letter waits for the end so that its raw does not depend on
   * where a chunk happened to end.
   */
  #brokenReason: string | undefined;
  #brokenRaw = "";

  /** @param maxElementChars longest element kept, in UTF-16 units */
  constructor(maxElementChars: number) {
    this.#max = maxElementChars;
  }

  /**
   * The text from the first character that is not white space, when that is
   * not `[`: the input is not an array, and the caller reads it whole.
   */
  get notArray(): string | undefined {
    return this.#notArray ? this.#text : undefined;
  }

  /** Feeds the next piece of text. */
  push(text: string, sink: JsonArraySink): void {
    if (this.#state === State.Done || text.length === 0) {
      if (this.#brokenReason !== undefined && this.#brokenRaw.length < HEAD) {
        this.#brokenRaw += text.slice(0, HEAD - this.#brokenRaw.length);
      }
      return;
    }
    this.#text = this.#text.length === 0 ? text : this.#text + text;
    this.#run(sink);
    if (this.#state !== State.Element) return;
    if (this.#dropped === undefined && this.#scan > this.#max) {
      this.#dropped = this.#text.slice(0, HEAD);
    }
    if (this.#dropped !== undefined) {
      // Only the scanning state is kept now, and a backslash run that a
      // quote in the next piece may follow.
      let k = this.#scan;
      while (k > 0 && this.#text.charCodeAt(k - 1) === 92) k--;
      this.#droppedLength += k;
      this.#base += k;
      this.#text = this.#text.slice(k);
      this.#scan -= k;
    }
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
      case State.Separator:
        sink.broken(
          "the array is not closed (unexpected end of input)",
          this.#dropped ?? this.#text.slice(0, HEAD),
        );
        break;
    }
    this.#state = State.Done;
  }

  #run(sink: JsonArraySink): void {
    const text = this.#text;
    const n = text.length;
    let i = this.#scan;
    // Only an element under way is kept: it starts at the start of #text.
    let start = 0;
    while (i < n) {
      const state = this.#state;
      if (state === State.Element) {
        if (this.#inString) {
          let q = text.indexOf('"', i);
          while (q >= 0 && escaped(text, q)) q = text.indexOf('"', q + 1);
          if (q < 0) {
            i = n;
            break;
          }
          this.#inString = false;
          i = q + 1;
          continue;
        }
        const c = text.charCodeAt(i);
        if (c === 34) {
          this.#inString = true;
        } else if (c === 123 || c === 91) {
          this.#depth++;
        } else if (c === 125 || c === 93) {
          if (this.#depth === 0) {
            if (c === 125) return this.#fail("unbalanced '}'", text, i);
            if (!this.#element(sink, text, start, i)) return;
            this.#state = State.After;
          } else {
            this.#depth--;
          }
        } else if (c === 44 && this.#depth === 0) {
          if (!this.#element(sink, text, start, i)) return;
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
            this.#notArray = true;
            this.#state = State.Done;
            this.#text = text.slice(i);
            return;
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
        case State.Separator:
          break;
        case State.After:
          return this.#fail(`unexpected ${show(c)} after the array`, text, i);
        default:
          return;
      }
      i++;
    }
    if (this.#state === State.Element) {
      // Keep the text of the element under way.
      if (start > 0) {
        this.#base += start;
        this.#text = text.slice(start);
      }
      this.#scan = n - start;
    } else {
      this.#base += n;
      this.#text = "";
      this.#scan = 0;
    }
  }

  /** Hands on the element `text[start, end)`; false when the input broke. */
  #element(sink: JsonArraySink, text: string, start: number, end: number): boolean {
    if (this.#dropped !== undefined) {
      sink.tooLong(this.#dropped, this.#droppedLength + end);
      this.#dropped = undefined;
      this.#droppedLength = 0;
      return true;
    }
    let e = end;
    while (e > start && isSpace(text.charCodeAt(e - 1))) e--;
    sink.element(text.slice(start, e), this.#base + e);
    return true;
  }

  #fail(reason: string, text: string, at: number): void {
    this.#brokenReason = reason + ` at character ${this.#base + at}`;
    this.#brokenRaw = text.slice(at, at + HEAD);
    this.#state = State.Done;
    this.#text = "";
  }
}

/** Whether the quote at `q` is escaped (an odd number of backslashes before it). */
function escaped(text: string, q: number): boolean {
  let k = q - 1;
  while (k >= 0 && text.charCodeAt(k) === 92) k--;
  return (q - 1 - k) % 2 === 1;
}

function show(c: number): string {
  return JSON.stringify(String.fromCharCode(c));
}
