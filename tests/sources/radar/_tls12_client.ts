/**
 * A minimal TLS 1.2 client (RFC 5246, RFC 8422, RFC 5288), the TLS 1.2
 * counterpart of `_tls13_client.ts`: the radar listener accepts TLS 1.2 too
 * (SPEC §15: "TLS 1.2 or later"), and an impostor chooses the version, so
 * the proof of possession has to hold for both. In TLS 1.2 the client's
 * CertificateVerify is a signature over all handshake messages so far
 * (RFC 5246 §7.4.8), checked by a different code path of the TLS stack.
 *
 * One configuration only: TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 with
 * X25519, ecdsa_secp256r1_sha256, no session tickets, no extended master
 * secret, no renegotiation. The server's ServerKeyExchange signature and
 * its Finished are verified (its certificate chain is not: the tests trust
 * loopback).
 *
 * Test-only code: it runs on `Deno.connect`.
 *
 * @module
 */

import {
  aesKey,
  ALERT,
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
  hmac,
  plainRecord,
  Reader,
  type RecordProtection,
  SERVER_HELLO,
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

const SERVER_KEY_EXCHANGE = 12;
const SERVER_HELLO_DONE = 14;
const CLIENT_KEY_EXCHANGE = 16;
const TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 = 0xc02b;
const TLS12 = 0x0303;
const NAMED_CURVE = 3;
const EXTENDED_MASTER_SECRET = 23;

/**
 * One TLS 1.2 connection: {@link Tls12Client.connect} runs the whole
 * handshake, up to the server's Finished. In TLS 1.2 the server answers the
 * client's certificate flight before its own Finished, so a refusal is a
 * {@link TlsAlertError} from `connect`.
 */
export class Tls12Client extends TlsTestClient {
  private constructor(conn: Deno.TcpConn, timeoutMs: number) {
    super(conn, timeoutMs);
  }

  /**
   * Connects and runs the handshake; resolves once the server's Finished
   * verifies. Rejects with {@link TlsAlertError} if the server sends an
   * alert instead, and with an `Error` if its messages do not check out.
   */
  static async connect(options: TlsClientOptions): Promise<Tls12Client> {
    const conn = await Deno.connect({ hostname: options.hostname, port: options.port });
    const client = new Tls12Client(conn, options.timeoutMs ?? 10_000);
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
    const clientRandom = crypto.getRandomValues(new Uint8Array(32));
    const hello = clientHello(clientRandom);
    transcript.add(hello);
    await writeAll(this.conn, plainRecord(HANDSHAKE, hello, 0x0301));

    // ServerHello … ServerHelloDone, in plaintext.
    const messages = new HandshakeReader();
    let serverRandom: Bytes | undefined;
    let serverCertificate: Bytes | undefined;
    let serverShare: Bytes | undefined;
    for (let done = false; !done;) {
      const message = await this.#nextPlainMessage(messages);
      const body = message.subarray(4);
      switch (message[0]) {
        case SERVER_HELLO:
          serverRandom = parseServerHello(body);
          break;
        case CERTIFICATE:
          serverCertificate = new Reader(new Reader(body).vec24()).vec24();
          break;
        case SERVER_KEY_EXCHANGE: {
          if (serverCertificate === undefined || serverRandom === undefined) {
            throw new Error("ServerKeyExchange before ServerHello and Certificate");
          }
          // RFC 8422 §5.4: ECParameters and the point, then their signature.
          const reader = new Reader(body);
          if (reader.u8() !== NAMED_CURVE || reader.u16() !== X25519) {
            throw new Error("The server chose another curve than X25519");
          }
          serverShare = reader.vec8();
          const params = body.subarray(0, 4 + serverShare.length);
          await verifyServerSignature(
            serverCertificate,
            reader.u16(),
            reader.vec16(),
            concat(clientRandom, serverRandom, params),
            "ServerKeyExchange",
          );
          break;
        }
        case CERTIFICATE_REQUEST:
          this.certificateRequested = true;
          break;
        case SERVER_HELLO_DONE:
          done = true;
          break;
        default:
          throw new Error(`Unexpected handshake message ${message[0]} from the server`);
      }
      transcript.add(message);
    }
    if (serverShare === undefined || serverRandom === undefined) {
      throw new Error("The server sent no ECDHE key exchange");
    }
    const share = await x25519Share();
    const preMaster = await x25519Shared(share.keys, serverShare);
    // RFC 5246 §8.1 and §6.3.
    const master = await prf(preMaster, "master secret", concat(clientRandom, serverRandom), 48);
    const keyBlock = await prf(master, "key expansion", concat(serverRandom, clientRandom), 40);
    const clientKey = keyBlock.subarray(0, 16);
    const serverKey = keyBlock.subarray(16, 32);
    const clientSalt = keyBlock.subarray(32, 36);
    const serverSalt = keyBlock.subarray(36, 40);

    // The client's flight: Certificate, ClientKeyExchange, CertificateVerify (or not).
    const flight: Bytes[] = [];
    const chain = identity?.chain ?? [];
    if (this.certificateRequested) {
      const certificate = handshakeMessage(
        CERTIFICATE,
        vec24(concat(...chain.map((der) => vec24(der)))),
      );
      transcript.add(certificate);
      flight.push(certificate);
    }
    const keyExchange = handshakeMessage(CLIENT_KEY_EXCHANGE, vec8(share.public));
    transcript.add(keyExchange);
    flight.push(keyExchange);
    if (
      this.certificateRequested && chain.length > 0 && identity !== undefined &&
      identity.verify !== "omit"
    ) {
      const plan = identity.verify;
      // RFC 5246 §7.4.8: the signature covers every handshake message so far.
      const signature = "sign" in plan
        ? await signEcdsa(plan.sign, transcript.bytes)
        : plan.signature;
      const verify = handshakeMessage(
        CERTIFICATE_VERIFY,
        concat(u16(ECDSA_SECP256R1_SHA256), vec16(signature)),
      );
      transcript.add(verify);
      flight.push(verify);
    }
    const sealer = await Protection12.create(clientKey, clientSalt);
    const finished = handshakeMessage(
      FINISHED,
      await prf(master, "client finished", await transcript.hash(), 12),
    );
    transcript.add(finished);
    await writeAll(
      this.conn,
      concat(
        plainRecord(HANDSHAKE, concat(...flight)),
        plainRecord(CHANGE_CIPHER_SPEC, new Uint8Array([1])),
        await sealer.seal(HANDSHAKE, finished),
      ),
    );
    this.sealer = sealer;

    // The server's ChangeCipherSpec and Finished, or its refusal.
    for (;;) {
      const record = await this.records.expect();
      if (record.type === ALERT) throw new TlsAlertError(record.fragment[1]);
      if (record.type === CHANGE_CIPHER_SPEC) break;
      throw new Error(`Expected a ChangeCipherSpec, received a record of type ${record.type}`);
    }
    this.opener = await Protection12.create(serverKey, serverSalt);
    const encrypted = new HandshakeReader();
    let serverFinished = encrypted.next();
    while (serverFinished === undefined) {
      const inner = await this.opener.open(await this.records.expect());
      if (inner.type === ALERT) throw new TlsAlertError(inner.content[1]);
      if (inner.type !== HANDSHAKE) {
        throw new Error(`Expected the server's Finished, received content of type ${inner.type}`);
      }
      encrypted.push(inner.content);
      serverFinished = encrypted.next();
    }
    const expected = await prf(master, "server finished", await transcript.hash(), 12);
    if (serverFinished[0] !== FINISHED || !equal(serverFinished.subarray(4), expected)) {
      throw new Error("The server's Finished does not verify");
    }
  }

  /** The next plaintext handshake message; an alert is a refusal. */
  async #nextPlainMessage(messages: HandshakeReader): Promise<Bytes> {
    let message = messages.next();
    while (message === undefined) {
      const record = await this.records.expect();
      if (record.type === ALERT) throw new TlsAlertError(record.fragment[1]);
      if (record.type !== HANDSHAKE) {
        throw new Error(`Expected a handshake record, received a record of type ${record.type}`);
      }
      messages.push(record.fragment);
      message = messages.next();
    }
    return message;
  }
}

