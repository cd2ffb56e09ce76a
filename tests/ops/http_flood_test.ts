/**
 * SPEC §3 (no input stops the service): connections held open on the HTTP
 * port until the process runs out of file descriptors must not end it.
 */

import assert from "node:assert/strict";
import { freePort, waitForOk } from "../../bench/_processes.ts";
import { removeDir } from "../_observations.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;

Deno.test("serve outlives a flood of held HTTP connections that exhausts its file descriptors, and serves HTTP again after", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-flood-" });
  const httpPort = freePort();
  await Deno.writeTextFile(
    `${dir}/ingest.json`,
    JSON.stringify({
      sources: [{ name: "xr1", kind: "radar", port: freePort() }],
      log: { dir: "events" },
      deadLetter: { dir: "dead-letter" },
      state: { dir: "state" },
      http: { port: httpPort },
    }),
  );
  // A small descriptor limit, so that a few hundred connections reach it.
  const child = new Deno.Command("bash", {
    args: [
      "-c",
      `ulimit -n 256 && exec "${Deno.execPath()}" run -A "${main}" serve --config "${dir}/ingest.json"`,
    ],
    stdout: "null",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).spawn();
  let stderr = "";
  const reading = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (text) => void (stderr += text) }),
  );
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const held: Deno.TcpConn[] = [];
  try {
    await waitForOk(`http://127.0.0.1:${httpPort}/ready`, 30_000);
    // Requests whose headers never end, held open.
    for (let i = 0; i < 400; i++) {
      try {
        const conn = await Deno.connect({ hostname: "127.0.0.1", port: httpPort });
        held.push(conn);
        await conn.write(new TextEncoder().encode("GET /ready HTTP/1.1\r\nHost: x\r\n"));
      } catch {
        break; // Refused or reset: the service is out of descriptors.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1500));
    assert.equal(exited, false, `serve exited under the flood:\n${stderr.slice(-1500)}`);
    for (const conn of held.splice(0)) conn.close();
    // Served again once descriptors are free.
    await waitForOk(`http://127.0.0.1:${httpPort}/ready`, 15_000);
    assert.match(stderr, /HTTP server stopped: .*Too many open files/);
    assert.equal(exited, false);
    child.kill("SIGTERM");
    assert.equal((await status).code, 0, stderr.slice(-1500));
  } finally {
    for (const conn of held) conn.close();
    if (!exited) child.kill("SIGKILL");
    await status;
    await reading.catch(() => {});
    await removeDir(dir);
  }
});
