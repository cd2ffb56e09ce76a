import assert from "node:assert/strict";
import type { Observation } from "../../envelope/observation.ts";
import type { DeadLetterReport } from "../../cli/dead_letters.ts";
import { readAllLines, removeDir } from "../_observations.ts";
import { runMain as run } from "./_run_main.ts";

Deno.test("demo runs for 10 s, leaves a log with all three kinds, its service log in a file, and dead-letters groups its faults", async () => {
  const out = await Deno.makeTempDir({ prefix: "sda-demo-" });
  try {
    // A service's state in the same directory is none of the demo's business.
    await Deno.mkdir(`${out}/state`);
    await Deno.writeTextFile(`${out}/state/optical.archive.json`, '{"value":"v1.99"}\n');
    // Writing under --out only, as `deno task demo` may (--allow-write=.).
    const demo = await run(
      ["demo", "--duration", "10", "--out", out],
      ["--allow-net=127.0.0.1", "--allow-read", `--allow-write=${out}`, "--allow-sys=statfs"],
    );
    assert.equal(demo.code, 0, demo.stderr);
    const stdout = demo.stdout;
    // One summary line per second, then the summary of what was written.
    const ticks = stdout.split("\n").filter((l) =>
      /│ total [\d,]+ │ dead letters [\d,]+ │ p99 lag .* │ warnings [\d,]+$/.test(l)
    );
    assert.ok(ticks.length >= 8, stdout);
    assert.match(stdout, /demo: stopped after/);
    assert.match(stdout, new RegExp(`event log\\s+${out}/events`));
    assert.match(
      stdout,
      new RegExp(`service log\\s+${out}/service\\.log  \\(warnings and errors: \\d+\\)`),
    );
    assert.match(stdout, /deno task tail --dir/);
    // The service's own log lines are in the file, not on the console.
    assert.doesNotMatch(stdout + demo.stderr, /"level":|Event log .* open at offset/);
    const logLines = (await Deno.readTextFile(`${out}/service.log`)).trim().split("\n");
    const records = logLines.map((l) => JSON.parse(l));
    assert.ok(records.some((r) => /^Ready: 3 sources started/.test(r.message)), logLines[0]);
    // Our own words print bare: `listening on 127.0.0.1:9001`, not `…:9001""`.
    const messages = records.map((r) => r.message as string);
    assert.ok(
      messages.some((m) => /^Decoding (in worker threads: \d+|on the main thread)$/.test(m)),
      messages.join("\n"),
    );
    assert.ok(
      messages.some((m) => /^Radar source \S+ listening on [\d.]+:\d+$/.test(m)),
      messages.join("\n"),
    );
    const warnings = records.filter((r) =>
      ["WARN", "WARNING", "ERROR", "FATAL"].includes(r.level)
    ).length;
    assert.match(stdout, new RegExp(`warnings and errors: ${warnings}\\)`));

    const kinds = new Set(
      (await readAllLines(`${out}/events`)).map((l) => (JSON.parse(l) as Observation).kind),
    );
    assert.deepEqual(kinds, new Set(["radar", "optical", "isl"]));

    // The demo injects bad RCS values (radar) and failing requests (archive):
    // one line per reason pattern, counted right.
    const letters = (await readAllLines(`${out}/dead-letter`)).map((l) => JSON.parse(l));
    const radarBad = letters.filter((d) =>
      d.source === "xr1" && /^Cannot parse RCS value as a number: "/.test(d.reason)
    );
    assert.ok(radarBad.length > 0, "the demo injected no bad radar value");
    const read = ["--allow-read"];
    const json = await run(["dead-letters", "--dir", `${out}/dead-letter`, "--json"], read);
    assert.equal(json.code, 0, json.stderr);
    const report = JSON.parse(json.stdout) as DeadLetterReport;
    assert.equal(report.total, letters.length);
    const radarGroups = report.groups.filter((g) => g.source === "xr1");
    assert.deepEqual(radarGroups.map((g) => [g.stage, g.pattern, g.count]), [
      ["decoding", "Cannot parse RCS value as a number: …", radarBad.length],
    ]);
    assert.match(radarGroups[0].example.raw as string, /^RCS = .* 1\.2\.3$/);
    for (const group of report.groups.filter((g) => g.source === "archive")) {
      assert.equal(group.stage, "transport");
      const exact = letters.filter((d) =>
        d.source === "archive" && d.reason.replace(/\d+/, "N") === group.pattern
      );
      assert.equal(group.count, exact.length, group.pattern);
    }
    const text = await run(["dead-letters", "--dir", `${out}/dead-letter`], read);
    assert.equal(text.code, 0);
    const rcsLines = text.stdout.split("\n").filter((l) =>
      l.includes("Cannot parse RCS value as a number: …")
    );
    assert.equal(rcsLines.length, 1, text.stdout);
    assert.match(
      rcsLines[0],
      new RegExp(`^\\s+${radarBad.length.toLocaleString("en-US")}\\s+decoding\\s`),
    );

    const onlyArchive = await run(
      ["dead-letters", "--dir", `${out}/dead-letter`, "--source", "archive", "--json"],
      read,
    );
    assert.deepEqual(
      new Set((JSON.parse(onlyArchive.stdout) as DeadLetterReport).groups.map((g) => g.source)),
      new Set(letters.some((d) => d.source === "archive") ? ["archive"] : []),
    );
    const future = await run(
      ["dead-letters", "--dir", `${out}/dead-letter`, "--since", "2999-01-01T00:00:00Z", "--json"],
      read,
    );
    assert.equal((JSON.parse(future.stdout) as DeadLetterReport).total, 0);
    const recent = await run(
      ["dead-letters", "--dir", `${out}/dead-letter`, "--since", "1h"],
      read,
    );
    assert.match(
      recent.stdout,
      new RegExp(`: ${letters.length.toLocaleString("en-US")} dead letter`),
    );

    // Again into the same directory: the archive is read again (the first
    // run's cursor lay beyond what the new archive holds: 0 optical).
    const optical = () =>
      readAllLines(`${out}/events`).then((lines) =>
        lines.filter((l) => (JSON.parse(l) as Observation).kind === "optical").length
      );
    const before = await optical();
    const again = await run(
      ["demo", "--duration", "4", "--out", out],
      ["--allow-net=127.0.0.1", "--allow-read", `--allow-write=${out}`, "--allow-sys=statfs"],
    );
    assert.equal(again.code, 0, again.stderr);
    assert.ok((await optical()) > before, "the second demo logged no optical observation");
    assert.equal(
      await Deno.readTextFile(`${out}/state/optical.archive.json`),
      '{"value":"v1.99"}\n',
    );
    // Its own state went with it.
    assert.deepEqual(
      [...Deno.readDirSync(out)].map((e) => e.name).filter((n) => n.startsWith(".demo-state")),
      [],
    );
  } finally {
    await removeDir(out);
  }
});