function clientHello(random: Bytes): Bytes {
  const extensions = concat(
    extension(10, vec16(u16(X25519))),
    // ec_point_formats: uncompressed (RFC 8422 §5.1.2).
    extension(11, vec8(new Uint8Array([0]))),
    extension(13, vec16(u16(ECDSA_SECP256R1_SHA256))),
    // renegotiation_info, empty: a new connection (RFC 5746 §3.4).
    extension(0xff01, vec8(new Uint8Array())),
  );
  return handshakeMessage(
    CLIENT_HELLO,
    concat(
      u16(TLS12),
      random,
      vec8(new Uint8Array()),
      vec16(u16(TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)),
      vec8(new Uint8Array([0])),
      vec16(extensions),
    ),
  );
}

/** The server random, after checking that TLS 1.2 and our suite were chosen. */
function parseServerHello(body: Bytes): Bytes {
  const reader = new Reader(body);
  const version = reader.u16();
  if (version !== TLS12) throw new Error(`The server chose version ${version.toString(16)}`);
  const random = reader.bytes(32);
  reader.vec8();
  const suite = reader.u16();
  if (suite !== TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256) {
    throw new Error(`The server chose suite ${suite.toString(16)}`);
  }
  reader.u8();
  if (!reader.done) {
    const extensions = new Reader(reader.vec16());
    while (!extensions.done) {
      // The master secret below is the RFC 5246 one: an extension we did not offer is an error.
      if (extensions.u16() === EXTENDED_MASTER_SECRET) {
        throw new Error("The server chose the extended master secret, which was not offered");
      }
      extensions.vec16();
    }
  }
  return random;
}

