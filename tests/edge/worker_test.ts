import assert from "node:assert/strict";
import worker from "../../edge/worker.ts";

const fixtures = new URL("../../fixtures", import.meta.url).pathname;

async function withServer(run: (base: string) => Promise<void>): Promise<void> {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => worker.fetch(request),
  );
  try {
    await run(`http://127.0.0.1:${server.addr.port}`);
  } finally {
    await server.shutdown();
  }
}

async function post(url: string, body: BodyInit, type: string) {
  const response = await fetch(url, { method: "POST", body, headers: { "content-type": type } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/x-ndjson");
  const records = (await response.text()).split("\n").filter((l) => l !== "").map((l) =>
    JSON.parse(l)
  );
  return {
    observations: records.filter((r) => "kind" in r),
    deadLetters: records.filter((r) => "stage" in r),
  };
}

Deno.test('edge worker decodes all three feeds over real HTTP with transport "worker"', async () => {
  await withServer(async (base) => {
    const radar = await post(
      `${base}/ingest/radar?source=edge-xr1`,
      await Deno.readFile(`${fixtures}/radar/tdm2_azel_xsye.kvn`),
      "text/plain",
    );
    assert.ok(radar.observations.length > 0);
    for (const o of radar.observations) {
      assert.equal(o.kind, "radar");
      assert.equal(o.provenance.transport, "worker");
      assert.equal(o.provenance.source, "edge-xr1");
      assert.equal(o.provenance.peer, `${base}/ingest/radar`);
      assert.match(o.id, /^[0-9a-f]{32}$/);
    }
    const csv = [...Deno.readDirSync(`${fixtures}/optical`)].map((e) =>
      e.name
    ).filter((n) => n.endsWith(".csv")).sort()[0];
    const optical = await post(
      `${base}/ingest/optical`,
      await Deno.readFile(`${fixtures}/optical/${csv}`),
      "text/csv",
    );
    assert.ok(optical.observations.length > 0);
    assert.ok(optical.observations.every((o) =>
      o.kind === "optical" && o.provenance.format === "udl-eo-csv"
    ));
    const isl = await post(
      `${base}/ingest/isl`,
      await Deno.readFile(`${fixtures}/isl/capture.spp`),
      "application/octet-stream",
    );
    assert.ok(isl.observations.length > 0);
    assert.ok(isl.observations.every((o) =>
      o.kind === "isl" && o.provenance.transport === "worker"
    ));
    const bad = await post(
      `${base}/ingest/isl`,
      await Deno.readFile(`${fixtures}/isl/bad_packets.spp`),
      "application/octet-stream",
    );
    assert.ok(bad.deadLetters.length > 0);
    assert.ok(bad.deadLetters.every((d) =>
      d.stage === "framing" && typeof d.raw.base64 === "string"
    ));
  });
});

Deno.test("edge worker gives the same ids as the service for the same measurement", async () => {
  const body = await Deno.readFile(`${fixtures}/radar/tdm2_azel_xsye.kvn`);
  const a = await worker.fetch(new Request("http://a/ingest/radar", { method: "POST", body }));
  const b = await worker.fetch(
    new Request("http://b/ingest/radar?source=other", { method: "POST", body }),
  );
  const ids = async (r: Response) =>
    (await r.text()).split("\n").filter((l) => l.includes('"kind"')).map((l) => JSON.parse(l).id);
  assert.deepEqual(await ids(a), await ids(b));
});

Deno.test("edge worker answers 404, 405 and 400 for bad requests", async () => {
  assert.equal((await worker.fetch(new Request("http://e/nope", { method: "POST" }))).status, 404);
  assert.equal((await worker.fetch(new Request("http://e/ingest/radar"))).status, 405);
  const badName = await worker.fetch(
    new Request("http://e/ingest/isl?source=a%20b", { method: "POST", body: "" }),
  );
  assert.equal(badName.status, 400);
  assert.match((await badName.json()).error, /Invalid source name/);
});

Deno.test("createWorker() reads a body past maxBodyBytes no further and ends the answer with a transport dead letter", async () => {
  const { createWorker } = await import("../../edge/create_worker.ts");
  const bytes = await Deno.readFile(`${fixtures}/isl/capture.spp`);
  const worker = createWorker({ maxBodyBytes: 96 * 3 });
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      // 96 bytes (one beacon) per pull, for ever.
      controller.enqueue(bytes.slice(pulled % bytes.length, (pulled % bytes.length) + 96));
      pulled += 96;
    },
  });
  const response = worker.fetch(new Request("http://e/ingest/isl", { method: "POST", body }));
  assert.equal(response.status, 200);
  const lines = (await response.text()).trim().split("\n").map((l) => JSON.parse(l));
  const last = lines.pop();
  assert.equal(last.stage, "transport");
  assert.equal(last.reason, "Body larger than 288 bytes: the rest was not read");
  assert.equal(lines.length, 3);
  assert.ok(lines.every((l) => l.kind === "isl"));
});

