/**
 * Keeping a socket error that nobody listens to from ending the process.
 *
 * @module
 */

import { getLogger } from "@logtape/logtape";

/** Socket errors a peer causes (it reset, vanished or was never there), by Node error code. */
const PEER_ERRORS = new Set([
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
]);

let installed = false;

/**
 * From now on, an uncaught socket error caused by the peer (a Node error
 * with a `syscall` and a code such as `ECONNRESET`) is logged as a warning
 * instead of ending the process; any other uncaught error still does.
 * Installed once per process by whatever connects to NATS: the NATS client
 * (`@nats-io/transport-node` 3.4 on Deno) leaves the socket of a connection
 * it gave up on — after the server refused its credentials — without an
 * error listener, so the server going away afterwards (`read ECONNRESET`)
 * killed the service while it was waiting for NATS.
 */
export function survivePeerSocketErrors(): void {
  if (installed) return;
  installed = true;
  const log = getLogger(["sda-ingest", "nats"]);
  globalThis.addEventListener("error", (event) => {
    const error = event.error as { code?: unknown; syscall?: unknown; message?: unknown } | null;
    if (
      error === null || typeof error !== "object" || typeof error.syscall !== "string" ||
      typeof error.code !== "string" || !PEER_ERRORS.has(error.code)
    ) {
      return;
    }
    event.preventDefault();
    log.warn("A connection nobody was using any more failed ({error}); carrying on", {
      error: String(error.message),
    });
  });
}
