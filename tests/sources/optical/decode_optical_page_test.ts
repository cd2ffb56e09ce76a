import assert from "node:assert/strict";
import { serializeObservation } from "../../../envelope/serialize.ts";
import type { DecodeContext } from "../../../sources/decode_context.ts";
import { decodeOpticalPage } from "../../../sources/optical/decode_optical_page.ts";

const live: DecodeContext = {
  source: "archive",
  transport: "http",
  peer: "http://127.0.0.1:7002/udl/eoobservation",
  // 2026-11-25T12:00:05.000250Z
  now: () => Date.parse("2026-11-25T12:00:05Z") * 1000 + 250,
};

const HEADER = "id,obTime,idSensor,satNo,ra,declination";

Deno.test("decodeOpticalPage() writes the SPEC §2 envelope with keys in envelope order", () => {
  const csv = "ra,id,declination,obTime,idSensor,satNo,senalt,senlon,senlat,magUnc,mag," +
    "referenceFrame,dataMode,uct\n" +
    "12.5,EO-1,-3.25,2026-11-25T12:00:00.5Z,MAUI-EO-1,25544,3.05,-156.2571,20.7083,0.1,9.5," +
    "ITRF,REAL,false\n";
  const page = decodeOpticalPage(csv, "text/csv", live);
  assert.equal(page.observations.length, 1);
  const o = page.observations[0];
  assert.match(o.id, /^[0-9a-f]{32}$/);
  assert.equal(
    serializeObservation(o),
    `{"v":1,"id":"${o.id}","kind":"optical","t_obs":"2026-11-25T12:00:00.500000Z",` +
      `"t_rx":"2026-11-25T12:00:05.000250Z","sensor":"MAUI-EO-1",` +
      `"target":{"norad":25544,"id":"25544"},"measurement":{"ra_deg":12.5,"dec_deg":-3.25,` +
      `"frame":"ITRF","mag":9.5,"mag_unc":0.1,"site":{"lat_deg":20.7083,"lon_deg":-156.2571,` +
      `"alt_km":3.05}},"provenance":{"source":"archive","format":"udl-eo-csv","transport":"http",` +
      `"peer":"http://127.0.0.1:7002/udl/eoobservation","ref":"EO-1","time_system":"UTC",` +
      `"meta":{"uct":false,"dataMode":"REAL"}}}`,
  );
});

Deno.test("decodeOpticalPage() gives the same observation id for the same record in CSV and JSON", () => {
  const csv = decodeOpticalPage(
    `${HEADER}\nEO-1,2026-11-25T12:00:00Z,MAUI-EO-1,25544,10.5,-3\n`,
    "text/csv",
    live,
  );
  const json = decodeOpticalPage(
    JSON.stringify([{
      id: "EO-1",
      obTime: "2026-11-25T12:00:00Z",
      idSensor: "MAUI-EO-1",
      satNo: 25544,
      ra: 10.5,
      declination: -3,
    }]),
    "application/json; charset=utf-8",
    live,
  );
  assert.equal(csv.observations[0].id, json.observations[0].id);
  assert.equal(json.observations[0].provenance.format, "udl-eo-json");
});

Deno.test("decodeOpticalPage() stamps one receive time per page on observations and dead letters", () => {
  let calls = 0;
  const ctx = { ...live, now: () => (calls++, 1_795_608_005_000_250) };
  const page = decodeOpticalPage(
    `${HEADER}\nEO-1,2026-11-25T12:00:00Z,S,1,1,1\nEO-2,2026-11-25T12:00:01Z,S,1,400,1\n` +
      `EO-3,2026-11-25T12:00:02Z,S,1,2,1\n`,
    "text/csv",
    ctx,
  );
  assert.equal(calls, 1);
  assert.deepEqual(page.observations.map((o) => o.t_rx), [
    "2026-11-25T12:00:05.000250Z",
    "2026-11-25T12:00:05.000250Z",
  ]);
  assert.equal(page.deadLetters[0].t_rx, "2026-11-25T12:00:05.000250Z");
});

