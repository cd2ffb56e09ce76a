import assert from "node:assert/strict";
import { LineSplitStream, LineSplitter } from "../../operators/line_split_stream.ts";

const enc = new TextEncoder();

async function split(chunks: (string | Uint8Array)[], maxLineBytes = 4096) {
  const bytes = chunks.map((c) => (typeof c === "string" ? enc.encode(c) : c));
  const out = await Array.fromAsync(
    ReadableStream.from(bytes).pipeThrough(new LineSplitStream({ maxLineBytes })),
  );
  return out.flat();
}

Deno.test("LineSplitStream() splits LF and CRLF across chunk boundaries", async () => {
  assert.deepEqual(await split(["a\r\nb", "c\n", "\r\n", "d\r", "\ne"]), ["a", "bc", "", "d", "e"]);
});

Deno.test("LineSplitStream() keeps a multi-byte character split across chunks", async () => {
  const bytes = enc.encode("héllo\nwörld\n");
  assert.deepEqual(await split([bytes.subarray(0, 2), bytes.subarray(2, 9), bytes.subarray(9)]), [
    "héllo",
    "wörld",
  ]);
});

Deno.test("LineSplitStream() reports an over-long line and continues with the next", async () => {
  const long = "X".repeat(50);
  assert.deepEqual(await split([`ok\n${long}\nafter\n`], 10), [
    "ok",
    { fault: "too-long", raw: "XXXXXXXXXX" },
    "after",
  ]);
  // The same when the long line arrives in small pieces.
  const pieces = ["ok\n", ...long.match(/.{1,7}/g)!, "\nafter\n"];
  assert.deepEqual(await split(pieces, 10), [
    "ok",
    { fault: "too-long", raw: "XXXXXXXXXX" },
    "after",
  ]);
});

Deno.test("LineSplitter() never buffers more than maxLineBytes + 1 of an endless line", () => {
  const splitter = new LineSplitter(64);
  let faults = 0;
  for (let i = 0; i < 1000; i++) {
    faults += splitter.push(new Uint8Array(1000).fill(65)).length;
    assert.ok(splitter.buffered <= 65, `buffered ${splitter.buffered}`);
  }
  assert.equal(faults, 1);
  assert.deepEqual(splitter.push(enc.encode("\nnext\n")), ["next"]);
});

Deno.test("LineSplitStream() accepts a line of exactly maxLineBytes, with or without CR", async () => {
  assert.deepEqual(await split(["1234567890\r\n", "1234567890\n"], 10), [
    "1234567890",
    "1234567890",
  ]);
  assert.deepEqual(await split(["12345678901\n"], 10), [{ fault: "too-long", raw: "1234567890" }]);
});

Deno.test("LineSplitStream() counts bytes, not characters, against the bound", async () => {
  // 4 characters, 8 bytes.
  assert.deepEqual(await split(["éééé\n"], 7), [{ fault: "too-long", raw: "ééé\uFFFD" }]);
  assert.deepEqual(await split(["éééé\n"], 8), ["éééé"]);
});

Deno.test("LineSplitStream() reports invalid UTF-8 on its own line only", async () => {
  const bad = new Uint8Array([0x41, 0xff, 0x42]);
  const out = await split(["good 1\n", bad, "\ngood 2\n"]);
  assert.deepEqual(out, ["good 1", { fault: "invalid-utf8", raw: "A\uFFFDB" }, "good 2"]);
});

Deno.test("LineSplitStream() emits an unterminated last line at the end", async () => {
  assert.deepEqual(await split(["a\nlast"]), ["a", "last"]);
  assert.deepEqual(await split(["a\n"]), ["a"]);
});
