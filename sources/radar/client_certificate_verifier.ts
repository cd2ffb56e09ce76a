/**
 * Client certificates of radar connections checked against the configured
 * CA (`tls.clientCaFile`, SPEC §15): chain, validity period, CA constraints,
 * key usage.
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
import { nameConstraintProblem, parseNameConstraints } from "./_name_constraints.ts";

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
  | {
    ok: true;
    /** The subject CN: the client identity. */
    client: string;
    /** When the first certificate of the chain (the CA's included) expires. */
    validUntil: Date;
  }
  | { ok: false; reason: CertificateProblem; /** In words, for the log. */ detail: string };

const ID_BASIC_CONSTRAINTS = "2.5.29.19";
const ID_KEY_USAGE = "2.5.29.15";
const ID_EXT_KEY_USAGE = "2.5.29.37";
const ANY_EXTENDED_KEY_USAGE = "2.5.29.37.0";
const ID_SUBJECT_ALT_NAME = "2.5.29.17";
const ID_NAME_CONSTRAINTS = "2.5.29.30";
/**
 * Extensions a certificate on the path may mark critical — those OpenSSL
 * handles: the ones checked here, subject alternative names, and the
 * policy extensions (no policy is required of a client, and without one
 * required RFC 5280's policy processing refuses nothing). A critical key
 * identifier or issuer alternative name is refused, as OpenSSL refuses it.
 */
const UNDERSTOOD = new Set([
  ID_BASIC_CONSTRAINTS,
  ID_KEY_USAGE,
  ID_EXT_KEY_USAGE,
  ID_SUBJECT_ALT_NAME,
  ID_NAME_CONSTRAINTS,
  "2.5.29.32", // certificatePolicies
  "2.5.29.33", // policyMappings
  "2.5.29.36", // policyConstraints
  "2.5.29.54", // inhibitAnyPolicy
]);
/** Intermediates between a client certificate and the CA, at most. */
const MAX_DEPTH = 4;

