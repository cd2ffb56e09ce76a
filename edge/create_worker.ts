/**
 * The edge worker with its settings (SPEC §13).
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { DecodeContext } from "../sources/decode_context.ts";
import { clientAddress } from "./_client_address.ts";
import { type BodyDecoder, islBody, opticalBody, radarBody } from "./_body_decoders.ts";
import { ndjsonAnswer } from "./_ndjson_answer.ts";

/** Settings of an edge worker. */
export interface EdgeWorkerOptions {
  /**
   * Largest request body read, bytes (default {@link DEFAULT_MAX_BODY_BYTES}).
   * A larger declared `Content-Length` is answered 413; a body that turns
   * out larger is read and decoded up to the limit (whatever its chunking)
   * and its answer ends with a `transport` dead letter. Memory does not
   * depend on it: bodies stream.
   */
  maxBodyBytes?: number;
}

/** An edge worker: the fetch-handler shape of Cloudflare Workers, Deno Deploy and Deno's HTTP server. */
export interface EdgeWorker {
  /** Answers one request. */
  fetch(request: Request): Response;
}

/** The default body limit: 1 GiB (memory does not grow with the body; time does). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024 * 1024;

const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const NDJSON = { "content-type": "application/x-ndjson" };

function problem(status: number, message: string, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify({ error: message }) + "\n", {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

function context(request: Request, url: URL, source: string): DecodeContext {
  return {
    source,
    transport: "worker",
    peer: clientAddress(request.headers) ?? `${url.origin}${url.pathname}`,
  };
}

/**
 * An edge worker (`export default createWorker()` is a complete worker
 * module). `POST /ingest/radar` (TDM text), `POST /ingest/optical` (CSV or
 * JSON by Content-Type) and `POST /ingest/isl` (packets back to back)
 * answer `200` with `application/x-ndjson`: one line per Observation
 * (transport `"worker"`) and one per dead letter (those have a `"stage"`
 * key), each at the position of the input that produced it. The body is
 * decoded as it arrives and the answer streams out as it is produced, read
 * only as fast as the client takes it: memory does not grow with the body.
 * `?source=NAME` sets `provenance.source` (default `edge`);
 * `provenance.peer` is the client address when a proxy header carries a
 * valid IP address (`CF-Connecting-IP`, else the last `X-Forwarded-For`
 * entry: the one the nearest proxy appended), else the request URL. It is
 * only as trustworthy as the proxy in front: without one that sets or
 * rewrites these headers, they are whatever the client sent.
 *
 * A body that turns out to be junk — 1,000 dead letters in a row and no
 * observation (`DEAD_LETTERS_IN_A_ROW`) — is decoded no further, as the
 * radar TCP source closes such a connection (SPEC §3): its answer ends with
 * a `transport` dead letter (`Not a TDM stream: 1000 dead letters in a row
 * and no observation; the rest was not decoded`), sent once the rest of the
 * body (up to `maxBodyBytes`) has been read and dropped, so that a sender
 * still writing it reads the answer rather than a broken pipe. In an
 * archive page or a packet stream, records that parsed and failed
 * validation do not count (see `BodyDecoder.junkCut`).
 *
 * A body sent with `Content-Encoding: gzip` or `deflate` is decompressed as
 * it streams (the limit counts its bytes after decompression, so a
 * compressed "bomb" is cut off like any large body); another encoding is
 * answered `415`. A body that cannot be read to its end (a gzip stream cut
 * short, the client gone) ends the answer with a `transport` dead letter.
 *
 * The answer streams while the body is read, at the pace the client reads
 * it: a client must read the answer while it sends (curl, fetch do); one
 * that sends a large body (~10 MB and more: socket buffers) before reading
 * anything waits for ever, as the worker waits for it to read.
 *
 * @example A body over the limit is refused before it is read
 * ```ts
 * import assert from "node:assert/strict";
 * import { createWorker } from "./create_worker.ts";
 *
 * const worker = createWorker({ maxBodyBytes: 4 });
 * const response = worker.fetch(new Request("http://edge/ingest/isl", {
 *   method: "POST",
 *   headers: { "content-length": "5" },
 *   body: new Uint8Array(5),
 * }));
 * assert.equal(response.status, 413);
 * assert.match((await response.json()).error, /^Body larger than 4 bytes/);
 * ```
 */
export function createWorker(options: EdgeWorkerOptions = {}): EdgeWorker {
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!(maxBodyBytes >= 0)) {
    throw new RangeError(`Cannot create a worker with maxBodyBytes below 0: ${maxBodyBytes}`);
  }
  return {
    fetch(request: Request): Response {
      const url = new URL(request.url);
      const route = /^\/ingest\/(radar|optical|isl)$/.exec(url.pathname);
      if (route === null) {
        return problem(404, "Not found: POST /ingest/radar, /ingest/optical or /ingest/isl");
      }
      if (request.method !== "POST") {
        return problem(405, "Method not allowed: use POST", { allow: "POST" });
      }
      const source = url.searchParams.get("source") ?? "edge";
      if (!NAME.test(source)) {
        return problem(400, `Invalid source name: ${JSON.stringify(source)}`);
      }
      const declared = Number(request.headers.get("content-length") ?? "0");
      if (declared > maxBodyBytes) {
        request.body?.cancel().catch(() => {});
        return problem(413, `Body larger than ${maxBodyBytes} bytes: ${declared} declared`);
      }
      const encoding = (request.headers.get("content-encoding") ?? "identity").trim()
        .toLowerCase();
      let body = request.body;
      if (encoding === "gzip" || encoding === "x-gzip" || encoding === "deflate") {
        body =
          body?.pipeThrough(new DecompressionStream(encoding === "deflate" ? "deflate" : "gzip")) ??
            null;
      } else if (encoding !== "identity" && encoding !== "") {
        request.body?.cancel().catch(() => {});
        return problem(
          415,
          `Unsupported Content-Encoding: ${JSON.stringify(encoding)} (send gzip, deflate or none)`,
        );
      }
      const ctx = context(request, url, source);
      let decoder: BodyDecoder;
      switch (route[1]) {
        case "radar":
          decoder = radarBody(ctx);
          break;
        case "optical":
          decoder = opticalBody(ctx, request.headers.get("content-type") ?? "");
          break;
        default:
          decoder = islBody(ctx);
      }
      return new Response(ndjsonAnswer(body, decoder, ctx, maxBodyBytes), {
        headers: NDJSON,
      });
    },
  };
}
