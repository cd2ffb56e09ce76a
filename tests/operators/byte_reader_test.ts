import assert from "node:assert/strict";
import { ByteReader } from "../../operators/byte_reader.ts";
import { concatBytes } from "../../sources/_concat_bytes.ts";

Deno.test("ByteReader reads a file into one buffer it reuses, chunk after chunk, to the file's bytes", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-bytes-" });
  try {
    const bytes = new Uint8Array(300_000);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919) % 251;
    await Deno.writeFile(`${dir}/a.bin`, bytes);
    const reader = new ByteReader((await Deno.open(`${dir}/a.bin`)).readable, 65_536);
    const copies: Uint8Array[] = [];
    const sizes = new Set<number>();
    let chunk;
    while ((chunk = await reader.read()) !== undefined) {
      // A view at the start of the same 64 KiB of memory every time.
      assert.equal(chunk.byteOffset, 0);
      sizes.add(chunk.buffer.byteLength);
      copies.push(chunk.slice());
    }
    assert.deepEqual([...sizes], [65_536]);
    assert.ok(copies.length >= 5, `${copies.length} chunks`);
    assert.deepEqual(concatBytes(copies), bytes);
    assert.equal(await reader.read(), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ByteReader reads a stream that is not a byte stream as it comes", async () => {
  const chunks = [new Uint8Array([1, 2]), new Uint8Array([3])];
  const reader = new ByteReader(ReadableStream.from(chunks));
  assert.equal(await reader.read(), chunks[0]);
  assert.equal(await reader.read(), chunks[1]);
  assert.equal(await reader.read(), undefined);
});

Deno.test("ByteReader.cancel() cancels the stream with the reason", async () => {
  let reason: unknown;
  const stream = new ReadableStream<Uint8Array>({
    type: "bytes",
    pull(controller) {
      controller.enqueue(new Uint8Array(10));
    },
    cancel(why) {
      reason = why;
    },
  });
  const reader = new ByteReader(stream, 4);
  assert.equal((await reader.read())?.length, 4);
  await reader.cancel("done");
  assert.equal(reason, "done");
});
