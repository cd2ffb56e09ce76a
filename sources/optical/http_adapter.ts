/**
 * The optical source's transport (SPEC §5): pull pages of EO observations
 * from an HTTP archive, on demand, with a durable cursor.
 *
 * This is the runtime adapter: it uses `fetch` and timers. Decoding is the
 * portable {@link decodeOpticalPage}.
 *
 * @module
 */

import { isBearerToken } from "../bearer_token.ts";
import { getLogger } from "@logtape/logtape";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import { nowMicros } from "../../envelope/time.ts";
import type { Ack } from "../../operators/ack.ts";
import { CheckpointQueue } from "../../operators/checkpoint_queue.ts";
import type { IngestBatch } from "../../operators/ingest_batch.ts";
import { type DecodeContext, makeDeadLetter } from "../decode_context.ts";
import type { Checkpoint, Source, SourceState, SourceStatus } from "../source.ts";
import { redactCursor, redactUrl } from "../redact_url.ts";
import { cutShort } from "./_cut_short.ts";
import { mediaType } from "./_media_type.ts";
import { PageReader } from "./_page_reader.ts";
import { backoffMs, retryAfterMs } from "./_retry.ts";
import { decodeOpticalPage } from "./decode_optical_page.ts";
import { sleep } from "../../operators/sleep.ts";
import type { DecodePool } from "../../service/workers/decode_pool.ts";
import { wireContext } from "../../service/workers/_protocol.ts";

/** Options for {@link OpticalHttpSource}. */
export interface OpticalHttpSourceOptions {
  /** The configured source name (`provenance.source`). */
  name: string;
  /**
   * The archive endpoint, e.g. `http://127.0.0.1:7002/udl/eoobservation`.
   * `provenance.peer` is the URL a page came from (this one, or where a
   * redirect led), redacted with {@link redactUrl}.
   */
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
  /**
   * Largest page accepted, bytes after decompression (default 64 MiB). A
   * larger one is a failed request (`transport`): the cursor stays, the
   * source backs off and is `degraded`.
   */
  maxPageBytes?: number;
  /** Redirects followed within the configured origin per request (default 5). */
  maxRedirects?: number;
  /** PEM certificates of extra CAs to trust for an `https:` archive (`caFile`). */
  caCerts?: string[];
  /** Sensor ids this source accepts (`sensors`, SPEC §15); others are `validation` dead letters. */
  sensors?: readonly string[];
  /**
   * Decode pages in these workers (issue 16) rather than on the main
   * thread; a page whose worker crashed is a failed request (fetched again).
   */
  workers?: DecodePool;
}

/** Counters of {@link OpticalHttpSource}, all monotonic. */
export interface OpticalCounters {
  /** Requests sent. */
  requests: number;
  /** `200` pages with at least one record. */
  pages: number;
  /** `200`/`204` answers with no record (the archive has nothing newer). */
  empty_pages: number;
  /**
   * Pages with records whose `X-Next-Cursor` did not move the cursor (or
   * was absent), or led back to one of the last 16 cursors: the next
   * request waits `pollIntervalMs` as after a short page, instead of asking
   * again at once for pages already read.
   */
  stuck_pages: number;
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
  /** Page bytes received (after decompression). */
  bytes: number;
  /** Cursors saved to the checkpoint. */
  checkpoints: number;
  /** Redirects followed (within the configured origin). */
  redirects: number;
  /** Redirects refused: to another origin, too many, or to an unreadable Location. */
  redirects_refused: number;
  /** Pages refused for exceeding `maxPageBytes` (after decompression). */
  too_large: number;
  /** Pages that read cut short (a JSON array never closed, a CSV body ending inside a quoted field or a record): asked for again. */
  cut_pages: number;
  /** `200` answers whose Content-Type is neither CSV nor JSON (no page): asked for again. */
  wrong_type_pages: number;
  /** Pages with a compressed Content-Encoding, inflated. */
  compressed_pages: number;
  /** `200` answers whose `X-Next-Cursor` was refused (over-long or malformed). */
  bad_cursors: number;
  /** Pages with records of which none became an observation. */
  dead_pages: number;
  [name: string]: number;
}

const MEDIA_TYPES = { csv: "text/csv", json: "application/json" } as const;
const FORMATS = { csv: "udl-eo-csv", json: "udl-eo-json" } as const;

/** What one request gives the readable. */
/**
 * One archive request in flight: its download (the answer, and for a
 * request made ahead its body as well), the abort that times it out or
 * stops it, and the page buffer it reads into.
 */
