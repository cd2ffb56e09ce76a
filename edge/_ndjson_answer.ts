/**
 * The edge worker's answer: the request body read, decoded and answered as
 * NDJSON in one pull-driven stream, so memory does not grow with the body.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../envelope/dead_letter.ts";
import { serializeDeadLetter, serializeObservation } from "../envelope/serialize.ts";
import { type DecodeContext, makeDeadLetter } from "../sources/decode_context.ts";
import { DEAD_LETTERS_IN_A_ROW } from "../sources/dead_letters_in_a_row.ts";
import type { BodyDecoder, OrderedOutput } from "./_body_decoders.ts";

/**
 * Input gathered before decoding, bytes. workerd hands a request body on in
 * 4 KiB chunks; decoding each on its own cost ~40 % more CPU per
 * observation than decoding 64 KiB at once (see bench/edge_bench.ts), the
 * fixed cost of a read and of a decoder pass being paid per chunk.
 */
const GATHER_BYTES = 64 * 1024;
/** …but no longer than this after the first byte of a gathering, ms: a slow sender still gets its answers. */
const GATHER_MS = 10;

const encoder = new TextEncoder();
const TIMEOUT = Symbol("timeout");

/**
 * Text handed on at once, UTF-16 units: pieces this small die young (V8
 * collects them in its young generation), where a whole pull's answer
 * (~200 KB) would be a large object that only a full collection frees —
 * measured in workerd, 100 MB of radar grew its RSS by ~100 MB that way.
 */
const PIECE_CHARS = 16 * 1024;

/** Dead letters since the last observation of an answer, counted across its pieces. */
export interface DeadLetterRun {
  /** Dead letters since the last observation (or the start). */
  inARow: number;
  /** Whether `validation` dead letters count (radar: all do, SPEC §3). */
  validationCounts: boolean;
}

/**
 * `out` as NDJSON lines, each dead letter at its place among the
 * observations, handed to `emit` in pieces of about {@link PIECE_CHARS}.
 * With `run`, the lines stop after the dead letter that makes
 * {@link DEAD_LETTERS_IN_A_ROW} in a row, and it returns true: as the
 * count follows input order, the cut falls at the same line whatever the
 * chunking of the body.
 */
export function ndjsonLines(
  out: OrderedOutput,
  emit: (text: string) => void,
  run?: DeadLetterRun,
): boolean {
  const { observations, deadLetters, deadLetterAt } = out;
  let text = "";
  let k = 0;
  for (let i = 0; i <= observations.length; i++) {
    while (k < deadLetters.length && (i === observations.length || deadLetterAt[k] <= i)) {
      text += serializeDeadLetter(deadLetters[k++]) + "\n";
      if (
        run !== undefined && counts(run, deadLetters[k - 1]) &&
        ++run.inARow >= DEAD_LETTERS_IN_A_ROW
      ) {
        emit(text);
        return true;
      }
    }
    if (i === observations.length) break;
    text += serializeObservation(observations[i]) + "\n";
    if (run !== undefined) run.inARow = 0;
    if (text.length >= PIECE_CHARS) {
      emit(text);
      text = "";
    }
  }
  if (text.length > 0) emit(text);
  return false;
}

/**
 * Input this long at least (characters of `raw`) makes a dead letter ten
 * times its size at most: a record of real data that failed validation.
 */
const REAL_RECORD_CHARS = 32;

/**
 * Whether `letter` counts towards the junk cut: every one for radar; for an
 * archive page or a packet stream, all but a `validation` dead letter of a
 * record of some size — a record that parsed and failed a check is real
 * input (the good ones after it are still ingested, SPEC §3), while `{}` or
 * a two-byte row would make an answer ~60 times its body.
 */
function counts(run: DeadLetterRun, letter: DeadLetter): boolean {
  if (run.validationCounts || letter.stage !== "validation") return true;
  const raw = letter.raw;
  const length = typeof raw === "string" ? raw.length : raw.base64.length;
  return length < REAL_RECORD_CHARS;
}