/** The TLS 1.2 PRF with SHA-256 (RFC 5246 §5). */
async function prf(secret: Bytes, label: string, seed: Bytes, length: number): Promise<Bytes> {
  const labelled = concat(enc.encode(label), seed);
  let out: Bytes = new Uint8Array();
  let a = labelled;
  while (out.length < length) {
    a = await hmac(secret, a);
    out = concat(out, await hmac(secret, concat(a, labelled)));
  }
  return out.slice(0, length);
}

/** AES-128-GCM record protection for one direction (RFC 5288 §3). */
class Protection12 implements RecordProtection {
  #key: CryptoKey;
  #salt: Bytes;
  #sequence = 0n;

  private constructor(key: CryptoKey, salt: Bytes) {
    this.#key = key;
    this.#salt = salt;
  }

  static async create(key: Bytes, salt: Bytes): Promise<Protection12> {
    return new Protection12(await aesKey(key.slice()), salt.slice());
  }

  /** The sequence number, as the explicit nonce and in the additional data. */
  #next(): Bytes {
    const out = new Uint8Array(8);
    new DataView(out.buffer).setBigUint64(0, this.#sequence++);
    return out;
  }

  async seal(type: number, content: Bytes): Promise<Bytes> {
    const sequence = this.#next();
    const additionalData = concat(
      sequence,
      new Uint8Array([type]),
      u16(TLS12),
      u16(content.length),
    );
    const sealed = await crypto.subtle.encrypt(
      { name: "AES-GCM", iv: concat(this.#salt, sequence), additionalData },
      this.#key,
      content,
    );
    return plainRecord(type, concat(sequence, new Uint8Array(sealed)));
  }

  async open(record: TlsRecord): Promise<{ type: number; content: Bytes }> {
    const sequence = this.#next();
    const explicit = record.fragment.subarray(0, 8);
    const sealed = record.fragment.subarray(8);
    const additionalData = concat(
      sequence,
      new Uint8Array([record.type]),
      u16(TLS12),
      u16(sealed.length - 16),
    );
    try {
      const content = await crypto.subtle.decrypt(
        { name: "AES-GCM", iv: concat(this.#salt, explicit), additionalData },
        this.#key,
        sealed,
      );
      return { type: record.type, content: new Uint8Array(content) };
    } catch (error) {
      throw new Error("Cannot decrypt a record from the server", { cause: error });
    }
  }
}