interface Call {
  cursor: string | undefined;
  abort: AbortController;
  reader: PageReader;
  download: Promise<Download>;
  /** Clears the timer and the stop listener, frees the page buffer. */
  finish(): void;
}

/** What a {@link Call} downloaded. */
interface Download {
  response: Response;
  /** Where the answer came from (after same-origin redirects). */
  url: string;
  /** The URL asked for. */
  requested: string;
  receivedAt: number;
  /** The body, read already (a request made ahead), or why reading it failed. */
  body?: { read: Awaited<ReturnType<PageReader["read"]>> } | { error: unknown };
  /** The body's decoding, started in a worker as it arrived (a request made ahead). */
  decoded?: Promise<IngestBatch>;
}

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

/** A request that failed for a reason this source states itself (already redacted). */
class RequestFailure extends Error {
  /** The dead letter's `raw`: the status line of the answer, if any. */
  readonly raw: string;
  constructor(reason: string, raw = "") {
    super(reason);
    this.name = "RequestFailure";
    this.raw = raw;
  }
}

/** Redirect statuses that carry a Location to follow (RFC 9110 §15.4). */
const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** The longest `X-Next-Cursor` taken: cursors are opaque but short; this one goes into the next URL and the state file. */
const MAX_CURSOR_LENGTH = 4096;
/** Printable ASCII: what an opaque cursor that goes into a query string may hold. */
const CURSOR_CHARS = /^[\x20-\x7e]+$/;
/** The longest wait a `Retry-After` gets. */
const MAX_RETRY_AFTER_MS = 3_600_000;
/**
 * How often a page that reads cut short is asked for again before it is
 * taken as it came (the read after the fifth retry): a cut in transit passes; an archive that always serves
 * the page so must not stop the source for ever.
 */
const CUT_SHORT_READS = 5;