Deno.test("decodeOpticalPage() chooses the format by Content-Type and dead-letters an unsupported one", () => {
  const csv = `${HEADER}\nEO-1,2026-11-25T12:00:00Z,S,1,1,1\n`;
  const json =
    '[{"id":"EO-1","obTime":"2026-11-25T12:00:00Z","idSensor":"S","ra":1,"declination":1}]';
  for (const type of ["text/csv", "TEXT/CSV; charset=UTF-8", "application/csv"]) {
    assert.equal(decodeOpticalPage(csv, type, live).observations.length, 1, type);
  }
  for (const type of ["application/json", "application/vnd.udl+json", "text/json"]) {
    assert.equal(decodeOpticalPage(json, type, live).observations.length, 1, type);
  }
  const html = decodeOpticalPage("<html>maintenance</html>", "text/html; charset=utf-8", live);
  assert.deepEqual(html.observations, []);
  assert.deepEqual(html.deadLetters, [{
    v: 1,
    t_rx: "2026-11-25T12:00:05.000250Z",
    source: "archive",
    format: "udl-eo-csv",
    peer: "http://127.0.0.1:7002/udl/eoobservation",
    stage: "decoding",
    reason: 'Unsupported Content-Type: "text/html; charset=utf-8"',
    raw: "<html>maintenance</html>",
  }]);
  // A JSON-looking body names the JSON format in its dead letter.
  const other = decodeOpticalPage(json, "application/xml", live);
  assert.equal(other.deadLetters[0].format, "udl-eo-json");
});

Deno.test("decodeOpticalPage() decodes a declared non-UTF-8 charset", () => {
  const body = new Uint8Array([
    ...new TextEncoder().encode(`${HEADER},remarks\nEO-1,2026-11-25T12:00:00Z,S,1,1,1,Caf`),
    0xe9,
    0x0a,
  ]);
  const page = decodeOpticalPage(body, "text/csv; charset=iso-8859-1", live);
  assert.deepEqual(page.observations[0].provenance.meta, { remarks: "Café" });
  const unknown = decodeOpticalPage(body, "text/csv; charset=x-no-such", live);
  assert.equal(unknown.deadLetters[0].reason, 'Unsupported charset: "x-no-such"');
});

Deno.test("decodeOpticalPage() takes a BOM, CRLF and LF mixed in one page, and skips blank lines", () => {
  const text =
    `\ufeff${HEADER}\r\nEO-1,2026-11-25T12:00:00Z,S,1,1,1\n\r\n\nEO-2,2026-11-25T12:00:01Z,S,1,2,2\r\n`;
  const page = decodeOpticalPage(text, "text/csv", live);
  assert.deepEqual(page.deadLetters, []);
  assert.deepEqual(page.observations.map((o) => [o.provenance.ref, o.measurement.dec_deg]), [
    ["EO-1", 1],
    ["EO-2", 2],
  ]);
});

Deno.test("decodeOpticalPage() ends CSV records at LF or CRLF only: any other CR is data (SPEC §5)", () => {
  const remarks = `${HEADER},remarks\n`;
  const page = decodeOpticalPage(
    remarks +
      'EO-1,2026-11-25T12:00:00Z,S,1,1,1,"quoted\rCR"\r\n' +
      "EO-2,2026-11-25T12:00:01Z,S,1,2,2,bare\rCR\n" +
      "EO-3,2026-11-25T12:00:02Z,S,1,3,3\r\r\n" + // CR CRLF: a CR, then the line end
      'EO-5,2026-11-25T12:00:04Z,S,1,5,5,"CR\r"\n' + // quoted: the CR is the field's
      'EO-6,2026-11-25T12:00:05Z,S,1,6,6,"""CR\r"\r\n' +
      'EO-7,2026-11-25T12:00:06Z,S,1,7,7,a"b\r\n' +
      "EO-4,2026-11-25T12:00:03Z,S,1,4,4,end\r", // a CRLF cut after its CR
    "text/csv",
    live,
  );
  assert.deepEqual(page.observations.map((o) => [o.provenance.ref, o.provenance.meta]), [
    ["EO-1", { remarks: "quoted\rCR" }],
    ["EO-2", { remarks: "bare\rCR" }],
    ["EO-5", { remarks: "CR\r" }],
    ["EO-6", { remarks: '"CR\r' }],
    ["EO-7", { remarks: 'a"b' }],
    ["EO-4", { remarks: "end" }],
  ]);
  assert.deepEqual(page.deadLetters.map((d) => [d.reason, d.raw]), [
    ["CSV record has 6 fields, the header has 7", "EO-3,2026-11-25T12:00:02Z,S,1,3,3\r"],
  ]);
});

