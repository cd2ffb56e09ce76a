/**
 * The three feeds as incremental body decoders for the edge worker: bytes
 * in as they arrive, observations and dead letters out in input order.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DeadLetter } from "../envelope/dead_letter.ts";
import type { Format, Observation } from "../envelope/observation.ts";
import { LineSplitter } from "../operators/line_split_stream.ts";
import { type DecodeContext, receiveTime } from "../sources/decode_context.ts";
import { IslStreamDecoder } from "../sources/isl/_isl_stream_decoder.ts";
import { mediaType } from "../sources/optical/_media_type.ts";
import { OpticalStreamDecoder } from "../sources/optical/_optical_stream_decoder.ts";
import { TdmDecoder } from "../sources/radar/_tdm_decoder.ts";

/** What a body decoder completed: `deadLetterAt[k]` observations precede dead letter `k`. */
export interface OrderedOutput {
  observations: Observation[];
  deadLetters: DeadLetter[];
  deadLetterAt: number[];
}

/** A body decoder. */
export interface BodyDecoder {
  /** The format its dead letters name. */
  readonly format: Format;
  /**
   * What the body should be — `a TDM stream` — where a body of junk is cut
   * off after 1,000 dead letters in a row and no observation, as SPEC §3
   * cuts off a radar connection; absent where the feed's bodies are read
   * to their end, as an archive page or a gateway's answer is (§3: the next
   * good record on the same page or datagram is still ingested).
   */
  readonly junkCutAs?: string;
  /** Feeds the next bytes of the body. */
  push(bytes: Uint8Array): void;
  /** Ends the body. */
  end(): void;
  /**
   * Ends a body cut off at the size limit: what its input completed is
   * handed on — a radar measurement whose lines all came, as a connection
   * that closes ends it — while an input the cut left unfinished is not
   * decoded (its value may be cut short): it is part of the rest, unread.
   */
  cut(): void;
  /** What was completed since the last call, or undefined. */
  take(): OrderedOutput | undefined;
}

/** Longest TDM line, as the radar source's default (SPEC §4). */
const MAX_LINE_BYTES = 4096;

/** A CCSDS TDM (KVN) body: lines as they complete, grouped as over TCP. */
export function radarBody(ctx: DecodeContext): BodyDecoder {
  const splitter = new LineSplitter(MAX_LINE_BYTES);
  const decoder = new TdmDecoder(ctx, MAX_LINE_BYTES);
  return {
    format: "ccsds-tdm-kvn",
    junkCutAs: "a TDM stream",
    push(bytes) {
      const lines = splitter.push(bytes);
      if (lines.length > 0) decoder.push(lines, receiveTime(ctx));
    },
    end() {
      const receivedAt = receiveTime(ctx);
      // An HTTP body that ends without a line end ends its last line.
      const last = splitter.end();
      if (last.length > 0) decoder.push(last, receivedAt);
      decoder.end(receivedAt);
    },
    cut() {
      decoder.end(receiveTime(ctx));
    },
    take: () => decoder.take(),
  };
}

/** An archive page body, CSV or JSON by its Content-Type. */
export function opticalBody(ctx: DecodeContext, contentType: string): BodyDecoder {
  const decoder = new OpticalStreamDecoder(ctx, contentType);
  const format = mediaType(contentType).format ?? "udl-eo-csv";
  return {
    format,
    push: (bytes) => decoder.push(bytes),
    end: () => decoder.end(),
    // Each record is handed on as it completes: nothing to end.
    cut() {},
    take: () => decoder.take(),
  };
}

/** Beacon packets back to back. */
export function islBody(ctx: DecodeContext): BodyDecoder {
  const decoder = new IslStreamDecoder(ctx);
  return {
    format: "isl-spp",
    push: (bytes) => decoder.push(bytes),
    end: () => decoder.end(),
    // Each packet is handed on as it completes: nothing to end.
    cut() {},
    take: () => decoder.take(),
  };
}
