/**
 * The messages between the main thread and a decode worker
 * (`_decode_worker.ts`). Only plain data: observations cross as
 * {@link PackedObservations} in transferred buffers, never as objects.
 *
 * @module
 */

import type { DeadLetter } from "../../envelope/dead_letter.ts";
import type { Transport } from "../../envelope/observation.ts";
import type { PackedObservations } from "../../operators/ingest_batch.ts";
import type { DecodeContext } from "../../sources/decode_context.ts";
import type { RingMemory, RingRegion } from "./_ring.ts";

/** A {@link DecodeContext} as it can be posted: sets as arrays, a clock as a fixed time. */
export interface WireContext {
  source: string;
  transport: Transport;
  peer: string;
  client?: string;
  sensors?: string[];
  clientSensors?: string[];
  deterministic?: boolean;
  startedAt?: number;
  /** A fixed receive time, µs (an archive page's), instead of the clock. */
  receivedAt?: number;
}

/** What a worker decodes a stream of chunks with. */
export type StreamSpec =
  | {
    /** CCSDS TDM bytes (`TdmDecodeStream`). */
    kind: "tdm";
    ctx: WireContext;
    maxLineBytes?: number;
    groupIdleMs?: number;
    incompleteLastLine?: "decode" | "dead-letter";
    /**
     * Shared with the main thread: `Float64Array` word 0 is when its
     * outstanding socket read began (`performance.timeOrigin` +
     * `performance.now()`, ms) or NaN while it is not reading; `Int32Array`
     * word 2 counts the chunks posted (the idle rule, see `waitingSince`).
     */
    shared?: SharedArrayBuffer;
  }
  | {
    /** Whole ISL packets per chunk (`decodeIslPackets`). */
    kind: "isl-packets";
    ctx: WireContext;
  };

/** What a worker decodes in one go. */
export type PageSpec =
  /** `maxRecords`: an archive page's maxResults (absent for a replayed file). */
  | { kind: "optical"; ctx: WireContext; contentType: string; maxRecords?: number }
  | { kind: "isl-packets"; ctx: WireContext }
  /** Whole TDM messages (`decodeTdm`): a piece of a recorded stream. */
  | { kind: "tdm"; ctx: WireContext };

/** Decoder counts of a stream, as `TdmDecodeStats`. */
export interface StreamStats {
  lines: number;
  observations: number;
  deadLetters: number;
  deadLettersInARow: number;
}

/** Observations packed into the worker's ring (`_ring.ts`), not in buffers of their own. */
export interface RingPacked {
  region: RingRegion;
  count: number;
  linesBytes: number;
  /** Bytes of deferred id inputs after the lines (see `packObservations`), or -1: none. */
  inputsBytes: number;
  keys: string[];
}

/** A decoded batch as it crosses: packed observations and the dead letters. */
export interface WireBatch {
  /** Packed in buffers of their own, transferred (when the ring had no room). */
  packed?: PackedObservations;
  /** Packed in the ring. */
  ring?: RingPacked;
  deadLetters: DeadLetter[];
  deadLetterAt?: number[];
  receivedAt?: number;
}

/** Main thread → worker. */
export type ToWorker =
  /** First: the shared memory batches are packed into. */
  | { op: "init"; ring: RingMemory }
  | { op: "open"; stream: number; spec: StreamSpec }
  | { op: "chunk"; stream: number; bytes: Uint8Array }
  | { op: "end"; stream: number }
  | { op: "cancel"; stream: number }
  | { op: "page"; request: number; spec: PageSpec; bytes: Uint8Array }
  /** Tests only: the worker throws an uncaught error (a crash). */
  | { op: "crash" };

/** Worker → main thread. */
export type FromWorker =
  /** Answers `init`: the worker is running. */
  | { op: "ready" }
  | { op: "batch"; stream: number; batch: WireBatch; stats: StreamStats }
  /** One chunk was decoded (its batches were posted before). */
  | { op: "took"; stream: number; stats: StreamStats }
  | { op: "ended"; stream: number; stats: StreamStats }
  | { op: "failed"; stream: number; error: string }
  | { op: "page"; request: number; batch: WireBatch }
  | { op: "page-failed"; request: number; error: string };

/** The buffers of a batch's packed observations, to transfer. */
export function transferables(batch: WireBatch): ArrayBuffer[] {
  const p = batch.packed;
  if (p === undefined) return [];
  const arrays = [p.lines, p.ends, p.ids, p.received, p.observed, p.keyAt];
  if (p.idInputs !== undefined && p.idInputEnds !== undefined) {
    arrays.push(p.idInputs, p.idInputEnds);
  }
  return arrays.map((a) => a.buffer as ArrayBuffer);
}

/** A {@link WireContext} for `ctx` (its clock, if any, becomes `receivedAt`). */
export function wireContext(ctx: DecodeContext, receivedAt?: number): WireContext {
  const wire: WireContext = { source: ctx.source, transport: ctx.transport, peer: ctx.peer };
  if (ctx.client !== undefined) wire.client = ctx.client;
  if (ctx.sensors !== undefined) wire.sensors = [...ctx.sensors];
  if (ctx.clientSensors !== undefined) wire.clientSensors = [...ctx.clientSensors];
  if (ctx.deterministic) wire.deterministic = true;
  if (ctx.startedAt !== undefined) wire.startedAt = ctx.startedAt;
  if (receivedAt !== undefined) wire.receivedAt = receivedAt;
  return wire;
}

/** The {@link DecodeContext} a {@link WireContext} stands for. */
export function decodeContext(wire: WireContext): DecodeContext {
  const ctx: DecodeContext = { source: wire.source, transport: wire.transport, peer: wire.peer };
  if (wire.client !== undefined) ctx.client = wire.client;
  if (wire.sensors !== undefined) ctx.sensors = new Set(wire.sensors);
  if (wire.clientSensors !== undefined) ctx.clientSensors = new Set(wire.clientSensors);
  if (wire.deterministic) ctx.deterministic = true;
  if (wire.startedAt !== undefined) ctx.startedAt = wire.startedAt;
  const receivedAt = wire.receivedAt;
  if (receivedAt !== undefined) ctx.now = () => receivedAt;
  return ctx;
}
