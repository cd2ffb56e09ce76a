/**
 * The optical source's transport (SPEC §5): pull pages of EO observations
 * from an HTTP archive, on demand, with a durable cursor.
 *
 * This is the runtime adapter: it uses `fetch` and timers. Decoding is the
 * portable {@link decodeOpticalPage}.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import { nowMicros } from "../../envelope/time.ts";
import type { Ack } from "../../operators/ack.ts";
import { CheckpointQueue } from "../../operators/checkpoint_queue.ts";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import { type DecodeContext, makeDeadLetter } from "../decode_context.ts";
import type { Checkpoint, Source, SourceState, SourceStatus } from "../source.ts";
import { backoffMs, retryAfterMs } from "./_retry.ts";
import { decodeOpticalPage } from "./decode_optical_page.ts";
import { sleep } from "../../operators/sleep.ts";

/** Options for {@link OpticalHttpSource}. */
export interface OpticalHttpSourceOptions {
  /** The configured source name (`provenance.source`). */
  name: string;
  /** The archive endpoint, e.g. `http://127.0.0.1:7002/udl/eoobservation` (`provenance.peer`). */
  url: string;
  /** Page format to ask for with `Accept` (default `"csv"`); the response's Content-Type decides. */
  accept?: "csv" | "json";
  /** `maxResults` per request (default 1000). */
  pageSize?: number;
  /** Wait after an empty or short page, ms (default 1000). */
  pollIntervalMs?: number;
  /** Abort a request (headers and body) after this long, ms (default 10000). */
  timeoutMs?: number;
  /** Bearer token, already read from the environment. Never logged. */
  token?: string;
  /** Without a saved cursor, start after this instant (`obTime=>…`). */
  startTime?: string;
  /** Where the cursor is kept (SPEC §8). */
  checkpoint: Checkpoint<string>;
  /** The fetch to use (default the global `fetch`). */
  fetch?: typeof fetch;
  /** Waits `ms`, resolving early when `signal` aborts (default: a timer). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Random numbers in [0, 1) for backoff jitter (default `Math.random`). */
  random?: () => number;
  /** The clock, µs since the Unix epoch (default the system clock). */
  now?: () => number;
  /** First backoff step after a failure, ms (default 250). */
  backoffBaseMs?: number;
  /** Longest backoff, ms (default 30000). */
  maxBackoffMs?: number;
  /** Wait after `401`/`403`, ms (default 30000): the token will not fix itself quickly. */
  authRetryMs?: number;
  /** Largest response body accepted, bytes (default 64 MiB); a larger one is a failed request. */
  maxPageBytes?: number;
}

/** Counters of {@link OpticalHttpSource}, all monotonic. */
export interface OpticalCounters {
  /** Requests sent. */
  requests: number;
  /** `200` pages with at least one record. */
  pages: number;
  /** `200`/`204` answers with no record (the archive has nothing newer). */
  empty_pages: number;
  /** Failed requests (any status but 200/204, timeouts, connection errors). */
  errors: number;
  /** Requests that repeat a cursor after a failure. */
  retries: number;
  /** `429` answers. */
  rate_limited: number;
  /** Requests aborted after `timeoutMs`. */
  timeouts: number;
  /** `401`/`403` answers. */
  auth_failures: number;
  /** Observations decoded (before dedupe). */
  observations: number;
  /** Dead letters of records and pages (decoding, validation). */
  dead_letters: number;
  /** Response body bytes received. */
  bytes: number;
  /** Cursors saved to the checkpoint. */
  checkpoints: number;
  [name: string]: number;
}

const MEDIA_TYPES = { csv: "text/csv", json: "application/json" } as const;
const FORMATS = { csv: "udl-eo-csv", json: "udl-eo-json" } as const;

/** What one request gives the readable. */
interface Emit {
  batch: IngestBatch;
  /** The cursor to save once the batch is durable (none for a failed request). */
  next: string | undefined;
}

class TimeoutError extends Error {
  constructor(ms: number) {
    super(`Request timed out after ${ms} ms`);
    this.name = "TimeoutError";
  }
}

class StopError extends Error {
  constructor() {
    super("Source stopped");
    this.name = "StopError";
  }
}

