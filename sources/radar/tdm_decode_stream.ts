/**
 * Bytes of CCSDS TDM (KVN) → batches of radar observations (SPEC §4).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import { LineSplitter } from "../../operators/line_split_stream.ts";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import { type DecodeContext, receiveTime } from "../decode_context.ts";
import { TdmDecoder } from "./_tdm_decoder.ts";

const lenient = new TextDecoder();

/** How late an idle timer may run before its verdict is checked again, ms. */
const CONFIRM_MS = 5;
/** How long a group stays open for the rest of a line whose start arrived, ms. */
const PARTIAL_LINE_MS = 1000;

/** Options for {@link TdmDecodeStream}. */
export interface TdmDecodeStreamOptions {
  /** Where the bytes come from: copied into every envelope and dead letter. */
  ctx: DecodeContext;
  /** Longest line accepted, in bytes without its terminator (default 4096). */
  maxLineBytes?: number;
  /**
   * Close the open group when no line has arrived for this long, so the last
   * measurement of a pass is not held back (default 20). `Infinity` disables
   * it, so that grouping does not depend on timing (replay).
   */
  groupIdleMs?: number;
  /**
   * What to do with a last line that has no line end when the input ends.
   * `"decode"` (the default) reads it like any line: right for a file or an
   * HTTP body. `"dead-letter"` makes it a `framing` dead letter: right for a
   * TCP connection, where it means the peer went away in the middle of the
   * line and its value may be cut short.
   */
  incompleteLastLine?: "decode" | "dead-letter";
  /**
   * For a transport that knows it: since when (`performance.now()` ms) it
   * has been waiting for the sender — a read outstanding with nothing
   * arrived — or `undefined` while it is not reading (backpressure). The
   * idle rule then closes a group only after the transport itself waited
   * `groupIdleMs`: a pipeline that stopped reading never splits an
   * observation whose rest sits unread in the socket buffer.
   */
  waitingSince?: () => number | undefined;
}

/** What a {@link TdmDecodeStream} has done so far. */
export interface TdmDecodeStats {
  /** Lines read (good or bad, blank lines included). */
  lines: number;
  /** Observations emitted. */
  observations: number;
  /** Dead letters emitted. */
  deadLetters: number;
  /** Dead letters emitted since the last observation (or the start). */
  deadLettersInARow: number;
}

/**
 * Decodes a byte stream of CCSDS TDM 1.0/2.0 messages in keyword = value
 * notation — a socket, a file, an HTTP body — into {@link IngestBatch}es:
 * one per input chunk that completed something, plus one per idle flush.
 *
 * Consecutive data lines of a segment with the same timetag form one
 * observation, closed by a line with another timetag, `DATA_STOP`, the end
 * of the input, or `groupIdleMs` without a line. Every input that cannot
 * become an observation is a dead letter in the same batch.
 *
 * @example Two data lines with one timetag make one observation
 * ```ts
 * import assert from "node:assert/strict";
 * import { TdmDecodeStream } from "./tdm_decode_stream.ts";
 *
 * const tdm = `CCSDS_TDM_VERS = 2.0
 * CREATION_DATE = 2026-11-25T12:00:00
 * ORIGINATOR = XR1-OPS
 * META_START
 * TIME_SYSTEM = UTC
 * PARTICIPANT_1 = XR1
 * PARTICIPANT_2 = 49863
 * META_STOP
 * DATA_START
 * RANGE = 2026-11-25T12:00:01.5 1234.5
 * DOPPLER_INSTANTANEOUS = 2026-11-25T12:00:01.5 -1.25
 * DATA_STOP
 * `;
 * const ctx = { source: "xr1", transport: "tcp" as const, peer: "127.0.0.1:50312" };
 * const batches = await Array.fromAsync(
 *   ReadableStream.from([new TextEncoder().encode(tdm)])
 *     .pipeThrough(new TdmDecodeStream({ ctx })),
 * );
 * const [observation] = batches.flatMap((b) => b.observations);
 * assert.equal(observation.t_obs, "2026-11-25T12:00:01.500000Z");
 * assert.deepEqual(observation.measurement, { range_km: 1234.5, range_rate_km_s: -1.25 });
 * assert.equal(observation.provenance.ref, "XR1-OPS/2026-11-25T12:00:00#0@10");
 * ```
 */
export class TdmDecodeStream extends TransformStream<Uint8Array, IngestBatch> {
  #decoder: TdmDecoder;

