import assert from "node:assert/strict";
import { ObservationSchema } from "../../envelope/observation.ts";
import { serializeObservation } from "../../envelope/serialize.ts";
import { admissionProblem, type DecodeContext } from "../../sources/decode_context.ts";
import { radarObservation } from "../_observations.ts";

const RX = Date.UTC(2026, 10, 25, 12) * 1000;

Deno.test("admissionProblem() bounds t_obs between 1957-10-04 and one day after receipt", () => {
  const ctx: DecodeContext = { source: "xr1", transport: "tcp", peer: "p" };
  assert.equal(admissionProblem(ctx, "XR1", "1957-10-04T00:00:00.000000Z", RX), undefined);
  assert.match(admissionProblem(ctx, "XR1", "1957-10-03T23:59:59.999999Z", RX)!, /before 1957/);
  assert.match(admissionProblem(ctx, "XR1", "0000-01-01T00:00:00.000000Z", RX)!, /before 1957/);
  assert.equal(admissionProblem(ctx, "XR1", "2026-11-26T12:00:00.000000Z", RX), undefined);
  assert.match(admissionProblem(ctx, "XR1", "2026-11-26T12:00:00.000001Z", RX)!, /one day after/);
  assert.match(admissionProblem(ctx, "XR1", "9999-12-31T23:59:59.999999Z", RX)!, /one day after/);
  // A leap second sorts between :59 and the next minute.
  assert.equal(admissionProblem(ctx, "XR1", "2016-12-31T23:59:60.500000Z", RX), undefined);
});

Deno.test("admissionProblem() in replay bounds t_obs by the replay's start", () => {
  const ctx: DecodeContext = {
    source: "r",
    transport: "replay",
    peer: "f",
    deterministic: true,
    startedAt: RX,
  };
  assert.equal(admissionProblem(ctx, "S", "2026-11-25T13:00:00.000000Z", 0), undefined);
  assert.match(admissionProblem(ctx, "S", "2026-11-27T00:00:00.000000Z", 0)!, /replay started/);
});

Deno.test("admissionProblem() names the source or the client that may not send a sensor", () => {
  const t = "2026-11-25T12:00:00.000000Z";
  const bySource: DecodeContext = {
    source: "xr1",
    transport: "tcp",
    peer: "p",
    sensors: new Set(["XR1", "XR2"]),
  };
  assert.equal(admissionProblem(bySource, "XR2", t, RX), undefined);
  assert.equal(
    admissionProblem(bySource, "XR3", t, RX),
    "sensor XR3 is not permitted for source xr1",
  );
  const byClient: DecodeContext = {
    ...bySource,
    client: "XR1-OPS",
    clientSensors: new Set(["XR1"]),
  };
  assert.equal(admissionProblem(byClient, "XR1", t, RX), undefined);
  assert.equal(
    admissionProblem(byClient, "XR2", t, RX),
    "sensor XR2 is not permitted for client XR1-OPS",
  );
});

Deno.test("serializeObservation() writes provenance.client after peer, only when present", () => {
  const plain = radarObservation(1);
  assert.ok(!serializeObservation(plain).includes('"client"'));
  const authenticated = {
    ...plain,
    provenance: { ...plain.provenance, client: "XR1-OPS" },
  };
  const line = serializeObservation(authenticated);
  assert.ok(
    line.includes(`"peer":${JSON.stringify(plain.provenance.peer)},"client":"XR1-OPS","ref":`),
  );
  assert.deepEqual(ObservationSchema.parse(JSON.parse(line)), authenticated);
});
