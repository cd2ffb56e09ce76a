/**
 * Bytes of ISL packets laid back to back → batches of observations, as the
 * bytes arrive (SPEC §6, §13).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { IngestBatch } from "../../operators/ingest_batch.ts";
import type { DecodeContext } from "../decode_context.ts";
import { IslStreamDecoder } from "./_isl_stream_decoder.ts";

/**
 * Decodes a stream of beacon packets laid back to back — an HTTP body
 * (`POST /ingest/isl`), a capture file — into {@link IngestBatch}es as the
 * chunks arrive, wherever they are cut: a packet split across chunks is
 * framed when its last byte arrives. The outcome is that of
 * `decodeIslPackets` over the whole input (same observations, same dead
 * letters, same indexes inferred for malformed packets), in input order:
 * each batch's `deadLetterAt` places its dead letters among its
 * observations. Memory does not grow with the input: one packet at most is
 * held, plus the malformed packets since the last sound beacon (which wait
 * for it to tell their index; bounded).
 *
 * `t_rx` is the receive time of the chunk that completed the packet.
 *
 * @example A beacon cut in two, then a packet with a damaged CRC
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeBeacon } from "./beacon.ts";
 * import { IslDecodeStream } from "./isl_decode_stream.ts";
 *
 * const bytes = new Uint8Array(2 * 96);
 * for (const index of [7, 8]) {
 *   encodeBeacon({
 *     apid: 1, seq: index, coarse: 2_174_299_237, fine: 0, index, observer: 60001,
 *     target: 60002, range_km: 370, range_rate_km_s: 0, range_sigma_km: 0.5,
 *     r_km: [7000, 0, 0], v_km_s: [0, 7.5, 0], flags: 7,
 *   }, bytes, (index - 7) * 96);
 * }
 * bytes[150] ^= 0xff;
 * const ctx = { source: "edge", transport: "worker" as const, peer: "p", deterministic: true };
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([bytes.subarray(0, 50), bytes.subarray(50)])
 *     .pipeThrough(new IslDecodeStream({ ctx })),
 * );
 * const observations = batches.flatMap((b) => b.observations);
 * const deadLetters = batches.flatMap((b) => b.deadLetters);
 * assert.equal(observations[0].provenance.ref, "7");
 * assert.match(deadLetters[0].reason, /^Bad CRC/);
 * assert.equal(deadLetters[0].ref, "8");
 * ```
 */
export class IslDecodeStream extends TransformStream<Uint8Array, IngestBatch> {
  /** Creates a decoder for one input (one body or capture). */
  constructor(options: { ctx: DecodeContext }) {
    const ctx = options.ctx;
    const decoder = new IslStreamDecoder(ctx);
    const emit = (controller: TransformStreamDefaultController<IngestBatch>) => {
      const out = decoder.take();
      if (out === undefined) return;
      controller.enqueue({
        observations: out.observations,
        deadLetters: out.deadLetters,
        deadLetterAt: out.deadLetterAt,
        acks: [],
        source: ctx.source,
        receivedAt: out.receivedAt,
      });
    };
    super({
      transform(chunk, controller) {
        if (!(chunk instanceof Uint8Array)) {
          throw new TypeError(
            `Cannot decode ISL packets from a ${typeof chunk}: expected Uint8Array`,
          );
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