/**
 * The optical source: a {@link Source} whose readable yields one
 * {@link IngestBatch} per archive page.
 *
 * * **On demand.** A request is sent only from the readable's `pull()`, i.e.
 *   when the pipeline asks for more (the readable holds no page ahead of
 *   demand). A full page is followed at once by the next request; after an
 *   empty or short page the next waits `pollIntervalMs`.
 * * **Failures** never end the stream. `429`/`503` with `Retry-After`
 *   (seconds or HTTP-date) wait that long; other failures (any other
 *   status, a timeout, a connection error) back off exponentially with
 *   jitter up to `maxBackoffMs`; `401`/`403` wait `authRetryMs` and set the
 *   state to `down`. The same cursor is retried. Each failed request is one
 *   `transport` dead letter (raw: the status line only) in its own batch.
 * * **Cursor.** Each page's batch carries an {@link Ack}; the page's
 *   `X-Next-Cursor` is saved to the checkpoint only once that ack and all
 *   earlier ones are released, i.e. once the page's observations and dead
 *   letters are durable. On start the source resumes from the saved cursor
 *   (or from `startTime`, or from the archive's oldest record).
 *
 * @example Pull one page from an archive
 * ```ts
 * import assert from "node:assert/strict";
 * import { OpticalHttpSource } from "./http_adapter.ts";
 *
 * const csv = "id,obTime,idSensor,satNo,ra,declination\nEO-1,2026-11-25T12:00:00Z,MAUI-1,25544,10.5,-3\n";
 * const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, () =>
 *   new Response(csv, { headers: { "content-type": "text/csv", "x-next-cursor": "c1" } }));
 * let saved: string | undefined;
 * const source = new OpticalHttpSource({
 *   name: "archive",
 *   url: `http://127.0.0.1:${server.addr.port}/udl/eoobservation`,
 *   checkpoint: { load: async () => undefined, save: async (c) => { saved = c; } },
 * });
 * const reader = source.readable.getReader();
 * const { value: batch } = await reader.read();
 * assert.equal(batch!.observations[0].target.norad, 25544);
 * batch!.acks[0].release(); // what the pipeline's sink does once the page is durable
 * await source.stop();
 * reader.releaseLock();
 * assert.equal(saved, "c1");
 * await server.shutdown();
 * ```
 */
export class OpticalHttpSource implements Source {
  /** The configured source name. */
  readonly name: string;
  /** Always `"optical"`. */
  readonly kind = "optical" as const;
  /** One batch per archive page (or per failed request, with its dead letter). */
  readonly readable: ReadableStream<IngestBatch>;
  /** Resolves once the saved cursor is loaded and the source is ready to poll. */
  readonly started: Promise<void>;