Deno.test("dead-letters exits 2 on bad usage and prints its help", async () => {
  const read = ["--allow-read"];
  const missing = await run(["dead-letters"], read);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--dir is required/);
  const nowhere = await run(["dead-letters", "--dir", "/nonexistent/sda-dead"], read);
  assert.equal(nowhere.code, 2);
  assert.match(nowhere.stderr, /--dir does not exist/);
  const since = await run(["dead-letters", "--dir", ".", "--since", "yesterday"], read);
  assert.equal(since.code, 2);
  assert.match(since.stderr, /--since must be an ISO-8601 time or a duration/);
  // An event log given for a dead-letter log: not "0 dead letters", exit 0.
  const dir = await Deno.makeTempDir({ prefix: "sda-dead-" });
  try {
    await Deno.writeTextFile(`${dir}/00000000000000000000.jsonl`, '{"v":1,"id":"a"}\n'.repeat(3));
    const events = await run(["dead-letters", "--dir", dir], read);
    assert.equal(events.code, 1, events.stderr);
    assert.match(
      events.stderr,
      /no line of .* is a dead letter \(3 are not\): is it a dead-letter log\?/,
    );
    // A dead-letter log with a bad line, and a filter that matches nothing:
    // no dead letter to report, exit 0 (the filter, not the log).
    await Deno.writeTextFile(
      `${dir}/00000000000000000000.jsonl`,
      JSON.stringify({
        v: 1,
        t_rx: "2026-11-25T12:00:00Z",
        source: "xr1",
        format: "ccsds-tdm-kvn",
        peer: "p",
        stage: "decoding",
        reason: "bad",
        ref: "r",
        raw: "x",
      }) + '\n{"junk":1}\n',
    );
    const filtered = await run(["dead-letters", "--dir", dir, "--source", "isl"], read);
    assert.equal(filtered.code, 0, filtered.stderr);
  } finally {
    await removeDir(dir);
  }
  const help = await run(["dead-letters", "--help"], read);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Usage: main\.ts dead-letters --dir DIR/);
});
