import assert from "node:assert/strict";
import { Ack } from "../../operators/ack.ts";
import { CheckpointQueue } from "../../operators/checkpoint_queue.ts";

Deno.test("Ack() settles only after every branch released it", async () => {
  const ack = new Ack().retain(2);
  ack.release();
  ack.release();
  assert.equal(ack.state, "pending");
  ack.release();
  await ack.done;
  assert.equal(ack.state, "done");
  assert.throws(() => ack.retain(), TypeError);
});

Deno.test("Ack() fail() rejects done and ignores later releases", async () => {
  const ack = new Ack();
  ack.fail(new Error("disk full"));
  ack.release();
  await assert.rejects(ack.done, /disk full/);
  assert.equal(ack.state, "failed");
});

Deno.test("CheckpointQueue() commits the newest contiguous checkpoint, in order, never concurrently", async () => {
  const commits: number[] = [];
  let running = 0;
  const queue = new CheckpointQueue<number>(async (value) => {
    running++;
    assert.equal(running, 1);
    await new Promise((r) => setTimeout(r, 5));
    commits.push(value);
    running--;
  });
  const acks = [1, 2, 3, 4, 5].map((n) => queue.add(n));
  acks[2].release();
  acks[4].release();
  await queue.idle();
  assert.deepEqual(commits, []);
  acks[0].release();
  await queue.idle();
  assert.deepEqual(commits, [1]);
  acks[1].release();
  await queue.idle();
  assert.deepEqual(commits, [1, 3]);
  acks[3].release();
  await queue.idle();
  assert.deepEqual(commits, [1, 3, 5]);
  assert.equal(queue.committed, 5);
  assert.equal(queue.pending, 0);
});

Deno.test("CheckpointQueue() stops at a failed ack", async () => {
  const commits: string[] = [];
  const queue = new CheckpointQueue<string>((value) => {
    commits.push(value);
  });
  const a = queue.add("a");
  const b = queue.add("b");
  const c = queue.add("c");
  a.release();
  b.fail(new Error("log write failed"));
  c.release();
  await queue.idle();
  assert.deepEqual(commits, ["a"]);
  assert.match(String(queue.failure), /log write failed/);
});

Deno.test("CheckpointQueue() tries a failed commit again, with the newest checkpoint by then, and says why until one succeeds", async () => {
  const attempts: string[] = [];
  let failures = 2;
  const queue = new CheckpointQueue<string>((value) => {
    attempts.push(value);
    if (failures-- > 0) throw new Error("No space left on device");
  }, { retryMs: 20 });
  queue.add("a").release();
  await queue.idle();
  assert.deepEqual(attempts, ["a"]);
  assert.match(String(queue.problem), /No space left/);
  assert.equal(queue.committed, undefined);
  queue.add("b").release(); // newer, while "a" waits for its retry
  const deadline = performance.now() + 2_000;
  while (queue.committed === undefined && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  assert.equal(queue.committed, "b");
  assert.equal(queue.problem, undefined);
  assert.equal(queue.failure, undefined, "a commit that failed is no failed ack");
  assert.deepEqual(attempts.at(-1), "b");
  assert.ok(attempts.length >= 3 && attempts.length <= 4, attempts.join());
  queue.close();
});
