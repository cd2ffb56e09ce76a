import assert from "node:assert/strict";
import { redactCursor, redactUrl } from "../../sources/redact_url.ts";

Deno.test("redactUrl() hides the password of the userinfo and keeps the user name", () => {
  assert.equal(
    redactUrl("http://user:secret@127.0.0.1:7002/eo"),
    "http://user:***@127.0.0.1:7002/eo",
  );
  // The last "@" of the authority ends the userinfo, as the URL parser reads it.
  assert.equal(redactUrl("http://user:p@ss@h/eo"), "http://user:***@h/eo");
  assert.equal(redactUrl("https://user:@h/"), "https://user:***@h/");
});

Deno.test("redactUrl() hides a lone user name, which is often a token", () => {
  assert.equal(redactUrl("https://ghp_abcdef@h/eo"), "https://***@h/eo");
});

Deno.test("redactUrl() hides the values of secret-looking query and fragment parameters", () => {
  const names = [
    "api_key",
    "apikey",
    "apiKey",
    "API-KEY",
    "key",
    "token",
    "access_token",
    "refresh_token",
    "secret",
    "client_secret",
    "password",
    "passwd",
    "pwd",
    "signature",
    "sig",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Security-Token",
    "auth",
    "session_id",
    "api%5Fkey",
  ];
  for (const name of names) {
    assert.equal(
      redactUrl(`http://h/eo?maxResults=10&${name}=S3NT1NEL&cursor=v1.5`),
      `http://h/eo?maxResults=10&${name}=***&cursor=v1.5`,
      name,
    );
  }
  assert.equal(
    redactUrl("http://h/cb#access_token=abc&state=1"),
    "http://h/cb#access_token=***&state=1",
  );
  assert.equal(redactUrl("http://h/eo;token=abc"), "http://h/eo;token=***");
});

Deno.test("redactUrl() leaves URLs without secrets exactly as they are", () => {
  for (
    const url of [
      "http://127.0.0.1:7002/udl/eoobservation",
      "http://h:1",
      "https://udl.example/udl/eoobservation?maxResults=1000&cursor=v1.300&obTime=%3E2026-11-25T00:00:00Z",
      "http://[::1]:8080/eo?token=",
    ]
  ) {
    assert.equal(redactUrl(url), url);
  }
  assert.equal(redactUrl("no URL here, token=abc"), "no URL here, token=abc");
});

Deno.test("redactUrl() redacts every URL inside a message and keeps the punctuation around it", () => {
  const message =
    "error sending request from 127.0.0.1:50858 for http://u:pw@127.0.0.1:44657/?api_key=SECRET " +
    "(http://127.0.0.1:44657/?n=1&token=T0K): client error; see https://h/x?sig=abc.";
  assert.equal(
    redactUrl(message),
    "error sending request from 127.0.0.1:50858 for http://u:***@127.0.0.1:44657/?api_key=*** " +
      "(http://127.0.0.1:44657/?n=1&token=***): client error; see https://h/x?sig=***.",
  );
});

Deno.test("redactCursor() hides a secret after a second '?', in a URL nested in a parameter and in a JSON cursor", () => {
  const cases: [string, string][] = [
    ["page=2?token=SECRET1", "page=2?token=***"],
    ["eyJvIjoxfQ==?token=SECRET7", "eyJvIjoxfQ==?token=***"],
    [
      "https://a.example/p?next=https://b.example/q?token=SECRET2",
      "https://a.example/p?next=https://b.example/q?token=***",
    ],
    ['{"offset":10,"token":"SECRET3"}', '{"offset":10,"token":"***"}'],
    [
      '{"offset": 10, "apiKey" : "SE\\"CRET4", "page": "p2"}',
      '{"offset": 10, "apiKey" : "***", "page": "p2"}',
    ],
    ['{"after":"c-42"}', '{"after":"c-42"}'],
  ];
  for (const [cursor, printed] of cases) {
    assert.equal(redactCursor(cursor), printed, cursor);
    assert.doesNotMatch(redactCursor(cursor), /SECRET|SE\\"CRET/, cursor);
  }
});
