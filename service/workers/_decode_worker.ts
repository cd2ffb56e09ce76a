/**
 * A decode worker (SPEC §1, issue 16): runs the portable decoders off the
 * main thread and hands back each batch's observations as serialised lines,
 * each id's input and times, in shared or transferred memory
 * (`packObservations` with `deferIds`), so the main thread only hashes the
 * ids, deduplicates and appends bytes. Started by `DecodePool`.
 *
 * @module
 */

/// <reference lib="deno.worker" />

import type { IngestBatch } from "../../operators/ingest_batch.ts";
import { type PackMemory, packObservations } from "../../operators/pack_observations.ts";
import { type RingRegion, RingWriter } from "./_ring.ts";
import { decodeIslPackets } from "../../sources/isl/decode_isl_packets.ts";
import { decodeOpticalPage } from "../../sources/optical/decode_optical_page.ts";
import { decodeTdm } from "../../sources/radar/decode_tdm.ts";
import { TdmDecodeStream } from "../../sources/radar/tdm_decode_stream.ts";
import {
  decodeContext,
  type FromWorker,
  type PageSpec,
  type StreamSpec,
  type StreamStats,
  type ToWorker,
  transferables,
  type WireBatch,
} from "./_protocol.ts";

interface Stream {
  writer: WritableStreamDefaultWriter<Uint8Array>;
  stats: () => StreamStats;
  /** Chunks decoded so far. */
  processed: number;
}

const streams = new Map<number, Stream>();
let ring: RingWriter | undefined;
let region: RingRegion | undefined;

/** Room in the ring for a batch, when there is. */
function inRing(bytes: number): PackMemory | undefined {
  region = ring?.allocate(bytes);
  return region === undefined ? undefined : { buffer: ring!.data, offset: region.start };
}

function post(message: FromWorker, transfer: ArrayBuffer[] = []): void {
  self.postMessage(message, transfer);
}

/** The batch as it crosses: observations packed, the rest as it is. */
function wireBatch(batch: Pick<IngestBatch, "observations" | "deadLetters">): WireBatch {
  const wire: WireBatch = { deadLetters: batch.deadLetters };
  if (batch.observations.length > 0) {
    region = undefined;
    const packed = packObservations(batch.observations, inRing, true);
    if (region !== undefined) {
      wire.ring = {
        region,
        count: packed.count,
        linesBytes: packed.lines.length,
        inputsBytes: packed.idInputs?.length ?? -1,
        keys: packed.keys,
      };
    } else {
      wire.packed = packed;
    }
  }
  const full = batch as IngestBatch;
  if (full.deadLetterAt !== undefined) wire.deadLetterAt = full.deadLetterAt;
  if (full.receivedAt !== undefined) wire.receivedAt = full.receivedAt;
  return wire;
}

function open(id: number, spec: StreamSpec): void {
  // Ids are hashed by the main thread (`fillPackedIds`), which has time to spare.
  const ctx = { ...decodeContext(spec.ctx), deferIds: true };
  let transform: TransformStream<Uint8Array, IngestBatch>;
  let stats: () => StreamStats;
  // deno-lint-ignore prefer-const
  let entry: Stream;
  if (spec.kind === "tdm") {
    const shared = spec.shared;
    const since = shared === undefined ? undefined : new Float64Array(shared, 0, 1);
    const posted = shared === undefined ? undefined : new Int32Array(shared, 8, 1);
    const decoder = new TdmDecodeStream({
      ctx,
      maxLineBytes: spec.maxLineBytes,
      groupIdleMs: spec.groupIdleMs,
      incompleteLastLine: spec.incompleteLastLine,
      waitingSince: since === undefined ? undefined : () => {
        // A chunk on its way here means input is queued, not that the
        // sender paused; otherwise the main thread's outstanding read.
        if (Atomics.load(posted!, 0) !== entry.processed) return undefined;
        const at = since[0];
        return Number.isNaN(at) ? undefined : at - performance.timeOrigin;
      },
    });
    transform = decoder;
    stats = () => decoder.stats;
  } else {
    const counts: StreamStats = { lines: 0, observations: 0, deadLetters: 0, deadLettersInARow: 0 };
    transform = new TransformStream<Uint8Array, IngestBatch>({
      transform(packets, controller) {
        const { observations, deadLetters } = decodeIslPackets(packets, ctx);
        counts.observations += observations.length;
        counts.deadLetters += deadLetters.length;
        controller.enqueue({ observations, deadLetters, acks: [], source: ctx.source });
      },
    });
    stats = () => counts;
  }
  entry = {
    writer: transform.writable.getWriter(),
    stats: () => {
      const s = stats();
      return {
        lines: s.lines,
        observations: s.observations,
        deadLetters: s.deadLetters,
        deadLettersInARow: s.deadLettersInARow,
      };
    },
    processed: 0,
  };
  streams.set(id, entry);
  (async () => {
    try {
      for await (const batch of transform.readable) {
        const wire = wireBatch(batch);
        post({ op: "batch", stream: id, batch: wire, stats: entry.stats() }, transferables(wire));
      }
      post({ op: "ended", stream: id, stats: entry.stats() });
    } catch (error) {
      post({ op: "failed", stream: id, error: describe(error) });
    } finally {
      streams.delete(id);
    }
  })();
}

function page(request: number, spec: PageSpec, bytes: Uint8Array): void {
  let wire: WireBatch;
  try {
    const ctx = { ...decodeContext(spec.ctx), deferIds: true };
    wire = wireBatch(
      spec.kind === "optical"
        ? decodeOpticalPage(bytes, spec.contentType, ctx, { maxRecords: spec.maxRecords })
        : spec.kind === "tdm"
        ? decodeTdm(bytes, ctx)
        : decodeIslPackets(bytes, ctx),
    );
  } catch (error) {
    post({ op: "page-failed", request, error: describe(error) });
    return;
  }
  post({ op: "page", request, batch: wire }, transferables(wire));
}

function describe(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

/** Tests: a crash was asked for. */
let crashing = false;

self.onmessage = (event: MessageEvent<ToWorker>) => {
  if (crashing) return;
  const message = event.data;
  switch (message.op) {
    case "init":
      ring = new RingWriter(message.ring);
      post({ op: "ready" });
      break;
    case "open":
      open(message.stream, message.spec);
      break;
    case "chunk": {
      const stream = streams.get(message.stream);
      if (stream === undefined) break;
      stream.writer.write(message.bytes).then(
        () => {
          // What the idle rule compares with the chunks the main thread posted.
          stream.processed++;
          post({ op: "took", stream: message.stream, stats: stream.stats() });
        },
        () => {}, // The reading side reports the failure.
      );
      break;
    }
    case "end":
      streams.get(message.stream)?.writer.close().catch(() => {});
      break;
    case "cancel": {
      const stream = streams.get(message.stream);
      streams.delete(message.stream);
      stream?.writer.abort("cancelled").catch(() => {});
      break;
    }
    case "page":
      page(message.request, message.spec, message.bytes);
      break;
    case "crash":
      // What comes after is never answered, as if the worker died on it;
      // then an uncaught error.
      crashing = true;
      setTimeout(() => {
        throw new Error("Decode worker crashed on request (test)");
      }, 10);
      break;
  }
};
