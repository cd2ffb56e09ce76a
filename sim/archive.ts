/**
 * `sim archive` (SPEC §11): a UDL-style EO observation archive on HTTP,
 * serving the archive API of SPEC §5 over generated, physically plausible
 * observations, with fault injection.
 *
 * @module
 */

import {
  type Command,
  integerOption,
  numberOption,
  parseOptions,
  portOption,
  UsageError,
} from "./_args.ts";
import { parseUtc } from "./_time.ts";
import { ArchiveData } from "./_archive_data.ts";
import { mulberry32 } from "./_random.ts";
import { sleep } from "./_sleep.ts";

/** Options for {@link ArchiveSim}. */
export interface ArchiveSimOptions {
  /** Interface to listen on (default `127.0.0.1`). */
  hostname?: string;
  /** Port (default 0: an ephemeral port, see {@link ArchiveSim.port}). */
  port?: number;
  /** Path of the archive endpoint (default `/udl/eoobservation`). */
  path?: string;
  /** Observations held at start (default 100000). */
  count?: number;
  /** New observations appended per second of wall time (default 0: a fixed archive). */
  rate?: number;
  /** Fraction of requests answered with 500, 502 or 503 (default 0). */
  failRate?: number;
  /** Requests per second served; more are answered 429 with `Retry-After` (default 0: no limit). */
  rateLimit?: number;
  /** Delay before each answer, ms (default 0). */
  latencyMs?: number;
  /** Fraction of requests never answered, until the client gives up (default 0). */
  hangRate?: number;
  /** Bearer token required in `Authorization` (default: none). */
  token?: string;
  /** Seed of the data and of the fault injection (default 1). */
  seed?: number;
  /**
   * Sim time of the first observation, Unix ms. Default: with a `rate`, so
   * that the `count` held at start end now and new ones keep pace with the
   * wall clock; without, 2026-11-25T12:00:00Z.
   */
  startMs?: number;
  /** Largest `maxResults` honoured (default 10000). */
  maxPageSize?: number;
  /** At most this many observations are held; older ones age out (default max(count + 100000, 500000)). */
  maxHeld?: number;
  /** Request log entries kept, newest (default 100000). */
  requestLogLimit?: number;
  /** Compress pages with gzip when the request's `Accept-Encoding` allows it (default false). */
  gzip?: boolean;
}

/** One request as the archive saw it. */
export interface RequestLogEntry {
  /** Arrival, Unix ms. */
  time: number;
  /** Request path. */
  path: string;
  /** The `cursor` parameter, or null for a first request. */
  cursor: string | null;
  /** The `obTime` parameter, or null. */
  obTime: string | null;
  /** The `maxResults` parameter, or null. */
  maxResults: string | null;
  /** Status answered (0 while pending; a hung request stays 0). */
  status: number;
  /** Records in the page. */
  records: number;
  /** `X-Next-Cursor` answered, or null. */
  nextCursor: string | null;
  /** The client's `User-Agent` (which service instance asked, in cluster mode), or null. */
  userAgent: string | null;
}

/** Counters of an {@link ArchiveSim}. */
export interface ArchiveSimCounters {
  /** Requests received. */
  requests: number;
  /** 200 answers with records. */
  pages: number;
  /** 200 answers without records. */
  empty_pages: number;
  /** Records served (re-served ones counted again). */
  records: number;
  /** Injected 5xx answers. */
  failures: number;
  /** 429 answers. */
  rate_limited: number;
  /** Requests left hanging. */
  hung: number;
  /** 401 answers. */
  unauthorized: number;
  /** Other 4xx answers (bad parameters, wrong path). */
  bad_requests: number;
  /** Pages sent gzip-compressed. */
  compressed: number;
}

const DEFAULT_START_MS = Date.parse("2026-11-25T12:00:00Z");
const CURSOR_PREFIX = "v1.";
const FAILURES = [
  [500, "Internal Server Error"],
  [502, "Bad Gateway"],
  [503, "Service Unavailable"],
] as const;