Deno.test("decodeOpticalPage() makes a CSV page whose header holds a CR one dead letter: bare-CR line ends, CR CRLF", () => {
  const rows = [HEADER, "EO-1,2026-11-25T12:00:00Z,S,1,1,1", "EO-2,2026-11-25T12:00:01Z,S,1,2,2"];
  for (const end of ["\r", "\r\r\n"]) {
    const text = rows.join(end) + end;
    const page = decodeOpticalPage(text, "text/csv", live);
    assert.deepEqual(page.observations, []);
    assert.deepEqual(page.deadLetters.map((d) => [d.stage, d.reason, d.raw]), [[
      "decoding",
      "Cannot parse CSV header: a column name holds a CR (line ends are CRLF or LF)",
      text,
    ]]);
  }
});

Deno.test("decodeOpticalPage() keeps a repeated column apart as name#2 and the first one mapping", () => {
  const page = decodeOpticalPage(
    `${HEADER},ra,__proto__\nEO-1,2026-11-25T12:00:00Z,S,1,10,1,20,x\n`,
    "text/csv",
    live,
  );
  const o = page.observations[0];
  assert.equal(o.measurement.ra_deg, 10);
  assert.deepEqual(Object.entries(o.provenance.meta), [["ra#2", "20"], ["__proto__", "x"]]);
  assert.match(serializeObservation(o), /"meta":\{"ra#2":"20","__proto__":"x"\}/);
});

Deno.test("decodeOpticalPage() reads only plain decimal numbers", () => {
  const cases: [string, number | string][] = [
    ["12", 12],
    ["-0.5", -0.5],
    ["+7.25", 7.25],
    [".5", 0.5],
    ["5.", 5],
    ["1.5e2", 150],
    ["2E-1", 0.2],
    [" 1", 'Cannot parse mag value as a number: " 1"'],
    ["1 ", 'Cannot parse mag value as a number: "1 "'],
    ["Infinity", 'Cannot parse mag value as a number: "Infinity"'],
    ["1e999", 'Cannot parse mag value as a number: "1e999"'],
    ["0b1", 'Cannot parse mag value as a number: "0b1"'],
    ["1,5", "CSV record has 8 fields, the header has 7"],
  ];
  for (const [text, expected] of cases) {
    const page = decodeOpticalPage(
      `${HEADER},mag\nEO-1,2026-11-25T12:00:00Z,S,1,1,1,${text}\n`,
      "text/csv",
      live,
    );
    if (typeof expected === "number") {
      assert.equal(page.observations[0]?.measurement.mag, expected, text);
    } else {
      assert.equal(page.deadLetters[0]?.reason, expected, text);
      assert.equal(page.deadLetters[0].stage, "decoding", text);
    }
  }
});

Deno.test("decodeOpticalPage() reads a satNo with and without an origObjectId", () => {
  const page = decodeOpticalPage(
    "id,obTime,idSensor,satNo,origObjectId,ra,declination\n" +
      "A,2026-11-25T12:00:00Z,S,25544,1998-067A,1,1\n" +
      "B,2026-11-25T12:00:00Z,S,25544,,1,1\n" +
      "C,2026-11-25T12:00:00Z,S,,1998-067A,1,1\n" +
      "D,2026-11-25T12:00:00Z,S,,,1,1\n" +
      "E,2026-11-25T12:00:00Z,S,007,,1,1\n",
    "text/csv",
    live,
  );
  assert.deepEqual(page.observations.map((o) => o.target), [
    { norad: 25544, id: "1998-067A" },
    { norad: 25544, id: "25544" },
    { norad: null, id: "1998-067A" },
    { norad: null, id: null },
    { norad: 7, id: "7" },
  ]);
});