  readonly #url: string;
  /** `provenance.peer`: the URL exactly as configured. */
  readonly #peer: string;
  readonly #accept: "csv" | "json";
  readonly #pageSize: number;
  readonly #pollIntervalMs: number;
  readonly #timeoutMs: number;
  readonly #token: string | undefined;
  readonly #startTime: string | undefined;
  readonly #checkpoint: Checkpoint<string>;
  readonly #fetch: typeof fetch;
  readonly #sleep: (ms: number, signal: AbortSignal) => Promise<void>;
  readonly #random: () => number;
  readonly #now: () => number;
  readonly #backoffBaseMs: number;
  readonly #maxBackoffMs: number;
  readonly #authRetryMs: number;
  readonly #maxPageBytes: number;
  readonly #log = getLogger(["sda-ingest", "optical"]);
  readonly #queue: CheckpointQueue<string>;
  readonly #stop = new AbortController();
  readonly #counters: OpticalCounters = {
    requests: 0,
    pages: 0,
    empty_pages: 0,
    errors: 0,
    retries: 0,
    rate_limited: 0,
    timeouts: 0,
    auth_failures: 0,
    observations: 0,
    dead_letters: 0,
    bytes: 0,
    checkpoints: 0,
  };

  #state: SourceState = "starting";
  #lastError: string | undefined;
  #lastReceive: number | undefined;
  #cursor: string | undefined;
  #failures = 0;
  #nextAtMs = 0;
  #lastAck: Ack | undefined;
  #controller: ReadableStreamDefaultController<IngestBatch> | undefined;
  #pulling = false;
  #closed = false;
  #warnedNoCursor = false;

  /** Creates the source; nothing is requested until the readable is read. */
  constructor(options: OpticalHttpSourceOptions) {
    this.name = options.name;
    this.#url = new URL(options.url).href;
    this.#peer = options.url;
    this.#accept = options.accept ?? "csv";
    if (this.#accept !== "csv" && this.#accept !== "json") {
      throw new TypeError(`Cannot use accept "${this.#accept}": expected "csv" or "json"`);
    }
    this.#pageSize = positiveInteger(options.pageSize ?? 1000, "pageSize");
    this.#pollIntervalMs = nonNegative(options.pollIntervalMs ?? 1000, "pollIntervalMs");
    this.#timeoutMs = positiveInteger(options.timeoutMs ?? 10_000, "timeoutMs");
    this.#backoffBaseMs = nonNegative(options.backoffBaseMs ?? 250, "backoffBaseMs");
    this.#maxBackoffMs = nonNegative(options.maxBackoffMs ?? 30_000, "maxBackoffMs");
    this.#authRetryMs = nonNegative(options.authRetryMs ?? 30_000, "authRetryMs");
    this.#maxPageBytes = positiveInteger(options.maxPageBytes ?? 64 * 1024 * 1024, "maxPageBytes");
    this.#token = options.token;
    this.#startTime = options.startTime;
    this.#checkpoint = options.checkpoint;
    this.#fetch = options.fetch ?? fetch;
    this.#sleep = options.sleep ?? sleep;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => nowMicros());
    this.#queue = new CheckpointQueue<string>(async (cursor) => {
      try {
        await this.#checkpoint.save(cursor);
      } catch (error) {
        // The queue stops committing; a restart resumes from the last saved cursor.
        this.#setState("degraded", `Cannot save the cursor: ${message(error)}`);
        this.#log.error("Optical source {source} cannot save its cursor: {error}", {
          source: this.name,
          error: message(error),
        });
        throw error;
      }
      this.#counters.checkpoints++;
    });

    const started = Promise.withResolvers<void>();
    this.started = started.promise;
    // Whoever awaits `started` sees a failure; nobody awaiting is not an unhandled rejection.
    this.started.catch(() => {});

    this.readable = new ReadableStream<IngestBatch>({
      start: async (controller) => {
        this.#controller = controller;
        try {
          this.#cursor = (await this.#checkpoint.load()) ?? undefined;
        } catch (error) {
          this.#setState("down", `Cannot load the saved cursor: ${message(error)}`);
          started.reject(error);
          throw error;
        }
        this.#log.info("Optical source {source} pulls {url} from {from}", {
          source: this.name,
          url: this.#url,
          from: this.#cursor !== undefined
            ? `saved cursor ${JSON.stringify(this.#cursor)}`
            : this.#startTime !== undefined
            ? `obTime > ${this.#startTime}`
            : "the oldest record",
        });
        started.resolve();
      },
      pull: (controller) => this.#pull(controller),
      cancel: () => {
        this.#closed = true;
        this.#halt();
      },
    }, { highWaterMark: 0 });
  }

  /** The cursor of the next request (in memory; the checkpoint may lag). */
  get cursor(): string | undefined {
    return this.#cursor;
  }

  /** The last cursor saved to the checkpoint by this source. */
  get savedCursor(): string | undefined {
    return this.#queue.committed;
  }

  /** The current status (counters are a copy). */
  status(): SourceStatus {
    const status: SourceStatus = { state: this.#state, counters: { ...this.#counters } };
    if (this.#lastReceive !== undefined) status.lastReceive = this.#lastReceive;
    if (this.#lastError !== undefined) status.lastError = this.#lastError;
    return status;
  }

  /**
   * Graceful stop: aborts a request in flight (its page was not emitted, so
   * the cursor does not pass it), closes the readable, then waits up to
   * `timeoutMs` for the pages already emitted to become durable and their
   * cursor to be saved.
   */
  async stop(): Promise<void> {
    this.#halt();
    if (!this.#pulling) this.#close();
    await this.checkpointed(this.#timeoutMs);
    this.#setState("stopped");
  }

  /**
   * Resolves once every page emitted so far is durable and its cursor saved
   * — or after `withinMs`, whichever comes first.
   */
  async checkpointed(withinMs = Infinity): Promise<void> {
    const last = this.#lastAck;
    if (last !== undefined && last.state === "pending") {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        last.done.catch(() => {}),
        ...(Number.isFinite(withinMs)
          ? [new Promise<void>((resolve) => (timer = setTimeout(resolve, withinMs)))]
          : []),
      ]);
      clearTimeout(timer);
    }
    await this.#queue.idle();
  }

  #halt(): void {
    if (!this.#stop.signal.aborted) this.#stop.abort(new StopError());
    if (this.#state !== "stopped") this.#setState("stopped");
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#controller?.close();
    } catch {
      // Already errored or cancelled.
    }
  }

  async #pull(controller: ReadableStreamDefaultController<IngestBatch>): Promise<void> {
    this.#pulling = true;
    try {
      while (!this.#stop.signal.aborted) {
        const delay = this.#nextAtMs - this.#now() / 1000;
        if (delay > 0) {
          await this.#sleep(Math.ceil(delay), this.#stop.signal);
          if (this.#stop.signal.aborted) break;
        }
        const page = await this.#request();
        if (page !== undefined) {
          // Cancelled while the request was in flight: the page was never
          // emitted, so its cursor must not be saved either.
          if (this.#closed) return;
          if (page.next !== undefined) page.batch.acks.push(this.#track(page.next));
          controller.enqueue(page.batch);
          return;
        }
      }
      this.#close();
    } finally {
      this.#pulling = false;
    }
  }

  #requestUrl(cursor: string | undefined): string {
    const url = new URL(this.#url);
    url.searchParams.set("maxResults", String(this.#pageSize));
    if (cursor !== undefined) url.searchParams.set("cursor", cursor);
    else if (this.#startTime !== undefined) url.searchParams.set("obTime", `>${this.#startTime}`);
    return url.href;
  }

  /**
   * One request: the batch to emit (and the cursor that it ends at, to save
   * once it is durable), or undefined when there is nothing to emit.
   */
  async #request(): Promise<Emit | undefined> {
    const cursor = this.#cursor;
    const counters = this.#counters;
    counters.requests++;
    if (this.#failures > 0) counters.retries++;
    const headers: Record<string, string> = { accept: MEDIA_TYPES[this.#accept] };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new TimeoutError(this.#timeoutMs)), this.#timeoutMs);
    const onStop = () => abort.abort(new StopError());
    this.#stop.signal.addEventListener("abort", onStop, { once: true });
    try {
      const response = await this.#fetch(this.#requestUrl(cursor), {
        headers,
        signal: abort.signal,
      });
      const receivedAt = this.#now();
      const status = response.status;
      if (status !== 200 && status !== 204) {
        await response.body?.cancel().catch(() => {});
        return this.#failed(cursor, response, receivedAt);
      }
      const body = await readBody(response, this.#maxPageBytes);
      counters.bytes += body.length;
      return this.#page(cursor, response, body, receivedAt);
    } catch (error) {
      if (this.#stop.signal.aborted) return undefined;
      const reason = abort.signal.aborted && abort.signal.reason instanceof TimeoutError
        ? abort.signal.reason.message
        : error instanceof RangeError
        ? error.message
        : `Cannot fetch from the archive: ${message(error)}`;
      if (abort.signal.reason instanceof TimeoutError) counters.timeouts++;
      return this.#failure(cursor, reason, "", this.#backoff(), this.#now());
    } finally {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener("abort", onStop);
    }
  }

  #page(
    cursor: string | undefined,
    response: Response,
    body: Uint8Array,
    receivedAt: number,
  ): Emit | undefined {
    const counters = this.#counters;
    const ctx: DecodeContext = {
      source: this.name,
      transport: "http",
      peer: this.#peer,
      now: () => receivedAt,
    };
    const contentType = response.headers.get("content-type") ?? MEDIA_TYPES[this.#accept];
    const page = response.status === 204 || body.length === 0
      ? { observations: [], deadLetters: [] }
      : decodeOpticalPage(body, contentType, ctx);
    const records = page.observations.length + page.deadLetters.length;
    const next = response.headers.get("x-next-cursor") ?? cursor;
    if (records > 0 && next === cursor && !this.#warnedNoCursor) {
      this.#warnedNoCursor = true;
      this.#log.warn("Archive page for {source} did not move the cursor (no X-Next-Cursor?)", {
        source: this.name,
        cursor,
      });
    }
    this.#failures = 0;
    this.#lastReceive = receivedAt;
    this.#setState("up");
    this.#cursor = next;
    // SPEC §5: a full page is followed at once by the next; after an empty
    // or short one the archive has nothing newer yet.
    this.#nextAtMs = records >= this.#pageSize ? 0 : receivedAt / 1000 + this.#pollIntervalMs;
    if (records === 0) {
      counters.empty_pages++;
      if (next !== undefined && next !== cursor) this.#track(next).release();
      return undefined;
    }
    counters.pages++;
    counters.observations += page.observations.length;
    counters.dead_letters += page.deadLetters.length;
    return {
      batch: {
        observations: page.observations,
        deadLetters: page.deadLetters,
        acks: [],
        source: this.name,
        receivedAt,
      },
      next,
    };
  }

  #track(cursor: string): Ack {
    const ack = this.#queue.add(cursor);
    this.#lastAck = ack;
    ack.done.catch((error) => {
      this.#setState("degraded", `Cannot save the cursor: ${message(error)}`);
      this.#log.error("Optical source {source} stopped saving its cursor: {error}", {
        source: this.name,
        error: message(error),
      });
    });
    return ack;
  }

  #failed(cursor: string | undefined, response: Response, receivedAt: number): Emit {
    const status = response.status;
    const statusLine = `HTTP ${status} ${response.statusText}`.trimEnd();
    const counters = this.#counters;
    if (status === 401 || status === 403) {
      counters.auth_failures++;
      return this.#failure(
        cursor,
        `${statusLine}: the archive refused the credentials (check the token)`,
        statusLine,
        this.#authRetryMs,
        receivedAt,
        "down",
      );
    }
    if (status === 429) counters.rate_limited++;
    const header = response.headers.get("retry-after");
    const asked = status === 429 || status === 503
      ? retryAfterMs(header, receivedAt / 1000)
      : undefined;
    const reason = asked !== undefined ? `${statusLine} (Retry-After: ${header})` : statusLine;
    return this.#failure(cursor, reason, statusLine, asked ?? this.#backoff(), receivedAt);
  }

  #backoff(): number {
    return backoffMs(this.#failures + 1, this.#backoffBaseMs, this.#maxBackoffMs, this.#random);
  }

  /** A failed request: count it, schedule the retry, emit its dead letter. */
  #failure(
    cursor: string | undefined,
    reason: string,
    raw: string,
    waitMs: number,
    receivedAt: number,
    state: SourceState = "degraded",
  ): Emit {
    this.#counters.errors++;
    this.#failures++;
    this.#nextAtMs = receivedAt / 1000 + waitMs;
    this.#setState(state, reason);
    const properties = { source: this.name, reason, cursor: cursor ?? null, waitMs };
    const text =
      "Archive request of {source} failed: {reason}; retrying cursor {cursor} in {waitMs} ms";
    if (state === "down") this.#log.error(text, properties);
    else this.#log.warn(text, properties);
    const ctx: DecodeContext = { source: this.name, transport: "http", peer: this.#peer };
    const letter: DeadLetter = makeDeadLetter(ctx, FORMATS[this.#accept], {
      stage: "transport",
      reason,
      raw,
      ref: cursor,
      receivedAt,
    });
    return {
      batch: { observations: [], deadLetters: [letter], acks: [], source: this.name, receivedAt },
      next: undefined,
    };
  }

  #setState(state: SourceState, error?: string): void {
    if (error !== undefined) this.#lastError = error;
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    if (previous !== "starting" || state !== "up") {
      this.#log.info("Optical source {source} is {state} (was {previous})", {
        source: this.name,
        state,
        previous,
      });
    }
  }
}

async function readBody(response: Response, limit: number): Promise<Uint8Array> {
  const length = Number(response.headers.get("content-length"));
  if (length > limit) {
    await response.body?.cancel().catch(() => {});
    throw new RangeError(`Response body of ${length} bytes exceeds maxPageBytes (${limit})`);
  }
  if (response.body === null) return new Uint8Array(0);
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    if (total > limit) {
      await reader.cancel().catch(() => {});
      throw new RangeError(`Response body exceeds maxPageBytes (${limit})`);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0];
  const body = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    body.set(chunk, offset);
    offset += chunk.length;
  }
  return body;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function positiveInteger(value: number, name: string): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`Cannot use ${name} ${value}: expected a positive integer`);
  }
  return value;
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(`Cannot use ${name} ${value}: expected a non-negative number`);
  }
  return value;
}