/**
 * The archive simulator: a real HTTP server on `hostname:port`.
 *
 * `GET <path>?maxResults=N[&cursor=C][&obTime=>ISO]` answers with up to N
 * records oldest first, `text/csv` (header row, LF) or `application/json`
 * by `Accept`, and `X-Next-Cursor` for the following page. Without a cursor
 * it starts at the oldest record held, or after `obTime`. Faults, checked
 * in this order: a missing or wrong bearer token → 401; over `rateLimit`
 * requests in the current second → 429 with `Retry-After` (seconds to the
 * next second); then `latencyMs`; `hangRate` → no answer; `failRate` → 500,
 * 502 or 503.
 *
 * @example Serve two pages
 * ```ts
 * import assert from "node:assert/strict";
 * import { ArchiveSim } from "./archive.ts";
 *
 * const sim = new ArchiveSim({ count: 3 });
 * const first = await fetch(`${sim.url}?maxResults=2`, { headers: { accept: "text/csv" } });
 * assert.equal((await first.text()).trimEnd().split("\n").length, 3); // header + 2 rows
 * const next = first.headers.get("x-next-cursor")!;
 * const second = await fetch(`${sim.url}?maxResults=2&cursor=${next}`, {
 *   headers: { accept: "application/json" },
 * });
 * assert.equal((await second.json()).length, 1);
 * assert.deepEqual(sim.requests.map((r) => r.cursor), [null, next]);
 * await sim.stop();
 * ```
 */
export class ArchiveSim {
  /** The port it listens on. */
  readonly port: number;
  /** The archive endpoint URL, e.g. `http://127.0.0.1:7002/udl/eoobservation`. */
  readonly url: string;
  /** The request log, oldest first (at most `requestLogLimit` entries). */
  readonly requests: RequestLogEntry[] = [];
  /** What it has served. */
  readonly counters: ArchiveSimCounters = {
    requests: 0,
    pages: 0,
    empty_pages: 0,
    records: 0,
    failures: 0,
    rate_limited: 0,
    hung: 0,
    unauthorized: 0,
    bad_requests: 0,
    compressed: 0,
  };

  readonly #options: Required<Omit<ArchiveSimOptions, "token">> & { token?: string };
  readonly #data: ArchiveData;
  readonly #random: () => number;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #stop = new AbortController();
  readonly #startedAt = Date.now();
  #window = 0;
  #windowCount = 0;
  #stopped: Promise<void> | undefined;
  /**
   * Resolves once the `count` observations held at start are generated (in
   * the background, a slice at a time, so the server answers meanwhile).
   */
  readonly ready: Promise<void>;

