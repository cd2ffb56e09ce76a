/**
 * The fuzzer (issue 13): every saved finding under fixtures/fuzz replayed
 * as a regression, and the oracle and runner shown to catch what they
 * claim to. The bounded run itself is bounded_run_test.ts.
 */

import assert from "node:assert/strict";
import type { DeadLetter } from "../../envelope/dead_letter.ts";
import { observationId } from "../../envelope/observation_id.ts";
import { decodeIslPackets } from "../../sources/isl/decode_isl_packets.ts";
import { decodeOpticalPage } from "../../sources/optical/decode_optical_page.ts";
import { decodeTdm } from "../../sources/radar/decode_tdm.ts";
import { loadCases } from "../../tools/fuzz/_cases.ts";
import { inputSeed, Prng } from "../../tools/fuzz/_prng.ts";
import { checkDeadLetter, checkObservation, type Judged } from "../../tools/fuzz/_oracle.ts";
import { NOW_MICROS } from "../../tools/fuzz/_target.ts";
import { islAccounting } from "../../tools/fuzz/_target_isl.ts";
import { opticalAccounting } from "../../tools/fuzz/_target_optical.ts";
import { tdmAccounting } from "../../tools/fuzz/_target_tdm.ts";
import { TARGETS } from "../../tools/fuzz/_targets.ts";
import { checkInputs, runFuzz } from "../../tools/fuzz/run_fuzz.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url);
const BROKEN = new URL("./_broken_targets.ts", import.meta.url);

Deno.test("checkInputs() finds nothing wrong any more with the inputs saved under fixtures/fuzz", async () => {
  const cases = await loadCases(new URL("fuzz/", FIXTURES), Object.keys(TARGETS));
  for (const target of Object.keys(TARGETS)) {
    const mine = cases.filter((c) => c.target === target);
    if (mine.length === 0) continue;
    const findings = await checkInputs(target, mine.map((c) => c.input));
    assert.deepEqual(
      findings.map((f) => `${mine[f.index].name}: ${f.problems.join("; ")}`),
      [],
    );
  }
});

Deno.test("runFuzz() reports inputs that hang — a loop, a promise never settled — and goes on after them", async () => {
  const reports = await runFuzz({
    seed: 1,
    targets: ["hangs", "stalls"],
    inputs: 16,
    deadlineMs: 300,
    module: BROKEN,
  });
  for (const [report, culprit] of [[reports[0], 3], [reports[1], 5]] as const) {
    assert.equal(report.inputs, 16);
    assert.ok(report.findings.length > 0);
    for (const f of report.findings) {
      assert.equal(f.input.bytes[0], culprit);
      assert.match(f.problems[0], /^No result within \d+ ms/);
    }
  }
});

Deno.test("runFuzz() reports oracle problems and its own failures with inputs that (seed, index) make again", async () => {
  const [drops, fails] = await runFuzz({
    seed: 3,
    targets: ["drops", "fails"],
    inputs: 30,
    module: BROKEN,
  });
  assert.ok(drops.findings.length > 0);
  assert.ok(
    drops.findings.every((f) => f.input.bytes[0] === 1 && f.problems[0].startsWith("Accounting")),
  );
  assert.ok(fails.findings.length > 0);
  assert.ok(
    fails.findings.every((f) =>
      f.input.bytes[0] === 2 && /TypeError: Oracle bug/.test(f.problems[0])
    ),
  );
  const { TARGETS: broken } = await import(BROKEN.href);
  for (const f of [...drops.findings, ...fails.findings]) {
    const again = broken[f.target].generate(new Prng(inputSeed(f.seed, f.target, f.index)), []);
    assert.deepEqual(again.bytes, f.input.bytes);
  }
});

const live: Judged = {
  ctx: { source: "fuzz", transport: "tcp", peer: "127.0.0.1:40000", now: () => NOW_MICROS },
  now: NOW_MICROS,
};

Deno.test("tdmAccounting() notices a data line that became neither a value nor a dead letter", () => {
  const bytes = new TextEncoder().encode([
    "RANGE = 2026-11-25T12:00:00 1", // outside a message: a dead letter
    "CCSDS_TDM_VERS = 2.0",
    "MESSAGE_ID = M",
    "META_START",
    "TIME_SYSTEM = UTC",
    "PARTICIPANT_1 = XR1",
    "META_STOP",
    "DATA_START",
    "RANGE = 2026-11-25T12:00:00 1000",
    "DOPPLER_INSTANTANEOUS = 2026-11-25T12:00:00 -1",
    "ANGLE_1 = 2026-11-25T12:00:01 12.3.4",
    "RANGE = 2026-11-25T12:00:01 1001",
    "DATA_STOP",
  ].join("\n"));
  const { observations, deadLetters } = decodeTdm(bytes, live.ctx);
  assert.equal(observations.length, 2);
  assert.equal(deadLetters.length, 2);
  assert.equal(tdmAccounting(bytes, 4096, observations, deadLetters), undefined);
  assert.match(
    tdmAccounting(bytes, 4096, observations.slice(1), deadLetters)!,
    /^Accounting: 5 data lines, 1 values/,
  );
  assert.match(
    tdmAccounting(bytes, 4096, observations, deadLetters.slice(1))!,
    /^Accounting: 5 data lines/,
  );
  // A value counted twice is as wrong as one missing.
  assert.match(
    tdmAccounting(bytes, 4096, [...observations, observations[0]], deadLetters)!,
    /^Accounting/,
  );
});