/**
 * The NDJSON answer to `body`: each pull reads what has arrived (up to
 * {@link GATHER_BYTES}), decodes it and enqueues the lines it completed —
 * so the body is read only as fast as the client takes the answer
 * (backpressure both ways), and neither is ever held whole. The answer
 * ends with a `transport` dead letter saying why, past `maxBodyBytes` (its
 * bytes up to the limit are decoded, whichever chunk crossed it, and what
 * they completed is ended — see {@link BodyDecoder.cut}; the body is read
 * no further) and, for a decoder with a `junkCutAs`, after
 * {@link DEAD_LETTERS_IN_A_ROW} dead letters in a row and no observation
 * (the rest is read, up to `maxBodyBytes`, but not decoded: the sender
 * still writing it gets the answer). Both cuts fall at the same place of
 * the answer whatever the chunking of the body (SPEC §13).
 */
export function ndjsonAnswer(
  body: ReadableStream<Uint8Array> | null,
  decoder: BodyDecoder,
  ctx: DecodeContext,
  maxBodyBytes: number,
): ReadableStream<Uint8Array> {
  const input = body === null ? undefined : openReader(body);
  let reading: Promise<ReadableStreamReadResult<Uint8Array>> | undefined;
  let received = 0;
  const run: DeadLetterRun = { inARow: 0, validationCounts: decoder.junkCut.validationCounts };
  const notFeed = `Not ${decoder.junkCut.as}: ${DEAD_LETTERS_IN_A_ROW} dead letters in a row ` +
    "and no observation; the rest was not decoded";
  // Room for a gathering that a last read took past GATHER_BYTES.
  let gathered = new Uint8Array(2 * GATHER_BYTES);
  let size = 0;
  const gather = (bytes: Uint8Array) => {
    if (size + bytes.length > gathered.length) {
      const grown = new Uint8Array(size + bytes.length);
      grown.set(gathered.subarray(0, size));
      gathered = grown;
    }
    gathered.set(bytes, size);
    size += bytes.length;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      let emitted = false;
      const emit = (text: string) => {
        controller.enqueue(encoder.encode(text));
        emitted = true;
      };
      const fail = (stage: "transport" | "decoding", reason: string) => {
        const letter = makeDeadLetter(ctx, decoder.format, { stage, reason, raw: "" });
        emit(serializeDeadLetter(letter) + "\n");
        input?.reader.cancel().catch(() => {});
        controller.close();
      };
      /**
       * Reads the rest of a junk body without decoding it (up to
       * `maxBodyBytes` in all), then ends the answer: a body cancelled
       * under a sender still writing it broke its pipe (fetch failed
       * with EPIPE), so it never read the answer that says why.
       */
      const discardRest = async () => {
        const letter = makeDeadLetter(ctx, decoder.format, {
          stage: "transport",
          reason: notFeed,
          raw: "",
        });
        emit(serializeDeadLetter(letter) + "\n");
        try {
          while (input !== undefined && received <= maxBodyBytes) {
            const result = await (reading ?? input.read());
            reading = undefined;
            if (result.done) break;
            received += result.value.length;
            input.recycle(result.value);
          }
        } catch {
          // The sender went away: nothing left to answer.
        }
        input?.reader.cancel().catch(() => {});
        controller.close();
      };
      /** Hands on what the decoder completed; false once the answer is cut off. */
      const flush = async () => {
        const out = decoder.take();
        if (out === undefined || !ndjsonLines(out, emit, run)) return true;
        await discardRest();
        return false;
      };
      try {
        if (input === undefined) {
          decoder.end();
          if (await flush()) controller.close();
          return;
        }
        // Until this pull has answered something: a pull that enqueues
        // nothing is not called again (highWaterMark 0), so returning
        // after input that completed no line (comments, blank lines, the
        // start of a long record) left the request hanging for ever.
        while (!emitted) {
          size = 0;
          let done = false;
          let over = false;
          let timer: ReturnType<typeof setTimeout> | undefined;
          let deadline: Promise<typeof TIMEOUT> | undefined;
          while (size < GATHER_BYTES) {
            reading ??= input.read();
            let result: ReadableStreamReadResult<Uint8Array> | typeof TIMEOUT;
            if (size === 0) {
              result = await reading;
            } else {
              deadline ??= new Promise((resolve) =>
                timer = setTimeout(resolve, GATHER_MS, TIMEOUT)
              );
              result = await Promise.race([reading, deadline]);
              if (result === TIMEOUT) break;
            }
            reading = undefined;
            if (result.done) {
              done = true;
              break;
            }
            const chunk = result.value;
            received += chunk.length;
            if (received > maxBodyBytes) {
              // The chunk's bytes below the limit are input like any
              // other: dropping them with the rest made the answer depend
              // on where the sender's chunks happened to be cut.
              gather(chunk.subarray(0, chunk.length - (received - maxBodyBytes)));
              over = true;
              break;
            }
            gather(chunk);
            input.recycle(chunk);
          }
          clearTimeout(timer);
          // One decoder pass for the gathering, not one per chunk.
          if (size > 0) decoder.push(gathered.subarray(0, size));
          if (done) decoder.end();
          else if (over) decoder.cut();
          if (!(await flush())) return;
          if (over) {
            fail("transport", `Body larger than ${maxBodyBytes} bytes: the rest was not read`);
            return;
          }
          if (done) {
            controller.close();
            return;
          }
        }
      } catch (error) {
        const text = error instanceof Error ? error.message : String(error);
        if (error instanceof BodyReadError) {
          // A gzip stream cut short or damaged, the client gone: the input's
          // fault. What arrived before is answered first, ended as at the
          // size limit.
          try {
            if (size > 0) decoder.push(gathered.subarray(0, size));
            size = 0;
            decoder.cut();
            if (!(await flush())) return;
          } catch {
            // Answered below.
          }
          fail("transport", `Cannot read the rest of the body: ${text}`);
        } else {
          // A fault of this worker, not of the input: the answer says so.
          fail("decoding", `Internal error: ${text}`);
        }
      }
    },
    cancel(reason) {
      return input?.reader.cancel(reason);
    },
  }, { highWaterMark: 0 });
}

