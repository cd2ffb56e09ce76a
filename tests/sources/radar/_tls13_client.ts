/**
 * A minimal TLS 1.3 client (RFC 8446) for tests that must do what no TLS
 * library lets a client do: present a certificate and sign its
 * CertificateVerify with another key, send a garbage signature, or skip the
 * CertificateVerify altogether. Deno, Node, OpenSSL and Python all refuse to
 * load a certificate with a key that does not match it, so they cannot show
 * that a server checks possession of the key.
 *
 * One configuration only, enough to talk to the radar TLS listener: X25519
 * key share, TLS_AES_128_GCM_SHA256, ecdsa_secp256r1_sha256 signatures, no
 * resumption, no HelloRetryRequest. WebCrypto does all the cryptography.
 * The server's certificate chain is not verified (the tests trust loopback),
 * but its CertificateVerify signature and its Finished are, so a mistake in
 * the key schedule or in the signed content fails here rather than passing
 * for a refusal by the server.
 *
 * Test-only code: it runs on `Deno.connect`.
 *
 * @module
 */

import {
  aesKey,
  ALERT,
  APPLICATION_DATA,
  type Bytes,
  CERTIFICATE,
  CERTIFICATE_REQUEST,
  CERTIFICATE_VERIFY,
  CHANGE_CIPHER_SPEC,
  CLIENT_HELLO,
  type ClientIdentity,
  concat,
  ECDSA_SECP256R1_SHA256,
  enc,
  equal,
  extension,
  FINISHED,
  HANDSHAKE,
  handshakeMessage,
  HandshakeReader,
  hex,
  hmac,
  plainRecord,
  Reader,
  type RecordProtection,
  SERVER_HELLO,
  sha256,
  signEcdsa,
  TlsAlertError,
  type TlsClientOptions,
  type TlsRecord,
  TlsTestClient,
  Transcript,
  u16,
  vec16,
  vec24,
  vec8,
  verifyServerSignature,
  writeAll,
  X25519,
  x25519Share,
  x25519Shared,
} from "./_tls_wire.ts";

const ENCRYPTED_EXTENSIONS = 8;
const TLS_AES_128_GCM_SHA256 = 0x1301;
const TLS13 = 0x0304;

/** SHA-256("HelloRetryRequest"): a ServerHello with this random asks for another key share. */
const HELLO_RETRY_RANDOM = "cf21ad74e59a6111be1d8c021e65b891c2a211167abb8c5e079e09e2c8a8339c";

/**
 * One TLS 1.3 connection: {@link Tls13Client.connect} runs the handshake up
 * to and including the client's Finished. In TLS 1.3 the server's verdict on
 * the client's certificate flight comes after that, so it is in
 * {@link TlsTestClient.outcome}.
 */
export class Tls13Client extends TlsTestClient {
  private constructor(conn: Deno.TcpConn, timeoutMs: number) {
    super(conn, timeoutMs);
  }

  /**
   * Connects and runs the handshake; resolves once the client's Finished is
   * sent. Rejects with {@link TlsAlertError} if the server sends an alert
   * before that, and with an `Error` if the server's messages do not check out.
   */
  static async connect(options: TlsClientOptions): Promise<Tls13Client> {
    const conn = await Deno.connect({ hostname: options.hostname, port: options.port });
    const client = new Tls13Client(conn, options.timeoutMs ?? 10_000);
    try {
      await client.#handshake(options.identity);
    } catch (error) {
      await client.abandon(error);
      throw error;
    }
    return client;
  }

  async #handshake(identity: ClientIdentity | undefined): Promise<void> {
    const transcript = new Transcript();
    const share = await x25519Share();
    const hello = clientHello(share.public);
    transcript.add(hello);
    // RFC 8446 §5.1: the first record says TLS 1.0 for old middleboxes.
    await writeAll(this.conn, plainRecord(HANDSHAKE, hello, 0x0301));

    // ServerHello, in plaintext.
    const plain = new HandshakeReader();
    let serverHello: Bytes | undefined;
    while (serverHello === undefined) {
      const record = await this.records.expect();
      if (record.type === ALERT) throw new TlsAlertError(record.fragment[1]);
      if (record.type !== HANDSHAKE) {
        throw new Error(`Expected a ServerHello, received a record of type ${record.type}`);
      }
      plain.push(record.fragment);
      serverHello = plain.next();
    }
    transcript.add(serverHello);
    const shared = await x25519Shared(share.keys, parseServerHello(serverHello));

    // RFC 8446 §7.1 key schedule, without a PSK.
    const zeros = new Uint8Array(32);
    const emptyHash = await sha256(new Uint8Array());
    const early = await hkdfExtract(zeros, zeros);
    const handshakeSecret = await hkdfExtract(
      await deriveSecret(early, "derived", emptyHash),
      shared,
    );
    const helloHash = await transcript.hash();
    const clientHs = await deriveSecret(handshakeSecret, "c hs traffic", helloHash);
    const serverHs = await deriveSecret(handshakeSecret, "s hs traffic", helloHash);
    const master = await hkdfExtract(
      await deriveSecret(handshakeSecret, "derived", emptyHash),
      zeros,
    );
    this.opener = await Protection13.create(serverHs);
    const handshakeSealer = await Protection13.create(clientHs);

