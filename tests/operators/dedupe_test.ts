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

/** The obvious implementation, to compare against. */
class ReferenceWindow {
  #order: string[] = [];
  #set = new Set<string>();
  constructor(readonly capacity: number) {}
  add(id: string): boolean {
    if (this.#set.has(id)) return false;
    if (this.#order.length === this.capacity) this.#set.delete(this.#order.shift()!);
    this.#order.push(id);
    this.#set.add(id);
    return true;
  }
  has(id: string): boolean {
    return this.#set.has(id);
  }
}

Deno.test("DedupeWindow() agrees with a reference FIFO set on random hex and non-hex ids", () => {
  let seed = 42;
  const random = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const hex = (n: number) => {
    // Few distinct values in the first word: long probe runs, many
    // collisions; and in the second word's high bits, which the table keeps
    // to tell ids apart: both equal and different ones in one run.
    const head = (n % 7).toString(16).padStart(8, "0");
    const second = ((n % 3) * 0x40000000 + (n & 0xff)).toString(16).padStart(8, "0");
    return head + second + n.toString(16).padStart(16, "0");
  };
  for (const capacity of [1, 2, 3, 17, 64, 1000]) {
    const window = new DedupeWindow(capacity);
    const reference = new ReferenceWindow(capacity);
    for (let i = 0; i < 20_000; i++) {
      const n = Math.floor(random() * capacity * 3);
      const id = random() < 0.1 ? `other-${n}` : hex(n);
      assert.equal(window.add(id), reference.add(id), `capacity ${capacity}, step ${i}, ${id}`);
      const probe = hex(Math.floor(random() * capacity * 3));
      assert.equal(window.has(probe), reference.has(probe));
    }
    assert.equal(window.size, Math.min(capacity, window.size));
  }
});

Deno.test("DedupeWindow() treats uppercase or short hex as plain strings, exactly", () => {
  const window = new DedupeWindow(10);
  const id = "0123456789abcdef0123456789abcdef";
  assert.equal(window.add(id), true);
  assert.equal(window.add(id.toUpperCase()), true);
  assert.equal(window.add(id.slice(1)), true);
  assert.equal(window.add(id), false);
  assert.equal(window.size, 3);
});

Deno.test("DedupeWindow() keeps probe runs short for ids that differ in one word only", () => {
  const count = 50_000;
  for (let word = 0; word < 4; word++) {
    const window = new DedupeWindow(count);
    for (let n = 1; n <= count; n++) {
      const words = ["0badc0de", "01234567", "89abcdef", "fedcba98"];
      words[word] = n.toString(16).padStart(8, "0");
      assert.equal(window.add(words.join("")), true);
    }
    assert.equal(window.size, count);
    // 131,072 slots at most half full: a fair hash gives runs of tens;
    // one that ignores the word puts all 50,000 ids in one run.
    const longest = window.longestProbeRun();
    assert.ok(longest < 500, `ids differing in word ${word} only: a probe run of ${longest}`);
    const words = ["0badc0de", "01234567", "89abcdef", "fedcba98"];
    words[word] = (count / 2).toString(16).padStart(8, "0");
    assert.equal(window.has(words.join("")), true);
  }
});
