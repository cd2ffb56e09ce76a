/** Test helpers for the optical source: memory checkpoints and scripted archives. */

import zlib from "node:zlib";

import type { Checkpoint } from "../../../sources/source.ts";

/** A checkpoint in memory that records every save. */
export function memoryCheckpoint(
  initial?: string,
): { checkpoint: Checkpoint<string>; saves: string[] } {
  const saves: string[] = [];
  return {
    saves,
    checkpoint: {
      load: () => Promise.resolve(saves.at(-1) ?? initial),
      save: (value) => {
        saves.push(value);
        return Promise.resolve();
      },
    },
  };
}

/** One request a {@link scriptedArchive} received. */
export interface Seen {
  /** Arrival, `performance.now()` ms. */
  at: number;
  /** The request URL. */
  url: URL;
  /** The request headers. */
  headers: Headers;
}

/**
 * A real HTTP server on loopback whose n-th answer (1-based) is decided by
 * `answer`, for protocol tests that need exact sequences of failures.
 */
export function scriptedArchive(
  answer: (request: Request, n: number) => Response | Promise<Response>,
): { url: string; seen: Seen[]; close: () => Promise<void> } {
  const seen: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    seen.push({ at: performance.now(), url: new URL(request.url), headers: request.headers });
    return answer(request, seen.length);
  });
  return {
    url: `http://127.0.0.1:${server.addr.port}/udl/eoobservation`,
    seen,
    close: () => server.shutdown(),
  };
}

/** A CSV page of `count` good records starting at record `from`, with `X-Next-Cursor`. */
export function csvPage(from: number, count: number, next: string): Response {
  let text = "id,obTime,idSensor,satNo,ra,declination\n";
  for (let i = from; i < from + count; i++) {
    const second = String(i % 60).padStart(2, "0");
    text +=
      `EO-${i},2026-11-25T12:${String(Math.floor(i / 60) % 60).padStart(2, "0")}:${second}Z,` +
      `MAUI-EO-1,25544,${(i % 360) + 0.5},10\n`;
  }
  return new Response(text, { headers: { "content-type": "text/csv", "x-next-cursor": next } });
}

/** Waits until `condition()` holds, polling; throws after `timeoutMs`. */
export async function until(
  condition: () => boolean,
  timeoutMs = 20_000,
  what = "condition",
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * A gzip body that inflates to about `bytes` of CSV rows (a "gzip bomb"):
 * one deflate segment of 1 MiB of rows, compressed with a full flush so
 * that it stands alone, repeated, then a final empty block and a correct
 * trailer. Compressing the whole would take seconds per gigabyte; this
 * takes milliseconds (2 GiB → 6 MB).
 */
export function gzipBomb(bytes: number): Uint8Array<ArrayBuffer> {
  const header = "id,obTime,idSensor,satNo,ra,declination\n";
  const row = "EO-1,2026-11-25T12:00:00Z,MAUI-EO-1,25544,10.5,-3\n";
  const block = new TextEncoder().encode(row.repeat(Math.ceil((1 << 20) / row.length)));
  const first = new TextEncoder().encode(header);
  const flush = { level: 9, finishFlush: zlib.constants.Z_FULL_FLUSH };
  const head = zlib.deflateRawSync(first, flush);
  const segment = zlib.deflateRawSync(block, flush);
  const n = Math.max(1, Math.ceil(bytes / block.length));
  let crc = zlib.crc32(first);
  for (let i = 0; i < n; i++) crc = zlib.crc32(block, crc);
  const out = new Uint8Array(10 + head.length + segment.length * n + 2 + 8);
  out.set([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]); // gzip, no name, unknown OS
  out.set(head, 10);
  let offset = 10 + head.length;
  for (let i = 0; i < n; i++, offset += segment.length) out.set(segment, offset);
  out.set([0x03, 0x00], offset); // a final, empty block (fixed Huffman, end of block)
  const trailer = new DataView(out.buffer, offset + 2);
  trailer.setUint32(0, crc >>> 0, true);
  trailer.setUint32(4, (first.length + block.length * n) % 2 ** 32, true);
  return out;
}
