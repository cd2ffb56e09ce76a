/**
 * The radar listener's TLS transport (SPEC §15): TLS 1.2+ with an optional
 * client certificate, on `node:net` + `node:tls` because `Deno.listenTls`
 * cannot request client certificates.
 *
 * Runtime adapter: uses `node:` APIs.
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import { keyPairProblem } from "./tls_key_pair_adapter.ts";

/**
 * Decrypted bytes queued per connection before its TCP socket is paused.
 * Pausing after every chunk cost ~80 % of the throughput (each pause and
 * resume of a socket under a TLSSocket is slow in Deno 2.9); a bounded
 * queue keeps the memory bounded and the sender flow-controlled.
 */
const HIGH_WATER_BYTES = 1 << 20;

/** Why a TLS handshake did not complete. */
export type HandshakeFailure =
  | "not_tls"
  | "handshake_failed"
  | "handshake_timeout"
  | "handshake_closed";

/** Options for {@link TlsListener}. */
export interface TlsListenerOptions {
  hostname: string;
  port: number;
  /** PEM server certificate chain. */
  cert: string;
  /** PEM private key. */
  key: string;
  /** Ask the client for a certificate (it is verified by the caller). */
  requestCert: boolean;
  /** A handshake not finished after this long is abandoned. */
  handshakeTimeoutMs: number;
  /**
   * Called when a TCP connection is accepted, before TLS starts and before
   * a byte is read from it; `false` closes it unread.
   */
  admit(host: string, port: number): boolean;
  /** The handshake completed: `chain` is the client's certificates (DER, its own first). */
  secured(connection: TlsConnection, chain: Uint8Array<ArrayBuffer>[]): void;
  /** An admitted connection failed its handshake; it is closed. */
  failed(host: string, port: number, reason: HandshakeFailure, detail: string): void;
  /** A connection was gone (reset by its peer) before it could be admitted: no address to give. */
  gone(): void;
}

/**
 * A TLS listener: accepts TCP connections paused (so that refusing one reads
 * nothing), then runs the TLS handshake on those admitted.
 */
export class TlsListener {
  /** Resolves once bound. */
  readonly listening: Promise<void>;
  #server: net.Server;

  /** Binds (asynchronously: await {@link TlsListener.listening}). */
  constructor(options: TlsListenerOptions) {
    // A mismatched pair would start, then fail every handshake.
    const problem = keyPairProblem(options.cert, options.key);
    if (problem !== undefined) throw new Error(`Cannot listen with TLS: ${problem}`);
    const context = tls.createSecureContext({
      cert: options.cert,
      key: options.key,
      // SPEC §15: TLS 1.2 or later only.
      minVersion: "TLSv1.2",
    });
    this.#server = net.createServer({ pauseOnConnect: true }, (raw) => {
      const host = raw.remoteAddress;
      const port = raw.remotePort ?? 0;
      if (host === undefined) {
        // Reset before it reached us: nothing to admit, nothing to hold.
        raw.destroy();
        options.gone();
        return;
      }
      if (!options.admit(host, port)) {
        raw.destroy();
        return;
      }
      handshake(raw, host, port, context, options);
    });
    this.listening = new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen(options.port, options.hostname, () => {
        this.#server.off("error", reject);
        resolve();
      });
    });
  }

  /** The bound port. */
  get port(): number {
    return (this.#server.address() as net.AddressInfo).port;
  }

  /** Stops accepting (open connections are closed by their owners). */
  close(): Promise<void> {
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }
}

function handshake(
  raw: net.Socket,
  host: string,
  port: number,
  context: tls.SecureContext,
  options: TlsListenerOptions,
): void {
  let settled = false;
  const socket = new tls.TLSSocket(raw, {
    isServer: true,
    secureContext: context,
    requestCert: options.requestCert,
    // Verified by the caller against the configured CA: node:tls in Deno
    // does not verify client certificates itself.
    rejectUnauthorized: false,
  });
  const fail = (reason: HandshakeFailure, detail: string) => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.destroy();
    raw.destroy();
    options.failed(host, port, reason, detail);
  };
  const timer = setTimeout(
    () => fail("handshake_timeout", "no TLS handshake within the time allowed"),
    options.handshakeTimeoutMs,
  );
  socket.once("error", (error: Error) => {
    // E.g. "received corrupt message of type InvalidContentType": plain
    // text (a radar without TLS) where a TLS record was expected.
    const notTls = /InvalidContentType|wrong version number|http request|corrupt message/i.test(
      error.message,
    );
    fail(notTls ? "not_tls" : "handshake_failed", handshakeDetail(error.message));
  });
  // A peer that goes away mid-handshake (a port scanner, a health check, a
  // reset) gives its slot back at once, not after the timeout.
  const closed = () =>
    fail("handshake_closed", "the peer closed the connection during the TLS handshake");
  raw.once("close", closed);
  socket.once("end", closed);
  socket.once("close", closed);
  socket.once("secure", () => {
    if (settled) return;
    settled = true;
    clearTimeout(timer);
    socket.removeAllListeners("error");
    raw.off("close", closed);
    socket.off("end", closed);
    socket.off("close", closed);
    const connection = new TlsConnection(socket, raw, host, port);
    options.secured(connection, peerChain(socket));
  });
}

