import assert from "node:assert/strict";
import { survivePeerSocketErrors } from "../../sinks/stray_socket_errors.ts";

Deno.test("survivePeerSocketErrors() keeps an uncaught peer socket error from ending the process, and nothing else", () => {
  survivePeerSocketErrors();
  survivePeerSocketErrors(); // once per process, however often asked
  const uncaught = (error: unknown) => {
    const event = new ErrorEvent("error", { error, cancelable: true });
    globalThis.dispatchEvent(event);
    return event.defaultPrevented;
  };
  // What @nats-io/transport-node left behind after a refused login.
  const reset = Object.assign(new Error("read ECONNRESET"), {
    code: "ECONNRESET",
    syscall: "read",
  });
  assert.equal(uncaught(reset), true);
  assert.equal(
    uncaught(Object.assign(new Error("write EPIPE"), { code: "EPIPE", syscall: "write" })),
    true,
  );
  // Everything else still ends the process.
  assert.equal(uncaught(new TypeError("Cannot read properties of undefined")), false);
  assert.equal(
    uncaught(Object.assign(new Error("no such file"), { code: "ENOENT", syscall: "open" })),
    false,
  );
  assert.equal(uncaught(Object.assign(new Error("reset"), { code: "ECONNRESET" })), false);
  assert.equal(uncaught(null), false);
});