/**
 * The optical source: a {@link Source} whose readable yields one
 * {@link IngestBatch} per archive page.
 *
 * * **On demand.** A request is sent only from the readable's `pull()`, i.e.
 *   when the pipeline asks for more (the readable holds no page ahead of
 *   demand). A full page is followed at once by the next request; after an
 *   empty or short page the next waits `pollIntervalMs`. With decode
 *   workers, the page after a full one is asked for while that one decodes
 *   (one page ahead of demand at most) and goes to a worker as it arrives.
 * * **Failures** never end the stream. `429`/`503` with `Retry-After`
 *   (seconds or HTTP-date) wait that long (an hour at most); other failures (any other
 *   status, a timeout, a connection error) back off exponentially with
 *   jitter up to `maxBackoffMs`; `401`/`403` wait `authRetryMs` and set the
 *   state to `down`. The same cursor is retried. Each failed request is one
 *   `transport` dead letter (raw: the status line only) in its own batch.
 * * **Bounded and contained** (SPEC §15). A page is read up to
 *   `maxPageBytes` after decompression (gzip, br, deflate), so a gzip bomb
 *   costs at most that much memory; a larger page, a redirect to another
 *   origin (the token is never sent there), too many redirects, an unknown
 *   Content-Encoding and an over-long or malformed `X-Next-Cursor` are
 *   failed requests like any other: the cursor stays and the source backs
 *   off. A page whose records all became dead letters leaves the source
 *   `degraded` (with the reason as its last error) until a page yields an
 *   observation.
 * * **No secret printed.** Every URL that leaves the source — logs, dead
 *   letters' `peer`, `provenance.peer`, error messages, `/health` — goes
 *   through {@link redactUrl}; the token is never printed.
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
  /** The configured origin: redirects are followed only within it. */
  readonly #origin: string;
  /** `provenance.peer` of pages that came from the configured URL: it, redacted. */
  readonly #peer: string;
  /** The user name and password of the configured URL, carried over same-origin redirects. */
  readonly #userinfo: { username: string; password: string };
  readonly #maxRedirects: number;
  readonly #client: Deno.HttpClient | undefined;
  readonly #sensors: ReadonlySet<string> | undefined;
  readonly #workers: DecodePool | undefined;
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
  /** Two page buffers: a request made ahead reads into one while the other's page is decoded. */
  readonly #readers: [PageReader, PageReader];
  #turn = 0;
  /** A request made ahead (decode workers only): the next page's, sent while this one decodes. */
  #ahead: Call | undefined;
  /** The last page was full (the archive has more): the next one may be asked for ahead. */
  #lastFull = false;
  readonly #log = getLogger(["sda-ingest", "optical"]);
  readonly #queue: CheckpointQueue<string>;
  readonly #stop = new AbortController();
  readonly #counters: OpticalCounters = {
    requests: 0,
    pages: 0,
    empty_pages: 0,
    stuck_pages: 0,
    errors: 0,
    retries: 0,
    rate_limited: 0,
    timeouts: 0,
    auth_failures: 0,
    observations: 0,
    dead_letters: 0,
    bytes: 0,
    checkpoints: 0,
    redirects: 0,
    redirects_refused: 0,
    too_large: 0,
    cut_pages: 0,
    wrong_type_pages: 0,
    compressed_pages: 0,
    bad_cursors: 0,
    dead_pages: 0,
  };

  #state: SourceState = "starting";
  #lastError: { text: string; at: number } | undefined;
  #lastReceive: number | undefined;
  #cursor: string | undefined;
  #failures = 0;
  /** The cursor whose page read cut short the last time, and how often in a row. */
  #cutReads: { cursor: string | undefined; reads: number } = { cursor: undefined, reads: 0 };
  #nextAtMs = 0;
  #lastAck: Ack | undefined;
  #controller: ReadableStreamDefaultController<IngestBatch> | undefined;
  #pulling = false;
  #closed = false;
  #warnedNoCursor = false;
  #warnedCycle = false;
  /** The last {@link RECENT_CURSORS} cursors moved to, oldest first. */
  readonly #recent: string[] = [];
  /** Why the last page with records yielded no observation; cleared by one that does. */
  #pageProblem: string | undefined;
  /** The last redirected URL and its peer, so a stable redirect is redacted once. */
  #lastPeer: [url: string, peer: string] | undefined;

  /** Creates the source; nothing is requested until the readable is read. */
  constructor(options: OpticalHttpSourceOptions) {
    this.name = options.name;
    const url = new URL(options.url);
    this.#url = url.href;
    this.#origin = url.origin;
    this.#userinfo = { username: url.username, password: url.password };
    this.#peer = redactUrl(options.url);
    this.#maxRedirects = nonNegative(options.maxRedirects ?? 5, "maxRedirects");
    if (options.caCerts !== undefined && options.caCerts.length > 0) {
      try {
        this.#client = Deno.createHttpClient({ caCerts: options.caCerts });
      } catch (error) {
        throw new TypeError(`Cannot use the CA certificates (caFile): ${message(error)}`, {
          cause: error,
        });
      }
    }
    if (options.sensors !== undefined) this.#sensors = new Set(options.sensors);
    this.#workers = options.workers;
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
    const maxPageBytes = positiveInteger(options.maxPageBytes ?? 64 * 1024 * 1024, "maxPageBytes");
    this.#readers = [new PageReader(maxPageBytes), new PageReader(maxPageBytes)];
    if (options.token !== undefined && !isBearerToken(options.token)) {
      // Never quoted: fetch would refuse the header and print it whole.
      throw new TypeError(
        "Cannot use the token: it must be printable ASCII without white space (an Authorization header carries it)",
      );
    }
    this.#token = options.token;
    this.#startTime = options.startTime;
    this.#checkpoint = options.checkpoint;
    this.#fetch = options.fetch ?? fetch;
    this.#sleep = options.sleep ?? sleep;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => nowMicros());
    this.#queue = new CheckpointQueue<string>(async (cursor) => {
      const failing = this.#queue.problem !== undefined;
      try {
        await this.#checkpoint.save(cursor);
      } catch (error) {
        // Tried again every second with the newest cursor (the queue):
        // degraded until then, said once.
        this.#setState("degraded", `Cannot save the cursor: ${message(error)}`);
        if (!failing) {
          this.#log.error(
            "Optical source {source} cannot save its cursor: {error}; trying again every second",
            { source: this.name, error: message(error) },
          );
        }
        throw error;
      }
      this.#counters.checkpoints++;
      if (failing) {
        this.#log.info("Optical source {source} saves its cursor again", { source: this.name });
        if (this.#state === "degraded" && this.#pageProblem === undefined) this.#setState("up");
      }
    }, { retryMs: this.#checkpoint.retryMs });

    const started = Promise.withResolvers<void>();
    this.started = started.promise;
    // Whoever awaits `started` sees a failure; nobody awaiting is not an unhandled rejection.
    this.started.catch(() => {});

    this.readable = new ReadableStream<IngestBatch>({
      start: async (controller) => {
        this.#controller = controller;
        try {
          const saved: unknown = (await this.#checkpoint.load()) ?? undefined;
          // What the state holds was written by us, or by anyone with access
          // to the state directory or KV bucket: a cursor goes into URLs,
          // logs and /health, so it must be one the archive could have sent.
          const problem = saved === undefined
            ? undefined
            : typeof saved !== "string"
            ? `it is not text: ${clip(JSON.stringify(saved) ?? String(saved), 64)}`
            : cursorProblem(saved, "the saved cursor");
          if (problem !== undefined) {
            throw new Error(`${this.#checkpoint.where ?? "the saved state"}: ${problem}`);
          }
          this.#cursor = saved as string | undefined;
        } catch (error) {
          this.#setState("down", `Cannot load the saved cursor: ${message(error)}`);
          started.reject(error);
          throw error;
        }
        this.#log.info("Optical source {source} pulls {url} from {from}", {
          source: this.name,
          url: this.#peer,
          from: this.#cursor !== undefined
            ? `saved cursor ${JSON.stringify(this.#shownCursor(this.#cursor))}`
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
    if (this.#lastError !== undefined) {
      status.lastError = this.#lastError.text;
      status.lastErrorAt = this.#lastError.at;
    }
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
    // What settles from here is saved once, not retried.
    this.#queue.close();
    if (!this.#stop.signal.aborted) this.#stop.abort(new StopError());
    if (this.#state !== "stopped") this.#setState("stopped");
    if (!this.#pulling) this.#closeClient();
  }

  #closeClient(): void {
    try {
      this.#client?.close();
    } catch {
      // Already closed.
    }
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
      if (this.#stop.signal.aborted) this.#closeClient();
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
   * Sends the request for the page at `cursor` and starts downloading the
   * answer. `ahead`: a request made before the pipeline asked for its page,
   * whose body is read at once too (so the connection is free) and whose
   * timer ends with the download.
   */
  #call(cursor: string | undefined, ahead: boolean): Call {
    const counters = this.#counters;
    counters.requests++;
    if (this.#failures > 0) counters.retries++;
    const headers: Record<string, string> = { accept: MEDIA_TYPES[this.#accept] };
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(new TimeoutError(this.#timeoutMs)), this.#timeoutMs);
    const onStop = () => abort.abort(new StopError());
    this.#stop.signal.addEventListener("abort", onStop, { once: true });
    const reader = this.#readers[this.#turn ^= 1];
    const settle = () => {
      clearTimeout(timer);
      this.#stop.signal.removeEventListener("abort", onStop);
    };
    const download = (async (): Promise<Download> => {
      const requested = this.#requestUrl(cursor);
      const { response, url } = await this.#fetchFollowing(requested, headers, abort.signal);
      const receivedAt = this.#now();
      const next = response.headers.get("x-next-cursor");
      if (!ahead || response.status !== 200 || (next !== null && cursorProblem(next))) {
        return { response, url, requested, receivedAt };
      }
      let read;
      try {
        read = await reader.read(response);
      } catch (error) {
        return { response, url, requested, receivedAt, body: { error } };
      }
      const download: Download = { response, url, requested, receivedAt, body: { read } };
      // Decoded at once, so the worker goes on to this page the moment it
      // is done with the one before, not when the pipeline asks for it.
      if (this.#workers !== undefined && read.ok && read.bytes.length > 0) {
        const peer = this.#peerFor(url, requested);
        download.decoded = this.#decodeInWorker(
          this.#workers,
          response,
          read.bytes,
          receivedAt,
          peer,
        );
        // Not awaited when the request is dropped.
        download.decoded.catch(() => {});
      }
      return download;
    })();
    if (ahead) {
      // Nobody awaits it until the pipeline asks for the page (or never, when stopped).
      download.then(settle, settle);
    }
    return {
      cursor,
      abort,
      reader,
      download,
      finish: () => {
        settle();
        reader.release();
      },
    };
  }

  /**
   * Asks for the page after this one before the pipeline asks for it: with
   * decode workers, the main thread would otherwise wait idle while a page
   * decodes, then the worker while the next one downloads. Only after a full
   * page (the archive has more), one page ahead at most, and only from a
   * request the pipeline asked for, so a stalled pipeline stops the requests
   * one page later. A request made ahead of a page that turns out short is
   * dropped (SPEC §5: the next waits `pollIntervalMs`).
   */
  #requestAhead(cursor: string): void {
    if (this.#ahead !== undefined || this.#stop.signal.aborted || this.#closed) return;
    this.#ahead = this.#call(cursor, true);
  }

  /** Drops a request made ahead (its answer, if any, is not used). */
  #dropAhead(): void {
    const ahead = this.#ahead;
    if (ahead === undefined) return;
    this.#ahead = undefined;
    ahead.abort.abort(new StopError());
    ahead.download.then(
      ({ response, body }) => {
        if (body === undefined) response.body?.cancel().catch(() => {});
        ahead.finish();
      },
      () => ahead.finish(),
    );
  }

  /**
   * One request: the batch to emit (and the cursor that it ends at, to save
   * once it is durable), or undefined when there is nothing to emit.
   */
  async #request(): Promise<Emit | undefined> {
    const cursor = this.#cursor;
    const counters = this.#counters;
    let call = this.#ahead;
    this.#ahead = undefined;
    if (call !== undefined && call.cursor !== cursor) {
      // Not the page wanted: the page it follows failed in decoding, its cursor stays.
      this.#ahead = call;
      this.#dropAhead();
      call = undefined;
    }
    call ??= this.#call(cursor, false);
    const abort = call.abort;
    let reading = false;
    let peer = this.#peer;
    try {
      const { response, url, requested, receivedAt, body, decoded } = await call.download;
      peer = this.#peerFor(url, requested);
      const status = response.status;
      if (status !== 200 && status !== 204) {
        await response.body?.cancel().catch(() => {});
        return this.#failed(cursor, response, receivedAt, peer);
      }
      const next = response.headers.get("x-next-cursor");
      const badCursor = next === null ? undefined : cursorProblem(next);
      if (badCursor !== undefined) {
        await response.body?.cancel().catch(() => {});
        counters.bad_cursors++;
        return this.#failure(cursor, badCursor, statusLine(response), receivedAt, peer);
      }
      const contentType = this.#contentType(response);
      reading = true;
      if (body !== undefined && "error" in body) throw body.error;
      const read = body?.read ?? await call.reader.read(response);
      if (!read.ok) {
        if (read.problem === "too-large") counters.too_large++;
        return this.#failure(cursor, read.reason, statusLine(response), this.#now(), peer);
      }
      if (read.encoding !== "" && read.encoding !== "identity") counters.compressed_pages++;
      counters.bytes += read.bytes.length;
      // A 200 with a body that is no page (a proxy's HTML "maintenance"
      // answer, say): taken, it was one dead letter of 1 KiB and its cursor
      // moved past a page of records. Asked for again, as for a 5xx. (An
      // empty answer is an empty page whatever its type: nothing newer.)
      if (read.bytes.length > 0 && mediaType(contentType).format === undefined) {
        decoded?.catch(() => {}); // a worker's decoding of it, started ahead
        counters.wrong_type_pages++;
        return this.#failure(
          cursor,
          `Unsupported Content-Type: ${
            JSON.stringify(contentType.slice(0, 128))
          } (not a CSV or JSON page): asking for the same cursor again`,
          statusLine(response),
          this.#now(),
          peer,
        );
      }
      const cut = cutShort(read.bytes, contentType);
      if (cut !== undefined) {
        const again = this.#cutReads.cursor === cursor ? this.#cutReads.reads : 0;
        this.#cutReads = { cursor, reads: again + 1 };
        if (again < CUT_SHORT_READS) {
          counters.cut_pages++;
          decoded?.catch(() => {}); // a worker's decoding of it, started ahead
          return this.#failure(cursor, cut, statusLine(response), this.#now(), peer);
        }
        this.#log.warn(
          "Archive page of {source} at cursor {cursor} read cut short {reads} times in a row: taken as it came, its broken end a dead letter ({reason})",
          {
            source: this.name,
            cursor: cursor === undefined ? null : this.#shownCursor(cursor),
            reads: again + 1,
            reason: cut,
          },
        );
      }
      this.#cutReads = { cursor: undefined, reads: 0 };
      // Decoding copies what it keeps: the buffer is freed in finish().
      return await this.#page(cursor, response, next, read.bytes, receivedAt, peer, decoded);
    } catch (error) {
      if (this.#stop.signal.aborted) return undefined;
      let reason: string;
      let raw = "";
      if (abort.signal.aborted && abort.signal.reason instanceof TimeoutError) {
        counters.timeouts++;
        reason = abort.signal.reason.message;
      } else if (error instanceof RequestFailure) {
        reason = error.message;
        raw = error.raw;
      } else {
        reason = `${
          reading ? "Cannot read the page from the archive" : "Cannot fetch from the archive"
        }: ${describeFetchError(error, this.#token)}`;
      }
      return this.#failure(cursor, reason, raw, this.#now(), peer);
    } finally {
      call.finish();
    }
  }

  /**
   * Fetches `url`, following redirects only within the configured origin
   * (SPEC §15): the token goes with every request, so a redirect elsewhere
   * would hand it to whoever the archive, or someone who controls its
   * answers, points at. Resolves with the first answer that is not a
   * redirect and the URL it came from.
   */
  async #fetchFollowing(
    url: string,
    headers: Record<string, string>,
    signal: AbortSignal,
  ): Promise<{ response: Response; url: string }> {
    const init: RequestInit & { client?: Deno.HttpClient } = {
      headers,
      signal,
      redirect: "manual",
    };
    if (this.#client !== undefined) init.client = this.#client;
    let current = url;
    for (let hops = 0;; hops++) {
      const response = await this.#fetch(current, init);
      const location = REDIRECTS.has(response.status) ? response.headers.get("location") : null;
      if (location === null) return { response, url: current };
      await response.body?.cancel().catch(() => {});
      const status = statusLine(response);
      let target: URL | undefined;
      try {
        target = new URL(location, current);
      } catch {
        // Reported below.
      }
      if (target === undefined || target.origin !== this.#origin || hops >= this.#maxRedirects) {
        this.#counters.redirects_refused++;
        throw new RequestFailure(
          target === undefined
            ? `${status}: cannot follow a redirect to ${
              JSON.stringify(clip(redactUrl(location), 256))
            }`
            : target.origin !== this.#origin
            ? `${status}: refused a redirect to another origin (${
              clip(redactUrl(target.href), 256)
            }); requests and the token go only to ${this.#origin}`
            : `${status}: more than ${this.#maxRedirects} redirects`,
          status,
        );
      }
      // The configured URL's credentials belong to its origin: keep them.
      if (target.username === "" && target.password === "") {
        target.username = this.#userinfo.username;
        target.password = this.#userinfo.password;
      }
      current = target.href;
      this.#counters.redirects++;
    }
  }

  /** `provenance.peer` for an answer from `url` to a request for `requested`. */
  #peerFor(url: string, requested: string): string {
    return url === requested ? this.#peer : this.#peerOf(url);
  }

  /** `provenance.peer` for data that came from `url` after a redirect: without our query parameters, redacted. */
  #peerOf(url: string): string {
    if (this.#lastPeer?.[0] === url) return this.#lastPeer[1];
    const where = new URL(url);
    for (const name of ["maxResults", "cursor", "obTime"]) where.searchParams.delete(name);
    const peer = this.#hideToken(redactUrl(where.href));
    this.#lastPeer = [url, peer];
    return peer;
  }

  async #page(
    cursor: string | undefined,
    response: Response,
    nextCursor: string | null,
    body: Uint8Array,
    receivedAt: number,
    peer: string,
    decodedAhead?: Promise<IngestBatch>,
  ): Promise<Emit | undefined> {
    const counters = this.#counters;
    const empty = response.status === 204 || body.length === 0;
    let page: Pick<IngestBatch, "observations" | "deadLetters" | "packed">;
    if (empty) page = { observations: [], deadLetters: [] };
    else if (this.#workers === undefined) {
      page = decodeOpticalPage(body, this.#contentType(response), this.#context(receivedAt, peer), {
        maxRecords: this.#pageSize,
      });
    } else {
      const decoded = decodedAhead ??
        this.#decodeInWorker(this.#workers, response, body, receivedAt, peer);
      // The worker has its copy of the body: ask for the next page meanwhile.
      if (this.#lastFull && nextCursor !== null && nextCursor !== cursor) {
        this.#requestAhead(nextCursor);
      }
      page = await decoded;
    }
    const observations = page.packed?.count ?? page.observations.length;
    const records = observations + page.deadLetters.length;
    const next = nextCursor ?? cursor;
    if (records > 0 && next === cursor && !this.#warnedNoCursor) {
      this.#warnedNoCursor = true;
      this.#log.warn("Archive page for {source} did not move the cursor (no X-Next-Cursor?)", {
        source: this.name,
        cursor: cursor === undefined ? null : this.#shownCursor(cursor),
      });
    }
    this.#failures = 0;
    this.#lastReceive = receivedAt;
    // A page whose every record is a dead letter (not CSV or JSON, JSON that
    // is not an array, every row invalid) is answered 200 but is no data:
    // say so in /health until a page yields an observation.
    if (records > 0 && observations > 0) {
      this.#pageProblem = undefined;
    } else if (records > 0) {
      counters.dead_pages++;
      const first = page.deadLetters[0].reason;
      this.#pageProblem = page.deadLetters.length === 1
        ? `The last page from the archive was a dead letter: ${first}`
        : `All ${page.deadLetters.length} records of the last page from the archive were dead letters (first: ${first})`;
    }
    const saving = this.#queue.problem;
    if (this.#pageProblem !== undefined) this.#setState("degraded", this.#pageProblem);
    else if (saving !== undefined) {
      this.#setState("degraded", `Cannot save the cursor: ${message(saving)}`);
    } else this.#setState("up");
    this.#cursor = next;
    // SPEC §5: a full page is followed at once by the next; after an empty
    // or short one the archive has nothing newer yet. A full one that does
    // not move the cursor would be asked for again at once, for ever: it
    // waits too.
    // Cursors only move forward: one seen lately (cA, cB, cA, …) is the
    // same pages again — 1,065 requests a second of duplicates, before.
    const back = next !== undefined && next !== cursor && this.#recent.includes(next);
    if (back && records > 0 && !this.#warnedCycle) {
      this.#warnedCycle = true;
      this.#log.warn(
        "Archive page for {source} led back to a cursor it gave before ({cursor}): such pages wait pollIntervalMs",
        { source: this.name, cursor: this.#shownCursor(next) },
      );
    }
    if (next !== undefined && next !== cursor) {
      this.#recent.push(next);
      if (this.#recent.length > RECENT_CURSORS) this.#recent.shift();
    }
    const stuck = records > 0 && (next === cursor || back);
    if (stuck) counters.stuck_pages++;
    this.#lastFull = records >= this.#pageSize && !stuck;
    this.#nextAtMs = this.#lastFull ? 0 : receivedAt / 1000 + this.#pollIntervalMs;
    if (!this.#lastFull) this.#dropAhead();
    if (records === 0) {
      counters.empty_pages++;
      if (next !== undefined && next !== cursor) this.#track(next).release();
      return undefined;
    }
    counters.pages++;
    counters.observations += observations;
    counters.dead_letters += page.deadLetters.length;
    const batch: IngestBatch = {
      observations: page.observations,
      deadLetters: page.deadLetters,
      acks: [],
      source: this.name,
      receivedAt,
    };
    if (page.packed !== undefined) batch.packed = page.packed;
    return { batch, next };
  }

  /** The context a page received at `receivedAt` from `peer` is decoded in. */
  #context(receivedAt: number, peer: string): DecodeContext {
    const ctx: DecodeContext = {
      source: this.name,
      transport: "http",
      peer,
      now: () => receivedAt,
    };
    if (this.#sensors !== undefined) ctx.sensors = this.#sensors;
    return ctx;
  }

  #contentType(response: Response): string {
    return response.headers.get("content-type") ?? MEDIA_TYPES[this.#accept];
  }

  /** Decodes a page's `body` in one of the `workers`. */
  #decodeInWorker(
    workers: DecodePool,
    response: Response,
    body: Uint8Array,
    receivedAt: number,
    peer: string,
  ): Promise<IngestBatch> {
    const ctx = wireContext(this.#context(receivedAt, peer), receivedAt);
    return workers.page({
      kind: "optical",
      ctx,
      contentType: this.#contentType(response),
      maxRecords: this.#pageSize,
    }, body);
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

  #failed(cursor: string | undefined, response: Response, receivedAt: number, peer: string): Emit {
    const status = response.status;
    const line = statusLine(response);
    const counters = this.#counters;
    if (status === 401 || status === 403) {
      counters.auth_failures++;
      return this.#failure(
        cursor,
        `${line}: the archive refused the credentials (check the token)`,
        line,
        receivedAt,
        peer,
        this.#authRetryMs,
        "down",
      );
    }
    if (status === 429) counters.rate_limited++;
    const header = response.headers.get("retry-after");
    // An absurd Retry-After (a year, or digits without end) must not park
    // the source for good: an hour is the most it gets.
    const asked = status === 429 || status === 503
      ? retryAfterMs(header, receivedAt / 1000)
      : undefined;
    // One under a second (0, a date past, or a fraction such as 0.0001 —
    // RFC 9110 has whole seconds) would mean request after request, each a
    // dead letter and a log line (~280 a second): it gets the backoff instead.
    const wait = asked === undefined || asked < 1000
      ? undefined
      : Math.min(asked, MAX_RETRY_AFTER_MS);
    const reason = asked !== undefined ? `${line} (Retry-After: ${clip(header!, 64)})` : line;
    return this.#failure(cursor, reason, line, receivedAt, peer, wait);
  }

  #backoff(): number {
    return backoffMs(this.#failures + 1, this.#backoffBaseMs, this.#maxBackoffMs, this.#random);
  }

  /**
   * A failed request: count it, schedule the retry (after `waitMs`, default
   * the backoff), emit its dead letter. The cursor stays.
   */
  #failure(
    cursor: string | undefined,
    reason: string,
    raw: string,
    receivedAt: number,
    peer: string,
    waitMs?: number,
    state: SourceState = "degraded",
  ): Emit {
    // An archive (or a proxy) that echoes the Authorization header into a
    // redirect, an error page or a cursor must not put the token in a log,
    // /health, a dead letter or provenance (SPEC §15).
    reason = this.#hideToken(reason);
    raw = this.#hideToken(raw);
    peer = this.#hideToken(peer);
    const wait = waitMs ?? this.#backoff();
    this.#counters.errors++;
    this.#failures++;
    this.#nextAtMs = receivedAt / 1000 + wait;
    this.#setState(state, reason);
    const shown = cursor === undefined ? undefined : this.#shownCursor(cursor);
    const properties = { source: this.name, reason, cursor: shown ?? null, waitMs: wait };
    const text =
      "Archive request of {source} failed: {reason}; retrying cursor {cursor} in {waitMs} ms";
    if (state === "down") this.#log.error(text, properties);
    else this.#log.warn(text, properties);
    const ctx: DecodeContext = { source: this.name, transport: "http", peer };
    const letter: DeadLetter = makeDeadLetter(ctx, FORMATS[this.#accept], {
      stage: "transport",
      reason,
      raw,
      ref: shown,
      receivedAt,
    });
    return {
      batch: { observations: [], deadLetters: [letter], acks: [], source: this.name, receivedAt },
      next: undefined,
    };
  }

  /** `text` without the bearer token, as it is or percent-encoded. */
  #hideToken(text: string): string {
    const token = this.#token;
    if (token === undefined || token === "" || text === "") return text;
    text = text.replaceAll(token, "***");
    const encoded = encodeURIComponent(token);
    return encoded === token ? text : text.replaceAll(encoded, "***");
  }

  /** A cursor as it is printed: redacted (a signed link, a token), and never with ours. */
  #shownCursor(cursor: string): string {
    return this.#hideToken(redactCursor(cursor));
  }

  #setState(state: SourceState, error?: string): void {
    if (error !== undefined) error = this.#hideToken(error);
    if (error !== undefined) this.#lastError = { text: error, at: this.#now() };
    if (state === this.#state) return;
    // Stopped is final: a page still being decoded in a worker when the
    // stop came must not report the source up again.
    if (this.#state === "stopped" && this.#stop.signal.aborted) return;
    const previous = this.#state;
    this.#state = state;
    if (previous !== "starting" || state !== "up") {
      this.#log.info("Optical source {source} is {state} (was {previous})", {
        source: this.name,
        state,
        previous,
        reason: state === "up" || state === "stopped" ? null : error ?? null,
      });
    }
  }
}

