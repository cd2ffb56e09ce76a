/**
 * Whether a TLS private key belongs to its certificate: a listener given a
 * mismatched pair starts, then fails every handshake — and the peers get
 * the blame. Checked before anything listens.
 *
 * Runtime adapter: uses `node:crypto`.
 *
 * @module
 */

import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";

/** Why `keyPem` is not the private key of the first certificate in `certPem`, or undefined when it is. */
export function keyPairProblem(certPem: string, keyPem: string): string | undefined {
  let certificateKey: Uint8Array;
  try {
    certificateKey = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  } catch {
    return "the certificate file holds no PEM certificate that can be read";
  }
  let ownKey: Uint8Array;
  try {
    ownKey = createPublicKey(createPrivateKey(keyPem)).export({ type: "spki", format: "der" });
  } catch {
    // Never the error's text: it could quote the key.
    return "the key file holds no PEM private key that can be read";
  }
  const same = certificateKey.length === ownKey.length &&
    certificateKey.every((byte, i) => byte === ownKey[i]);
  return same
    ? undefined
    : "the private key does not belong to the certificate (their public keys differ)";
}
