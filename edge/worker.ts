/**
 * The portable core as an edge-worker module (SPEC §13): `export default {
 * fetch }`, nothing but web APIs. It runs unchanged under `Deno.serve`, Deno
 * Deploy, Cloudflare Workers or any runtime with the fetch-handler shape.
 *
 * * `POST /ingest/radar` — a CCSDS TDM (KVN) body, decoded as it streams in
 * * `POST /ingest/optical` — an archive page, `text/csv` or `application/json`
 * * `POST /ingest/isl` — beacon packets back to back, `application/octet-stream`
 *
 * The answer is `application/x-ndjson`: one line per normalised Observation
 * (transport `"worker"`) and one per DeadLetter (those have a `"stage"` key),
 * in input order. `?source=NAME` sets `provenance.source` (default `edge`);
 * `provenance.peer` is the client address when a proxy header carries it,
 * else the request URL.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import worker from "./worker.ts";
 *
 * const response = await worker.fetch(new Request("http://edge/ingest/isl", {
 *   method: "POST",
 *   headers: { "content-type": "application/octet-stream" },
 *   body: new Uint8Array([1, 2, 3]),
 * }));
 * assert.equal(response.status, 200);
 * const [line] = (await response.text()).trim().split("\n").map((l) => JSON.parse(l));
 * assert.equal(line.stage, "framing");
 * ```
 *
 * @module
 */

import type { DeadLetter } from "../envelope/dead_letter.ts";
import type { Observation } from "../envelope/observation.ts";
import { serializeDeadLetter, serializeObservation } from "../envelope/serialize.ts";
import type { IngestBatch } from "../operators/ingest_batch.ts";
import type { DecodeContext } from "../sources/decode_context.ts";
import { decodeIslPackets } from "../sources/isl/decode_isl_packets.ts";
import { decodeOpticalPage } from "../sources/optical/decode_optical_page.ts";
import { TdmDecodeStream } from "../sources/radar/tdm_decode_stream.ts";

/** Largest body accepted for a buffered (optical, ISL) request: 32 MiB. */
const MAX_BODY_BYTES = 32 * 1024 * 1024;
const NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const encoder = new TextEncoder();

function ndjson(observations: readonly Observation[], deadLetters: readonly DeadLetter[]): string {
  let text = "";
  for (const o of observations) text += serializeObservation(o) + "\n";
  for (const d of deadLetters) text += serializeDeadLetter(d) + "\n";
  return text;
}

const NDJSON = { "content-type": "application/x-ndjson" };

function problem(status: number, message: string, headers: HeadersInit = {}): Response {
  return new Response(JSON.stringify({ error: message }) + "\n", {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

/** The body, or a 413 response when it is larger than the limit. */
async function readBody(request: Request): Promise<Uint8Array | Response> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > MAX_BODY_BYTES) {
    return problem(413, `Body larger than ${MAX_BODY_BYTES} bytes`);
  }
  if (request.body === null) return new Uint8Array(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of request.body) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return problem(413, `Body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  const body = new Uint8Array(size);
  let at = 0;
  for (const chunk of chunks) {
    body.set(chunk, at);
    at += chunk.length;
  }
  return body;
}

function context(request: Request, url: URL, source: string): DecodeContext {
  const forwarded = request.headers.get("cf-connecting-ip") ??
    request.headers.get("x-forwarded-for")?.split(",")[0].trim();
  return {
    source,
    transport: "worker",
    peer: forwarded || `${url.origin}${url.pathname}`,
  };
}

/** The edge worker. */
const worker: { fetch(request: Request): Promise<Response> } = {
  async fetch(request: Request): Promise<Response> {
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
    const ctx = context(request, url, source);
    switch (route[1]) {
      case "radar": {
        // Streamed: observations go out while the TDM body is still arriving.
        const body = request.body ?? ReadableStream.from<Uint8Array>([]);
        const lines = body
          .pipeThrough(new TdmDecodeStream({ ctx, groupIdleMs: Infinity }))
          .pipeThrough(
            new TransformStream<IngestBatch, Uint8Array>({
              transform(batch, controller) {
                const text = ndjson(batch.observations, batch.deadLetters);
                if (text.length > 0) controller.enqueue(encoder.encode(text));
              },
            }),
          );
        return new Response(lines, { headers: NDJSON });
      }
      case "optical": {
        const body = await readBody(request);
        if (body instanceof Response) return body;
        const type = request.headers.get("content-type") ?? "";
        const { observations, deadLetters } = decodeOpticalPage(body, type, ctx);
        return new Response(ndjson(observations, deadLetters), { headers: NDJSON });
      }
      default: {
        const body = await readBody(request);
        if (body instanceof Response) return body;
        const { observations, deadLetters } = decodeIslPackets(body, ctx);
        return new Response(ndjson(observations, deadLetters), { headers: NDJSON });
      }
    }
  },
};

export default worker;
