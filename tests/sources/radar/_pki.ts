/**
 * A throwaway PKI for TLS tests, made fresh by every test run (no key is
 * committed): a radar CA, a server certificate for 127.0.0.1, and client
 * certificates good and bad, issued by the CA or by intermediates under it.
 */

import * as x509 from "../../../sources/radar/_x509.ts";

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const HOUR = 3_600_000;

/** A certificate and its key, PEM. */
export interface Issued {
  /**
   * The certificate, followed by the intermediates between it and the radar
   * CA, if any (what a client sends).
   */
  cert: string;
  key: string;
}

/** A CA that issues certificates: the radar CA, or an intermediate under it. */
export interface Authority {
  /** Issues a client certificate (or a self-signed one), as asked. */
  client(cn: string, options?: ClientOptions): Promise<Issued>;
  /** Issues an intermediate CA certificate, as asked. */
  intermediate(cn: string, options?: CaOptions): Promise<Authority>;
}

/** What {@link makePki} makes. */
export interface Pki extends Authority {
  /** The radar CA's certificate (PEM): `tls.clientCa`. */
  ca: string;
  /** The listener's certificate and key, for 127.0.0.1. */
  server: Issued;
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
  /** Mark it a CA (basicConstraints cA, key usage keyCertSign too). */
  ca?: boolean;
  /** Its subject name in full (default `CN=<cn>`). */
  subject?: string;
  /** More extensions. */
  extensions?: x509.Extension[];
}

/** How {@link makePki} makes the radar CA, and {@link Authority.intermediate} an intermediate. */
export interface CaOptions {
  /** Valid from (default an hour ago). */
  notBefore?: Date;
  /** Valid until (default in an hour). */
  notAfter?: Date;
  /** basicConstraints cA (default true); `null` leaves basicConstraints out. */
  ca?: boolean | null;
  /** basicConstraints pathLenConstraint (default none). */
  pathLength?: number;
  /** Key usage (default keyCertSign and cRLSign); `null` leaves it out. */
  keyUsage?: x509.KeyUsageFlags | null;
  /** Extended key usage (default none). */
  extendedKeyUsage?: string[];
  /** Its subject name in full (default `CN=<cn>`). */
  subject?: string;
  /** More extensions (name constraints, say). */
  extensions?: x509.Extension[];
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

function caExtensions(options: CaOptions): x509.Extension[] {
  const extensions: x509.Extension[] = [];
  if (options.ca !== null) {
    extensions.push(
      new x509.BasicConstraintsExtension(options.ca ?? true, options.pathLength, true),
    );
  }
  const keyUsage = options.keyUsage === undefined
    ? x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign
    : options.keyUsage;
  if (keyUsage !== null) extensions.push(new x509.KeyUsagesExtension(keyUsage, true));
  if (options.extendedKeyUsage !== undefined) {
    extensions.push(new x509.ExtendedKeyUsageExtension(options.extendedKeyUsage));
  }
  return [...extensions, ...options.extensions ?? []];
}

interface Made {
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
}

/** A certificate for `cn` with a new key, issued by `issuer` (or self-signed). */
async function make(
  issuer: Made,
  cn: string,
  extensions: x509.Extension[],
  options: { notBefore?: Date; notAfter?: Date; selfSigned?: boolean; subject?: string },
  now: number,
): Promise<Made> {
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const common = {
    serialNumber: nextSerial(),
    signingAlgorithm: ALG,
    notBefore: options.notBefore ?? new Date(now - HOUR),
    notAfter: options.notAfter ?? new Date(now + HOUR),
    extensions: options.selfSigned ? extensions : [
      ...extensions,
      // Key identifiers tell a CA from its self-issued successor (same
      // name, new key), which OpenSSL otherwise takes for a root.
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
      await x509.AuthorityKeyIdentifierExtension.create(issuer.keys.publicKey),
    ],
  };
  const cert = options.selfSigned
    ? await x509.X509CertificateGenerator.createSelfSigned({
      ...common,
      name: options.subject ?? `CN=${cn}`,
      keys,
    })
    : await x509.X509CertificateGenerator.create({
      ...common,
      subject: options.subject ?? `CN=${cn}`,
      issuer: issuer.cert.subject,
      publicKey: keys.publicKey,
      signingKey: issuer.keys.privateKey,
    });
  return { cert, keys };
}

/**
 * The CA `ca`; `above` are the PEM certificates of the intermediates from
 * it up to the radar CA (its own first, if it is one).
 */
function authority(ca: Made, above: string[], now: number): Authority {
  return {
    async client(cn, options = {}) {
      const { cert, keys } = await make(
        ca,
        cn,
        [
          ...(options.ca ? [new x509.BasicConstraintsExtension(true, undefined, true)] : []),
          new x509.KeyUsagesExtension(
            x509.KeyUsageFlags.digitalSignature |
              (options.ca ? x509.KeyUsageFlags.keyCertSign : 0),
            true,
          ),
          new x509.ExtendedKeyUsageExtension(
            options.extendedKeyUsage ?? [x509.ExtendedKeyUsage.clientAuth],
          ),
          ...options.extensions ?? [],
        ],
        options,
        now,
      );
      const chain = options.selfSigned ? [] : above;
      return {
        cert: [cert.toString("pem"), ...chain].join("\n") + "\n",
        key: await pem(keys.privateKey),
      };
    },
    async intermediate(cn, options = {}) {
      const made = await make(ca, cn, caExtensions(options), options, now);
      return authority(made, [made.cert.toString("pem"), ...above], now);
    },
  };
}

/** A CA (as asked) and a server certificate signed by it. */
export async function makePki(options: CaOptions = {}): Promise<Pki> {
  const now = Date.now();
  const keys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const ca = {
    cert: await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: nextSerial(),
      name: options.subject ?? "CN=Test Radar CA",
      keys,
      signingAlgorithm: ALG,
      notBefore: options.notBefore ?? new Date(now - HOUR),
      notAfter: options.notAfter ?? new Date(now + HOUR),
      extensions: caExtensions(options),
    }),
    keys,
  };
  const server = await make(
    ca,
    "localhost",
    [
      new x509.SubjectAlternativeNameExtension([
        { type: "ip", value: "127.0.0.1" },
        { type: "dns", value: "localhost" },
      ]),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
    ],
    {},
    now,
  );
  return {
    ca: ca.cert.toString("pem"),
    server: { cert: server.cert.toString("pem"), key: await pem(server.keys.privateKey) },
    ...authority(ca, [], now),
  };
}

/** The DER bytes of the first PEM block in `pem` (a certificate or a key). */
export function der(pem: string): Uint8Array<ArrayBuffer> {
  const b64 = pem.replace(/-----BEGIN [^-]+-----|-----END [^-]+-----[\s\S]*|\s/g, "");
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

/** The DER bytes of every PEM certificate in `pem`, in order (a client's chain). */
export function chainDer(pem: string): Uint8Array<ArrayBuffer>[] {
  return (pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [])
    .map(der);
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
