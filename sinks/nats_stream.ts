/**
 * The shared JetStream stream of observations (SPEC §12).
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";
import { type JetStreamManager, StorageType, type StreamInfo } from "@nats-io/jetstream";

/** Options for {@link ensureObservationStream}. */
export interface ObservationStreamOptions {
  /** Stream name, e.g. `SDA_OBS`. */
  stream: string;
  /** Its subjects are `<subjectPrefix>.>`. */
  subjectPrefix: string;
  /** Replicas of the stream (1, 3 or 5; default 1). */
  replicas?: number;
  /** JetStream's duplicate window for `Nats-Msg-Id`, ms (default 120000). */
  duplicateWindowMs?: number;
}

const log = getLogger(["sda-ingest", "nats"]);

/**
 * Makes sure the stream exists: creates it (file storage, subjects
 * `<subjectPrefix>.>`, the given replicas and duplicate window) if missing,
 * and leaves an existing one as it is — another instance or an operator may
 * have tuned it — with a warning when its replicas or duplicate window
 * differ from the configuration. Resolves to the stream's info.
 *
 * @example Create the stream once
 * ```ts
 * import assert from "node:assert/strict";
 * import { jetstreamManager } from "@nats-io/jetstream";
 * import { connect } from "@nats-io/transport-node";
 * import { LocalNats } from "../service/cluster/local_nats.ts";
 * import { ensureObservationStream } from "./nats_stream.ts";
 *
 * const nats = await LocalNats.start();
 * const nc = await connect({ servers: nats.urls });
 * const jsm = await jetstreamManager(nc);
 * const options = { stream: "SDA_OBS", subjectPrefix: "sda.obs", duplicateWindowMs: 60_000 };
 * await ensureObservationStream(jsm, options);
 * const info = await ensureObservationStream(jsm, options); // exists: left as it is
 * assert.deepEqual(info.config.subjects, ["sda.obs.>"]);
 * assert.equal(info.config.duplicate_window, 60_000 * 1_000_000);
 * await nc.close();
 * await nats.stop();
 * ```
 */
export async function ensureObservationStream(
  jsm: JetStreamManager,
  options: ObservationStreamOptions,
): Promise<StreamInfo> {
  const replicas = options.replicas ?? 1;
  const duplicateWindowMs = options.duplicateWindowMs ?? 120_000;
  const subjects = [`${options.subjectPrefix}.>`];
  let info: StreamInfo;
  try {
    info = await jsm.streams.info(options.stream);
  } catch (error) {
    if (!/not found/i.test(String((error as Error)?.message))) throw error;
    try {
      info = await jsm.streams.add({
        name: options.stream,
        subjects,
        storage: StorageType.File,
        num_replicas: replicas,
        duplicate_window: duplicateWindowMs * 1_000_000,
      });
    } catch (added) {
      if (!/overlap/i.test(String((added as Error)?.message))) throw added;
      // JetStream names neither stream: say which one takes the subjects.
      const other = await jsm.streams.find(subjects[0]).catch(() => undefined) ??
        await jsm.streams.find(`${options.subjectPrefix}.radar.x`).catch(() => undefined);
      throw new Error(
        `Cannot create JetStream stream ${options.stream} for ${subjects[0]}: ${
          other === undefined ? "another stream" : `stream ${other}`
        } takes some of those subjects; remove it or choose another nats.subjectPrefix`,
        { cause: added },
      );
    }
    log.info(
      "Created JetStream stream {stream} for {subjects} (R{replicas}, duplicate window {window} ms)",
      {
        stream: options.stream,
        subjects: subjects.join(","),
        replicas,
        window: duplicateWindowMs,
      },
    );
    return info;
  }
  // What is published: `<prefix>.<kind>.<sensor>`, the sensor without dots.
  const have = info.config.subjects ?? [];
  const missing = ["radar", "optical", "isl"].filter((kind) =>
    !have.some((subject) => covers(subject, `${options.subjectPrefix}.${kind}.*`))
  );
  if (missing.length > 0) {
    // Publishes would be refused (no stream for their subject) for ever.
    throw new Error(
      `JetStream stream ${options.stream} takes ${have.join(", ") || "no subjects"}, not ${
        missing.map((kind) => `${options.subjectPrefix}.${kind}.*`).join(", ")
      }: those observations would not be stored; add ${
        subjects[0]
      } to the stream or change nats.subjectPrefix`,
    );
  }
  const window = Math.round(info.config.duplicate_window / 1_000_000);
  if (info.config.num_replicas !== replicas || window !== duplicateWindowMs) {
    log.warn(
      "JetStream stream {stream} exists with R{have} and a {haveWindow} ms duplicate window; the configuration says R{want} and {wantWindow} ms (left as it is)",
      {
        stream: options.stream,
        have: info.config.num_replicas,
        haveWindow: window,
        want: replicas,
        wantWindow: duplicateWindowMs,
      },
    );
  }
  return info;
}

/** Whether subject filter `pattern` takes every subject `filter` takes (`>` and `*` wildcards). */
function covers(pattern: string, filter: string): boolean {
  const have = pattern.split(".");
  const want = filter.split(".");
  for (let i = 0; i < want.length; i++) {
    if (have[i] === ">") return true;
    if (i >= have.length || want[i] === ">" || want[i] === "*" && have[i] !== "*") return false;
    if (have[i] !== "*" && have[i] !== want[i]) return false;
  }
  return have.length === want.length;
}
