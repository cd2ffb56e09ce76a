/** Test helpers for the optical source: memory checkpoints and scripted archives. */

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
