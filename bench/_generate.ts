/**
 * Inputs generated for the `replay-10m` benchmark: TDM text from
 * the radar simulator's renderer, beacon packets from the ISL simulator's
 * generator, and archive CSV pages from a fast template (the archive
 * simulator's SGP4 frames make ~95,000 rows/s, too slow to generate 3
 * million rows inside a 60 s budget). {@link writeReplayFixtures} writes
 * them as files, which the benchmark replays as recorded traffic is.
 *
 * @module
 */

import type { ReplayInput } from "../service/replay.ts";
import { BeaconGenerator } from "../sim/_isl_beacons.ts";
import { RadarRenderer } from "../sim/_radar_render.ts";
import { ARCHIVE_COLUMNS } from "../sim/_archive_data.ts";
import { Orbits } from "../sim/orbits.ts";
import { formatTimestamp } from "../envelope/time.ts";

const START_MS = Date.parse("2026-11-25T12:00:00Z");
const encoder = new TextEncoder();

function chunked(
  total: number,
  per: number,
  make: (from: number, count: number) => Uint8Array,
): () => ReadableStream<Uint8Array> {
  return () => {
    let done = 0;
    return new ReadableStream<Uint8Array>({
      pull(controller) {
        if (done >= total) {
          controller.close();
          return;
        }
        const count = Math.min(per, total - done);
        controller.enqueue(make(done, count));
        done += count;
      },
    }, { highWaterMark: 0 });
  };
}

/** `count` radar observations (5 data lines each) as one TDM stream. */
export function generatedRadar(count: number): ReplayInput {
  const orbits = new Orbits();
  return {
    kind: "radar",
    name: "radar/generated.kvn",
    open: () => {
      const renderer = new RadarRenderer({ startMs: START_MS, stepUs: 1000, orbits });
      let done = 0;
      return new ReadableStream<Uint8Array>({
        pull(controller) {
          if (done >= count) {
            controller.enqueue(encoder.encode(renderer.finish()));
            controller.close();
            return;
          }
          const n = Math.min(2000, count - done);
          controller.enqueue(encoder.encode(renderer.render(n)));
          done += n;
        },
      }, { highWaterMark: 0 });
    },
  };
}

/** `count` ISL beacons as back-to-back packets. */
export function generatedIsl(count: number): ReplayInput {
  const generator = new BeaconGenerator(new Orbits(), 8, 1);
  const t0 = START_MS * 1000;
  return {
    kind: "isl",
    name: "isl/generated.spp",
    open: chunked(count, 1000, (from, n) => {
      const bytes = new Uint8Array(96 * n);
      for (let i = 0; i < n; i++) {
        const index = from + i + 1;
        generator.write((index % 8) + 1, t0 + index * 100, index, bytes, i * 96);
      }
      return bytes;
    }),
  };
}

/** Archive CSV pages of 1,000 rows, `count` rows in all, one input per page. */
export function generatedOptical(count: number): ReplayInput[] {
  const header = ARCHIVE_COLUMNS.join(",") + "\n";
  const pages: ReplayInput[] = [];
  for (let from = 0; from < count; from += 1000) {
    const n = Math.min(1000, count - from);
    pages.push({
      kind: "optical",
      name: `optical/generated-${String(from / 1000).padStart(5, "0")}.csv`,
      open: () => {
        let text = header;
        for (let i = from; i < from + n; i++) {
          const t = formatTimestamp((START_MS + i * 10) * 1000);
          const ra = ((i * 0.0137) % 360).toFixed(6);
          const dec = (((i * 0.0071) % 180) - 90).toFixed(6);
          text +=
            `gen-${i},U,${t},MAUI-EO-1,${49863 + (i % 240)},,${ra},${dec},0.000278,0.000278,` +
            `5.5,0.12,20.7083,-156.2571,3.05,J2000,false,SIMULATED,bench\n`;
        }
        return ReadableStream.from([encoder.encode(text)]);
      },
    });
  }
  return pages;
}

/** What {@link writeReplayFixtures} wrote. */
export interface WrittenFixtures {
  files: number;
  bytes: number;
}

/**
 * Writes the benchmark's replay inputs under `dir` as a fixtures directory
 * (`radar/`, `optical/`, `isl/`, see `fixtureInputs`): `radar` TDM
 * observations, `optical` archive rows in pages of 1,000 and `isl` beacons,
 * generated as above.
 */
export async function writeReplayFixtures(
  dir: string,
  counts: { radar: number; optical: number; isl: number },
): Promise<WrittenFixtures> {
  const inputs = [
    generatedRadar(counts.radar),
    ...generatedOptical(counts.optical),
    generatedIsl(counts.isl),
  ];
  let bytes = 0;
  for (const kind of ["radar", "optical", "isl"]) {
    await Deno.mkdir(`${dir}/${kind}`, { recursive: true });
  }
  for (const input of inputs) {
    const file = await Deno.open(`${dir}/${input.name}`, {
      write: true,
      create: true,
      truncate: true,
    });
    try {
      for await (const chunk of await input.open()) {
        for (let at = 0; at < chunk.length;) at += await file.write(chunk.subarray(at));
        bytes += chunk.length;
      }
      // On disk before the replay starts: recorded files are, and writing
      // back 1.7 GB of dirty pages slowed the replay's own writes.
      await file.syncData();
    } finally {
      file.close();
    }
  }
  return { files: inputs.length, bytes };
}