Deno.test("islAccounting() notices bytes that no dead letter or observation covers", async () => {
  const bytes = await Deno.readFile(new URL("isl/bad_packets.spp", FIXTURES));
  const { observations, deadLetters } = decodeIslPackets(bytes, live.ctx);
  assert.ok(observations.length > 0 && deadLetters.length > 0);
  assert.equal(islAccounting(bytes, observations, deadLetters), undefined);
  assert.match(islAccounting(bytes, observations, deadLetters.slice(1))!, /^Accounting/);
  assert.match(islAccounting(bytes, observations.slice(0, -1), deadLetters)!, /^Accounting/);
  const wrong = structuredClone(observations);
  wrong[0].provenance.ref = "999999";
  assert.match(islAccounting(bytes, wrong, deadLetters)!, /^Accounting/);
});

Deno.test("opticalAccounting() wants one output per record, or one dead letter for a page that is not one", async () => {
  const bytes = await Deno.readFile(new URL("optical/page-001.csv", FIXTURES));
  const page = decodeOpticalPage(bytes, "text/csv", live.ctx);
  const n = page.observations.length;
  const d = page.deadLetters.length;
  const input = { bytes, options: { contentType: "text/csv" } };
  assert.equal(opticalAccounting(input, n, d), undefined);
  assert.match(opticalAccounting(input, n - 1, d)!, /^Accounting/);
  assert.match(opticalAccounting(input, 0, 1)!, /^Accounting/);
  const broken = {
    bytes: new TextEncoder().encode("[{"),
    options: { contentType: "application/json" },
  };
  assert.equal(opticalAccounting(broken, 0, 1), undefined);
  assert.match(opticalAccounting(broken, 0, 0)!, /^Accounting/);
});

Deno.test("checkObservation() and checkDeadLetter() hold outputs to the envelope contract", () => {
  const obs = {
    v: 1 as const,
    id: "",
    kind: "optical" as const,
    t_obs: "2026-11-25T12:00:00.000000Z",
    t_rx: "2026-11-25T12:00:00.250000Z",
    sensor: "S",
    target: { norad: null, id: null },
    measurement: { ra_deg: 1, dec_deg: 2, frame: "J2000" },
    provenance: {
      source: "fuzz",
      format: "udl-eo-csv" as const,
      transport: "tcp" as const,
      peer: "127.0.0.1:40000",
      ref: "x",
      time_system: "UTC",
      meta: {},
    },
  };
  obs.id = observationId(obs);
  const problems: string[] = [];
  checkObservation(obs, live, problems);
  assert.deepEqual(problems, []);
  checkObservation({ ...obs, id: "0".repeat(32) }, live, problems);
  checkObservation(
    {
      ...obs,
      t_obs: "1957-10-03T23:59:59.000000Z",
      id: observationId({ ...obs, t_obs: "1957-10-03T23:59:59.000000Z" }),
    },
    live,
    problems,
  );
  checkObservation({ ...obs, measurement: { ...obs.measurement, ra_deg: 360 } }, live, problems);
  assert.equal(problems.length, 3);
  assert.match(problems[0], /does not recompute/);
  assert.match(problems[1], /before 1957-10-04/);
  assert.match(problems[2], /ObservationSchema/);

  const letter: DeadLetter = {
    v: 1,
    t_rx: "2026-11-25T12:00:00.250000Z",
    source: "fuzz",
    format: "ccsds-tdm-kvn",
    peer: "127.0.0.1:40000",
    stage: "decoding",
    reason: "Bad",
    raw: "x",
  };
  const letterProblems: string[] = [];
  checkDeadLetter(letter, live, ["ccsds-tdm-kvn"], letterProblems);
  assert.deepEqual(letterProblems, []);
  checkDeadLetter({ ...letter, raw: "x".repeat(2000) }, live, ["ccsds-tdm-kvn"], letterProblems);
  checkDeadLetter(
    { ...letter, raw: "x".repeat(1024) + "…(2000 bytes)" },
    live,
    ["ccsds-tdm-kvn"],
    letterProblems,
  );
  checkDeadLetter({ ...letter, reason: "" }, live, ["ccsds-tdm-kvn"], letterProblems);
  assert.equal(letterProblems.length, 2);
  assert.match(letterProblems[0], /more than 1024/);
  assert.match(letterProblems[1], /DeadLetterSchema/);
});
