import assert from "node:assert/strict";
import { DedupeStream } from "../../operators/dedupe_stream.ts";
import { DedupeWindow } from "../../operators/dedupe_window.ts";

Deno.test("DedupeWindow() evicts the oldest id once full", () => {
  const window = new DedupeWindow(3);
  for (const id of ["a", "b", "c"]) assert.equal(window.add(id), true);
  assert.equal(window.add("b"), false);
  assert.equal(window.add("d"), true); // evicts a
  assert.equal(window.size, 3);
  assert.equal(window.has("a"), false);
  assert.equal(window.has("b"), true);
  assert.equal(window.add("e"), true); // evicts b
  assert.equal(window.has("b"), false);
  assert.equal(window.add("a"), true); // evicts c
  assert.deepEqual(["c", "d", "e", "a"].map((id) => window.has(id)), [false, true, true, true]);
  assert.throws(() => new DedupeWindow(0), RangeError);
});

Deno.test("DedupeStream() drops repeats within the window and counts them", async () => {
  const dedupe = new DedupeStream({ key: (s: string) => s, capacity: 2 });
  const out = await Array.fromAsync(
    ReadableStream.from(["a", "b", "a", "c", "a", "b"]).pipeThrough(dedupe),
  );
  // "a" repeats inside the window; after c the window is {b, c}... then a is new again.
  assert.deepEqual(out, ["a", "b", "c", "a", "b"]);
  assert.equal(dedupe.duplicates, 1);
});

Deno.test("DedupeStream() shares a window given to it", async () => {
  const window = new DedupeWindow(10);
  window.add("seen-before-restart");
  const dedupe = new DedupeStream({ key: (s: string) => s, window });
  const out = await Array.fromAsync(
    ReadableStream.from(["seen-before-restart", "new"]).pipeThrough(dedupe),
  );
  assert.deepEqual(out, ["new"]);
});
