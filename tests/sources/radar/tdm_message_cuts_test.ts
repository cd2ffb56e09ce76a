import assert from "node:assert/strict";
import { serializeDeadLetter, serializeObservation } from "../../../envelope/serialize.ts";
import { concatBytes } from "../../../sources/_concat_bytes.ts";
import type { DecodeContext } from "../../../sources/decode_context.ts";
import { decodeTdm } from "../../../sources/radar/decode_tdm.ts";
import { lastMessageCut, TdmMessageCutter } from "../../../sources/radar/tdm_message_cuts.ts";

const encoder = new TextEncoder();
const fixtures = new URL("../../../fixtures/radar", import.meta.url).pathname;

Deno.test("lastMessageCut() cuts only where a message begins right after a DATA_STOP line", () => {
  const cut = (text: string) => lastMessageCut(encoder.encode(text));
  assert.equal(cut("DATA_STOP\nCCSDS_TDM_VERS = 2.0\n"), 10);
  assert.equal(cut("X\nDATA_STOP\r\nCCSDS_TDM_VERS = 2.0\n"), 13);
  // The last of several.
  assert.equal(cut("DATA_STOP\nCCSDS_TDM_VERS\nDATA_STOP\nCCSDS_TDM_VERS"), 35);
  // Not a line that is exactly DATA_STOP before it.
  assert.equal(cut("DATA_STOP \nCCSDS_TDM_VERS = 2.0\n"), -1);
  assert.equal(cut("XDATA_STOP\nCCSDS_TDM_VERS = 2.0\n"), -1);
  assert.equal(cut("COMMENT x\nCCSDS_TDM_VERS = 2.0\n"), -1);
  assert.equal(cut("DATA_STOP\n\nCCSDS_TDM_VERS = 2.0\n"), -1);
  // Not at a line start, or not whole.
  assert.equal(cut("DATA_STOP\nANGLE_1CCSDS_TDM_VERS = 2.0\n"), -1);
  assert.equal(cut("DATA_STOP\nCCSDS_TDM_VER"), -1);
  // Never at the very start: nothing to cut off.
  assert.equal(cut("CCSDS_TDM_VERS = 2.0\n"), -1);
  // Not before `start`, not past `end`.
  const bytes = encoder.encode("DATA_STOP\nCCSDS_TDM_VERS = 2.0\n");
  assert.equal(lastMessageCut(bytes, bytes.length, 11), -1);
  assert.equal(lastMessageCut(bytes, 20), -1);
});

Deno.test("TDM cut into pieces between messages decodes piece by piece to the lines of the whole, whatever lies between", async () => {
  const files = [...Deno.readDirSync(fixtures)].filter((e) => e.name.endsWith(".kvn"))
    .map((e) => e.name).sort();
  const parts = await Promise.all(files.map((name) => Deno.readFile(`${fixtures}/${name}`)));
  // Every fixture after every other, twice, some glued to the line before.
  const pieces: Uint8Array[] = [];
  for (const a of parts) {
    for (const b of parts) pieces.push(a, b, encoder.encode("ANGLE_1"), a);
  }
  const whole = concatBytes(pieces);
  const ctx: DecodeContext = {
    source: "radar",
    transport: "replay",
    peer: "radar/all.kvn",
    deterministic: true,
    startedAt: Date.UTC(2026, 11, 1) * 1000,
  };
  const lines = (bytes: Uint8Array) => {
    const { observations, deadLetters } = decodeTdm(bytes, ctx);
    return {
      observations: observations.map(serializeObservation),
      deadLetters: deadLetters.map(serializeDeadLetter),
    };
  };
  const expected = lines(whole);
  assert.ok(expected.observations.length > 100 && expected.deadLetters.length > 100);
  for (const chunkBytes of [7, 300, 4096]) {
    // A piece at every cut there is: pieces of one byte or more.
    const cutter = new TdmMessageCutter(1, 1 << 20);
    const cut: Uint8Array[] = [];
    for (let at = 0; at < whole.length; at += chunkBytes) {
      cut.push(...cutter.push(whole.subarray(at, at + chunkBytes)));
    }
    cut.push(...cutter.end());
    assert.deepEqual(concatBytes(cut), whole);
    assert.ok(cut.length >= 10, `${cut.length} pieces`);
    const decoded = cut.map(lines);
    assert.deepEqual(decoded.flatMap((d) => d.observations), expected.observations);
    assert.deepEqual(decoded.flatMap((d) => d.deadLetters), expected.deadLetters);
  }
});

Deno.test("TdmMessageCutter is stuck once more than its maximum came without a cut, and hands on nothing more until its end", () => {
  const cutter = new TdmMessageCutter(10, 100);
  assert.deepEqual(cutter.push(encoder.encode("x".repeat(60))), []);
  assert.equal(cutter.stuck, false);
  assert.deepEqual(cutter.push(encoder.encode("DATA_STOP\n" + "y".repeat(40))), []);
  assert.equal(cutter.stuck, true);
  assert.deepEqual(cutter.push(encoder.encode("DATA_STOP\nCCSDS_TDM_VERS = 2.0\n")), []);
  const [rest] = cutter.end();
  assert.equal(rest.length, 60 + 50 + 31);
  assert.throws(() => new TdmMessageCutter(0, 10), RangeError);
});