/**
 * Verifies client certificate chains against the CA certificates of one
 * PEM file.
 *
 * A chain is accepted when the client's certificate (followed by any
 * intermediates the client sent) leads by issuer name and signature to one
 * of the CA certificates (or is one of them, as OpenSSL takes a certificate
 * it trusts as it is), and, after RFC 5280 §6.1 and OpenSSL's checks for a
 * TLS client (`openssl verify -purpose sslclient`):
 *
 * - every certificate on the way, the CA's included, is valid at the time
 *   of the check;
 * - the client's certificate is not a CA, and may be used for TLS client
 *   authentication (key usage `digitalSignature` and extended key usage
 *   `clientAuth`, where those extensions are present);
 * - every certificate that issued one on the way is a CA (basicConstraints
 *   `cA`; RFC 5280 §6.1.4 (k)), its key may sign certificates (key usage
 *   `keyCertSign` where present; (n)), and its extended key usage, where
 *   present, allows `clientAuth` too, as OpenSSL requires of a client's CAs;
 * - no CA has more intermediates below it than its `pathLenConstraint`
 *   allows, self-issued ones (a CA's key rollover) not counted ((l), (m));
 * - the names of every certificate below a CA with `nameConstraints` — its
 *   subject name (whose CN is the client identity), e-mail addresses in it,
 *   and its subject alternative names — lie within the CA's permitted
 *   subtrees and outside its excluded ones (§4.2.1.10, §6.1.4 (g); the
 *   configured CA's too, as OpenSSL does; self-issued intermediates are
 *   not held to them);
 * - no certificate has a critical extension not understood here (§4.2).
 *
 * The configured CA certificate is held to the same constraints as the
 * intermediates, as OpenSSL does, except that one without basicConstraints
 * is taken when it is a version 1 root (no extensions at all) or has a key
 * usage with `keyCertSign`. `anyExtendedKeyUsage` counts as `clientAuth`
 * (RFC 5280 §4.2.1.12), where OpenSSL 3.0 wants `clientAuth` named.
 *
 * Its subject CN is the client identity. A chain that does not lead to the
 * CA is refused as `untrusted_issuer`, as is one through a certificate that
 * is not a CA or breaks a path length constraint; a certificate used for
 * what its key usage or extended key usage does not allow (a client's key
 * that may not sign, a CA certificate as the client's, a CA key that may
 * not sign certificates) as `bad_key_usage`.
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
 *   notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + 7_200_000),
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
 * const verdict = await verifier.verify([new Uint8Array(client.rawData)]);
 * assert.ok(verdict.ok);
 * assert.equal(verdict.client, "XR1-OPS");
 * assert.deepEqual(verdict.validUntil, client.notAfter); // the connection is closed then
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
    const path = await this.#path(certificates);
    if (path === "too long") {
      return {
        ok: false,
        reason: "untrusted_issuer",
        detail: `the chain of ${leaf.subject} has more than ${MAX_DEPTH} intermediate CAs`,
      };
    }
    if (path === undefined) {
      return {
        ok: false,
        reason: "untrusted_issuer",
        detail:
          `the certificate of ${leaf.subject} (issuer ${leaf.issuer}) does not chain to the client CA`,
      };
    }
    const problem = pathProblem(path, now);
    if (problem !== undefined) return problem;
    const client = commonName(leaf);
    if (client === undefined) {
      return {
        ok: false,
        reason: "no_identity",
        detail: `the certificate of ${leaf.subject} has no subject CN`,
      };
    }
    const validUntil = new Date(Math.min(...path.map((c) => c.notAfter.getTime())));
    return { ok: true, client, validUntil };
  }

  /**
   * The certificates from the client's to a CA certificate, each issued by
   * the next (by name and signature): the client's, the intermediates, the
   * CA's — or the client's alone when it is in the CA file itself. None if
   * there is no such path; `"too long"` past {@link MAX_DEPTH} intermediates.
   */
  async #path(
    certificates: X509Certificate[],
  ): Promise<X509Certificate[] | "too long" | undefined> {
    const path = [certificates[0]];
    if (this.#authorities.some((authority) => authority.equal(path[0]))) return path;
    for (;;) {
      const current = path[path.length - 1];
      const authority = await this.#issuedByAuthority(current);
      if (authority !== undefined) return [...path, authority];
      if (path.length > MAX_DEPTH) return "too long";
      // Not the CA's own: an intermediate the client sent may have issued it.
      let next: X509Certificate | undefined;
      for (const candidate of certificates) {
        if (path.includes(candidate) || candidate.subject !== current.issuer) continue;
        if (await signedBy(current, candidate)) {
          next = candidate;
          break;
        }
      }
      if (next === undefined) return undefined;
      path.push(next);
    }
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

/**
 * The first reason to refuse a path (the client's certificate first, the
 * CA's last), looking from the client's certificate up.
 */
function pathProblem(path: X509Certificate[], now: Date): CertificateVerdict | undefined {
  const leaf = path[0];
  // A certificate in the CA file sent as it is (pinned) is trusted as it
  // is, as OpenSSL does — `openssl req -x509` marks such one a CA.
  const usage = clientUsageProblem(leaf, path.length === 1);
  if (usage !== undefined) return { ok: false, reason: "bad_key_usage", detail: usage };
  const leafTime = timeProblem(leaf, now);
  if (leafTime !== undefined) return leafTime;
  for (const certificate of path) {
    const unknown = certificate.extensions.find((e) => e.critical && !UNDERSTOOD.has(e.type));
    if (unknown !== undefined) {
      return {
        ok: false,
        reason: "untrusted_issuer",
        detail:
          `the certificate of ${certificate.subject} has a critical extension this service does not understand (${unknown.type})`,
      };
    }
  }
  // Non-self-issued intermediates between the CA at `i` and the client's
  // certificate: what its pathLenConstraint limits (RFC 5280 §6.1.4 (l), (m)).
  let below = 0;
  for (let i = 1; i < path.length; i++) {
    const ca = path[i];
    const issued = path[i - 1];
    const basic = ca.getExtension<BasicConstraintsExtension>(ID_BASIC_CONSTRAINTS);
    if (!isCa(ca, basic, i === path.length - 1)) {
      return {
        ok: false,
        reason: "untrusted_issuer",
        detail: `${ca.subject}, which issued ${issued.subject}, is not a CA (${
          basic === null ? "no basicConstraints" : "basicConstraints cA is false"
        })`,
      };
    }
    const usage = caUsageProblem(ca, issued);
    if (usage !== undefined) return { ok: false, reason: "bad_key_usage", detail: usage };
    const limit = basic?.pathLength;
    if (limit !== undefined && below > limit) {
      return {
        ok: false,
        reason: "untrusted_issuer",
        detail: `path length constraint exceeded: ${ca.subject} allows ${limit} intermediate ${
          limit === 1 ? "CA" : "CAs"
        } below it (pathLenConstraint), the chain to ${leaf.subject} has ${below}`,
      };
    }
    const time = timeProblem(ca, now);
    if (time !== undefined) return time;
    const names = namesProblem(path, i);
    if (names !== undefined) return { ok: false, reason: "untrusted_issuer", detail: names };
    if (ca.subject !== ca.issuer) below++;
  }
  return undefined;
}

/**
 * Why a certificate below the CA at `path[i]` breaks the CA's name
 * constraints, if it has any and one does (RFC 5280 §6.1.4 (g)): the
 * client's certificate and every intermediate between, but self-issued ones.
 */
function namesProblem(path: X509Certificate[], i: number): string | undefined {
  const ca = path[i];
  const extension = ca.getExtension(ID_NAME_CONSTRAINTS);
  if (extension === null) return undefined;
  let constraints;
  try {
    constraints = parseNameConstraints(new Uint8Array(extension.value));
  } catch (error) {
    return `cannot read the name constraints of ${ca.subject}: ${(error as Error).message}`;
  }
  for (let j = i - 1; j >= 0; j--) {
    const certificate = path[j];
    if (j > 0 && certificate.subject === certificate.issuer) continue;
    const altNames = certificate.getExtension(ID_SUBJECT_ALT_NAME);
    let problem;
    try {
      problem = nameConstraintProblem(constraints, {
        subject: new Uint8Array(certificate.subjectName.toArrayBuffer()),
        leaf: j === 0,
        ...(altNames !== null ? { altNames: new Uint8Array(altNames.value) } : {}),
      });
    } catch (error) {
      problem = `its names cannot be read (${(error as Error).message})`;
    }
    if (problem !== undefined) {
      return `the certificate of ${certificate.subject} breaks the name constraints of ${ca.subject}: ${problem}`;
    }
  }
  return undefined;
}

/**
 * RFC 5280 §6.1.4 (k): whether a certificate that issued another is a CA.
 * Without basicConstraints, OpenSSL still takes the CA it trusts (`anchor`)
 * when it is a version 1 root (which cannot have extensions) or has a key
 * usage (checked apart for `keyCertSign`); an intermediate, never.
 */
function isCa(
  certificate: X509Certificate,
  basic: BasicConstraintsExtension | null,
  anchor: boolean,
): boolean {
  if (basic !== null) return basic.ca;
  return anchor && (certificate.extensions.length === 0 ||
    certificate.getExtension<KeyUsagesExtension>(ID_KEY_USAGE) !== null);
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

/**
 * RFC 5280 §4.2.1.3, §4.2.1.9 and §4.2.1.12: what the key of a client
 * certificate may be used for, and that it is not a CA's.
 */
function clientUsageProblem(certificate: X509Certificate, pinned: boolean): string | undefined {
  const basic = certificate.getExtension<BasicConstraintsExtension>(ID_BASIC_CONSTRAINTS);
  if (basic !== null && basic.ca && !pinned) {
    return `the certificate of ${certificate.subject} is a CA certificate (basicConstraints cA), not a client's`;
  }
  const keyUsage = certificate.getExtension<KeyUsagesExtension>(ID_KEY_USAGE);
  if (keyUsage !== null && (keyUsage.usages & KeyUsageFlags.digitalSignature) === 0) {
    return `the key of ${certificate.subject} may not sign (no digitalSignature key usage)`;
  }
  if (!allowsClientAuth(certificate)) {
    return `the certificate of ${certificate.subject} is not for TLS clients (no clientAuth extended key usage)`;
  }
  return undefined;
}

/**
 * RFC 5280 §6.1.4 (n) and OpenSSL's purpose check of a TLS client's CAs:
 * what the key of a certificate that issued `issued` must be allowed.
 */
function caUsageProblem(ca: X509Certificate, issued: X509Certificate): string | undefined {
  const keyUsage = ca.getExtension<KeyUsagesExtension>(ID_KEY_USAGE);
  if (keyUsage !== null && (keyUsage.usages & KeyUsageFlags.keyCertSign) === 0) {
    return `the key of ${ca.subject}, which issued ${issued.subject}, may not sign certificates (no keyCertSign key usage)`;
  }
  if (!allowsClientAuth(ca)) {
    return `${ca.subject}, which issued ${issued.subject}, is not for TLS client certificates (no clientAuth extended key usage)`;
  }
  return undefined;
}

function allowsClientAuth(certificate: X509Certificate): boolean {
  const extended = certificate.getExtension<ExtendedKeyUsageExtension>(ID_EXT_KEY_USAGE);
  return extended === null || extended.usages.includes(ExtendedKeyUsage.clientAuth) ||
    extended.usages.includes(ANY_EXTENDED_KEY_USAGE);
}

function commonName(certificate: X509Certificate): string | undefined {
  const names = certificate.subjectName.getField("CN");
  return names.length > 0 && names[0] !== "" ? names[0] : undefined;
}
