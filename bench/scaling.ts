/**
 * The `scaling` scenario (issue 16): the same radar load with `workers` = 0,
 * 1, 2 and 3, the senders on the same machine, with the CPU each thread of
 * the service spent per observation — what limits each step.
 *
 * @module
 */

import {
  type Measurement,
  measureRate,
  radarSender,
  type Scenario,
  startTopology,
  stopTopology,
} from "./scenarios.ts";

/** Observations per run, over {@link CONNECTIONS} connections. */
const COUNT = 800_000;
/** Radar connections: enough for every worker count to have one to decode. */
const CONNECTIONS = 4;
const WORKERS = [0, 1, 2, 3];

/**
 * CPU time of each thread of `pid` (clock ticks, 1/100 s), by thread id,
 * with its name. Read through `cat`: Deno asks for --allow-all to read
 * under `/proc/<pid>/task`.
 */
async function threadTicks(pid: number): Promise<Map<string, { name: string; ticks: number }>> {
  const output = await new Deno.Command("sh", {
    args: ["-c", `cat /proc/${pid}/task/*/stat`],
    stdout: "piped",
    stderr: "null",
  }).output();
  const out = new Map<string, { name: string; ticks: number }>();
  for (const stat of new TextDecoder().decode(output.stdout).split("\n")) {
    if (stat === "") continue;
    // The name is in parentheses and may hold spaces: the fields follow the last ")".
    const tid = stat.slice(0, stat.indexOf(" "));
    const name = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    out.set(tid, { name, ticks: Number(fields[11]) + Number(fields[12]) });
  }
  return out;
}

/** CPU per observation between two samples, µs: the main thread, decode workers, the rest. */
function cpuPerObservation(
  before: Map<string, { name: string; ticks: number }>,
  after: Map<string, { name: string; ticks: number }>,
  pid: number,
  observations: number,
): { main: number; workers: number; other: number } {
  const us = (ticks: number) => (ticks * 10_000) / observations;
  let main = 0, workers = 0, other = 0;
  for (const [tid, { name, ticks }] of after) {
    const spent = ticks - (before.get(tid)?.ticks ?? 0);
    if (tid === String(pid)) main += spent;
    else if (name.startsWith("worker-")) workers += spent;
    else other += spent;
  }
  return { main: us(main), workers: us(workers), other: us(other) };
}

/**
 * Radar into the service over {@link CONNECTIONS} connections from one
 * `sim radar` process, once per worker count; throughput as in the other
 * scenarios, CPU from `/proc/<pid>/task/<tid>/stat` (less sensitive to a
 * shared machine's load than wall time).
 */
export const scaling: Scenario = {
  name: "scaling",
  description: `radar over ${CONNECTIONS} connections with workers = ${
    WORKERS.join(", ")
  } (sender on the same machine), with the service's CPU per observation by thread`,
  async run({ runs, log }) {
    const measurements: Measurement[] = [];
    const notes: string[] = [];
    for (const workers of WORKERS) {
      const rates: number[] = [];
      let cpu = { main: 0, workers: 0, other: 0 };
      for (let run = 0; run < Math.max(1, runs); run++) {
        const topology = await startTopology({ kinds: ["radar"], fsync: "interval", workers });
        try {
          const pid = topology.service.pid;
          const before = await threadTicks(pid);
          const sender = radarSender(topology.radarPort!, COUNT, 0, CONNECTIONS);
          const { rate } = await measureRate(topology, COUNT);
          await sender.status;
          const after = await threadTicks(pid);
          cpu = cpuPerObservation(before, after, pid, COUNT);
          rates.push(rate);
          log(
            `  workers ${workers}, run ${run + 1}: ${
              Math.round(rate).toLocaleString("en-US")
            } obs/s; CPU per observation: main ${cpu.main.toFixed(2)} µs, workers ${
              cpu.workers.toFixed(2)
            } µs, other threads ${cpu.other.toFixed(2)} µs`,
          );
        } finally {
          await stopTopology(topology);
        }
      }
      const sorted = [...rates].sort((a, b) => a - b);
      const value = sorted[Math.floor(sorted.length / 2)];
      measurements.push({ name: `workers = ${workers}`, value, unit: "obs/s", runs: rates });
      notes.push(
        `workers = ${workers}: CPU per observation main ${cpu.main.toFixed(2)} µs, workers ${
          cpu.workers.toFixed(2)
        } µs, other ${cpu.other.toFixed(2)} µs`,
      );
    }
    const base = measurements[0].value;
    for (const m of measurements.slice(1)) {
      notes.push(`${m.name}: ${(m.value / base).toFixed(2)} × workers = 0`);
    }
    return { scenario: "scaling", measurements, notes };
  },
};
