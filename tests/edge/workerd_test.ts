import assert from "node:assert/strict";
import worker from "../../edge/worker.ts";
import { type Generated, islBody, opticalBody, radarBody } from "./_bodies.ts";
import { memoryOf, resetPeak, startWorkerd } from "./_workerd.ts";

const FIXTURES = new URL("../../fixtures/", import.meta.url).pathname;
const MB = 1024 * 1024;

/** Every fixture, with the route and Content-Type it is posted with. */
function fixtures(): { path: string; route: string; type: string }[] {
  const out = [];
  for (const [dir, route] of [["radar", "radar"], ["optical", "optical"], ["isl", "isl"]]) {
    for (
      const entry of [...Deno.readDirSync(`${FIXTURES}${dir}`)].sort((a, b) =>
        a.name < b.name ? -1 : 1
      )
    ) {
      const name = entry.name;
      const type = name.endsWith(".csv")
        ? "text/csv"
        : name.endsWith(".json")
        ? "application/json"
        : name.endsWith(".spp")
        ? "application/octet-stream"
        : "text/plain";
      out.push({ path: `${dir}/${name}`, route, type });
    }
  }
  return out;
}

/** The answer's lines with `t_rx` masked, and `peer` too (it names the host that answered). */
async function answer(base: string, route: string, body: Uint8Array<ArrayBuffer>, type: string) {
  const response = await fetch(`${base}/ingest/${route}?source=fixture`, {
    method: "POST",
    body,
    headers: { "content-type": type },
  });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("content-type"), "application/x-ndjson");
  const text = await response.text();
  return text.split("\n").filter((line) => line !== "").map((line) => {
    const record = JSON.parse(line);
    record.t_rx = "T";
    if (record.peer !== undefined) record.peer = "P";
    if (record.provenance !== undefined) record.provenance.peer = "P";
    return JSON.stringify(record);
  });
}

Deno.test("edge worker in workerd answers every fixture line for line as under Deno", async () => {
  const workerd = await startWorkerd();
  const deno = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => worker.fetch(request),
  );
  try {
    let lines = 0;
    for (const { path, route, type } of fixtures()) {
      const body = await Deno.readFile(`${FIXTURES}${path}`);
      const inWorkerd = await answer(workerd.base, route, body, type);
      const inDeno = await answer(`http://127.0.0.1:${deno.addr.port}`, route, body, type);
      assert.deepEqual(inWorkerd, inDeno, path);
      lines += inDeno.length;
    }
    // Every fixture answers something (a blank page answers nothing).
    assert.ok(lines > 100, `only ${lines} lines`);
  } finally {
    await deno.shutdown();
    await workerd.stop();
  }
});

