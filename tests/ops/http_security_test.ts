/**
 * SPEC §15 on the HTTP port: a bearer token on every endpoint but `/ready`,
 * HTTPS, and `validate`'s warnings about non-loopback listeners.
 */

import assert from "node:assert/strict";
import { removeDir } from "../_observations.ts";
import { makeCertificate, startService } from "./_service.ts";

const main = new URL("../../main.ts", import.meta.url).pathname;
const SENTINEL = "sentinel-Tok3n-7f9c2a41d0";

async function validate(config: unknown) {
  const dir = await Deno.makeTempDir({ prefix: "sda-validate-" });
  try {
    await Deno.writeTextFile(`${dir}/ingest.json`, JSON.stringify(config));
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        main,
        "validate",
        "--config",
        `${dir}/ingest.json`,
      ],
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1", [`SDA_TEST_TOKEN`]: "x" },
    }).output();
    return {
      code: output.code,
      stdout: new TextDecoder().decode(output.stdout),
      stderr: new TextDecoder().decode(output.stderr),
    };
  } finally {
    await removeDir(dir);
  }
}

Deno.test("validate warns, exit 0, about a radar source and an HTTP port open beyond loopback", async () => {
  const { code, stdout } = await validate({
    sources: [
      { name: "xr1", kind: "radar", hostname: "0.0.0.0", port: 17001 },
      { name: "xr2", kind: "radar", hostname: "127.0.0.1", port: 17002 },
    ],
    http: { hostname: "::", port: 19464 },
  });
  assert.equal(code, 0, stdout);
  assert.match(stdout, /valid \(3 warnings\)/);
  assert.match(
    stdout,
    /warning \$\.sources\[0\]\.hostname: radar source "xr1" listens on 0\.0\.0\.0/,
  );
  assert.match(
    stdout,
    /warning \$\.http\.hostname: the HTTP port listens on ::, not loopback, without tls/,
  );
  assert.match(stdout, /warning \$\.http\.tokenEnv: .* without tokenEnv/);
  assert.doesNotMatch(stdout, /sources\[1\]/);
});

Deno.test("validate gives no warning when every listener is on loopback", async () => {
  const { code, stdout } = await validate({
    sources: [{ name: "xr1", kind: "radar", hostname: "127.0.0.1", port: 17001 }],
    http: { hostname: "localhost", port: 19464, tokenEnv: "SDA_TEST_TOKEN" },
  });
  assert.equal(code, 0, stdout);
  assert.doesNotMatch(stdout, /warning/);
});

Deno.test("validate warns, exit 0, about token variables not set where it runs", async () => {
  const { code, stdout } = await validate({
    sources: [{
      name: "archive",
      kind: "optical",
      url: "http://127.0.0.1:7002/udl/eoobservation",
      tokenEnv: "SDA_TEST_UNSET_OPTICAL",
    }],
    http: { tokenEnv: "SDA_TEST_UNSET_TOKEN" },
  });
  assert.equal(code, 0, stdout);
  assert.match(stdout, /valid \(2 warnings\)/);
  assert.match(
    stdout,
    /warning \$\.sources\[0\]\.tokenEnv: environment variable SDA_TEST_UNSET_OPTICAL is not set here: serve refuses to start without it/,
  );
  assert.match(
    stdout,
    /warning \$\.http\.tokenEnv: environment variable SDA_TEST_UNSET_TOKEN is not set here/,
  );
});

Deno.test("serve refuses to start, exit 2, while a token variable is unset or its token cannot go in a header", async () => {
  const dir = await Deno.makeTempDir({ prefix: "sda-serve-" });
  try {
    await Deno.writeTextFile(
      `${dir}/ingest.json`,
      JSON.stringify({
        sources: [],
        log: { dir: `${dir}/events` },
        deadLetter: { dir: `${dir}/dead` },
        state: { dir: `${dir}/state` },
        http: { port: 0, tokenEnv: "SDA_TEST_UNSET_TOKEN" },
      }),
    );
    // Unset, or set to nothing: no token either way; with a newline after
    // it, no Authorization header could carry it.
    const cases = [
      [{}, "is not set"],
      [{ SDA_TEST_UNSET_TOKEN: "" }, "is not set"],
      [{ SDA_TEST_UNSET_TOKEN: `${SENTINEL}\n` }, "has whitespace around its token"],
      // Two lines of a secret file: fetch refused the header and printed
      // it, token and all, into dead letters, logs and /health.
      [{ SDA_TEST_UNSET_TOKEN: `${SENTINEL}\nline-2` }, "has white space, a control character"],
      [{ SDA_TEST_UNSET_TOKEN: `${SENTINEL}\u0001x` }, "has white space, a control character"],
      [{ SDA_TEST_UNSET_TOKEN: `${SENTINEL} x` }, "has white space, a control character"],
    ] as [Record<string, string>, string][];
    for (const [env, problem] of cases) {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", main, "serve", "--config", `${dir}/ingest.json`],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1", ...env },
      }).output();
      assert.equal(output.code, 2, JSON.stringify(env));
      const stderr = new TextDecoder().decode(output.stderr);
      assert.ok(
        stderr.includes(`$.http.tokenEnv: environment variable SDA_TEST_UNSET_TOKEN ${problem}`),
        stderr,
      );
      assert.ok(!stderr.includes(SENTINEL), "the token is in the output");
    }
    assert.equal([...Deno.readDirSync(dir)].length, 1, "nothing but the config was written");
  } finally {
    await removeDir(dir);
  }
});

