/**
 * ClientCertificateVerifier with intermediates: the CA constraints of
 * RFC 5280 §6.1.4 (k)–(n) and OpenSSL's checks for a TLS client's chain.
 * Every case also runs `openssl verify -purpose sslclient` on the same
 * certificates, so a difference from OpenSSL shows (the one intended: a CA
 * certificate as the client's own is refused here).
 */

import assert from "node:assert/strict";
import * as x509 from "../../../sources/radar/_x509.ts";
import { KeyUsageFlags } from "../../../sources/radar/_x509.ts";
import {
  type CertificateVerdict,
  ClientCertificateVerifier,
} from "../../../sources/radar/client_certificate_verifier.ts";
import { removeDir } from "../../_observations.ts";
import { type Authority, chainDer, type Issued, makePki } from "./_pki.ts";

const pki = await makePki();
const HOUR = 3_600_000;

interface Checked {
  verdict: CertificateVerdict;
  /** What `openssl verify` printed, its last line "…: OK" when it accepts. */
  openssl: string;
}

/** The verifier's verdict on `client`'s chain against the CA `ca`, and OpenSSL's. */
async function check(client: Issued, ca: string = pki.ca): Promise<Checked> {
  const verdict = await new ClientCertificateVerifier(ca).verify(chainDer(client.cert));
  const dir = await Deno.makeTempDir({ prefix: "sda-radar-x509-" });
  try {
    const blocks = client.cert.match(
      /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g,
    )!;
    await Deno.writeTextFile(`${dir}/ca.pem`, ca);
    await Deno.writeTextFile(`${dir}/leaf.pem`, blocks[0] + "\n");
    const args = ["verify", "-purpose", "sslclient", "-CAfile", `${dir}/ca.pem`];
    if (blocks.length > 1) {
      await Deno.writeTextFile(`${dir}/untrusted.pem`, blocks.slice(1).join("\n") + "\n");
      args.push("-untrusted", `${dir}/untrusted.pem`);
    }
    const out = await new Deno.Command("openssl", { args: [...args, `${dir}/leaf.pem`] }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    return { verdict, openssl: text.trim() };
  } finally {
    await removeDir(dir);
  }
}

function assertAccepted(checked: Checked, client = "XR1-OPS"): void {
  assert.ok(checked.verdict.ok, JSON.stringify(checked.verdict));
  assert.equal(checked.verdict.client, client);
  assert.match(checked.openssl, /: OK$/, checked.openssl);
}

function assertRefused(
  checked: Checked,
  reason: string,
  detail: RegExp,
  openssl: RegExp,
): void {
  assert.equal(checked.verdict.ok, false, JSON.stringify(checked.verdict));
  if (checked.verdict.ok) return;
  assert.equal(checked.verdict.reason, reason, checked.verdict.detail);
  assert.match(checked.verdict.detail, detail);
  assert.match(checked.openssl, openssl, checked.openssl);
  assert.doesNotMatch(checked.openssl, /: OK$/);
}

Deno.test("ClientCertificateVerifier.verify() accepts a chain through an intermediate whose key may sign certificates", async () => {
  const intermediate = await pki.intermediate("Radar Sub CA");
  assertAccepted(await check(await intermediate.client("XR1-OPS")));
});

Deno.test("ClientCertificateVerifier.verify() refuses a chain through an intermediate whose key usage lacks keyCertSign as bad_key_usage", async () => {
  // A CA:TRUE certificate for signing only: its holder must not mint clients.
  const signer = await pki.intermediate("Signer", { keyUsage: KeyUsageFlags.digitalSignature });
  assertRefused(
    await check(await signer.client("XR1-OPS")),
    "bad_key_usage",
    /the key of CN=Signer, which issued CN=XR1-OPS, may not sign certificates \(no keyCertSign/,
    /key usage does not include certificate signing/,
  );
});

Deno.test("ClientCertificateVerifier.verify() accepts an intermediate without a key usage extension", async () => {
  const intermediate = await pki.intermediate("Radar Sub CA", { keyUsage: null });
  assertAccepted(await check(await intermediate.client("XR1-OPS")));
});

Deno.test("ClientCertificateVerifier.verify() refuses a CA below an intermediate with pathLenConstraint 0 as untrusted_issuer", async () => {
  const intermediate = await pki.intermediate("Radar Sub CA", { pathLength: 0 });
  const sub = await intermediate.intermediate("Rogue CA");
  assertRefused(
    await check(await sub.client("XR1-OPS")),
    "untrusted_issuer",
    /path length constraint exceeded: CN=Radar Sub CA allows 0 intermediate CAs below it/,
    /path length constraint exceeded/,
  );
});

Deno.test("ClientCertificateVerifier.verify() accepts chains within every pathLenConstraint", async () => {
  const zero = await pki.intermediate("Radar Sub CA", { pathLength: 0 });
  assertAccepted(await check(await zero.client("XR1-OPS")));
  const one = await pki.intermediate("Radar Sub CA 1", { pathLength: 1 });
  const sub = await one.intermediate("Radar Site CA", { pathLength: 0 });
  assertAccepted(await check(await sub.client("XR1-OPS")));
  // Two below a CA that allows one: refused.
  const subSub = await sub.intermediate("Rogue CA");
  const deep = await check(await subSub.client("XR1-OPS"));
  assert.equal(deep.verdict.ok, false);
  assert.match(deep.openssl, /path length constraint exceeded/);
});

Deno.test("ClientCertificateVerifier.verify() does not count a self-issued intermediate (a key rollover) against pathLenConstraint, and counts others", async () => {
  const intermediate = await pki.intermediate("Radar Sub CA", { pathLength: 0 });
  const rolled = await intermediate.intermediate("Radar Sub CA");
  assertAccepted(await check(await rolled.client("XR1-OPS")));
  const rogue = await rolled.intermediate("Rogue CA");
  assertRefused(
    await check(await rogue.client("XR1-OPS")),
    "untrusted_issuer",
    /path length constraint exceeded: CN=Radar Sub CA allows 0 intermediate CAs below it \(pathLenConstraint\), the chain to CN=XR1-OPS has 1/,
    /path length constraint exceeded/,
  );
});

Deno.test("ClientCertificateVerifier.verify() refuses the configured CA's pathLenConstraint being exceeded", async () => {
  const strict = await makePki({ pathLength: 0 });
  const intermediate = await strict.intermediate("Radar Sub CA");
  assertRefused(
    await check(await intermediate.client("XR1-OPS"), strict.ca),
    "untrusted_issuer",
    /path length constraint exceeded: CN=Test Radar CA allows 0/,
    /path length constraint exceeded/,
  );
  // Its own clients are fine.
  assertAccepted(await check(await strict.client("XR1-OPS"), strict.ca));
});

Deno.test("ClientCertificateVerifier.verify() refuses a configured CA whose key usage lacks keyCertSign as bad_key_usage", async () => {
  const signer = await makePki({ keyUsage: KeyUsageFlags.digitalSignature });
  assertRefused(
    await check(await signer.client("XR1-OPS"), signer.ca),
    "bad_key_usage",
    /the key of CN=Test Radar CA, which issued CN=XR1-OPS, may not sign certificates/,
    /key usage does not include certificate signing/,
  );
});

Deno.test("ClientCertificateVerifier.verify() takes a configured CA without basicConstraints only with a key usage, as OpenSSL does", async () => {
  const withKeyUsage = await makePki({ ca: null });
  assertAccepted(await check(await withKeyUsage.client("XR1-OPS"), withKeyUsage.ca));
  const bare = await makePki({ ca: null, keyUsage: null, extendedKeyUsage: ["1.3.6.1.5.5.7.3.2"] });
  assertRefused(
    await check(await bare.client("XR1-OPS"), bare.ca),
    "untrusted_issuer",
    /CN=Test Radar CA, which issued CN=XR1-OPS, is not a CA \(no basicConstraints\)/,
    /invalid CA certificate/,
  );
});

Deno.test("ClientCertificateVerifier.verify() refuses an intermediate that is not a CA as untrusted_issuer", async () => {
  const notCa = await pki.intermediate("Radar Sub CA", { ca: false });
  assertRefused(
    await check(await notCa.client("XR1-OPS")),
    "untrusted_issuer",
    /CN=Radar Sub CA, which issued CN=XR1-OPS, is not a CA \(basicConstraints cA is false\)/,
    /invalid CA certificate/,
  );
  const unmarked = await pki.intermediate("Radar Sub CA", { ca: null });
  assertRefused(
    await check(await unmarked.client("XR1-OPS")),
    "untrusted_issuer",
    /is not a CA \(no basicConstraints\)/,
    /invalid CA certificate/,
  );
});

Deno.test("ClientCertificateVerifier.verify() refuses an intermediate outside its validity period", async () => {
  const expired = await pki.intermediate("Radar Sub CA", {
    notBefore: new Date(Date.now() - 48 * HOUR),
    notAfter: new Date(Date.now() - 24 * HOUR),
  });
  assertRefused(
    await check(await expired.client("XR1-OPS")),
    "expired",
    /the certificate of CN=Radar Sub CA expired at/,
    /certificate has expired/,
  );
  const early = await pki.intermediate("Radar Sub CA", {
    notBefore: new Date(Date.now() + 24 * HOUR),
    notAfter: new Date(Date.now() + 48 * HOUR),
  });
  assertRefused(
    await check(await early.client("XR1-OPS")),
    "not_yet_valid",
    /the certificate of CN=Radar Sub CA is valid only from/,
    /certificate is not yet valid/,
  );
});

Deno.test("ClientCertificateVerifier.verify() wants an intermediate's extended key usage, where present, to allow clientAuth", async () => {
  const servers = await pki.intermediate("Server CA", { extendedKeyUsage: ["1.3.6.1.5.5.7.3.1"] });
  assertRefused(
    await check(await servers.client("XR1-OPS")),
    "bad_key_usage",
    /CN=Server CA, which issued CN=XR1-OPS, is not for TLS client certificates/,
    /unsuitable certificate purpose/,
  );
  const clients = await pki.intermediate("Client CA", {
    extendedKeyUsage: ["1.3.6.1.5.5.7.3.2"],
  });
  assertAccepted(await check(await clients.client("XR1-OPS")));
  // RFC 5280 §4.2.1.12: any purpose. OpenSSL 3.0 wants clientAuth named.
  const any = await pki.intermediate("Any CA", { extendedKeyUsage: ["2.5.29.37.0"] });
  const checked = await check(await any.client("XR1-OPS"));
  assert.ok(checked.verdict.ok && checked.verdict.client === "XR1-OPS");
  assert.match(checked.openssl, /unsuitable certificate purpose/);
});

Deno.test("ClientCertificateVerifier.verify() refuses a CA certificate as the client's own as bad_key_usage, where OpenSSL takes it", async () => {
  const checked = await check(await pki.client("XR1-OPS", { ca: true }));
  assert.deepEqual(checked.verdict, {
    ok: false,
    reason: "bad_key_usage",
    detail:
      "the certificate of CN=XR1-OPS is a CA certificate (basicConstraints cA), not a client's",
  });
  assert.match(checked.openssl, /: OK$/);
});

Deno.test("ClientCertificateVerifier.verify() refuses a chain whose intermediate the client did not send", async () => {
  const intermediate = await pki.intermediate("Radar Sub CA");
  const client = await intermediate.client("XR1-OPS");
  const leafOnly = { ...client, cert: client.cert.split(/(?<=-----END CERTIFICATE-----)/)[0] };
  assertRefused(
    await check(leafOnly),
    "untrusted_issuer",
    /does not chain to the client CA/,
    /unable to get local issuer certificate/,
  );
});

Deno.test("ClientCertificateVerifier.verify() takes a client certificate that is itself in the CA file", async () => {
  const pinned = await pki.client("XR1-OPS", { selfSigned: true });
  assertAccepted(await check(pinned, pinned.cert));
  // As `openssl req -x509` makes one: marked a CA. Trusted as it is, as
  // OpenSSL does (it was refused as "a CA certificate, not a client's").
  const x509req = await pki.client("XR1-OPS", { selfSigned: true, ca: true });
  assertAccepted(await check(x509req, x509req.cert));
});

Deno.test("ClientCertificateVerifier.verify() refuses more than four intermediates", async () => {
  let authority: Authority = pki;
  for (let i = 1; i <= 4; i++) authority = await authority.intermediate(`Radar CA ${i}`);
  assertAccepted(await check(await authority.client("XR1-OPS")));
  authority = await authority.intermediate("Radar CA 5");
  const { verdict } = await check(await authority.client("XR1-OPS"));
  assert.equal(verdict.ok, false);
  assert.equal(!verdict.ok && verdict.reason, "untrusted_issuer");
  // It does chain to the CA: the detail says what is wrong.
  assert.equal(
    !verdict.ok && verdict.detail,
    "the chain of CN=XR1-OPS has more than 4 intermediate CAs",
  );
});

/** A DER element: tag, length, content. */
function tlv(tag: number, ...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const head = length < 0x80
    ? [tag, length]
    : length < 0x100
    ? [tag, 0x81, length]
    : [tag, 0x82, length >> 8, length & 0xff];
  const out = new Uint8Array(head.length + length);
  out.set(head);
  let at = head.length;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
const ascii = (text: string) => new TextEncoder().encode(text);
const directory = (dn: string) => tlv(0xa4, new Uint8Array(new x509.Name(dn).toArrayBuffer()));
const dns = (name: string) => tlv(0x82, ascii(name));
const ipRange = (...bytes: number[]) => tlv(0x87, Uint8Array.from(bytes));

/** A critical nameConstraints extension (RFC 5280 §4.2.1.10) of these subtrees' base names. */
function nameConstraints(
  { permitted = [], excluded = [] }: { permitted?: Uint8Array[]; excluded?: Uint8Array[] },
): x509.Extension {
  const subtrees = (tag: number, bases: Uint8Array[]) =>
    bases.length === 0 ? [] : [tlv(tag, ...bases.map((base) => tlv(0x30, base)))];
  return new x509.Extension(
    "2.5.29.30",
    true,
    tlv(0x30, ...subtrees(0xa0, permitted), ...subtrees(0xa1, excluded)),
  );
}

Deno.test("ClientCertificateVerifier.verify() holds a client to an intermediate's permitted directory names: a partner CA cannot issue outside its organisation (the CN within it is free)", async () => {
  const partner = await pki.intermediate("Partner CA", {
    extensions: [nameConstraints({ permitted: [directory("O=Partner")] })],
  });
  assertAccepted(
    await check(await partner.client("XR1-OPS", { subject: "O=Partner, CN=XR1-OPS" })),
  );
  assertAccepted(
    await check(await partner.client("XR1-OPS", { subject: "O=partner,  CN=XR1-OPS" })),
    "XR1-OPS",
  );
  for (const subject of ["O=Agency, CN=XR1-OPS", "CN=XR1-OPS"]) {
    assertRefused(
      await check(await partner.client("XR1-OPS", { subject })),
      "untrusted_issuer",
      /^the certificate of .*CN=XR1-OPS breaks the name constraints of CN=Partner CA: its subject name is not within a permitted subtree$/,
      /permitted subtree violation/,
    );
  }
});

Deno.test("ClientCertificateVerifier.verify() applies the configured CA's excluded DNS names and permitted IP ranges to subject alternative names", async () => {
  const constrained = await makePki({
    extensions: [
      nameConstraints({
        permitted: [ipRange(10, 20, 0, 0, 255, 255, 0, 0)],
        excluded: [dns("evil.example")],
      }),
    ],
  });
  const altNames = (...names: { type: "dns" | "ip"; value: string }[]) => ({
    extensions: [new x509.SubjectAlternativeNameExtension(names)],
  });
  const checked = (client: Issued) => check(client, constrained.ca);
  assertAccepted(await checked(await constrained.client("XR1-OPS")));
  assertAccepted(
    await checked(
      await constrained.client(
        "XR1-OPS",
        altNames({ type: "dns", value: "xr1.radar.example" }, { type: "ip", value: "10.20.3.4" }),
      ),
    ),
  );
  assertRefused(
    await checked(
      await constrained.client("XR1-OPS", altNames({ type: "dns", value: "a.evil.example" })),
    ),
    "untrusted_issuer",
    /: dNSName a\.evil\.example is within an excluded subtree$/,
    /excluded subtree violation/,
  );
  assertRefused(
    await checked(
      await constrained.client("XR1-OPS", altNames({ type: "ip", value: "10.30.3.4" })),
    ),
    "untrusted_issuer",
    /: iPAddress 0a1e0304 is not within a permitted subtree$/,
    /permitted subtree violation/,
  );
});

Deno.test("ClientCertificateVerifier.verify() refuses a certificate with a critical extension it does not understand, as RFC 5280 §4.2 asks", async () => {
  const unknown = new x509.Extension("1.3.6.1.4.1.55555.1", true, tlv(0x05));
  assertRefused(
    await check(await pki.client("XR1-OPS", { extensions: [unknown] })),
    "untrusted_issuer",
    /^the certificate of CN=XR1-OPS has a critical extension this service does not understand \(1\.3\.6\.1\.4\.1\.55555\.1\)$/,
    /unhandled critical extension|unsupported certificate extension/i,
  );
  // Not critical: may be ignored.
  const informational = new x509.Extension("1.3.6.1.4.1.55555.1", false, tlv(0x05));
  assertAccepted(await check(await pki.client("XR1-OPS", { extensions: [informational] })));
});

Deno.test("ClientCertificateVerifier.verify() checks e-mail addresses, in alternative names and in the subject, and URIs against their constraints", async () => {
  const ops = await pki.intermediate("Ops CA", {
    extensions: [
      nameConstraints({
        permitted: [tlv(0x81, ascii(".radar.example")), tlv(0x86, ascii("ops.radar.example"))],
      }),
    ],
  });
  const names = (...list: { type: "email" | "url"; value: string }[]) => [
    new x509.SubjectAlternativeNameExtension(list),
  ];
  assertAccepted(
    await check(
      await ops.client("XR1-OPS", {
        extensions: names(
          { type: "email", value: "ops@xr1.radar.example" },
          { type: "url", value: "https://ops.radar.example/xr1" },
        ),
      }),
    ),
  );
  assertRefused(
    await check(
      await ops.client("XR1-OPS", {
        extensions: names({ type: "email", value: "ops@radar.example" }),
      }),
    ),
    "untrusted_issuer",
    /: rfc822Name ops@radar\.example is not within a permitted subtree$/,
    /permitted subtree violation/,
  );
  assertRefused(
    await check(
      await ops.client("XR1-OPS", {
        extensions: names({ type: "url", value: "https://evil.example/xr1" }),
      }),
    ),
    "untrusted_issuer",
    /: uniformResourceIdentifier https:\/\/evil\.example\/xr1 is not within a permitted subtree$/,
    /permitted subtree violation/,
  );
  assertRefused(
    await check(await ops.client("XR1-OPS", { subject: "CN=XR1-OPS, E=ops@evil.example" })),
    "untrusted_issuer",
    /: rfc822Name ops@evil\.example is not within a permitted subtree$/,
    /permitted subtree violation/,
  );
});

Deno.test("ClientCertificateVerifier.verify() checks a host-name CN against DNS constraints when there is no DNS alternative name, ignores no trailing dot, and refuses what it cannot compare", async () => {
  const partner = await pki.intermediate("Partner DNS CA", {
    extensions: [
      nameConstraints({
        permitted: [dns(".partner.example")],
        excluded: [dns("bad.partner.example.")],
      }),
    ],
  });
  // The CN is the identity: one outside the permitted DNS subtree is refused, as OpenSSL does.
  assertRefused(
    await check(await partner.client("xr1.agency.example")),
    "untrusted_issuer",
    /: dNSName xr1\.agency\.example is not within a permitted subtree$/,
    /permitted subtree violation/,
  );
  assertAccepted(await check(await partner.client("xr1.partner.example")), "xr1.partner.example");
  // A CN that is no host name (no dot) is not a DNS name.
  assertAccepted(await check(await partner.client("XR1-OPS")));
  // The excluded "bad.partner.example." matches "bad.partner.example" and its trailing-dot form.
  for (const cn of ["bad.partner.example", "x.bad.partner.example."]) {
    const { verdict } = await check(await partner.client(cn));
    assert.equal(verdict.ok, false, cn);
  }
  // An IP alternative name of 5 bytes cannot be compared with an IP range: refused.
  const ranged = await pki.intermediate("Partner IP CA", {
    extensions: [nameConstraints({ excluded: [ipRange(10, 0, 0, 0, 255, 0, 0, 0)] })],
  });
  const odd = new x509.Extension(
    "2.5.29.17",
    false,
    tlv(0x30, tlv(0x87, Uint8Array.of(10, 1, 2, 3, 4))),
  );
  const { verdict } = await check(await ranged.client("XR1-OPS", { extensions: [odd] }));
  assert.equal(verdict.ok, false);
  assert.match(
    !verdict.ok ? verdict.detail : "",
    /an iPAddress of another length cannot be checked against them$/,
  );
});

Deno.test("ClientCertificateVerifier.verify() refuses a critical key identifier, as OpenSSL does", async () => {
  const keys = await crypto.subtle.generateKey(
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign", "verify"],
  );
  const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey, true);
  assertRefused(
    await check(await pki.client("XR1-OPS", { extensions: [ski] })),
    "untrusted_issuer",
    /has a critical extension this service does not understand \(2\.5\.29\.14\)$/,
    // The test PKI adds a key identifier of its own: OpenSSL calls the two invalid.
    /unhandled critical extension|invalid certificate/i,
  );
});
