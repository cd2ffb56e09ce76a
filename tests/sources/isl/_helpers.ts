/** Shared helpers of the ISL source tests. */

import type { Observation } from "../../../envelope/observation.ts";
import { DedupeWindow } from "../../../operators/dedupe_window.ts";
import { Pipeline, type PipelineOptions } from "../../../service/pipeline.ts";
import { StateStore } from "../../../service/state_store.ts";
import { openDeadLetterLog, openEventLog, readRecentIds } from "../../../sinks/event_log.ts";
import type { IslGatewayState } from "../../../sources/isl/gateway_poller.ts";
import type { Checkpoint } from "../../../sources/source.ts";
import { readAllLines } from "../../_observations.ts";

/** A checkpoint in memory that records every save. */
export function memoryCheckpoint(): Checkpoint<IslGatewayState> & { saves: IslGatewayState[] } {
  const saves: IslGatewayState[] = [];
  return {
    saves,
    load: () => Promise.resolve(saves.at(-1)),
    save: (value) => {
      saves.push(value);
      return Promise.resolve();
    },
  };
}

/** A pipeline over fresh logs in `dir` (dedupe rebuilt from the log, as the service does). */
export async function openPipeline(
  dir: string,
  options: Pick<PipelineOptions, "onWritten"> = {},
): Promise<Pipeline> {
  const events = await openEventLog({ dir: `${dir}/events`, fsync: "interval" });
  const deadLetters = await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "interval" });
  const dedupe = new DedupeWindow(1_000_000);
  for (const id of await readRecentIds(`${dir}/events`, 1_000_000)) dedupe.add(id);
  return new Pipeline({ events, deadLetters, dedupe, ...options });
}

/** State files under `dir/state`, as the service keeps them. */
export function stateCheckpoints(
  dir: string,
): (gateway: string) => Checkpoint<IslGatewayState> {
  const store = new StateStore(`${dir}/state`);
  return (gateway: string) => store.checkpoint<IslGatewayState>(`isl.isl.${gateway}`);
}

/** Waits until `condition()` holds, polling every 5 ms; throws after `timeoutMs`. */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const start = performance.now();
  while (!(await condition())) {
    if (performance.now() - start > timeoutMs) throw new Error(`Timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Every observation of the event log under `dir`. */
export async function loggedObservations(dir: string): Promise<Observation[]> {
  return (await readAllLines(`${dir}/events`)).map((line) => JSON.parse(line));
}

/** Counts of each gateway index (`provenance.ref`) in a list of observations. */
export function refCounts(observations: Observation[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const o of observations) {
    const ref = Number(o.provenance.ref);
    counts.set(ref, (counts.get(ref) ?? 0) + 1);
  }
  return counts;
}

/** Asserts-free check: which of `from…to` are not logged exactly once. */
export function notExactlyOnce(counts: Map<number, number>, from: number, to: number): number[] {
  const bad: number[] = [];
  for (let i = from; i <= to; i++) if (counts.get(i) !== 1) bad.push(i);
  return bad;
}