  /** Creates a decoder for one input (one connection, file or body). */
  constructor(options: TdmDecodeStreamOptions) {
    const ctx = options.ctx;
    const maxLineBytes = options.maxLineBytes ?? 4096;
    const idleMs = options.groupIdleMs ?? 20;
    const incomplete = options.incompleteLastLine ?? "decode";
    if (!Number.isInteger(maxLineBytes) || maxLineBytes < 1) {
      throw new RangeError(`Cannot decode with maxLineBytes below 1: ${maxLineBytes}`);
    }
    if (!(idleMs >= 0)) {
      throw new RangeError(`Cannot decode with a negative groupIdleMs: ${idleMs}`);
    }
    if (incomplete !== "decode" && incomplete !== "dead-letter") {
      throw new TypeError(`Unknown incompleteLastLine mode: "${incomplete}"`);
    }
    let splitter = new LineSplitter(maxLineBytes);
    const decoder = new TdmDecoder(ctx, maxLineBytes);
    const source = ctx.source;
    const idle = Number.isFinite(idleMs);
    const waitingSince = options.waitingSince;
    let controller: TransformStreamDefaultController<IngestBatch>;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let dueAt = 0;
    let lastInput = 0;
    const emit = () => {
      const out = decoder.take();
      if (out === undefined) return;
      controller.enqueue({
        observations: out.observations,
        deadLetters: out.deadLetters,
        deadLetterAt: out.deadLetterAt,
        acks: [],
        source,
        receivedAt: out.receivedAt,
      });
    };
    const arm = (ms: number) => {
      dueAt = performance.now() + ms;
      timer = setTimeout(onTimer, ms);
    };
    // The idle flush: one timer per quiet spell, not one per read; it
    // re-arms itself for what is left of the spell when input arrived since
    // it was set. "Quiet" has to mean that the sender paused, not that this
    // side did not read — closing a group early splits an observation.
    const onTimer = () => {
      timer = undefined;
      if (!decoder.groupOpen) return;
      const now = performance.now();
      const desired = controller.desiredSize;
      if (desired !== null && desired <= 0) {
        // A batch waits for the consumer, so no input is taken: there may
        // be more of this observation queued upstream (backpressure). The
        // spell starts again.
        lastInput = now;
        arm(idleMs);
        return;
      }
      // The sender stopped in the middle of a line (a partial TCP write):
      // the rest is on its way — a lost segment is sent again after 200 ms
      // or more — unless the sender paused there, which must not hold the
      // measurement back until the connection idles out (SPEC §4).
      const spell = splitter.buffered > 0 ? Math.max(idleMs, PARTIAL_LINE_MS) : idleMs;
      let left = spell - (now - lastInput);
      if (waitingSince) {
        const since = waitingSince();
        // Not reading: the sender may not be quiet at all. Reading: the
        // spell counts from when this read began.
        left = since === undefined ? spell : Math.max(left, spell - (now - since));
      }
      if (left > 0.5) {
        arm(left);
        return;
      }
      if (now - dueAt > CONFIRM_MS) {
        // This timer ran late: the process did not run for a while (a GC
        // pause, a long task, the OS), and reads that completed meanwhile
        // may not have been delivered yet. Look again shortly.
        arm(CONFIRM_MS);
        return;
      }
      decoder.closeGroup();
      try {
        emit();
      } catch {
        // The readable side is already closed or errored: nothing to flush to.
      }
    };
    // The guard (SPEC §3) for what the decoder's own per-line guard does not
    // cover: the chunk becomes one dead letter, and the splitter, which may
    // hold part of a line it can no longer be trusted with, starts afresh.
    const guard = (doing: string, error: unknown, chunk?: Uint8Array) => {
      splitter = new LineSplitter(maxLineBytes);
      decoder.fail(doing, chunk === undefined ? undefined : lenient.decode(chunk), error);
    };
    const stopTimer = () => {
      clearTimeout(timer);
      timer = undefined;
    };
    super(
      {
        start(c) {
          controller = c;
        },
        transform(chunk) {
          if (!(chunk instanceof Uint8Array)) {
            throw new TypeError(`Cannot decode TDM from a ${typeof chunk}: expected Uint8Array`);
          }
          lastInput = performance.now();
          try {
            const lines = splitter.push(chunk);
            if (lines.length === 0) return;
            decoder.push(lines, receiveTime(ctx));
          } catch (error) {
            guard("reading a chunk of input", error, chunk);
          }
          emit();
          if (idle && decoder.groupOpen && timer === undefined) arm(idleMs);
        },
        flush() {
          stopTimer();
          try {
            const receivedAt = receiveTime(ctx);
            const last = splitter.end();
            if (last.length > 0) {
              const line = last[0];
              if (incomplete === "dead-letter" && typeof line === "string") {
                decoder.incomplete(line, receivedAt);
              } else {
                decoder.push(last, receivedAt);
              }
            }
            decoder.end(receivedAt);
          } catch (error) {
            guard("ending the input", error);
          }
          emit();
        },
        cancel() {
          stopTimer();
        },
      } as Transformer<Uint8Array, IngestBatch>,
      undefined,
      {
        // One batch may wait unread: then desiredSize ≤ 0 tells the idle timer
        // exactly when input is held back by backpressure.
        highWaterMark: 1,
      },
    );
    this.#decoder = decoder;
  }

  /** Lines read, observations and dead letters emitted so far. */
  get stats(): TdmDecodeStats {
    return this.#decoder.counts;
  }
}
