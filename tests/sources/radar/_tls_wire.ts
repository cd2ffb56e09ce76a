/**
 * What the hand-made TLS clients of the radar tests share
 * (`_tls13_client.ts`, `_tls12_client.ts`): TLS structures, records,
 * HMAC / ECDSA with WebCrypto, and the part of a client that runs after the
 * handshake.
 *
 * Test-only code: it runs on `Deno.connect`.
 *
 * @module
 */

import * as x509 from "../../../sources/radar/_x509.ts";

/** Bytes on an ArrayBuffer, as WebCrypto takes them. */
export type Bytes = Uint8Array<ArrayBuffer>;

export const enc = new TextEncoder();

// Content types (RFC 8446 §5.1, the same in RFC 5246 §6.2.1).
export const CHANGE_CIPHER_SPEC = 20;
export const ALERT = 21;
export const HANDSHAKE = 22;
export const APPLICATION_DATA = 23;

// Handshake message types (RFC 8446 §4, RFC 5246 §7.4).
export const CLIENT_HELLO = 1;
export const SERVER_HELLO = 2;
export const CERTIFICATE = 11;
export const CERTIFICATE_REQUEST = 13;
export const CERTIFICATE_VERIFY = 15;
export const FINISHED = 20;

export const X25519 = 0x001d;
export const ECDSA_SECP256R1_SHA256 = 0x0403;

/** Alert descriptions (RFC 8446 §6), for messages. */
const ALERT_NAMES: Record<number, string> = {
  0: "close_notify",
  10: "unexpected_message",
  20: "bad_record_mac",
  40: "handshake_failure",
  42: "bad_certificate",
  43: "unsupported_certificate",
  45: "certificate_expired",
  46: "certificate_unknown",
  47: "illegal_parameter",
  48: "unknown_ca",
  50: "decode_error",
  51: "decrypt_error",
  70: "protocol_version",
  80: "internal_error",
  109: "missing_extension",
  116: "certificate_required",
};

/** The name of an alert description, e.g. `decrypt_error` for 51. */
export function alertName(description: number): string {
  return ALERT_NAMES[description] ?? `alert ${description}`;
}

/** What the client sends as its CertificateVerify. */
export type CertificateVerifyPlan =
  /** Signs with this ECDSA P-256 key (honest only if it is the certificate's). */
  | { sign: CryptoKey }
  /** Sends these bytes as the signature, as they are. */
  | { signature: Bytes }
  /** Sends no CertificateVerify: the Certificate, then what follows it. */
  | "omit";

/** The client certificate to present if the server asks for one. */
export interface ClientIdentity {
  /** The chain to send, DER, the client's own certificate first. */
  chain: Bytes[];
  /** What to send as CertificateVerify. */
  verify: CertificateVerifyPlan;
}

/** Options for the clients' `connect()`. */
export interface TlsClientOptions {
  hostname: string;
  port: number;
  /** Presented when the server sends a CertificateRequest; without it, an empty Certificate. */
  identity?: ClientIdentity;
  /** The connection is closed after this long, whatever state it is in (default 10 s). */
  timeoutMs?: number;
}

/** What the server did after the handshake, as seen by {@link TlsTestClient.outcome}. */
export interface ServerOutcome {
  /** Alerts received, as descriptions (RFC 8446 §6), in order. */
  alerts: number[];
  /** Application data received. */
  data: Bytes;
  /** Handshake messages after the handshake (e.g. NewSessionTicket), by type. */
  handshakes: number[];
  /** How the stream ended: the server closed it, reset it, or it was still open at the deadline. */
  end: "closed" | "reset" | "timeout";
}

/** A TLS alert from the server during the handshake. */
export class TlsAlertError extends Error {
  /** The alert description (RFC 8446 §6.2). */
  readonly description: number;
  /** Whether the server had sent a CertificateRequest before the alert (set by `connect`). */
  certificateRequested?: boolean;
  /** How the connection ended after the alert (read to its end by `connect`). */
  end?: ServerOutcome["end"];
  constructor(description: number) {
    super(`The server sent the alert ${alertName(description)} (${description})`);
    this.name = "TlsAlertError";
    this.description = description;
  }
}

