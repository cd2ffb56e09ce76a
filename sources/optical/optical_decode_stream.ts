/**
 * Bytes of an archive page → batches of optical observations, as the bytes
 * arrive (SPEC §5, §13).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { IngestBatch } from "../../operators/ingest_batch.ts";
import type { DecodeContext } from "../decode_context.ts";
import { OpticalStreamDecoder, type OpticalStreamOptions } from "./_optical_stream_decoder.ts";

/** Options for {@link OpticalDecodeStream}. */
export interface OpticalDecodeStreamOptions extends OpticalStreamOptions {
  /** Where the page comes from: copied into every envelope and dead letter. */
  ctx: DecodeContext;
  /** The page's Content-Type: `text/csv` or `application/json` (parameters allowed). */
  contentType: string;
}

/**
 * Decodes one archive page — an HTTP response or request body — record by
 * record as its chunks arrive, wherever they are cut: CSV records (RFC
 * 4180, quoted fields across chunks included) and the elements of a JSON
 * array are mapped as soon as they are complete, so memory holds one record,
 * not the page. `decodeOpticalPage` is the same decoder handed the whole
 * page at once, so every record gives the observation or dead letter it
 * gives there (the rules: `OpticalStreamDecoder`), and each batch's
 * `deadLetterAt` places its dead letters among its observations in page
 * order.
 *
 * @example A CSV page cut in the middle of a record
 * ```ts
 * import assert from "node:assert/strict";
 * import { OpticalDecodeStream } from "./optical_decode_stream.ts";
 *
 * const csv = new TextEncoder().encode(
 *   "id,obTime,idSensor,satNo,ra,declination\n" +
 *     "EO-1,2026-11-25T12:00:00Z,MAUI-1,25544,123.4,-12.5\n" +
 *     "EO-2,2026-11-25T12:00:01Z,MAUI-1,25544,360,-12.5\n" +
 *     "EO-3,2026-11-25T12:00:02Z,MAUI-1,25544,1,2\n",
 * );
 * const ctx = { source: "edge", transport: "worker" as const, peer: "p", deterministic: true };
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([csv.subarray(0, 70), csv.subarray(70)])
 *     .pipeThrough(new OpticalDecodeStream({ ctx, contentType: "text/csv" })),
 * );
 * const observations = batches.flatMap((b) => b.observations);
 * assert.deepEqual(observations.map((o) => o.provenance.ref), ["EO-1", "EO-3"]);
 * const [batch] = batches.filter((b) => b.deadLetters.length > 0);
 * assert.equal(batch.deadLetters[0].reason, "ra value out of range [0, 360): 360");
 * // EO-2 comes after the batch's first observation (EO-1 or none, by the cut).
 * assert.equal(batch.deadLetterAt![0], batch.observations[0]?.provenance.ref === "EO-1" ? 1 : 0);
 * ```
 */
export class OpticalDecodeStream extends TransformStream<Uint8Array, IngestBatch> {
  /** Creates a decoder for one page. */
  constructor(options: OpticalDecodeStreamOptions) {
    const ctx = options.ctx;
    const decoder = new OpticalStreamDecoder(ctx, options.contentType, options);
    const emit = (controller: TransformStreamDefaultController<IngestBatch>) => {
      const out = decoder.take();
      if (out === undefined) return;
      controller.enqueue({
        observations: out.observations,
        deadLetters: out.deadLetters,
        deadLetterAt: out.deadLetterAt,
        acks: [],
        source: ctx.source,
      });
    };
    super({
      transform(chunk, controller) {
        if (!(chunk instanceof Uint8Array)) {
          throw new TypeError(`Cannot decode a page from a ${typeof chunk}: expected Uint8Array`);
        }
        decoder.push(chunk);
        emit(controller);
      },
      flush(controller) {
        decoder.end();
        emit(controller);
      },
    });
  }
}
