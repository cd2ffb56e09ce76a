/**
 * Client certificates of radar connections checked against the configured
 * CA (`tls.clientCaFile`, SPEC §15): chain, validity period, key usage.
 *
 * Deno's `node:tls` requests a client certificate and hands it over, but
 * does not verify it against a CA (it reports `authorized: false` for a
 * correctly signed one), so the chain is verified here, with the maintained
 * `@peculiar/x509` and WebCrypto. The TLS handshake itself still proves that
 * the client holds the certificate's private key (its CertificateVerify
 * message is checked by the TLS stack:
 * `tests/sources/radar/tls_possession_test.ts` shows a client without the
 * key failing).
 *
 * Portable: web APIs only (and the pure-JS `@peculiar/x509`).
 *
 * @module
 */

import {
  type BasicConstraintsExtension,
  ExtendedKeyUsage,
  type ExtendedKeyUsageExtension,
  KeyUsageFlags,
  type KeyUsagesExtension,
  X509Certificate,
} from "./_x509.ts";

/** Why a client certificate was refused (`connections_refused_<reason>`). */
export type CertificateProblem =
  | "no_certificate"
  | "untrusted_issuer"
  | "expired"
  | "not_yet_valid"
  | "bad_key_usage"
  | "no_identity";

/** What {@link ClientCertificateVerifier.verify} found. */
export type CertificateVerdict =
  | { ok: true; /** The subject CN: the client identity. */ client: string }
  | { ok: false; reason: CertificateProblem; /** In words, for the log. */ detail: string };

const ID_BASIC_CONSTRAINTS = "2.5.29.19";
const ID_KEY_USAGE = "2.5.29.15";
const ID_EXT_KEY_USAGE = "2.5.29.37";
/** Intermediates between a client certificate and the CA, at most. */
const MAX_DEPTH = 4;

/**
 * Verifies client certificate chains against the CA certificates of one
 * PEM file.
 *
 * A chain is accepted when the client's certificate (followed by any
 * intermediates the client sent) leads by issuer name and signature to one
 * of the CA certificates, every certificate on the way is valid at the
 * time of the check, intermediates are CAs, and the client's certificate
 * may be used for TLS client authentication (key usage `digitalSignature`
 * and extended key usage `clientAuth`, where those extensions are present).
 * Its subject CN is the client identity.
 *
 * @example A certificate issued by the CA, and a self-signed one with the same name
 * ```ts
 * import assert from "node:assert/strict";
 * import * as x509 from "./_x509.ts";
 * import { ClientCertificateVerifier } from "./client_certificate_verifier.ts";
 *
 * const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
 * const caKeys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
 * const ca = await x509.X509CertificateGenerator.createSelfSigned({
 *   name: "CN=Radar CA", keys: caKeys, signingAlgorithm: alg,
 *   notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
 *   extensions: [new x509.BasicConstraintsExtension(true, undefined, true)],
 * });
 * const keys = await crypto.subtle.generateKey(alg, true, ["sign", "verify"]);
 * const client = await x509.X509CertificateGenerator.create({
 *   subject: "CN=XR1-OPS", issuer: ca.subject, publicKey: keys.publicKey,
 *   signingKey: caKeys.privateKey, signingAlgorithm: alg,
 *   notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
 * });
 * const forged = await x509.X509CertificateGenerator.createSelfSigned({
 *   name: "CN=XR1-OPS", keys, signingAlgorithm: alg,
 *   notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 3_600_000),
 * });
 * const verifier = new ClientCertificateVerifier(ca.toString("pem"));
 * assert.deepEqual(await verifier.verify([new Uint8Array(client.rawData)]), { ok: true, client: "XR1-OPS" });
 * assert.equal((await verifier.verify([new Uint8Array(forged.rawData)])).ok, false);
 * ```
 */
export class ClientCertificateVerifier {
  #authorities: X509Certificate[];