/**
 * The handshake error in an operator's words. The chain is verified after the
 * handshake (by the caller), so during the handshake Deno's node:tls reports
 * only a CertificateVerify signature that does not match the presented
 * certificate — a client without that certificate's private key — and it
 * does so with OpenSSL's "unable to get issuer certificate", which reads like
 * a chain problem (tests/sources/radar/tls_possession_test.ts).
 */
function handshakeDetail(message: string): string {
  return /unable to get issuer certificate/i.test(message)
    ? `the client's CertificateVerify signature does not match its certificate (${message})`
    : message;
}

/** The client's certificates as it sent them, its own first. */
function peerChain(socket: tls.TLSSocket): Uint8Array<ArrayBuffer>[] {
  const chain: Uint8Array<ArrayBuffer>[] = [];
  let cert = socket.getPeerCertificate(true) as tls.DetailedPeerCertificate | undefined;
  while (cert && cert.raw && chain.length < 8) {
    chain.push(new Uint8Array(cert.raw));
    const next = cert.issuerCertificate;
    // The root's issuer is itself.
    if (next === undefined || next === cert || next.fingerprint256 === cert.fingerprint256) break;
    cert = next;
  }
  return chain;
}

/**
 * One accepted TLS connection, read on demand: at most
 * {@link HIGH_WATER_BYTES} of decrypted bytes wait for a read; then the
 * underlying TCP socket is paused, so a full pipeline leaves data in the
 * kernel buffers and TCP flow control slows the sender, as on the plain TCP
 * path.
 */
export class TlsConnection {
  /** The peer's address. */
  readonly host: string;
  /** The peer's port. */
  readonly port: number;
  #socket: tls.TLSSocket;
  #raw: net.Socket;
  #queue: Uint8Array[] = [];
  #queued = 0;
  #waiter: PromiseWithResolvers<Uint8Array | null> | undefined;
  #ended = false;
  #error: Error | undefined;
  #paused = false;

  /** Wraps a secured socket; nothing is read until {@link TlsConnection.read}. */
  constructor(socket: tls.TLSSocket, raw: net.Socket, host: string, port: number) {
    this.host = host;
    this.port = port;
    this.#socket = socket;
    this.#raw = raw;
    socket.on("data", (chunk: Uint8Array) => {
      const waiter = this.#waiter;
      if (waiter !== undefined) {
        this.#waiter = undefined;
        waiter.resolve(chunk);
      } else {
        this.#queue.push(chunk);
        this.#queued += chunk.length;
        if (this.#queued >= HIGH_WATER_BYTES) this.#pause();
      }
    });
    const end = () => {
      this.#ended = true;
      this.#waiter?.resolve(null);
      this.#waiter = undefined;
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", (error: Error) => {
      this.#error = error;
      this.#ended = true;
      this.#waiter?.reject(error);
      this.#waiter = undefined;
    });
    // Nothing is read before the first read() (e.g. while the certificate is verified).
    this.#pause();
  }

  /** The next bytes, or null at the end; rejects on a connection error. */
  read(): Promise<Uint8Array | null> {
    const chunk = this.#queue.shift();
    if (chunk !== undefined) {
      this.#queued -= chunk.length;
      if (this.#queued < HIGH_WATER_BYTES / 4) this.#resume();
      return Promise.resolve(chunk);
    }
    if (this.#error !== undefined) return Promise.reject(this.#error);
    if (this.#ended) return Promise.resolve(null);
    this.#waiter = Promise.withResolvers();
    this.#resume();
    return this.#waiter.promise;
  }

  /** Closes the connection; a pending read resolves with null. */
  close(): void {
    this.#ended = true;
    this.#socket.destroy();
    this.#raw.destroy();
    this.#waiter?.resolve(null);
    this.#waiter = undefined;
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    // The TCP socket, not the TLS one: in Deno 2.9 pausing a TLSSocket does
    // not stop it reading from its socket.
    this.#raw.pause();
  }

  #resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#raw.resume();
    // Deno 2.9: resume() of a TCP socket under a TLSSocket does not restart
    // its handle's reads after a pause; readStart() does (a no-op while it
    // reads). Tests send tens of MB through pause/resume cycles to check it.
    (this.#raw as unknown as { _handle?: { readStart?: () => void } })._handle?.readStart?.();
  }
}
