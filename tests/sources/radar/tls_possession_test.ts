/**
 * The radar TLS listener's handshake proves that a client holds the private
 * key of the certificate it presents (issue 13, SPEC §15). The listener
 * verifies the certificate chain itself after the handshake, with a
 * permissive certificate check in the TLS stack; these tests show that the
 * stack still checks the client's CertificateVerify signature, in TLS 1.3
 * and in TLS 1.2 (the listener accepts both, and an impostor chooses). No
 * TLS library lets a client present a certificate without its key, so
 * hand-made clients (`_tls13_client.ts`, `_tls12_client.ts`) do it, first
 * honestly (the control that shows the client is correct), then as an
 * impostor.
 */

import assert from "node:assert/strict";
import type { DeadLetter } from "../../../envelope/dead_letter.ts";
import type { Observation } from "../../../envelope/observation.ts";
import { DedupeWindow } from "../../../operators/dedupe_window.ts";
import { Pipeline } from "../../../service/pipeline.ts";
import { openDeadLetterLog, openEventLog } from "../../../sinks/event_log.ts";
import { RadarTcpSource } from "../../../sources/radar/tcp_adapter.ts";
import { readAllLines, removeDir } from "../../_observations.ts";
import { der, makePki, signingKey } from "./_pki.ts";
import { Tls12Client } from "./_tls12_client.ts";
import { Tls13Client } from "./_tls13_client.ts";
import {
  alertName,
  type ClientIdentity,
  type ServerOutcome,
  TlsAlertError,
  type TlsClientOptions,
  type TlsTestClient,
} from "./_tls_wire.ts";

const enc = new TextEncoder();
const pki = await makePki();
/** A legitimate client of the CA: the certificate an impostor presents. */
const ops = await pki.client("XR1-OPS");

const TDM = [
  "CCSDS_TDM_VERS = 2.0",
  "MESSAGE_ID = POSSESSION-1",
  "META_START",
  "TIME_SYSTEM = UTC",
  "PARTICIPANT_1 = XR1",
  "PARTICIPANT_2 = 49863",
  "META_STOP",
  "DATA_START",
  "RANGE = 2026-11-25T12:00:00.000000 1234.5",
  "DATA_STOP",
  "",
].join("\n");

async function setup() {
  const dir = await Deno.makeTempDir({ prefix: "sda-radar-tls-pop-" });
  const source = new RadarTcpSource({
    name: "xr",
    port: 0,
    tls: { cert: pki.server.cert, key: pki.server.key, clientCa: pki.ca },
    clients: { "XR1-OPS": ["XR1"] },
    // Receipt an hour after the TDM's time, so t_obs is plausible.
    now: () => Date.parse("2026-11-25T13:00:00Z") * 1000,
  });
  await source.started;
  const pipeline = new Pipeline({
    events: await openEventLog({ dir: `${dir}/events`, fsync: "never" }),
    deadLetters: await openDeadLetterLog({ dir: `${dir}/dead`, fsync: "never" }),
    dedupe: new DedupeWindow(1_000_000),
  });
  pipeline.add(source.readable);
  return {
    source,
    counters: () => source.status().counters,
    async finish(): Promise<{ observations: Observation[]; deadLetters: DeadLetter[] }> {
      await source.stop();
      pipeline.close();
      await pipeline.done;
      const result = {
        observations: (await readAllLines(`${dir}/events`)).map((l) => JSON.parse(l)),
        deadLetters: (await readAllLines(`${dir}/dead`)).map((l) => JSON.parse(l)),
      };
      await removeDir(dir);
      return result;
    },
  };
}