    // The server's encrypted flight, up to its Finished.
    const messages = new HandshakeReader();
    let requestContext: Bytes | undefined;
    let serverCertificate: Bytes | undefined;
    for (let finished = false; !finished;) {
      let message = messages.next();
      while (message === undefined) {
        const record = await this.records.expect();
        // A compatibility ChangeCipherSpec (RFC 8446 §D.4) carries nothing.
        if (record.type === CHANGE_CIPHER_SPEC) continue;
        const inner = await this.opener.open(record);
        if (inner.type === ALERT) throw new TlsAlertError(inner.content[1]);
        if (inner.type !== HANDSHAKE) {
          throw new Error(`Expected a handshake message, received content of type ${inner.type}`);
        }
        messages.push(inner.content);
        message = messages.next();
      }
      const body = message.subarray(4);
      switch (message[0]) {
        case ENCRYPTED_EXTENSIONS:
          break;
        case CERTIFICATE_REQUEST:
          requestContext = new Reader(body).vec8();
          this.certificateRequested = true;
          break;
        case CERTIFICATE:
          serverCertificate = firstCertificate(body);
          break;
        case CERTIFICATE_VERIFY: {
          if (serverCertificate === undefined) {
            throw new Error("CertificateVerify before Certificate");
          }
          const reader = new Reader(body);
          await verifyServerSignature(
            serverCertificate,
            reader.u16(),
            reader.vec16(),
            signedContent("server", await transcript.hash()),
            "CertificateVerify",
          );
          break;
        }
        case FINISHED: {
          const expected = await finishedMac(serverHs, await transcript.hash());
          if (!equal(body, expected)) throw new Error("The server's Finished does not verify");
          finished = true;
          break;
        }
        default:
          throw new Error(`Unexpected handshake message ${message[0]} from the server`);
      }
      transcript.add(message);
    }
    const serverFinishedHash = await transcript.hash();
    const clientAp = await deriveSecret(master, "c ap traffic", serverFinishedHash);
    const serverAp = await deriveSecret(master, "s ap traffic", serverFinishedHash);

    // The client's flight: Certificate, CertificateVerify (or not), Finished.
    const flight: Bytes[] = [];
    if (requestContext !== undefined) {
      const chain = identity?.chain ?? [];
      const certificate = handshakeMessage(
        CERTIFICATE,
        concat(
          vec8(requestContext),
          // Each CertificateEntry: the DER, then no extensions.
          vec24(concat(...chain.map((der) => concat(vec24(der), vec16(new Uint8Array()))))),
        ),
      );
      transcript.add(certificate);
      flight.push(certificate);
      if (chain.length > 0 && identity !== undefined && identity.verify !== "omit") {
        const plan = identity.verify;
        const signature = "sign" in plan
          ? await signEcdsa(plan.sign, signedContent("client", await transcript.hash()))
          : plan.signature;
        const verify = handshakeMessage(
          CERTIFICATE_VERIFY,
          concat(u16(ECDSA_SECP256R1_SHA256), vec16(signature)),
        );
        transcript.add(verify);
        flight.push(verify);
      }
    }
    const finished = handshakeMessage(
      FINISHED,
      await finishedMac(clientHs, await transcript.hash()),
    );
    flight.push(finished);
    await writeAll(this.conn, await handshakeSealer.seal(HANDSHAKE, concat(...flight)));

    this.sealer = await Protection13.create(clientAp);
    this.opener = await Protection13.create(serverAp);
  }
}

/** The content a TLS 1.3 CertificateVerify signs (RFC 8446 §4.4.3). */
export function signedContent(side: "client" | "server", transcriptHash: Bytes): Bytes {
  return concat(
    new Uint8Array(64).fill(0x20),
    enc.encode(`TLS 1.3, ${side} CertificateVerify`),
    new Uint8Array([0]),
    transcriptHash,
  );
}

function clientHello(publicShare: Bytes): Bytes {
  const extensions = concat(
    // supported_versions: TLS 1.3 only.
    extension(43, vec8(u16(TLS13))),
    extension(10, vec16(u16(X25519))),
    extension(13, vec16(u16(ECDSA_SECP256R1_SHA256))),
    extension(51, vec16(concat(u16(X25519), vec16(publicShare)))),
  );
  return handshakeMessage(
    CLIENT_HELLO,
    concat(
      u16(0x0303),
      crypto.getRandomValues(new Uint8Array(32)),
      // A legacy session id, as most clients send (RFC 8446 §D.4).
      vec8(crypto.getRandomValues(new Uint8Array(32))),
      vec16(u16(TLS_AES_128_GCM_SHA256)),
      vec8(new Uint8Array([0])),
      vec16(extensions),
    ),
  );
}

