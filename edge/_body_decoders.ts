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
   * A body of junk is cut off after 1,000 dead letters in a row and no
   * observation, as SPEC §3 cuts off a radar connection, so that no answer
   * is ~100 times its body ("dead letters must not amplify an attack").
   * `as`: what the body should be (`a TDM stream`), for the reason.
   * `validationCounts`: whether a `validation` dead letter counts. It does
   * for radar (§3); not for an archive page or a packet stream, whose
   * records that parse but fail a check (a sensor with a bad clock) cost
   * about their own size and are real input: the good ones after them are
   * still ingested (§3), however many come first.
   */
  readonly junkCut: { readonly as: string; readonly validationCounts: boolean };
  /** Feeds the next bytes of the body. */
  push(bytes: Uint8Array): void;
  /** Ends the body. */
  end(): void;
  /**
   * Ends a body cut off at the size limit (or a body that cannot be read
   * further): what its input completed is handed on — the radar
   * measurement open at the cut ends with the lines that came, as at a
   * connection's close (SPEC §4) — while an input the cut left unfinished
   * is not decoded (its value may be cut short): it is part of the rest.
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
    junkCut: { as: "a TDM stream", validationCounts: true },
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
  let empty = true;
  return {
    format,
    junkCut: {
      as: format === "udl-eo-json" ? "a UDL EO JSON page" : "a UDL EO CSV page",
      validationCounts: false,
    },
    push(bytes) {
      if (bytes.length > 0) empty = false;
      decoder.push(bytes);
    },
    // An empty body is an empty page, as the live source and replay take
    // an empty answer (a JSON decoder would call it no array).
    end: () => empty ? undefined : decoder.end(),
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
    junkCut: { as: "an ISL packet stream", validationCounts: false },
    push: (bytes) => decoder.push(bytes),
    end: () => decoder.end(),
    // Each packet is handed on as it completes: nothing to end.
    cut() {},
    take: () => decoder.take(),
  };
}