Deno.test("edge worker in workerd cuts a junk radar body off after 1,000 dead letters, reads an archive page of invalid records to its end, takes peer only from an IP address, and decompresses a gzip body once", async () => {
  const workerd = await startWorkerd();
  try {
    const junk = async (route: string, type: string, body: Uint8Array<ArrayBuffer>) => {
      const response = await fetch(`${workerd.base}/ingest/${route}`, {
        method: "POST",
        body,
        headers: { "content-type": type },
      });
      assert.equal(response.status, 200);
      return (await response.text()).trim().split("\n").map((line) => JSON.parse(line));
    };
    const enc = new TextEncoder();
    // 8 MB: more than socket buffers hold, so the sender is still
    // writing when the cut comes (the answer came after a broken pipe).
    const lines = await junk("radar", "text/plain", enc.encode("x\n".repeat(4_000_000)));
    // The old worker answered 4,000,000 dead letters (~800 MB).
    assert.equal(lines.length, 1001);
    assert.equal(lines[1000].stage, "transport");
    assert.match(
      lines[1000].reason,
      /^Not a TDM stream: 1000 dead letters in a row and no observation;/,
    );
    // An archive page of records that fail validation is read to its end,
    // as the live source reads one (SPEC §3); one of junk is cut off too.
    const page = await junk(
      "optical",
      "text/csv",
      enc.encode(
        "id,obTime,idSensor,satNo,ra,declination\n" +
          "BAD-1,2026-11-25T12:00:00Z,MAUI-EO-1,25544,999,10\n".repeat(3000),
      ),
    );
    assert.equal(page.length, 3000);
    assert.ok(page.every((line) => line.stage === "validation"));
    const junkPage = await junk(
      "optical",
      "text/csv",
      enc.encode("id,obTime\n" + "junk\n".repeat(3000)),
    );
    assert.equal(junkPage.length, 1001);
    assert.match(junkPage[1000].reason, /^Not a UDL EO CSV page: 1000 dead letters in a row/);

    const peer = async (headers: Record<string, string>) => {
      const response = await fetch(`${workerd.base}/ingest/radar`, {
        method: "POST",
        body: "x\n",
        headers,
      });
      return JSON.parse(await response.text()).peer;
    };
    assert.equal(
      await peer({ "x-forwarded-for": "10.20.0.5:7001 (XR1 trusted), 1.2.3.4" }),
      "1.2.3.4",
    );
    assert.equal(
      await peer({ "cf-connecting-ip": "totally-not-an-ip" }),
      `${workerd.base}/ingest/radar`,
    );
    assert.equal(await peer({ "cf-connecting-ip": "2001:db8::1" }), "2001:db8::1");

    // A gzip body is decompressed once, in the worker (workerd hands it on as sent).
    const kvn = await Deno.readFile(`${FIXTURES}radar/tdm2_azel_xsye.kvn`);
    const answer = async (body: Uint8Array<ArrayBuffer>, headers: Record<string, string>) => {
      const response = await fetch(`${workerd.base}/ingest/radar`, {
        method: "POST",
        body,
        headers,
      });
      assert.equal(response.status, 200);
      return (await response.text()).trim().split("\n").map((line) => {
        const record = JSON.parse(line);
        delete record.t_rx;
        return record;
      });
    };
    const gzip = new Uint8Array(
      await new Response(new Blob([kvn]).stream().pipeThrough(new CompressionStream("gzip")))
        .arrayBuffer(),
    );
    const plain = await answer(kvn, {});
    assert.ok(plain.some((r) => r.kind === "radar"));
    assert.deepEqual(await answer(gzip, { "content-encoding": "gzip" }), plain);
  } finally {
    await workerd.stop();
  }
});

/**
 * Posts a generated body to workerd and reads the answer as it streams,
 * counting lines; the peak RSS of workerd while it does, over its RSS before.
 */
async function measure(
  workerd: { base: string; pid: number },
  route: string,
  type: string,
  body: Generated,
): Promise<{ growth: number; observations: number; deadLetters: number; generated: number }> {
  const before = await memoryOf(workerd.pid);
  const reset = await resetPeak(workerd.pid);
  let peak = before.rss;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, (await memoryOf(workerd.pid)).rss);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  })();
  const response = await fetch(`${workerd.base}/ingest/${route}`, {
    method: "POST",
    body: body.stream,
    headers: { "content-type": type },
  });
  assert.equal(response.status, 200);
  let observations = 0;
  let deadLetters = 0;
  let partial = "";
  for await (const text of response.body!.pipeThrough(new TextDecoderStream())) {
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    for (const line of lines) {
      if (line.includes('"stage":')) deadLetters++;
      else observations++;
    }
  }
  sampling = false;
  await sampler;
  if (reset) peak = Math.max(peak, (await memoryOf(workerd.pid)).peak);
  return { growth: peak - before.rss, observations, deadLetters, generated: body.count() };
}

Deno.test("edge worker in workerd decodes 100 MB radar, optical and ISL bodies with peak RSS +64 MB at most", async () => {
  const workerd = await startWorkerd();
  try {
    // Warm up: compiled code and the isolate's heap are there before measuring.
    for (
      const [route, type, make] of [
        ["radar", "text/plain", radarBody],
        ["optical", "text/csv", opticalBody],
        ["isl", "application/octet-stream", islBody],
      ] as const
    ) {
      await measure(workerd, route, type, make({ bytes: 4 * MB }));
    }
    for (
      const [route, type, make] of [
        ["radar", "text/plain", radarBody],
        ["optical", "text/csv", opticalBody],
        ["isl", "application/octet-stream", islBody],
      ] as const
    ) {
      const result = await measure(workerd, route, type, make({ bytes: 100 * MB }));
      assert.equal(result.deadLetters, 0, `${route}: ${workerd.stderr()}`);
      assert.equal(result.observations, result.generated, route);
      assert.ok(
        result.growth <= 64 * MB,
        `${route}: peak RSS grew by ${(result.growth / MB).toFixed(1)} MB`,
      );
      console.log(
        `${route}: ${result.observations} observations, peak RSS +${
          (result.growth / MB).toFixed(1)
        } MB`,
      );
    }
  } finally {
    await workerd.stop();
  }
});
