/**
 * The `replay-10m` bench child: replays 10,000,000 generated observations and
 * prints the time, then waits for the parent to read its peak RSS.
 *
 * @module
 */

import { parseOptions, UsageError } from "../cli/_args.ts";
import { replay } from "../service/replay.ts";
import { generatedIsl, generatedOptical, generatedRadar } from "./_generate.ts";

/** Replays 10,000,000 generated observations; the last stderr line is the JSON result. */
export async function replay10m(args: string[]): Promise<number> {
  const { values } = parseOptions(args, { out: { type: "string" } });
  if (values.out === undefined) throw new UsageError("--out is required");
  const inputs = [
    generatedRadar(4_000_000),
    ...generatedOptical(3_000_000),
    generatedIsl(3_000_000),
  ];
  const t0 = performance.now();
  const result = await replay({ inputs, out: values.out });
  const seconds = (performance.now() - t0) / 1000;
  console.error(JSON.stringify({ seconds, observations: result.observations }));
  // Stay alive until the parent has read this process's peak RSS.
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, 30_000);
    Deno.addSignalListener("SIGTERM", done);
    function done() {
      clearTimeout(timer);
      Deno.removeSignalListener("SIGTERM", done);
      resolve();
    }
  });
  return 0;
}