/** The body could not be read (see {@link openReader}). */
class BodyReadError extends Error {
  constructor(cause: unknown) {
    super(cause instanceof Error ? cause.message : String(cause), { cause });
    this.name = "BodyReadError";
  }
}

function bodyReadError(cause: unknown): never {
  throw new BodyReadError(cause);
}

/** A body reader that reuses one buffer where the stream allows it; its reads fail with {@link BodyReadError}. */
interface BodyReader {
  reader: ReadableStreamBYOBReader | ReadableStreamDefaultReader<Uint8Array>;
  read(): Promise<ReadableStreamReadResult<Uint8Array>>;
  /** Gives back the buffer of a chunk that was copied away. */
  recycle(chunk: Uint8Array): void;
}

/**
 * A BYOB reader into one reused 64 KiB buffer when the body is a byte
 * stream (it is in workerd and Deno): a default reader allocates a buffer
 * per chunk, and in workerd those were freed so late that 100 MB read and
 * dropped grew its RSS by ~85 MB (BYOB: ~15 MB), at twice the CPU.
 */
function openReader(body: ReadableStream<Uint8Array>): BodyReader {
  let byob: ReadableStreamBYOBReader | undefined;
  try {
    byob = body.getReader({ mode: "byob" });
  } catch {
    // Not a byte stream: a default reader it is.
  }
  if (byob === undefined) {
    const reader = body.getReader();
    return { reader, read: () => reader.read().catch(bodyReadError), recycle() {} };
  }
  const reader = byob;
  let buffer: ArrayBuffer | undefined = new ArrayBuffer(GATHER_BYTES);
  return {
    reader,
    read() {
      const into = new Uint8Array(buffer ?? new ArrayBuffer(GATHER_BYTES));
      buffer = undefined;
      return (reader.read(into) as Promise<ReadableStreamReadResult<Uint8Array>>).catch(
        bodyReadError,
      );
    },
    recycle(chunk) {
      buffer = chunk.buffer as ArrayBuffer;
    },
  };
}
