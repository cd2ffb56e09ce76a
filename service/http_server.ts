/**
 * The service's HTTP endpoints (SPEC §9): `/metrics`, `/health`, `/ready`.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { formatTimestamp } from "../envelope/time.ts";
import type { Source } from "../sources/source.ts";
import type { ServiceMetrics } from "./metrics.ts";
import { BearerAuth } from "./http_auth.ts";
import type { Pipeline } from "./pipeline.ts";
import { sourceHealth } from "./source_health.ts";
import type { StatusBoard } from "./status_board.ts";
import { STATUS_PAGE_HTML } from "./status_page.ts";

const log = getLogger(["sda-ingest", "http"]);

/** What the endpoints report on. */
export interface HttpTarget {
  /** Metrics registry. */
  metrics: ServiceMetrics;
  /** The running sources (empty before they start). */
  sources: () => readonly Source[];
  /** Per-source counts. */
  pipeline: () => Pipeline | undefined;
  /** True once the logs are open and every source has started. */
  ready: () => boolean;
  /** `"starting"`, `"running"` or `"stopping"`. */
  phase: () => "starting" | "running" | "stopping";
  /** A log write that is failing and being retried (disk full, SPEC §7), if any. */
  logProblem?: () => { log: string; dir: string; error: string; since: number } | undefined;
  /** Cluster mode: publishing that has been failing long enough to stall ingestion, if so. */
  publishProblem?: () => { stream: string; error: string; since: number } | undefined;
  /** Cluster mode: a state write that has been failing that long, if so. */
  stateProblem?: () => { key: string; error: string; since: number } | undefined;
  /** Next offsets of the logs. */
  offsets: () => { events: number; deadLetters: number };
  /** Process start, ms since the epoch. */
  startedAt: number;
  /** The status page's data (`GET /`, `GET /status`). */
  status?: StatusBoard;
  /** Cluster mode: this instance's name. */
  instance?: string;
  /** While starting: what the service waits for (NATS), if anything. */
  waiting?: () => string | undefined;
}

/** The `/health` document. */
export function healthDocument(target: HttpTarget): Record<string, unknown> {
  const pipeline = target.pipeline();
  const sources: Record<string, unknown> = {};
  let degraded = false;
  for (const source of target.sources()) {
    const status = source.status();
    // A standby of a source another instance drives is as it should be.
    const standby = status.owner !== undefined && status.owner !== target.instance;
    const { state, failure, degradedBy: deadLetters } = sourceHealth(
      source.name,
      status,
      pipeline,
    );
    if (state !== "up" && !standby) degraded = true;
    const counts = pipeline?.counts(source.name);
    sources[source.name] = {
      kind: source.kind,
      state,
      ...(failure !== undefined ? { failure } : {}),
      ...(deadLetters !== undefined ? { degraded_by: deadLetters } : {}),
      // Cluster mode: who drives each leased source (null: nobody holds its lease).
      ...(status.owner !== undefined || (target.instance !== undefined && source.kind !== "radar")
        ? { owner: status.owner ?? null }
        : {}),
      last_receive: status.lastReceive === undefined ? null : formatTimestamp(status.lastReceive),
      counts: counts
        ? {
          observations: counts.observations,
          duplicates: counts.duplicates,
          dead_letters: counts.deadLetters,
        }
        : null,
      counters: status.counters,
      ...(status.lost ? { lost: status.lost } : {}),
      last_error: status.lastError ?? null,
      last_error_at: status.lastErrorAt === undefined ? null : formatTimestamp(status.lastErrorAt),
    };
  }
  const phase = target.phase();
  const problem = target.logProblem?.();
  const publish = target.publishProblem?.();
  const state = target.stateProblem?.();
  const waiting = phase === "starting" ? target.waiting?.() : undefined;
  return {
    status: phase !== "running"
      ? phase
      : degraded || problem || publish || state
      ? "degraded"
      : "ok",
    ...(waiting !== undefined ? { waiting } : {}),
    ready: target.ready(),
    ...(target.instance !== undefined ? { instance: target.instance } : {}),
    uptime_s: Math.round((Date.now() - target.startedAt) / 1000),
    log: problem === undefined ? target.offsets() : {
      ...target.offsets(),
      // SPEC §7: why ingestion is paused.
      error: `Cannot write the ${problem.log} log (${problem.dir}): ${problem.error}`,
      since: new Date(problem.since).toISOString(),
    },
    ...(publish === undefined ? {} : {
      nats: {
        // Nothing is acknowledged meanwhile: every source waits.
        error: `Cannot publish to NATS stream ${publish.stream}: ${publish.error}`,
        since: new Date(publish.since).toISOString(),
      },
    }),
    ...(state === undefined ? {} : {
      state: {
        // Ingestion goes on; a restart would resume from older positions.
        error: `Cannot save state ${state.key} in NATS KV: ${state.error}`,
        since: new Date(state.since).toISOString(),
      },
    }),
    sources,
  };
}