  /** Reads the CA certificates of a PEM text; throws a `TypeError` if it holds none. */
  constructor(caPem: string) {
    const blocks = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
    if (blocks === null) {
      throw new TypeError("Cannot read the client CA: no PEM certificate in it");
    }
    this.#authorities = blocks.map((block) => {
      try {
        return new X509Certificate(block);
      } catch (error) {
        throw new TypeError(`Cannot read the client CA: ${(error as Error).message}`, {
          cause: error,
        });
      }
    });
  }

  /**
   * Checks a chain as the client sent it (DER, its own certificate first) at
   * time `now`.
   */
  async verify(
    chain: readonly Uint8Array<ArrayBuffer>[],
    now: Date = new Date(),
  ): Promise<CertificateVerdict> {
    if (chain.length === 0) {
      return { ok: false, reason: "no_certificate", detail: "the client sent no certificate" };
    }
    let certificates: X509Certificate[];
    try {
      certificates = chain.map((der) => new X509Certificate(der));
    } catch (error) {
      return {
        ok: false,
        reason: "untrusted_issuer",
        detail: `cannot parse the client certificate: ${(error as Error).message}`,
      };
    }
    const leaf = certificates[0];
    const usage = usageProblem(leaf);
    if (usage !== undefined) return { ok: false, reason: "bad_key_usage", detail: usage };
    let current = leaf;
    for (let depth = 0; depth <= MAX_DEPTH; depth++) {
      const time = timeProblem(current, now);
      if (time !== undefined) return time;
      const authority = await this.#issuedByAuthority(current);
      if (authority !== undefined) {
        const caTime = timeProblem(authority, now);
        if (caTime !== undefined) return caTime;
        const client = commonName(leaf);
        if (client === undefined) {
          return {
            ok: false,
            reason: "no_identity",
            detail: `the certificate of ${leaf.subject} has no subject CN`,
          };
        }
        return { ok: true, client };
      }
      // Not the CA's own: an intermediate the client sent may have issued it.
      const next = certificates.find((c) => c !== current && c.subject === current.issuer);
      if (next === undefined || !isCa(next) || !(await signedBy(current, next))) break;
      current = next;
    }
    return {
      ok: false,
      reason: "untrusted_issuer",
      detail:
        `the certificate of ${leaf.subject} (issuer ${leaf.issuer}) does not chain to the client CA`,
    };
  }

  async #issuedByAuthority(certificate: X509Certificate): Promise<X509Certificate | undefined> {
    for (const authority of this.#authorities) {
      if (authority.subject !== certificate.issuer) continue;
      if (await signedBy(certificate, authority)) return authority;
    }
    return undefined;
  }
}

async function signedBy(certificate: X509Certificate, issuer: X509Certificate): Promise<boolean> {
  try {
    return await certificate.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    // An algorithm WebCrypto does not have, or a malformed key: not trusted.
    return false;
  }
}

function timeProblem(certificate: X509Certificate, now: Date): CertificateVerdict | undefined {
  if (now < certificate.notBefore) {
    return {
      ok: false,
      reason: "not_yet_valid",
      detail:
        `the certificate of ${certificate.subject} is valid only from ${certificate.notBefore.toISOString()}`,
    };
  }
  if (now > certificate.notAfter) {
    return {
      ok: false,
      reason: "expired",
      detail:
        `the certificate of ${certificate.subject} expired at ${certificate.notAfter.toISOString()}`,
    };
  }
  return undefined;
}

function isCa(certificate: X509Certificate): boolean {
  const basic = certificate.getExtension<BasicConstraintsExtension>(ID_BASIC_CONSTRAINTS);
  return basic !== null && basic.ca;
}

/** RFC 5280 §4.2.1.3 and §4.2.1.12: what the key of a client certificate may be used for. */
function usageProblem(certificate: X509Certificate): string | undefined {
  const keyUsage = certificate.getExtension<KeyUsagesExtension>(ID_KEY_USAGE);
  if (keyUsage !== null && (keyUsage.usages & KeyUsageFlags.digitalSignature) === 0) {
    return `the key of ${certificate.subject} may not sign (no digitalSignature key usage)`;
  }
  const extended = certificate.getExtension<ExtendedKeyUsageExtension>(ID_EXT_KEY_USAGE);
  if (
    extended !== null && !extended.usages.includes(ExtendedKeyUsage.clientAuth) &&
    !extended.usages.includes("2.5.29.37.0") // anyExtendedKeyUsage
  ) {
    return `the certificate of ${certificate.subject} is not for TLS clients (no clientAuth extended key usage)`;
  }
  return undefined;
}

function commonName(certificate: X509Certificate): string | undefined {
  const names = certificate.subjectName.getField("CN");
  return names.length > 0 && names[0] !== "" ? names[0] : undefined;
}
