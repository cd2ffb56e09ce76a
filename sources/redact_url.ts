/**
 * One way to print a URL without its secrets (SPEC §15: secrets never appear
 * in logs, `/health`, `/metrics`, dead letters or error messages).
 *
 * Portable: web APIs only.
 *
 * @module
 */

/**
 * A URL inside any text: the scheme, then everything up to white space or a
 * quote. Runtime error messages wrap URLs in parentheses
 * (`error sending request for url (http://…?api_key=…): …`), so a closing
 * parenthesis is part of the match here and trimmed off the value below.
 */
const URL_IN_TEXT = /\b[a-z][a-z0-9+.-]*:\/\/[^\s"'<>`]*/gi;
/** The userinfo of an authority: up to its last `@`, as the WHATWG URL parser reads it. */
const USERINFO = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#\\]*)@/i;
/**
 * A `name=value` parameter of a query or a fragment. A value ends at a `?`
 * too: `page=2?token=…` (a cursor glued to a query) holds two parameters,
 * and the second one's value must not pass as part of the first's.
 */
const PARAMETER = /([?&;#])([^=&;#?]*)=([^&;#?]*)/g;
/** A `"name": "value"` member of JSON text (a cursor that is a JSON object). */
const JSON_MEMBER = /"((?:[^"\\]|\\.)*)"(\s*:\s*)"((?:[^"\\]|\\.)*)"/g;
/**
 * Parameter names that hold secrets, compared lower case without `-`, `_`
 * and `.`: `api_key`, `apiKey`, `access_token`, `client_secret`,
 * `X-Amz-Signature`, `X-Amz-Credential`, `password`, `sig`, … A name that
 * only looks like one (`monkey`) is redacted too: hiding a harmless value
 * costs nothing, printing a secret cannot be undone.
 */
const SECRET_NAME =
  /(key|token|secret|pass|passwd|password|pwd|sig|signature|auth|authorization|credential|credentials|session|sessionid|jwt|bearer)$/;
/** Punctuation that ends a sentence or closes a bracket around a URL in prose. */
const TRAILING = /[)\]},.;:!?]+$/;
const MASK = "***";

/**
 * Returns `text` with every URL in it redacted: the password of the
 * userinfo (or the whole userinfo when it has no password, since a lone
 * user name is often a token, as in `https://TOKEN@host/`) and the values of
 * query and fragment parameters whose names look secret (`api_key`,
 * `token`, `access_token`, `secret`, `password`, `signature`, `sig`, …).
 * Works on a bare URL and on prose that contains URLs, such as a runtime's
 * error message; text without a secret comes back unchanged, so a URL
 * without one prints exactly as configured.
 *
 * Path segments are left alone: a secret in a path cannot be told from a
 * name.
 *
 * @example Redact the credentials of an archive URL
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactUrl } from "./redact_url.ts";
 *
 * assert.equal(
 *   redactUrl("https://ops:hunter2@udl.example/eo?maxResults=10&api_key=abc123"),
 *   "https://ops:***@udl.example/eo?maxResults=10&api_key=***",
 * );
 * assert.equal(redactUrl("http://127.0.0.1:7002/udl/eoobservation"), "http://127.0.0.1:7002/udl/eoobservation");
 * ```
 *
 * @example Redact the URLs inside an error message
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactUrl } from "./redact_url.ts";
 *
 * assert.equal(
 *   redactUrl("error sending request for url (http://h/eo?token=t0k): connection refused"),
 *   "error sending request for url (http://h/eo?token=***): connection refused",
 * );
 * ```
 */
export function redactUrl(text: string): string {
  // Cheap test first: most log text has no URL at all.
  if (!text.includes("://")) return text;
  return text.replace(URL_IN_TEXT, redactOne);
}

/**
 * An archive cursor as it may be printed (logs, `/health`, the status page,
 * a dead letter's `ref`): the URLs in it redacted as {@link redactUrl} does,
 * and so are secret-looking `name=value` parameters outside a URL and
 * `"name": "value"` members of a JSON cursor — a cursor that is a signed
 * next-link (`…&X-Amz-Signature=…`) or carries a token must not print it. Cursors are otherwise opaque and kept as they are.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactCursor } from "./redact_url.ts";
 *
 * assert.equal(redactCursor("c-000123"), "c-000123");
 * assert.equal(redactCursor("offset=10&sig=abc"), "offset=10&sig=***");
 * assert.equal(redactCursor("token=Bearer t0k"), "token=***");
 * assert.equal(redactCursor("https://a.example/p?page=2&token=t0k"), "https://a.example/p?page=2&token=***");
 * assert.equal(redactCursor("page=2?token=t0k"), "page=2?token=***");
 * assert.equal(redactCursor("eyJvIjoxfQ==?token=t0k"), "eyJvIjoxfQ==?token=***");
 * assert.equal(redactCursor('{"offset":10,"token":"t0k"}'), '{"offset":10,"token":"***"}');
 * ```
 */
export function redactCursor(cursor: string): string {
  let text = redactUrl(cursor);
  if (text.includes('"')) {
    text = text.replace(
      JSON_MEMBER,
      (match, name: string, colon: string, value: string) =>
        value === "" || !isSecretName(name) ? match : `"${name}"${colon}"${MASK}"`,
    );
  }
  if (!text.includes("=")) return text;
  // The first parameter has no separator before it: lend it one.
  return redactOne(`?${text}`).slice(1);
}

function redactOne(url: string): string {
  let out = url.replace(USERINFO, (_match, scheme: string, userinfo: string) => {
    const colon = userinfo.indexOf(":");
    return colon < 0 ? `${scheme}${MASK}@` : `${scheme}${userinfo.slice(0, colon)}:${MASK}@`;
  });
  if (out.includes("=")) {
    out = out.replace(PARAMETER, (match, separator: string, name: string, value: string) => {
      if (value === "" || !isSecretName(name)) return match;
      const trailing = TRAILING.exec(value)?.[0] ?? "";
      return `${separator}${name}=${MASK}${trailing}`;
    });
  }
  return out;
}

function isSecretName(name: string): boolean {
  let plain = name;
  try {
    plain = decodeURIComponent(name.replaceAll("+", " "));
  } catch {
    // A malformed escape: compare the name as it is.
  }
  return SECRET_NAME.test(plain.toLowerCase().replace(/[-_.\s]/g, ""));
}