Deno.test("edge worker takes MAX_BODY_BYTES from the environment (Workers bindings)", async () => {
  const request = () =>
    new Request("http://e/ingest/radar", {
      method: "POST",
      headers: { "content-length": "10" },
      body: "0123456789",
    });
  assert.equal((await worker.fetch(request(), { MAX_BODY_BYTES: "9" })).status, 413);
  const fine = await worker.fetch(request(), { MAX_BODY_BYTES: "10" });
  assert.equal(fine.status, 200);
  await fine.body?.cancel();
  // A bad binding: every request is told why (it was a bare 500).
  const bad = await worker.fetch(request(), { MAX_BODY_BYTES: "lots" });
  assert.equal(bad.status, 500);
  assert.deepEqual(await bad.json(), {
    error: 'Invalid MAX_BODY_BYTES setting: "lots": fix the worker\'s binding',
  });
});

Deno.test("edge worker reads the body only as fast as the answer is taken", async () => {
  const line = new TextEncoder().encode("A".repeat(95) + "\n");
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      // 64 KiB of junk lines per pull (each a dead letter), without end.
      const chunk = new Uint8Array(64 * 1024);
      for (let at = 0; at < chunk.length; at += line.length) {
        chunk.set(line.subarray(0, chunk.length - at), at);
      }
      controller.enqueue(chunk);
      pulled += chunk.length;
    },
  }, { highWaterMark: 0 });
  const response = await worker.fetch(
    new Request("http://e/ingest/radar", { method: "POST", body }),
  );
  const reader = response.body!.getReader();
  await reader.read();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const afterOne = pulled;
  await new Promise((resolve) => setTimeout(resolve, 100));
  // Nothing more is read while the answer waits; a few gatherings at most were.
  assert.equal(pulled, afterOne);
  assert.ok(pulled <= 4 * 64 * 1024, `${pulled} bytes read`);
  await reader.cancel();
});

Deno.test("edge worker answers a slow sender's observations before its body ends", async () => {
  const enc = new TextEncoder();
  const text = await Deno.readTextFile(`${fixtures}/radar/tdm2_azel_xsye.kvn`);
  let release!: () => void;
  const held = new Promise<void>((resolve) => release = resolve);
  const body = new ReadableStream<Uint8Array>({
    async start(controller) {
      // Everything but DATA_STOP and what follows, then a pause.
      const cut = text.indexOf("DATA_STOP");
      controller.enqueue(enc.encode(text.slice(0, cut)));
      await held;
      controller.enqueue(enc.encode(text.slice(cut)));
      controller.close();
    },
  });
  const response = await worker.fetch(
    new Request("http://e/ingest/radar", { method: "POST", body }),
  );
  const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
  const first = await reader.read();
  assert.match(first.value!, /"kind":"radar"/);
  release();
  while (!(await reader.read()).done);
});

Deno.test("edge worker answers bodies whose reads complete no line: comments first, or a trickle", async () => {
  const enc = new TextEncoder();
  const text = await Deno.readTextFile(`${fixtures}/radar/tdm2_azel_xsye.kvn`);
  const answer = async (body: ReadableStream<Uint8Array>) => {
    const response = await worker.fetch(
      new Request("http://e/ingest/radar", { method: "POST", body }),
    );
    // The old worker never answered these: a pull that enqueued nothing was not called again.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error("the answer hung")), 10_000);
    });
    try {
      return await Promise.race([response.text(), hung]);
    } finally {
      clearTimeout(timer);
    }
  };
  const whole = await answer(ReadableStream.from([enc.encode(text)]));
  const kinds = whole.split("\n").filter((l) => l !== "").map((l) => JSON.parse(l).kind);
  assert.ok(kinds.length > 0 && kinds.every((k) => k === "radar"), whole.slice(0, 200));

  // 200 KB of COMMENT lines before the message: whole gatherings complete no line of output.
  const comments = "COMMENT padding\n".repeat(12_800);
  const afterComments = await answer(ReadableStream.from([enc.encode(comments + text)]));
  // Line numbers in provenance.ref move by the comment lines; the observations are the same.
  const strip = (ndjson: string) =>
    ndjson.split("\n").filter((l) => l !== "").map((l) => {
      const { measurement, t_obs, sensor } = JSON.parse(l);
      return { measurement, t_obs, sensor };
    });
  assert.deepEqual(strip(afterComments), strip(whole));

  // The same bytes, 300 at a time every 20 ms (past the 10 ms gathering).
  const bytes = enc.encode(text);
  let at = 0;
  const trickle = new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (at >= bytes.length) return controller.close();
      if (at > 0) await new Promise((resolve) => setTimeout(resolve, 20));
      controller.enqueue(bytes.slice(at, at + 300));
      at += 300;
    },
  }, { highWaterMark: 0 });
  const withoutRx = (ndjson: string) =>
    ndjson.split("\n").filter((l) => l !== "").map((l) => ({ ...JSON.parse(l), t_rx: "" }));
  assert.deepEqual(withoutRx(await answer(trickle)), withoutRx(whole));
});