Deno.test("decodeOpticalPage() maps site only when senlat, senlon and senalt are all present", () => {
  const page = decodeOpticalPage(
    `${HEADER},senlat,senlon,senalt\n` +
      "A,2026-11-25T12:00:00Z,S,1,1,1,20.5,-156.25,3.05\n" +
      "B,2026-11-25T12:00:00Z,S,1,1,1,20.5,-156.25,\n" +
      "C,2026-11-25T12:00:00Z,S,1,1,1,,-156.25,3.05\n" +
      "D,2026-11-25T12:00:00Z,S,1,1,1,20.5,,3.05\n",
    "text/csv",
    live,
  );
  assert.deepEqual(page.observations.map((o) => o.measurement.site), [
    { lat_deg: 20.5, lon_deg: -156.25, alt_km: 3.05 },
    undefined,
    undefined,
    undefined,
  ]);
});

Deno.test("decodeOpticalPage() reads a string body like the same bytes", () => {
  const text = `\ufeff${HEADER}\nEO-1,2026-11-25T12:00:00Z,S,1,1,1\n`;
  assert.deepEqual(
    decodeOpticalPage(text, "text/csv", live),
    decodeOpticalPage(new TextEncoder().encode(text), "text/csv", live),
  );
});

Deno.test("decodeOpticalPage() dead-letters a JSON page that is not an array", () => {
  const page = decodeOpticalPage('{"id":"EO-1"}', "application/json", live);
  assert.equal(page.deadLetters.length, 1);
  assert.equal(page.deadLetters[0].reason, "JSON page is not an array: an object");
  assert.equal(page.deadLetters[0].raw, '{"id":"EO-1"}');
});

Deno.test("decodeOpticalPage() cuts the raw text of a huge bad record to 1 KiB and its size", () => {
  const big = "x".repeat(60_000);
  const page = decodeOpticalPage(
    `${HEADER},remarks\nEO-1,2026-11-25T12:00:00Z,S,1,400,1,${big}\n`,
    "text/csv",
    live,
  );
  assert.equal(page.deadLetters[0].reason, "ra value out of range [0, 360): 400");
  const raw = page.deadLetters[0].raw as string;
  const row = `EO-1,2026-11-25T12:00:00Z,S,1,400,1,${big}`;
  assert.equal(raw, `${row.slice(0, 1024)}…(${row.length} bytes)`);
});

Deno.test("decodeOpticalPage() dead-letters a JSON record with a number that overflows to Infinity", () => {
  // JSON.parse reads 1e309 as Infinity; an envelope holding it would be
  // written with null in its place (found by deno task fuzz).
  const base = '"id":"EO-1","obTime":"2026-11-25T12:00:00Z","idSensor":"S","ra":1,"declination":1';
  const page = decodeOpticalPage(
    `[{${base},"mag":1e309},{${base},"calibrated":-1e309},{${base},"uct":1e999},{${base},"mag":2}]`,
    "application/json",
    live,
  );
  assert.deepEqual(page.deadLetters.map((d) => [d.stage, d.reason]), [
    ["decoding", "Cannot parse mag value as a number: Infinity"],
    ["decoding", "Cannot read calibrated value as a finite number: -Infinity"],
    ["decoding", "Cannot read uct value as a boolean: Infinity"],
  ]);
  assert.equal(page.observations.length, 1);
  assert.equal(page.observations[0].measurement.mag, 2);
});