Deno.test("validate reports an unreadable http.tls file, exit 2", async () => {
  const { code, stderr } = await validate({
    http: {
      tokenEnv: "SDA_TEST_UNSET_TOKEN",
      tls: { certFile: "missing.crt", keyFile: "missing.key" },
    },
  });
  assert.equal(code, 2);
  assert.match(stderr, /\$\.http\.tls\.certFile: cannot read .*missing\.crt: no such file/);
  assert.match(stderr, /\$\.http\.tls\.keyFile: cannot read .*missing\.key: no such file/);
});

Deno.test("serve with http.tokenEnv: 401 without the token, 200 with it, /ready open, the token in no output", async () => {
  const service = await startService({
    http: { tokenEnv: "INGEST_HTTP_TOKEN" },
    env: { INGEST_HTTP_TOKEN: SENTINEL },
  });
  try {
    const bodies: string[] = [];
    const get = async (path: string, authorization?: string, method = "GET") => {
      const response = await fetch(`${service.http}${path}`, {
        method,
        headers: authorization ? { authorization } : {},
      });
      const body = await response.text();
      bodies.push(body, JSON.stringify([...response.headers]));
      return { status: response.status, body, headers: response.headers };
    };
    for (const path of ["/metrics", "/health", "/status", "/"]) {
      const open = await get(path);
      assert.equal(open.status, 401, path);
      assert.match(open.headers.get("www-authenticate") ?? "", /^Bearer realm=/);
      assert.equal((await get(path, `Bearer ${SENTINEL}x`)).status, 401, path);
      assert.equal((await get(path, `Bearer ${SENTINEL.slice(0, -1)}`)).status, 401, path);
      assert.equal((await get(path, `Basic ${btoa(`ops:wrong`)}`)).status, 401, path);
      assert.equal((await get(path, `Bearer ${SENTINEL}`)).status, 200, path);
      assert.equal((await get(path, `Basic ${btoa(`ops:${SENTINEL}`)}`)).status, 200, path);
      // Any method: the token is asked for before the method is looked at.
      assert.equal((await get(path, undefined, "POST")).status, 401, path);
      assert.equal((await get(path, `Bearer ${SENTINEL}`, "POST")).status, 405, path);
    }
    assert.equal((await get("/nowhere", undefined, "DELETE")).status, 401);
    // A Host that makes no URL: the client's mistake, 400, nothing logged.
    for (let i = 0; i < 3; i++) {
      const conn = await Deno.connect({
        hostname: "127.0.0.1",
        port: Number(new URL(service.http).port),
      });
      await conn.write(
        new TextEncoder().encode(
          `GET /health HTTP/1.1\r\nHost: a b${"x".repeat(2000)}\r\nConnection: close\r\n\r\n`,
        ),
      );
      const answer = new TextDecoder().decode(await new Response(conn.readable).bytes());
      assert.match(answer, /^HTTP\/1\.1 400 /, answer.slice(0, 100));
    }
    assert.equal((await get("/ready")).status, 200);
    const metrics = await get("/metrics", `Bearer ${SENTINEL}`);
    assert.match(metrics.body, /sda_ingest_observations_total/);
    for (const body of bodies) assert.ok(!body.includes(SENTINEL), body.slice(0, 200));
    await service.child.stop("SIGTERM");
    const stderr = service.child.stderr();
    assert.match(stderr, /HTTP on/);
    assert.ok(!stderr.includes(SENTINEL), "the token is in a log line");
    assert.ok(!stderr.includes("xxxxxxxx"), "a request's Host is in a log line");
  } finally {
    await service.stop();
  }
});

Deno.test("serve with http.tls answers HTTPS with its certificate and refuses plain HTTP", async () => {
  const certs = await Deno.makeTempDir({ prefix: "sda-tls-" });
  try {
    const { certFile, keyFile, ca } = await makeCertificate(certs);
    const service = await startService({ http: { tls: { certFile, keyFile } }, scheme: "https" });
    const client = Deno.createHttpClient({ caCerts: [ca] });
    try {
      let ready = 0;
      for (let i = 0; i < 150 && ready !== 200; i++) {
        const response = await fetch(`${service.http}/ready`, { client });
        ready = response.status;
        await response.body?.cancel();
        if (ready !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal(ready, 200);
      const metrics = await fetch(`${service.http}/metrics`, { client });
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /sda_ingest_log_offset/);
      const plain = service.http.replace("https:", "http:");
      await assert.rejects(async () => {
        const response = await fetch(`${plain}/ready`, { signal: AbortSignal.timeout(5000) });
        await response.body?.cancel();
        if (response.status === 200) throw new Error("unreachable");
        throw new Error(`status ${response.status}`);
      });
      // Without trusting the certificate, the client refuses the connection.
      await assert.rejects(() => fetch(`${service.http}/ready`));
    } finally {
      client.close();
      await service.stop();
    }
  } finally {
    await removeDir(certs);
  }
});