/** Cursors remembered to tell an archive that leads back to pages already read. */
const RECENT_CURSORS = 16;

/** Why a cursor (`what`: where it came from) cannot be used, or undefined when it can. */
function cursorProblem(value: string, what = "X-Next-Cursor"): string | undefined {
  if (value.length > MAX_CURSOR_LENGTH) {
    return `${what} is ${value.length} characters long, more than ${MAX_CURSOR_LENGTH}`;
  }
  if (!CURSOR_CHARS.test(value)) {
    const preview = value.length > 64 ? `${value.slice(0, 64)}…` : value;
    return value === ""
      ? `${what} is empty`
      : `${what} is not printable ASCII: ${JSON.stringify(preview)}`;
  }
  return undefined;
}

/** `text`, cut to `max` characters with an ellipsis: archive-chosen text in logs stays short. */
function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

function statusLine(response: Response): string {
  return `HTTP ${response.status} ${clip(response.statusText, 64)}`.trimEnd();
}

/**
 * What went wrong in a fetch, in words, redacted. Deno's `fetch` rejects
 * with just "fetch failed"; the detail (refused, reset, TLS, headers too
 * large) is in the error's `cause`.
 */
function describeFetchError(error: unknown, token: string | undefined): string {
  let text = message(error);
  const cause = error instanceof Error ? error.cause : undefined;
  if (cause !== undefined && cause !== null) {
    const detail = message(cause);
    if (detail !== "" && detail !== text) text = detail;
  }
  text = redactUrl(text);
  // A client error may quote the request's headers (an invalid header
  // value is printed whole): the token must not reach a reason or a log.
  if (token !== undefined && token !== "") text = text.replaceAll(token, "***");
  // hyper refuses a response head over ~400 KB; the one header here that
  // can grow without bound is the cursor.
  if (/message head is too large/i.test(text)) {
    return `the response headers are larger than the HTTP client accepts (an over-long X-Next-Cursor?): ${text}`;
  }
  return text;
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