Deno.test("decodeOpticalPage() dead-letters a CSV page whose header has a quoting error", () => {
  // An unterminated quote in the header swallowed the page into it, and
  // nothing came out at all (found by deno task fuzz).
  const text = `id,"obTime,idSensor,ra,declination\nEO-1,2026-11-25T12:00:00Z,S,1,1\n`;
  const page = decodeOpticalPage(text, "text/csv", live);
  assert.equal(page.observations.length, 0);
  assert.equal(page.deadLetters.length, 1);
  assert.match(page.deadLetters[0].reason, /^Cannot parse CSV header: /);
  assert.equal(page.deadLetters[0].raw, text);
});

Deno.test("decodeOpticalPage() dead-letters a record whose values hold more than 65,536 characters, and reads the next", () => {
  const row = (n: number, extra: string) => `EO-${n},2026-11-25T12:00:0${n}Z,S,1,1,1,${extra}`;
  const big = "x".repeat(65_520);
  const csv = `${HEADER},remarks\n${row(1, "a")}\n${row(2, big)}\n${row(3, "b")}\n`;
  const page = decodeOpticalPage(csv, "text/csv", live);
  assert.deepEqual(page.observations.map((o) => o.provenance.ref), ["EO-1", "EO-3"]);
  assert.equal(page.deadLetters.length, 1);
  const dead = page.deadLetters[0];
  // id 4 + obTime 20 + idSensor 1 + satNo, ra, declination as text 1 each
  // + the unknown column's name and value.
  const size = 4 + 20 + 1 + 3 + "remarks".length + big.length;
  assert.deepEqual([dead.stage, dead.ref, dead.reason], [
    "decoding",
    "EO-2",
    `Record too large: its values and unknown field names hold ${size} characters, more than 65536`,
  ]);
  assert.equal(dead.raw, `${row(2, big).slice(0, 1024)}…(${row(2, big).length} bytes)`);
  // Just under the limit it is an observation.
  const fits = "x".repeat(65_536 - (size - big.length));
  const ok = decodeOpticalPage(`${HEADER},remarks\n${row(2, fits)}\n`, "text/csv", live);
  assert.equal(ok.observations[0].provenance.meta.remarks, fits);
});

Deno.test("decodeOpticalPage() counts a JSON record's unknown field names and numbers toward the 65,536 characters", () => {
  const base = '"id":"EO-1","obTime":"2026-11-25T12:00:00Z","idSensor":"S","ra":1,"declination":1';
  // 5,000 numeric fields named f0…f4999: their names alone are ~24,000
  // characters, and each number counts as 24.
  const extras = Array.from({ length: 5000 }, (_, i) => `"f${i}":${i}`).join(",");
  const page = decodeOpticalPage(`[{${base},${extras}},{${base},"f":1}]`, "application/json", live);
  assert.equal(page.observations.length, 1);
  assert.equal(page.deadLetters.length, 1);
  assert.match(page.deadLetters[0].reason, /^Record too large: .* more than 65536$/);
  assert.equal((page.deadLetters[0].raw as string).length < 1100, true);
});

Deno.test("decodeOpticalPage() quotes at most 100 characters of a bad value in a reason", () => {
  const ra = "9".repeat(50) + "x".repeat(60_000);
  const page = decodeOpticalPage(
    `${HEADER}\nEO-1,2026-11-25T12:00:00Z,S,1,${ra},1\n`,
    "text/csv",
    live,
  );
  assert.equal(
    page.deadLetters[0].reason,
    `Cannot parse ra value as a number: "${ra.slice(0, 99)}…(60052 characters)`,
  );
});