/** One direction's record protection. */
export interface RecordProtection {
  /** One protected record carrying `content` of `type`. */
  seal(type: number, content: Bytes): Promise<Bytes>;
  /** The content and real type of a record; rejects if it does not decrypt. */
  open(record: TlsRecord): Promise<{ type: number; content: Bytes }>;
}

/**
 * A TLS client after its handshake: application data, close_notify, and
 * what the server does next. The version-specific subclasses run the
 * handshake and set the record protection.
 */
export abstract class TlsTestClient {
  /** Whether the server sent a CertificateRequest. */
  certificateRequested = false;
  protected readonly conn: Deno.TcpConn;
  protected readonly records: RecordReader;
  protected sealer!: RecordProtection;
  protected opener!: RecordProtection;
  #timer: ReturnType<typeof setTimeout>;

  protected constructor(conn: Deno.TcpConn, timeoutMs: number) {
    this.conn = conn;
    this.records = new RecordReader(conn);
    this.#timer = setTimeout(() => this.#closeTcp(), timeoutMs);
  }

  /** Sends application data (in records of at most 16 KiB). */
  async write(data: Bytes): Promise<void> {
    for (let offset = 0; offset < data.length; offset += 16_384) {
      const chunk = data.subarray(offset, offset + 16_384);
      await writeAll(this.conn, await this.sealer.seal(APPLICATION_DATA, chunk));
    }
  }

  /** Sends close_notify (the end of the client's data); the TCP connection stays open to read. */
  async closeNotify(): Promise<void> {
    await writeAll(this.conn, await this.sealer.seal(ALERT, new Uint8Array([1, 0])));
  }

