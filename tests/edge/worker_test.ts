import assert from "node:assert/strict";
import worker from "../../edge/worker.ts";

const fixtures = new URL("../../fixtures", import.meta.url).pathname;

async function withServer(run: (base: string) => Promise<void>): Promise<void> {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, worker.fetch);
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
