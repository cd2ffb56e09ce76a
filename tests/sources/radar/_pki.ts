/**
 * A throwaway PKI for TLS tests, made fresh by every test run (no key is
 * committed): a radar CA, a server certificate for 127.0.0.1, and client
 * certificates good and bad.
 */

import * as x509 from "../../../sources/radar/_x509.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const HOUR = 3_600_000;

/** A certificate and its key, PEM. */
export interface Issued {
  cert: string;
  key: string;
}

/** What {@link makePki} makes. */
export interface Pki {
  /** The radar CA's certificate (PEM): `tls.clientCa`. */
  ca: string;
  /** The listener's certificate and key, for 127.0.0.1. */
  server: Issued;
  /** Issues a client certificate with the CA (or self-signed), as asked. */
  client(cn: string, options?: ClientOptions): Promise<Issued>;
}

/** How {@link Pki.client} makes a certificate. */
export interface ClientOptions {
  /** Valid from (default an hour ago). */
  notBefore?: Date;
  /** Valid until (default in an hour). */
  notAfter?: Date;
  /** Sign it with its own key instead of the CA's. */
  selfSigned?: boolean;
  /** Extended key usage (default clientAuth). */
  extendedKeyUsage?: string[];
}

async function pem(key: CryptoKey): Promise<string> {
  const der = new Uint8Array(await crypto.subtle.exportKey("pkcs8", key));
  const b64 = btoa(String.fromCharCode(...der)).replace(/.{64}/g, "$&\n");
  return `-----BEGIN PRIVATE KEY-----\n${b64}\n-----END PRIVATE KEY-----\n`;
}

let serial = 1;
function nextSerial(): string {
  return (serial++).toString(16).padStart(4, "0");
}

/** A CA and a server certificate signed by it. */
export async function makePki(): Promise<Pki> {
  const now = Date.now();
  const caKeys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: nextSerial(),
    name: "CN=Test Radar CA",
    keys: caKeys,
    signingAlgorithm: ALG,
    notBefore: new Date(now - HOUR),
    notAfter: new Date(now + HOUR),
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
    ],
  });
  const issue = async (
    cn: string,
    extensions: x509.Extension[],
    options: ClientOptions = {},
  ): Promise<Issued> => {
    const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
    const common = {
      serialNumber: nextSerial(),
      signingAlgorithm: ALG,
      notBefore: options.notBefore ?? new Date(now - HOUR),
      notAfter: options.notAfter ?? new Date(now + HOUR),
      extensions,
    };
    const cert = options.selfSigned
      ? await x509.X509CertificateGenerator.createSelfSigned({
        ...common,
        name: `CN=${cn}`,
        keys,
      })
      : await x509.X509CertificateGenerator.create({
        ...common,
        subject: `CN=${cn}`,
        issuer: ca.subject,
        publicKey: keys.publicKey,
        signingKey: caKeys.privateKey,
      });
    return { cert: cert.toString("pem"), key: await pem(keys.privateKey) };
  };
  const server = await issue("localhost", [
    new x509.SubjectAlternativeNameExtension([
      { type: "ip", value: "127.0.0.1" },
      { type: "dns", value: "localhost" },
    ]),
    new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
  ]);
  return {
    ca: ca.toString("pem"),
    server,
    client: (cn, options = {}) =>
      issue(cn, [
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension(
          options.extendedKeyUsage ?? [x509.ExtendedKeyUsage.clientAuth],
        ),
      ], options),
  };
}

/** The DER bytes of the first PEM block in `pem` (a certificate or a key). */
export function der(pem: string): Uint8Array<ArrayBuffer> {
  const b64 = pem.replace(/-----BEGIN [^-]+-----|-----END [^-]+-----[\s\S]*|\s/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** The ECDSA P-256 signing key of an {@link Issued} certificate. */
export function signingKey(issued: Issued): Promise<CryptoKey> {
  return crypto.subtle.importKey(
    "pkcs8",
    der(issued.key),
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["sign"],
  );
}