async function until(condition: () => boolean, ms = 10_000): Promise<void> {
  const deadline = performance.now() + ms;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`Condition not met within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The listener accepts TLS 1.2 and 1.3, and an impostor chooses: both are tried. */
const VERSIONS: { name: string; connect(options: TlsClientOptions): Promise<TlsTestClient> }[] = [
  { name: "TLS 1.3", connect: (options) => Tls13Client.connect(options) },
  { name: "TLS 1.2", connect: (options) => Tls12Client.connect(options) },
];

/** What the server did to a hand-made client. */
interface Attempt {
  /** Whether the handshake got as far as the client's data (TLS 1.2: the server's Finished). */
  connected: boolean;
  /** Whether the server asked for a certificate. */
  requested: boolean;
  /** The alerts the server sent, during the handshake or after it. */
  alerts: string[];
  /** How the connection ended. */
  end?: ServerOutcome["end"];
}

/**
 * Connects with the hand-made client as `identity`, sends the TDM and
 * close_notify, and reads what the server does until it closes. A refusal
 * comes as an alert: in TLS 1.2 before the handshake completes for the
 * client, in TLS 1.3 after the client's Finished (the server checks the
 * client's flight after sending its own).
 */
async function attempt(
  version: (typeof VERSIONS)[number],
  port: number,
  identity: ClientIdentity,
): Promise<Attempt> {
  let client: TlsTestClient;
  try {
    client = await version.connect({ hostname: "127.0.0.1", port, identity });
  } catch (error) {
    if (!(error instanceof TlsAlertError)) throw error;
    return {
      connected: false,
      requested: error.certificateRequested ?? false,
      alerts: [alertName(error.description)],
      end: error.end,
    };
  }
  try {
    // A refused client's writes may meet a closed connection: the outcome says what happened.
    await client.write(enc.encode(TDM)).catch(() => {});
    await client.closeNotify().catch(() => {});
    const outcome = await client.outcome();
    return {
      connected: true,
      requested: client.certificateRequested,
      alerts: outcome.alerts.map(alertName),
      end: outcome.end,
    };
  } finally {
    client.close();
  }
}

/** An impostor's handshake fails on the server: a fatal alert, a refusal counted, nothing read or logged. */
async function assertRefused(
  version: (typeof VERSIONS)[number],
  identity: ClientIdentity,
  alert: string,
): Promise<void> {
  const t = await setup();
  try {
    const result = await attempt(version, t.source.port, identity);
    assert.equal(result.requested, true, "the listener asks for a client certificate");
    assert.deepEqual(result.alerts, [alert]);
    assert.ok(
      result.end === "closed" || result.end === "reset",
      `the server ended it: ${result.end}`,
    );
    await until(() => t.counters().connections_refused_handshake_failed === 1);
    const counters = t.counters();
    assert.equal(counters.connections_refused, 1);
    assert.equal(counters.connections_accepted, 0);
    assert.equal(counters.reads, 0);
    assert.equal(counters.bytes, 0);
    assert.equal(counters.observations, 0);
  } finally {
    const { observations, deadLetters } = await t.finish();
    assert.deepEqual(observations, []);
    assert.deepEqual(deadLetters, []);
  }
}

/** A key of the impostor's own: not the one in the certificate it presents. */
const impostorKey = (await crypto.subtle.generateKey(
  { name: "ECDSA", namedCurve: "P-256" },
  false,
  ["sign", "verify"],
)).privateKey;

for (const version of VERSIONS) {
  Deno.test(`Radar TLS listener logs TDM from the hand-made ${version.name} client holding its certificate's key`, async () => {
    // The control: the client that fails below is a correct TLS client when honest.
    const t = await setup();
    const result = await attempt(version, t.source.port, {
      chain: [der(ops.cert)],
      verify: { sign: await signingKey(ops) },
    });
    assert.equal(result.connected, true);
    assert.equal(result.requested, true);
    // No fatal alert; close_notify answers the client's.
    assert.deepEqual(result.alerts.filter((a) => a !== "close_notify"), []);
    await until(() => t.counters().connections_closed_peer === 1);
    assert.equal(t.counters().connections_refused, 0);
    assert.equal(t.counters().connections_accepted, 1);
    const { observations, deadLetters } = await t.finish();
    assert.deepEqual(deadLetters, []);
    assert.equal(observations.length, 1);
    assert.equal(observations[0].sensor, "XR1");
    assert.equal(observations[0].provenance.client, "XR1-OPS");
  });

  Deno.test(`Radar TLS listener refuses a client certificate presented without its private key (${version.name})`, async () => {
    // The impostor has XR1-OPS's certificate (certificates are public) but
    // not its key: it signs a well-formed CertificateVerify with its own.
    await assertRefused(
      version,
      { chain: [der(ops.cert)], verify: { sign: impostorKey } },
      "decrypt_error",
    );
  });

  Deno.test(`Radar TLS listener refuses a client certificate with a garbage CertificateVerify signature (${version.name})`, async () => {
    await assertRefused(
      version,
      { chain: [der(ops.cert)], verify: { signature: crypto.getRandomValues(new Uint8Array(71)) } },
      "decrypt_error",
    );
  });

  Deno.test(`Radar TLS listener refuses a client certificate sent without a CertificateVerify (${version.name})`, async () => {
    await assertRefused(version, { chain: [der(ops.cert)], verify: "omit" }, "unexpected_message");
  });
}
