import assert from "node:assert/strict";
import { readEventLog } from "../../sinks/event_log.ts";
import { removeDir } from "../_observations.ts";
import { runMain } from "./_run_main.ts";

const tail = (args: string[]) => runMain(["tail", ...args], ["--allow-read"]);

Deno.test("tail --dir prints a log's records from an offset; a directory that does not exist or holds no log is bad usage, for dead-letters too", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-tail-" });
  try {
    const lines = ['{"v":1,"n":0}', '{"v":1,"n":1}', '{"v":1,"n":2}'];
    await Deno.writeTextFile(`${dir}/00000000000000000000.jsonl`, lines.join("\n") + "\n");
    const all = await tail(["--dir", dir]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, lines.join("\n") + "\n");
    const from = await tail(["--dir", dir, "--from", "1", "--offsets"]);
    assert.equal(from.stdout, `1\t${lines[1]}\n2\t${lines[2]}\n`);
    const missing = await tail(["--dir", `${dir}/nowhere`]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--dir does not exist: .*nowhere/);
    assert.equal(missing.stdout, "");
    const file = await tail(["--dir", `${dir}/00000000000000000000.jsonl`]);
    assert.equal(file.code, 2);
    assert.match(file.stderr, /--dir is not a directory: /);
    // The data directory above the logs: not a log, said so, not printed as an empty one.
    const data = await Deno.makeTempDir({ dir, prefix: "data-" });
    await Deno.mkdir(`${data}/events`);
    await Deno.copyFile(
      `${dir}/00000000000000000000.jsonl`,
      `${data}/events/00000000000000000000.jsonl`,
    );
    const above = await tail(["--dir", data]);
    assert.equal(above.code, 2);
    assert.equal(
      above.stderr.split("\n")[0],
      `tail: --dir holds no log segment (a file named like 00000000000000000000.jsonl): ${data} (its events directory is a log)`,
    );
    const counted = await runMain(["dead-letters", "--dir", data], ["--allow-read"]);
    assert.equal(counted.code, 2);
    assert.match(
      counted.stderr,
      /^dead-letters: --dir holds no log segment .*\(its events directory is a log\)\n/,
    );
  } finally {
    await removeDir(dir);
  }
});

Deno.test("tail --dir on a damaged log prints what comes before the damage, then says what it is, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-tail-" });
  try {
    await Deno.writeTextFile(`${dir}/00000000000000000000.jsonl`, '{"n":0}\n{"n":1}\n');
    await Deno.writeTextFile(`${dir}/00000000000000000005.jsonl`, '{"n":5}\n');
    const damaged = await tail(["--dir", dir]);
    assert.equal(damaged.code, 1);
    assert.equal(damaged.stdout, '{"n":0}\n{"n":1}\n');
    assert.equal(
      damaged.stderr.trim(),
      `tail: Damaged log: records 2…4 are missing (${dir}/00000000000000000000.jsonl ends at 2, ` +
        `the next segment is ${dir}/00000000000000000005.jsonl)`,
    );
    // Bytes that are not UTF-8: the records before them, and no stack trace.
    await Deno.writeFile(
      `${dir}/00000000000000000002.jsonl`,
      new Uint8Array([...new TextEncoder().encode('{"n":2}\n'), 0xff, 0xfe, 10, 0x7b, 0x7d, 10]),
    );
    const bad = await tail(["--dir", dir]);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, '{"n":0}\n{"n":1}\n{"n":2}\n');
    assert.equal(
      bad.stderr.trim(),
      `tail: Damaged log: record 3 in ${dir}/00000000000000000002.jsonl is not valid UTF-8`,
    );
    // A line that is no record, within a segment (it was printed, exit 0).
    await Deno.remove(`${dir}/00000000000000000002.jsonl`);
    await Deno.remove(`${dir}/00000000000000000005.jsonl`);
    await Deno.writeTextFile(`${dir}/00000000000000000002.jsonl`, '{"n":2}\nnot json}\n{"n":4}\n');
    const junk = await tail(["--dir", dir]);
    assert.equal(junk.code, 1);
    assert.equal(junk.stdout, '{"n":0}\n{"n":1}\n{"n":2}\n');
    assert.equal(
      junk.stderr.trim(),
      'tail: Damaged log: record 3 is not a JSON object: "not json}"',
    );
    // A byte flipped inside a record, and two records run together: they
    // look like {…}, but are no JSON (they were printed, exit 0).
    for (const line of ['{Xn":3}', '{"n":3} {"n":4}']) {
      await Deno.writeTextFile(`${dir}/00000000000000000002.jsonl`, `{"n":2}\n${line}\n`);
      const flipped = await tail(["--dir", dir]);
      assert.equal(flipped.code, 1, line);
      assert.equal(flipped.stdout, '{"n":0}\n{"n":1}\n{"n":2}\n');
      assert.equal(
        flipped.stderr.trim(),
        `tail: Damaged log: record 3 is not a JSON object: ${JSON.stringify(line)}`,
      );
    }
    await Deno.writeTextFile(`${dir}/00000000000000000002.jsonl`, '{"n":2}\nnot json}\n{"n":4}\n');
    // The library reader says where, too (a bare SyntaxError did not).
    await assert.rejects(
      Array.fromAsync(readEventLog(dir)),
      (error: Error) => {
        assert.ok(error instanceof SyntaxError);
        assert.ok(
          error.message.startsWith(`Damaged log: record 3 in ${dir} is not JSON (`),
          error.message,
        );
        assert.ok(error.message.endsWith(`): "not json}"`), error.message);
        return true;
      },
    );
  } finally {
    await removeDir(dir);
  }
});

Deno.test("dead-letters on a damaged log reports the dead letters before the damage, then says what it is, exit 1", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-dead-" });
  try {
    const letter = (n: number) =>
      JSON.stringify({
        v: 1,
        t_rx: "2026-11-25T12:00:00.000000Z",
        source: "xr1",
        format: "ccsds-tdm-kvn",
        stage: "decoding",
        reason: `Cannot parse line ${n}`,
        raw: "x",
      });
    await Deno.writeTextFile(`${dir}/00000000000000000000.jsonl`, `${letter(0)}\n${letter(1)}\n`);
    await Deno.writeTextFile(`${dir}/00000000000000000009.jsonl`, `${letter(9)}\n`);
    const result = await runMain(["dead-letters", "--dir", dir, "--json"], ["--allow-read"]);
    assert.equal(result.code, 1);
    const report = JSON.parse(result.stdout);
    assert.equal(report.total, 2);
    assert.match(report.damaged, /^Damaged log: records 2…8 are missing/);
    assert.match(
      result.stderr,
      /^dead-letters: Damaged log: records 2…8 are missing .*; the report covers the records before it\n$/,
    );
  } finally {
    await removeDir(dir);
  }
});

Deno.test("tail --from takes digits only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-tail-" });
  try {
    await Deno.writeTextFile(`${dir}/00000000000000000000.jsonl`, '{"n":0}\n');
    // Number() took "1e3" as 1000, "0x10" as 16 and "" as 0.
    for (const from of ["1e3", "0x10", "", " 7", "1.5"]) {
      const result = await tail(["--dir", dir, "--from", from]);
      assert.equal(result.code, 2, from);
      assert.ok(
        result.stderr.startsWith(`tail: --from must be a non-negative integer: "${from}"`),
        result.stderr,
      );
    }
    assert.equal((await tail(["--dir", dir, "--from", "0"])).stdout, '{"n":0}\n');
  } finally {
    await removeDir(dir);
  }
});
