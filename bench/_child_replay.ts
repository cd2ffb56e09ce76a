/**
 * The `replay-10m` bench child: replays the fixtures directory the parent
 * wrote (`writeReplayFixtures`, 10,000,000 observations) as `deno task
 * replay` does and prints the time, then waits for the parent to read its
 * peak RSS.
 *
 * @module
 */

import { parseOptions, UsageError } from "../cli/_args.ts";
import { fixtureInputs, replay } from "../service/replay.ts";

/** Replays `--fixtures` into `--out`; the last stderr line is the JSON result. */
export async function replay10m(args: string[]): Promise<number> {
  const { values } = parseOptions(args, {
    out: { type: "string" },
    fixtures: { type: "string" },
  });
  if (values.out === undefined) throw new UsageError("--out is required");
  if (values.fixtures === undefined) throw new UsageError("--fixtures is required");
  const t0 = performance.now();
  const inputs = await fixtureInputs(values.fixtures);
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
