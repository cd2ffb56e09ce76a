/**
 * ClientCertificateVerifier with intermediates: the CA constraints of
 * RFC 5280 §6.1.4 (k)–(n) and OpenSSL's checks for a TLS client's chain.
 * Every case also runs `openssl verify -purpose sslclient` on the same
 * certificates, so a difference from OpenSSL shows (the one intended: a CA
 * certificate as the client's own is refused here).
 */

import assert from "node:assert/strict";
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