/** Options for {@link serveHttp}. */
export interface HttpOptions {
  /** Address to bind (loopback by default in the configuration). */
  hostname: string;
  /** Port (0: any free one). */
  port: number;
  /** With a token, every endpoint but `/ready` requires it (SPEC §15). */
  token?: string;
  /** PEM certificate chain and key: serve HTTPS. */
  tls?: { cert: string; key: string };
}

/**
 * Serves the endpoints on `hostname:port` (loopback by default). Resolves
 * once listening, with the bound port and a shutdown function.
 *
 * Deno's server ends its accept loop for good on an accept error, e.g. out
 * of file descriptors when someone holds thousands of connections open, and
 * its rejected `finished` would end the process: the service would stop
 * ingesting for a flood on its status port. Here the failure is logged and
 * the port served again, once a second until that works.
 */
export function serveHttp(
  target: HttpTarget,
  options: HttpOptions,
): Promise<{ port: number; shutdown: () => Promise<void> }> {
  const auth = options.token === undefined ? undefined : new BearerAuth(options.token);
  let server: Deno.HttpServer<Deno.NetAddr> | undefined;
  let stopped = false;
  let retry: ReturnType<typeof setTimeout> | undefined;

  const handler = async (request: Request): Promise<Response> => {
    // The URL is built from the Host header: a client can make it invalid
    // (`Host: a b`). Its own mistake: 400, and nothing logged.
    const url = URL.parse(request.url);
    if (url === null) return new Response("Bad request: invalid Host\n", { status: 400 });
    // /ready stays open: load balancers and orchestrators probe it without
    // secrets. Everything else, whatever the method, needs the token first
    // (SPEC §15: 401 otherwise).
    if (
      auth && url.pathname !== "/ready" &&
      !await auth.check(request.headers.get("authorization"))
    ) {
      return new Response("Unauthorized: send Authorization: Bearer <token>\n", {
        status: 401,
        headers: { "www-authenticate": BearerAuth.challenge },
      });
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("Method not allowed\n", { status: 405, headers: { allow: "GET" } });
    }
    switch (url.pathname) {
      case "/metrics":
        return new Response(await target.metrics.text(), {
          headers: { "content-type": target.metrics.contentType },
        });
      case "/health":
        return Response.json(healthDocument(target));
      case "/":
        if (!target.status) break;
        return new Response(STATUS_PAGE_HTML, {
          headers: {
            "content-type": "text/html; charset=utf-8",
            // Self-contained: nothing may load from elsewhere, scripts only inline.
            "content-security-policy":
              "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; " +
              "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'",
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
          },
        });
      case "/status":
        if (!target.status) break;
        return Response.json(await target.status.document(), {
          headers: { "cache-control": "no-store" },
        });
      case "/ready": {
        const ready = target.ready();
        return new Response(ready ? "ready\n" : "not ready\n", { status: ready ? 200 : 503 });
      }
    }
    return new Response("Not found: try /, /status, /metrics, /health or /ready\n", {
      status: 404,
    });
  };

  /** Listens on `port`; resolves with the port bound. */
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      try {
        const current = Deno.serve({
          hostname: options.hostname,
          port,
          ...(options.tls ? { cert: options.tls.cert, key: options.tls.key } : {}),
          onListen: (addr) => resolve(addr.port),
          // A handler that throws answers 500 without its message or stack (no
          // detail of the service's internals to whoever asked); the log has it.
          onError: (error) => {
            log.error("HTTP handler failed: {error}", { error: String(error) });
            return new Response("Internal server error\n", { status: 500 });
          },
        }, handler);
        server = current;
        current.finished.catch((error) => {
          if (stopped || server !== current) return;
          log.error("HTTP server stopped: {error}; serving port {port} again in 1 s", {
            error: String(error),
            port,
          });
          again(port);
        });
      } catch (error) {
        // Which listener: with radar ports beside it, "Address already in
        // use" alone does not say.
        if (error instanceof Error) {
          error.message =
            `the HTTP port cannot listen on ${options.hostname}:${port}: ${error.message}`;
        }
        reject(error);
      }
    });

  const again = (port: number) => {
    retry = setTimeout(() => {
      retry = undefined;
      if (stopped) return;
      listen(port).then(
        () => log.info("HTTP on port {port} again", { port }),
        () => again(port),
      );
    }, 1000);
  };

  return listen(options.port).then((port) => ({
    port,
    shutdown: async () => {
      stopped = true;
      clearTimeout(retry);
      await server?.shutdown();
    },
  }));
}
