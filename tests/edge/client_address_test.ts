import assert from "node:assert/strict";
import { createWorker } from "../../edge/create_worker.ts";

/** `provenance.peer` of the (dead-letter) answer to a request with `headers`. */
async function peerOf(headers: Record<string, string>): Promise<string> {
  const response = createWorker().fetch(
    new Request("http://edge.example/ingest/radar", { method: "POST", headers, body: "x\n" }),
  );
  const [letter] = (await response.text()).trim().split("\n").map((line) => JSON.parse(line));
  assert.equal(letter.stage, "decoding");
  return letter.peer;
}

const URL_PEER = "http://edge.example/ingest/radar";

Deno.test("createWorker() takes provenance.peer from a proxy header only when it holds an IP address", async () => {
  const cases: [Record<string, string>, string][] = [
    [{}, URL_PEER],
    [{ "cf-connecting-ip": "198.51.100.4" }, "198.51.100.4"],
    [{ "cf-connecting-ip": "2001:DB8:0:0::1" }, "2001:db8::1"],
    [{ "cf-connecting-ip": "::ffff:192.0.2.1" }, "192.0.2.1"],
    // Not addresses: the header is ignored.
    [{ "cf-connecting-ip": "totally-not-an-ip" }, URL_PEER],
    [{ "cf-connecting-ip": "01.2.3.4" }, URL_PEER],
    [{ "cf-connecting-ip": "1.2.3.4:443" }, URL_PEER],
    [{ "cf-connecting-ip": "[2001:db8::1]" }, URL_PEER],
    [{ "cf-connecting-ip": "1.2.3.4 (trusted)" }, URL_PEER],
    // An ignored CF-Connecting-IP leaves X-Forwarded-For to be read.
    [{ "cf-connecting-ip": "nope", "x-forwarded-for": "203.0.113.7" }, "203.0.113.7"],
    [{ "cf-connecting-ip": "198.51.100.4", "x-forwarded-for": "203.0.113.7" }, "198.51.100.4"],
  ];
  for (const [headers, peer] of cases) {
    assert.equal(await peerOf(headers), peer, JSON.stringify(headers));
  }
});

Deno.test("createWorker() takes provenance.peer from the last X-Forwarded-For entry, the one the nearest proxy added", async () => {
  const cases: [string, string][] = [
    ["203.0.113.7", "203.0.113.7"],
    // The client wrote everything but the last entry.
    ["10.20.0.5:7001 (XR1 trusted), 1.2.3.4", "1.2.3.4"],
    ["10.20.0.5, 192.0.2.10,2001:db8::7", "2001:db8::7"],
    // The last entry is not an address: the header says nothing to rely on.
    ["1.2.3.4, 10.20.0.5:7001 (XR1 trusted)", URL_PEER],
    ["1.2.3.4, ", URL_PEER],
    ["unknown", URL_PEER],
  ];
  for (const [forwarded, peer] of cases) {
    assert.equal(await peerOf({ "x-forwarded-for": forwarded }), peer, forwarded);
  }
});

Deno.test("createWorker() puts the same peer in observations and dead letters", async () => {
  const response = createWorker().fetch(
    new Request("http://edge.example/ingest/isl", {
      method: "POST",
      headers: { "x-forwarded-for": "evil, 192.0.2.44" },
      body: await Deno.readFile(
        new URL("../../fixtures/isl/bad_packets.spp", import.meta.url).pathname,
      ),
    }),
  );
  const records = (await response.text()).trim().split("\n").map((line) => JSON.parse(line));
  assert.ok(records.length > 0);
  for (const record of records) {
    assert.equal(record.peer ?? record.provenance.peer, "192.0.2.44");
  }
});