  /**
   * Reads what the server sends until it closes the connection (or
   * `waitMs` passes): alerts, data, post-handshake messages.
   */
  async outcome(waitMs = 5_000): Promise<ServerOutcome> {
    const outcome: ServerOutcome = {
      alerts: [],
      data: new Uint8Array(),
      handshakes: [],
      end: "timeout",
    };
    const timer = setTimeout(() => this.#closeTcp(), waitMs);
    try {
      for (;;) {
        let record: TlsRecord | null;
        try {
          record = await this.records.next();
        } catch {
          outcome.end = this.records.closedByUs ? "timeout" : "reset";
          break;
        }
        if (record === null) {
          outcome.end = this.records.closedByUs ? "timeout" : "closed";
          break;
        }
        if (record.type === CHANGE_CIPHER_SPEC) continue;
        const inner = await this.opener.open(record);
        if (inner.type === ALERT) outcome.alerts.push(inner.content[1]);
        else if (inner.type === APPLICATION_DATA) {
          outcome.data = concat(outcome.data, inner.content);
        } else if (inner.type === HANDSHAKE) outcome.handshakes.push(inner.content[0]);
      }
    } finally {
      clearTimeout(timer);
    }
    return outcome;
  }

  /**
   * Closes the connection after a failed handshake; after an alert, first
   * reads to the end of the stream (for at most `waitMs`) to say how it ended.
   */
  protected async abandon(error: unknown, waitMs = 5_000): Promise<void> {
    if (error instanceof TlsAlertError) {
      error.certificateRequested = this.certificateRequested;
      const timer = setTimeout(() => this.#closeTcp(), waitMs);
      try {
        while (await this.records.next() !== null);
        error.end = this.records.closedByUs ? "timeout" : "closed";
      } catch {
        error.end = this.records.closedByUs ? "timeout" : "reset";
      } finally {
        clearTimeout(timer);
      }
    }
    this.close();
  }

  /** Closes the TCP connection. */
  close(): void {
    clearTimeout(this.#timer);
    this.#closeTcp();
  }

  #closeTcp(): void {
    this.records.closedByUs = true;
    try {
      this.conn.close();
    } catch {
      // Closed already.
    }
  }
}

/** One TLS record. */
export interface TlsRecord {
  type: number;
  /** The 5-byte record header, as received (TLS 1.3 authenticates it). */
  header: Bytes;
  fragment: Bytes;
}

/** Splits the byte stream into TLS records. */
export class RecordReader {
  /** Set when the client closed the connection itself (a deadline), so an end is not the server's. */
  closedByUs = false;
  #conn: Deno.TcpConn;
  #buffer: Bytes = new Uint8Array();

  constructor(conn: Deno.TcpConn) {
    this.#conn = conn;
  }

  /** The next record, or null at the end of the stream. */
  async next(): Promise<TlsRecord | null> {
    for (;;) {
      if (this.#buffer.length >= 5) {
        const length = (this.#buffer[3] << 8) | this.#buffer[4];
        if (this.#buffer.length >= 5 + length) {
          const record = {
            type: this.#buffer[0],
            header: this.#buffer.slice(0, 5),
            fragment: this.#buffer.slice(5, 5 + length),
          };
          this.#buffer = this.#buffer.slice(5 + length);
          return record;
        }
      }
      const chunk = new Uint8Array(32_768);
      const n = await this.#conn.read(chunk);
      if (n === null) return null;
      this.#buffer = concat(this.#buffer, chunk.subarray(0, n));
    }
  }

  /** The next record; the end of the stream during the handshake is an error. */
  async expect(): Promise<TlsRecord> {
    const record = await this.next();
    if (record === null) throw new Error("The server closed the connection during the handshake");
    return record;
  }
}

/** Reassembles handshake messages from record fragments (they may span records or share one). */
export class HandshakeReader {
  #buffer: Bytes = new Uint8Array();
  push(fragment: Bytes): void {
    this.#buffer = concat(this.#buffer, fragment);
  }
  /** The next whole message with its 4-byte header, if one is buffered. */
  next(): Bytes | undefined {
    if (this.#buffer.length < 4) return undefined;
    const length = (this.#buffer[1] << 16) | (this.#buffer[2] << 8) | this.#buffer[3];
    if (this.#buffer.length < 4 + length) return undefined;
    const message = this.#buffer.slice(0, 4 + length);
    this.#buffer = this.#buffer.slice(4 + length);
    return message;
  }
}

/** The handshake messages so far, in order (both versions sign or hash them). */
export class Transcript {
  bytes: Bytes = new Uint8Array();
  add(message: Bytes): void {
    this.bytes = concat(this.bytes, message);
  }
  hash(): Promise<Bytes> {
    return sha256(this.bytes);
  }
}

/** A handshake message: type, 24-bit length, body. */
export function handshakeMessage(type: number, body: Bytes): Bytes {
  return concat(new Uint8Array([type]), u24(body.length), body);
}

/** An unprotected record. */
export function plainRecord(type: number, fragment: Bytes, version = 0x0303): Bytes {
  return concat(new Uint8Array([type]), u16(version), vec16(fragment));
}

/** An extension: type and length-prefixed data. */
export function extension(type: number, data: Bytes): Bytes {
  return concat(u16(type), vec16(data));
}

export async function writeAll(conn: Deno.TcpConn, bytes: Bytes): Promise<void> {
  for (let offset = 0; offset < bytes.length;) offset += await conn.write(bytes.subarray(offset));
}

/** An X25519 key pair and its public key as sent on the wire. */
export async function x25519Share(): Promise<{ keys: CryptoKeyPair; public: Bytes }> {
  const keys = await crypto.subtle.generateKey({ name: "X25519" }, false, [
    "deriveBits",
  ]) as CryptoKeyPair;
  return { keys, public: new Uint8Array(await crypto.subtle.exportKey("raw", keys.publicKey)) };
}

/** The X25519 shared secret with the server's public key. */
export async function x25519Shared(keys: CryptoKeyPair, server: Bytes): Promise<Bytes> {
  const peer = await crypto.subtle.importKey("raw", server, { name: "X25519" }, false, []);
  return new Uint8Array(
    await crypto.subtle.deriveBits({ name: "X25519", public: peer }, keys.privateKey, 256),
  );
}

export async function sha256(data: Bytes): Promise<Bytes> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

export async function hmac(key: Bytes, data: Bytes): Promise<Bytes> {
  const k = await crypto.subtle.importKey(
    "raw",
    key,
    { name: "HMAC", hash: "SHA-256" },
    false,
    ["sign"],
  );
  return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
}

/** An AES-128-GCM key for record protection. */
export function aesKey(raw: Bytes): Promise<CryptoKey> {
  return crypto.subtle.importKey("raw", raw, "AES-GCM", false, ["encrypt", "decrypt"]);
}

/** An ECDSA P-256 / SHA-256 signature, DER-encoded as TLS wants it (WebCrypto gives r‖s). */
export async function signEcdsa(key: CryptoKey, content: Bytes): Promise<Bytes> {
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, key, content),
  );
  const integer = (bytes: Bytes) => {
    let start = 0;
    while (start < bytes.length - 1 && bytes[start] === 0) start++;
    let value = bytes.subarray(start);
    // A DER INTEGER is signed: a leading 1 bit needs a zero byte before it.
    if (value[0] & 0x80) value = concat(new Uint8Array([0]), value);
    return concat(new Uint8Array([0x02, value.length]), value);
  };
  const body = concat(integer(raw.subarray(0, 32)), integer(raw.subarray(32)));
  return concat(new Uint8Array([0x30, body.length]), body);
}

/**
 * Checks a server's ECDSA P-256 / SHA-256 signature (DER) over `content`
 * with the key of its certificate (DER); throws if it does not verify.
 */
export async function verifyServerSignature(
  certificate: Bytes,
  scheme: number,
  signature: Bytes,
  content: Bytes,
  what: string,
): Promise<void> {
  if (scheme !== ECDSA_SECP256R1_SHA256) {
    throw new Error(`The server signed its ${what} with scheme ${scheme.toString(16)}`);
  }
  const key = await crypto.subtle.importKey(
    "spki",
    new x509.X509Certificate(certificate).publicKey.rawData,
    { name: "ECDSA", namedCurve: "P-256" },
    false,
    ["verify"],
  );
  const ok = await crypto.subtle.verify(
    { name: "ECDSA", hash: "SHA-256" },
    key,
    ecdsaRaw(signature),
    content,
  );
  if (!ok) throw new Error(`The server's ${what} signature does not verify`);
}

/** The r‖s of a DER ECDSA P-256 signature, for WebCrypto. */
function ecdsaRaw(der: Bytes): Bytes {
  const reader = new Reader(der);
  if (reader.u8() !== 0x30) throw new Error("An ECDSA signature is not a DER SEQUENCE");
  reader.u8();
  const out = new Uint8Array(64);
  for (const offset of [0, 32]) {
    if (reader.u8() !== 0x02) throw new Error("An ECDSA signature has no DER INTEGER");
    let value = reader.bytes(reader.u8());
    while (value.length > 32 && value[0] === 0) value = value.subarray(1);
    out.set(value, offset + 32 - value.length);
  }
  return out;
}

/** Big-endian reads of TLS structures (RFC 8446 §3). */
export class Reader {
  #bytes: Bytes;
  #offset = 0;
  constructor(bytes: Bytes) {
    this.#bytes = bytes;
  }
  get done(): boolean {
    return this.#offset >= this.#bytes.length;
  }
  bytes(n: number): Bytes {
    if (this.#offset + n > this.#bytes.length) throw new RangeError("A TLS structure is truncated");
    const out = this.#bytes.subarray(this.#offset, this.#offset + n);
    this.#offset += n;
    return out;
  }
  u8(): number {
    return this.bytes(1)[0];
  }
  u16(): number {
    const b = this.bytes(2);
    return (b[0] << 8) | b[1];
  }
  u24(): number {
    const b = this.bytes(3);
    return (b[0] << 16) | (b[1] << 8) | b[2];
  }
  vec8(): Bytes {
    return this.bytes(this.u8());
  }
  vec16(): Bytes {
    return this.bytes(this.u16());
  }
  vec24(): Bytes {
    return this.bytes(this.u24());
  }
}

export function u16(n: number): Bytes {
  return new Uint8Array([n >> 8, n & 0xff]);
}

export function u24(n: number): Bytes {
  return new Uint8Array([n >> 16, (n >> 8) & 0xff, n & 0xff]);
}

export function vec8(bytes: Bytes): Bytes {
  return concat(new Uint8Array([bytes.length]), bytes);
}

export function vec16(bytes: Bytes): Bytes {
  return concat(u16(bytes.length), bytes);
}

export function vec24(bytes: Bytes): Bytes {
  return concat(u24(bytes.length), bytes);
}

export function concat(...parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

export function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