  /** Starts listening at once. */
  constructor(options: ArchiveSimOptions = {}) {
    const count = options.count ?? 100_000;
    this.#options = {
      hostname: options.hostname ?? "127.0.0.1",
      port: options.port ?? 0,
      path: options.path ?? "/udl/eoobservation",
      count,
      rate: options.rate ?? 0,
      failRate: fraction(options.failRate ?? 0, "failRate"),
      rateLimit: options.rateLimit ?? 0,
      latencyMs: options.latencyMs ?? 0,
      hangRate: fraction(options.hangRate ?? 0, "hangRate"),
      token: options.token,
      seed: options.seed ?? 1,
      startMs: options.startMs ??
        (options.rate ? Date.now() - (count / options.rate) * 1000 : DEFAULT_START_MS),
      maxPageSize: options.maxPageSize ?? 10_000,
      // Generation runs a whole frame (a minute of sky) past `count`: hold
      // that overshoot too, or the oldest records would age out at once.
      maxHeld: options.maxHeld ?? Math.max(count + 100_000, 500_000),
      requestLogLimit: options.requestLogLimit ?? 100_000,
      gzip: options.gzip ?? false,
    };
    this.#data = new ArchiveData({
      startMs: this.#options.startMs,
      seed: this.#options.seed,
      maxHeld: this.#options.maxHeld,
      // A live archive holds `rate` observations per second of its timeline.
      perSecond: this.#options.rate > 0 ? this.#options.rate : undefined,
    });
    this.#random = mulberry32(this.#options.seed ^ 0x5eed);
    this.#server = Deno.serve({
      hostname: this.#options.hostname,
      port: this.#options.port,
      onListen() {},
    }, (request) => this.#handle(request));
    this.port = this.#server.addr.port;
    const host = this.#options.hostname.includes(":")
      ? `[${this.#options.hostname}]`
      : this.#options.hostname;
    this.url = `http://${host}:${this.port}${this.#options.path}`;
    this.ready = this.#warmUp();
  }

  async #warmUp(): Promise<void> {
    const count = this.#options.count;
    while (!this.#stop.signal.aborted && this.#data.generated < count) {
      this.#data.ensure(Math.min(count, this.#data.generated + 5000));
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
  }

  /** Observations available now: `count` plus `rate` per second since start. */
  get available(): number {
    const { count, rate } = this.#options;
    return count + Math.floor((rate * (Date.now() - this.#startedAt)) / 1000);
  }

  /** The cursor that asks for the records after the first `index`. */
  static cursorAt(index: number): string {
    return CURSOR_PREFIX + index;
  }

  /** One line saying what it served. */
  summary(): string {
    const c = this.counters;
    return `archive sim: ${c.requests} requests, ${c.pages} pages (${c.records} records), ` +
      `${c.empty_pages} empty, ${c.failures} failed, ${c.rate_limited} rate-limited, ` +
      `${c.hung} hung, ${c.unauthorized} unauthorized, ${c.bad_requests} bad, ` +
      `${c.compressed} gzip`;
  }

  /** Stops listening; hanging and delayed requests are let go. */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stop.abort();
      await Promise.all([this.#server.shutdown(), this.ready]);
    })();
    return this.#stopped;
  }

  async #handle(request: Request): Promise<Response> {
    const url = new URL(request.url);
    const params = url.searchParams;
    const entry: RequestLogEntry = {
      time: Date.now(),
      path: url.pathname,
      cursor: params.get("cursor"),
      obTime: params.get("obTime"),
      maxResults: params.get("maxResults"),
      status: 0,
      records: 0,
      nextCursor: null,
      userAgent: request.headers.get("user-agent"),
    };
    this.counters.requests++;
    this.requests.push(entry);
    if (this.requests.length > this.#options.requestLogLimit) this.requests.shift();
    const response = await this.#answer(request, url, entry);
    entry.status = response.status;
    return response;
  }

  async #answer(request: Request, url: URL, entry: RequestLogEntry): Promise<Response> {
    const o = this.#options;
    const counters = this.counters;
    if (url.pathname !== o.path) return this.#bad(404, `No archive at ${url.pathname}`);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return this.#bad(405, `Method ${request.method} not allowed`);
    }
    if (o.token !== undefined && request.headers.get("authorization") !== `Bearer ${o.token}`) {
      counters.unauthorized++;
      return new Response("Unauthorized\n", {
        status: 401,
        headers: { "www-authenticate": 'Bearer realm="archive"' },
      });
    }
    if (o.rateLimit > 0) {
      const now = Date.now();
      const window = Math.floor(now / 1000);
      if (window !== this.#window) {
        this.#window = window;
        this.#windowCount = 0;
      }
      if (++this.#windowCount > o.rateLimit) {
        counters.rate_limited++;
        const wait = Math.max(1, Math.ceil(((window + 1) * 1000 - now) / 1000));
        return new Response("Too Many Requests\n", {
          status: 429,
          headers: { "retry-after": String(wait) },
        });
      }
    }
    if (o.latencyMs > 0) await sleep(o.latencyMs, this.#stop.signal);
    if (o.hangRate > 0 && this.#random() < o.hangRate) {
      counters.hung++;
      // Hold the connection until the client gives up or the sim stops.
      await new Promise<void>((resolve) => {
        const signals = [request.signal, this.#stop.signal];
        if (signals.some((s) => s.aborted)) return resolve();
        for (const s of signals) s.addEventListener("abort", () => resolve(), { once: true });
      });
      return new Response("Gateway Timeout\n", { status: 504 });
    }
    if (o.failRate > 0 && this.#random() < o.failRate) {
      counters.failures++;
      const [status, text] = FAILURES[Math.floor(this.#random() * FAILURES.length)];
      return new Response(`${text}\n`, { status, statusText: text });
    }

    const params = url.searchParams;
    let size = 1000;
    if (entry.maxResults !== null) {
      size = Number(entry.maxResults);
      if (!Number.isSafeInteger(size) || size < 1) {
        return this.#bad(400, `Bad maxResults: ${JSON.stringify(entry.maxResults)}`);
      }
    }
    size = Math.min(size, o.maxPageSize);
    const available = this.available;
    const data = this.#data;
    let start: number;
    if (entry.cursor !== null) {
      const text = entry.cursor;
      const n = text.startsWith(CURSOR_PREFIX) ? Number(text.slice(CURSOR_PREFIX.length)) : NaN;
      if (!Number.isSafeInteger(n) || n < 0) {
        return this.#bad(400, `Bad cursor: ${JSON.stringify(text)}`);
      }
      start = n;
    } else if (entry.obTime !== null) {
      const filter = params.get("obTime")!;
      const inclusive = filter.startsWith(">=");
      if (!filter.startsWith(">")) {
        return this.#bad(400, `Unsupported obTime filter: ${JSON.stringify(filter)}`);
      }
      let time: number;
      try {
        time = parseUtc(filter.slice(inclusive ? 2 : 1));
      } catch (error) {
        return this.#bad(400, `Bad obTime: ${(error as Error).message}`);
      }
      start = data.firstAfter(time, inclusive, available);
    } else {
      start = data.oldest;
    }
    // Records that aged out are gone: continue from the oldest held.
    start = Math.max(start, data.oldest);
    const end = Math.max(start, Math.min(start + size, available));
    data.ensure(end);
    const json = (request.headers.get("accept") ?? "").includes("json");
    const body = json ? data.jsonPage(start, end) : data.csvPage(start, end);
    const next = ArchiveSim.cursorAt(end);
    entry.records = end - start;
    entry.nextCursor = next;
    if (end > start) {
      counters.pages++;
      counters.records += end - start;
    } else {
      counters.empty_pages++;
    }
    const headers: Record<string, string> = {
      "content-type": json ? "application/json" : "text/csv; charset=utf-8",
      "x-next-cursor": next,
    };
    if (request.method === "HEAD") return new Response(null, { headers });
    if (o.gzip && /\bgzip\b/i.test(request.headers.get("accept-encoding") ?? "")) {
      counters.compressed++;
      headers["content-encoding"] = "gzip";
      return new Response(
        new Blob([body]).stream().pipeThrough(new CompressionStream("gzip")),
        { headers },
      );
    }
    return new Response(body, { headers });
  }

  #bad(status: number, text: string): Response {
    this.counters.bad_requests++;
    return new Response(text + "\n", { status });
  }
}

function fraction(value: number, name: string): number {
  if (!(value >= 0 && value <= 1)) {
    throw new RangeError(`Cannot use ${name} ${value}: expected a fraction in [0, 1]`);
  }
  return value;
}

const HELP = `Usage: main.ts sim archive [options]

Serves a UDL-style EO observation archive (SPEC §5) over HTTP, with
observations of the bundled catalogue as seen from a Haleakalā-like site
(SGP4), and fault injection. Stops on Ctrl-C / SIGTERM (or after --duration)
and prints a one-line summary on stderr.

  GET <path>?maxResults=N[&cursor=C][&obTime=%3E<ISO>]
    → text/csv (default) or application/json (Accept: application/json),
      records oldest first, header X-Next-Cursor for the following page.

Options:
  --hostname H       interface to listen on (default 127.0.0.1)
  --port P           port to listen on (default 7002; 0 = any free port)
  --path PATH        endpoint path (default /udl/eoobservation)
  --count N          observations held at start (default 100000)
  --rate R           new observations appended per second, for a live feed (default 0);
                     observations are then R per second of obTime, keeping pace with
                     the wall clock
  --fail-rate F      fraction of requests answered 500/502/503 (default 0)
  --rate-limit N     requests per second served; more get 429 with Retry-After (default 0: none)
  --latency-ms L     delay before every answer, ms (default 0)
  --hang-rate F      fraction of requests never answered until the client gives up (default 0)
  --token T          require "Authorization: Bearer T" (default: no auth)
  --seed S           seed of the data and of the fault injection (default 1)
  --start ISO|now    sim time of the first observation (default: with --rate, so that
                     the --count held at start end now; else 2026-11-25T12:00:00Z)
  --max-page-size N  largest maxResults honoured (default 10000)
  --gzip             compress pages with gzip when the client accepts it
  --duration S       stop after S seconds (default: run until interrupted)
  --help             this text
`;

/**
 * The `sim archive` command.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { archiveSim } from "./archive.ts";
 *
 * assert.match(archiveSim.help, /--fail-rate F/);
 * ```
 */
export const archiveSim: Command = {
  help: HELP,
  async run(args: string[]): Promise<number> {
    const { values } = parseOptions(args, {
      hostname: { type: "string" },
      port: { type: "string" },
      path: { type: "string" },
      count: { type: "string" },
      rate: { type: "string" },
      "fail-rate": { type: "string" },
      "rate-limit": { type: "string" },
      "latency-ms": { type: "string" },
      "hang-rate": { type: "string" },
      token: { type: "string" },
      seed: { type: "string" },
      start: { type: "string" },
      "max-page-size": { type: "string" },
      duration: { type: "string" },
      gzip: { type: "boolean" },
    });
    const failRate = numberOption(values["fail-rate"], "fail-rate", 0);
    const hangRate = numberOption(values["hang-rate"], "hang-rate", 0);
    if (failRate > 1) throw new UsageError(`--fail-rate must be at most 1: "${failRate}"`);
    if (hangRate > 1) throw new UsageError(`--hang-rate must be at most 1: "${hangRate}"`);
    let startMs: number | undefined;
    if (values.start === "now") {
      startMs = Date.now();
    } else if (values.start !== undefined) {
      try {
        startMs = Math.floor(parseUtc(values.start) / 1000);
      } catch (error) {
        throw new UsageError(
          `--start must be an ISO instant or "now": ${(error as Error).message}`,
        );
      }
    }
    const path = values.path ?? "/udl/eoobservation";
    if (!path.startsWith("/")) throw new UsageError(`--path must start with "/": "${path}"`);
    const duration = numberOption(values.duration, "duration", Infinity);
    const sim = new ArchiveSim({
      hostname: values.hostname ?? "127.0.0.1",
      port: portOption(values.port, 7002),
      path,
      count: integerOption(values.count, "count", 100_000),
      rate: numberOption(values.rate, "rate", 0),
      failRate,
      rateLimit: integerOption(values["rate-limit"], "rate-limit", 0),
      latencyMs: numberOption(values["latency-ms"], "latency-ms", 0),
      hangRate,
      token: values.token,
      seed: integerOption(values.seed, "seed", 1),
      startMs,
      maxPageSize: integerOption(values["max-page-size"], "max-page-size", 10_000),
      gzip: values.gzip === true,
    });
    console.error(`archive sim: serving ${sim.url}`);
    sim.ready.then(() => console.error(`archive sim: ${sim.available} observations ready`));
    await new Promise<void>((resolve) => {
      const signals: Deno.Signal[] = ["SIGINT", "SIGTERM"];
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        for (const signal of signals) Deno.removeSignalListener(signal, done);
        clearTimeout(timer);
        resolve();
      };
      for (const signal of signals) Deno.addSignalListener(signal, done);
      if (Number.isFinite(duration)) timer = setTimeout(done, duration * 1000);
    });
    await sim.stop();
    console.error(sim.summary());
    return 0;
  },
};

if (import.meta.main) {
  try {
    Deno.exit(await archiveSim.run(Deno.args));
  } catch (error) {
    console.error(`sim archive: ${(error as Error).message}\n\n${HELP}`);
    Deno.exit(error instanceof UsageError ? 2 : 1);
  }
}