Deno.test("decodeOpticalPage() with maxRecords reads that many records and makes the rest one dead letter", () => {
  const rows = (count: number) =>
    Array.from({ length: count }, (_, i) => `EO-${i},2026-11-25T12:00:00Z,S,1,1,1`);
  const csv = `${HEADER}\n${rows(5).join("\n")}\n`;
  const reason = "Page holds 5 records, more than the 3 asked for (maxResults): " +
    "the 2 after them were not read";
  const page = decodeOpticalPage(csv, "text/csv", live, { maxRecords: 3 });
  assert.deepEqual(page.observations.map((o) => o.provenance.ref), ["EO-0", "EO-1", "EO-2"]);
  assert.deepEqual(page.deadLetters.map((d) => [d.stage, d.reason, d.raw]), [
    ["decoding", reason, "EO-3,2026-11-25T12:00:00Z,S,1,1,1"],
  ]);
  // Bad records count as records; a page of exactly maxRecords is whole.
  const bad = decodeOpticalPage(`${HEADER}\nx\n${rows(3).join("\n")}\n`, "text/csv", live, {
    maxRecords: 3,
  });
  assert.equal(bad.observations.length, 2);
  assert.equal(bad.deadLetters.length, 2);
  assert.equal(bad.deadLetters[1].reason.startsWith("Page holds 4 records"), true);
  const exact = decodeOpticalPage(csv, "text/csv", live, { maxRecords: 5 });
  assert.deepEqual([exact.observations.length, exact.deadLetters.length], [5, 0]);

  const record = (i: number) =>
    `{"id":"EO-${i}","obTime":"2026-11-25T12:00:00Z","idSensor":"S","ra":1,"declination":1}`;
  const json = `[${Array.from({ length: 5 }, (_, i) => record(i)).join(",")}]`;
  const fromJson = decodeOpticalPage(json, "application/json", live, { maxRecords: 3 });
  assert.equal(fromJson.observations.length, 3);
  assert.deepEqual(fromJson.deadLetters.map((d) => [d.reason, d.raw]), [[reason, record(3)]]);
});

Deno.test("decodeOpticalPage() with maxRecords on a 16 MB JSON page: its first 1,000 records, the rest one dead letter", () => {
  // 200,000 records of ~80 characters: over 4 Mi characters, so split
  // element by element (which gives the output a whole parse gives).
  const count = 200_000;
  const record = (i: number) =>
    `{"id":"EO-${i}","obTime":"2026-11-25T12:00:00Z","idSensor":"S","ra":1,"declination":1}`;
  const json = `[${Array.from({ length: count }, (_, i) => record(i)).join(",")}]`;
  const page = decodeOpticalPage(json, "application/json", live, { maxRecords: 1000 });
  assert.equal(page.observations.length, 1000);
  assert.equal(page.observations[999].provenance.ref, "EO-999");
  assert.deepEqual(page.deadLetters.map((d) => [d.reason, d.raw]), [[
    `Page holds ${count} records, more than the 1000 asked for (maxResults): the ${
      count - 1000
    } after them were not read`,
    record(1000),
  ]]);
});

Deno.test("decodeOpticalPage() dead-letters a CSV page whose header names no SPEC §5 field: UTF-8 sent as UTF-16, or not an archive page", () => {
  const csv = `${HEADER}\nEO-1,2026-11-25T12:00:00Z,S,1,1,1\nEO-2,2026-11-25T12:00:01Z,S,1,1,1\n`;
  // Read as UTF-16, the UTF-8 page is one long column name: the old decoder
  // took it for an empty page and its records vanished without a trace.
  const utf16 = decodeOpticalPage(
    new TextEncoder().encode(csv),
    "text/csv; charset=utf-16le",
    live,
  );
  assert.equal(utf16.observations.length, 0);
  assert.equal(utf16.deadLetters.length, 1);
  assert.match(
    utf16.deadLetters[0].reason,
    /^CSV header names none of the SPEC §5 fields \(id, obTime, idSensor, ra, declination, …\): /,
  );
  const other = decodeOpticalPage("name,value\nalpha,1\n", "text/csv", live);
  assert.deepEqual(other.deadLetters.map((d) => d.reason), [
    'CSV header names none of the SPEC §5 fields (id, obTime, idSensor, ra, declination, …): "name,value"',
  ]);
  // One known column is enough to read the rows (each then says what it lacks).
  const partial = decodeOpticalPage("id,value\nEO-1,1\n", "text/csv", live);
  assert.deepEqual(partial.deadLetters.map((d) => d.reason), ["Missing required field: obTime"]);
});