/** The server's X25519 share, after checking that TLS 1.3 and our suite were chosen. */
function parseServerHello(message: Bytes): Bytes {
  if (message[0] !== SERVER_HELLO) {
    throw new Error(`Expected a ServerHello, received ${message[0]}`);
  }
  const reader = new Reader(message.subarray(4));
  reader.u16();
  if (hex(reader.bytes(32)) === HELLO_RETRY_RANDOM) {
    throw new Error("The server asked for a HelloRetryRequest, which this client does not do");
  }
  reader.vec8();
  const suite = reader.u16();
  if (suite !== TLS_AES_128_GCM_SHA256) throw new Error(`The server chose suite ${suite}`);
  reader.u8();
  const extensions = new Reader(reader.vec16());
  let version = 0;
  let share: Bytes | undefined;
  while (!extensions.done) {
    const type = extensions.u16();
    const data = new Reader(extensions.vec16());
    if (type === 43) version = data.u16();
    if (type === 51) {
      const group = data.u16();
      if (group !== X25519) throw new Error(`The server chose group ${group}`);
      share = data.vec16();
    }
  }
  if (version !== TLS13) throw new Error(`The server chose version ${version.toString(16)}`);
  if (share === undefined) throw new Error("The ServerHello has no key share");
  return share;
}

function firstCertificate(body: Bytes): Bytes {
  const reader = new Reader(body);
  reader.vec8();
  return new Reader(reader.vec24()).vec24();
}

/** AES-128-GCM record protection for one direction (RFC 8446 §5.2, §5.3). */
class Protection13 implements RecordProtection {
  #key: CryptoKey;
  #iv: Bytes;
  #sequence = 0n;

  private constructor(key: CryptoKey, iv: Bytes) {
    this.#key = key;
    this.#iv = iv;
  }

  static async create(secret: Bytes): Promise<Protection13> {
    return new Protection13(
      await aesKey(await expandLabel(secret, "key", new Uint8Array(), 16)),
      await expandLabel(secret, "iv", new Uint8Array(), 12),
    );
  }

  #nonce(): Bytes {
    const nonce = new Uint8Array(this.#iv);
    let sequence = this.#sequence++;
    for (let i = 11; i >= 4; i--) {
      nonce[i] ^= Number(sequence & 0xffn);
      sequence >>= 8n;
    }
    return nonce;
  }

  async seal(type: number, content: Bytes): Promise<Bytes> {
    const inner = concat(content, new Uint8Array([type]));
    const header = concat(new Uint8Array([APPLICATION_DATA]), u16(0x0303), u16(inner.length + 16));
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: this.#nonce(), additionalData: header },
      this.#key,
      inner,
    );
    return concat(header, new Uint8Array(sealed));
  }

  async open(record: TlsRecord): Promise<{ type: number; content: Bytes }> {
    // A plaintext alert: the server gave up before it had keys.
    if (record.type === ALERT) return { type: ALERT, content: record.fragment };
    if (record.type !== APPLICATION_DATA) {
      throw new Error(`Expected a protected record, received a record of type ${record.type}`);
    }
    let inner: Bytes;
    try {
      inner = new Uint8Array(
        await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: this.#nonce(), additionalData: record.header },
          this.#key,
          record.fragment,
        ),
      );
    } catch (error) {
      throw new Error("Cannot decrypt a record from the server", { cause: error });
    }
    // Strip the padding: the real content type is the last non-zero byte.
    let end = inner.length - 1;
    while (end >= 0 && inner[end] === 0) end--;
    if (end < 0) throw new Error("A protected record has no content type");
    return { type: inner[end], content: inner.subarray(0, end) };
  }
}

/** HKDF-Extract (RFC 5869 §2.2). */
function hkdfExtract(salt: Bytes, ikm: Bytes): Promise<Bytes> {
  return hmac(salt, ikm);
}

/** HKDF-Expand (RFC 5869 §2.3); WebCrypto's HKDF always extracts first, so it is done by hand. */
async function hkdfExpand(prk: Bytes, info: Bytes, length: number): Promise<Bytes> {
  let out: Bytes = new Uint8Array();
  let block: Bytes = new Uint8Array();
  for (let i = 1; out.length < length; i++) {
    block = await hmac(prk, concat(block, info, new Uint8Array([i])));
    out = concat(out, block);
  }
  return out.slice(0, length);
}

/** HKDF-Expand-Label (RFC 8446 §7.1). */
function expandLabel(secret: Bytes, label: string, context: Bytes, length: number): Promise<Bytes> {
  const info = concat(u16(length), vec8(enc.encode(`tls13 ${label}`)), vec8(context));
  return hkdfExpand(secret, info, length);
}

/** Derive-Secret (RFC 8446 §7.1), given the transcript hash. */
function deriveSecret(secret: Bytes, label: string, hash: Bytes): Promise<Bytes> {
  return expandLabel(secret, label, hash, 32);
}

/** The verify_data of a Finished message (RFC 8446 §4.4.4). */
async function finishedMac(baseKey: Bytes, transcriptHash: Bytes): Promise<Bytes> {
  return hmac(await expandLabel(baseKey, "finished", new Uint8Array(), 32), transcriptHash);
}
