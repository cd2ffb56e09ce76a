import assert from "node:assert/strict";
import type { DeadLetter } from "../../../envelope/dead_letter.ts";
import type { Observation } from "../../../envelope/observation.ts";
import { encodeBeacon } from "../../../sources/isl/beacon.ts";
import { GatewayPoller } from "../../../sources/isl/gateway_poller.ts";
import { decodePoll } from "../../../sources/isl/poll_request.ts";
import { encodeStatus } from "../../../sources/isl/status_packet.ts";
import { handBeacon } from "./_make_fixtures.ts";

/** 2026-11-26T00:00:00Z: the beacons are from the 12 hours before (t_obs may be at most a day after receipt). */
const RX = 1_795_651_200_000_000;
const ctx = { source: "isl", transport: "udp" as const, peer: "127.0.0.1:7003", now: () => RX };

/** Link sequence count of the beacon with gateway index `i` (APID 1), overridable per test. */
type Seqs = (index: number) => number;
const plain: Seqs = (i) => i;

function beacon(index: number, seqs: Seqs = plain, corrupt = false): Uint8Array {
  const fields = handBeacon(index, 1, seqs(index) % 16384);
  // Within the hour after 2026-11-25T12:00Z whatever the index.
  fields.coarse -= index - (index % 3600);
  const bytes = encodeBeacon(fields);
  if (corrupt) bytes[30] ^= 0x10;
  return bytes;
}

function datagram(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function status(seq: number, oldest: number, newest: number, count: number): Uint8Array {
  return encodeStatus({ seq, oldest, newest, count });
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

function sink() {
  return { observations: [] as Observation[], deadLetters: [] as DeadLetter[] };
}

const refs = (out: { observations: Observation[] }) =>
  out.observations.map((o) => Number(o.provenance.ref));

Deno.test("GatewayPoller() ignores the answer to an older poll, beacons and all (SPEC §6)", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 10 });
  poller.restore({ after: 0, seqs: { "1": 0 } });
  const old = decodePoll(poller.poll());
  const current = decodePoll(poller.poll());
  assert.equal(current.seq, old.seq + 1);
  const out = sink();
  // The old answer says oldest 5 (1…4 lost): as a stale status, it counts
  // nothing, and neither its beacons nor those of the status-less datagram
  // after it are taken.
  const stale = poller.receive(datagram([status(old.seq, 5, 9, 2), beacon(1), beacon(2)]), RX, out);
  assert.deepEqual(stale, { advanced: false, complete: false, full: false, retry: false });
  poller.receive(datagram([beacon(3)]), RX, out);
  assert.deepEqual(refs(out), []);
  assert.equal(poller.counters.stale_answers, 1);
  assert.equal(poller.counters.stale_packets, 3);
  assert.equal(poller.counters.beacons, 0);
  assert.equal(poller.watermark, 0);
  const fresh = poller.receive(
    datagram([status(current.seq, 1, 3, 3), beacon(1), beacon(2), beacon(3)]),
    RX,
    out,
  );
  assert.deepEqual(fresh, { advanced: true, complete: true, full: false, retry: false });
  assert.deepEqual(refs(out), [1, 2, 3]);
  assert.deepEqual(poller.lost, { gateway: 0, link: 0, corrupt: 0 });
  assert.equal(poller.counters.stray_beacons, 0);
});

Deno.test("GatewayPoller() ignores a stale datagram in the middle of an answer, not the rest of the answer", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 10 });
  poller.restore({ after: 0, seqs: { "1": 0 } });
  const old = decodePoll(poller.poll());
  const current = decodePoll(poller.poll());
  const out = sink();
  poller.receive(datagram([status(current.seq, 1, 6, 6), beacon(1), beacon(2)]), RX, out);
  // A late (or forged) datagram of the older poll's answer: ignored alone.
  poller.receive(datagram([status(old.seq, 1, 6, 2), beacon(3), beacon(4)]), RX, out);
  assert.deepEqual(refs(out), [1, 2]);
  poller.receive(datagram([beacon(3), beacon(4)]), RX, out);
  const done = poller.receive(datagram([beacon(5), beacon(6)]), RX, out);
  assert.deepEqual(done, { advanced: true, complete: true, full: false, retry: false });
  assert.deepEqual(refs(out), [1, 2, 3, 4, 5, 6]);
  assert.equal(poller.counters.stale_answers, 1);
  assert.equal(poller.counters.stale_packets, 2);
  assert.equal(poller.watermark, 6);
});

Deno.test("GatewayPoller() counts what the gateway overwrote as lost and moves W to oldest − 1", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 4 });
  poller.restore({ after: 10 });
  const poll = decodePoll(poller.poll());
  assert.equal(poll.after, 10);
  const out = sink();
  // The ring now holds 101…200: 11…100 are gone.
  const progress = poller.receive(
    datagram([status(poll.seq, 101, 200, 4), ...range(101, 104).map((i) => beacon(i))]),
    RX,
    out,
  );
  assert.deepEqual(progress, { advanced: true, complete: true, full: true, retry: false });
  assert.deepEqual(poller.lost, { gateway: 90, link: 0, corrupt: 0 });
  assert.equal(poller.watermark, 104);
  // The link count jumps from before the loss; those beacons are gateway loss, not link loss.
  assert.deepEqual(refs(out), [101, 102, 103, 104]);
});

Deno.test("GatewayPoller() asks again for a corrupt beacon and counts it lost after 3 answers", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 5 });
  const letters: DeadLetter[] = [];
  for (let answer = 1; answer <= 3; answer++) {
    const poll = decodePoll(poller.poll());
    const out = sink();
    const first = poll.after + 1;
    const progress = poller.receive(
      datagram([
        status(poll.seq, 1, 5, 5 - poll.after),
        ...range(first, 5).map((i) => beacon(i, plain, i === 3)),
      ]),
      RX,
      out,
    );
    letters.push(...out.deadLetters);
    if (answer < 3) {
      // Index 3 is missing: re-poll at once from W = 2.
      assert.deepEqual(progress, {
        advanced: answer === 1,
        complete: false,
        full: false,
        retry: true,
      });
      assert.equal(poller.watermark, 2);
    } else {
      assert.deepEqual(progress, { advanced: true, complete: true, full: false, retry: false });
      assert.equal(poller.watermark, 5);
    }
  }
  assert.deepEqual(poller.lost, { gateway: 0, link: 0, corrupt: 1 });
  assert.deepEqual(letters.map((d) => [d.stage, d.ref]), [
    ["framing", "3"],
    ["framing", "3"],
    ["framing", "3"],
  ]);
  assert.match(letters[0].reason, /^Bad CRC/);
  assert.deepEqual(letters[0].raw, {
    base64: btoa(String.fromCharCode(...beacon(3, plain, true))),
  });
});

Deno.test("GatewayPoller() takes the index of a malformed packet right after the status from the status, and moves on after 3 answers", () => {
  // The answer's only beacon corrupt, or one whose length field took the
  // rest of the datagram: with no sound beacon beside it, its index was
  // never known, never counted lost, and W stayed before it for good (the
  // gateway sent the same answer every second).
  const swallowing = (index: number) => {
    const bytes = datagram([beacon(index), beacon(index + 1), beacon(index + 2)]);
    bytes[4] = 0xff; // data length 0xFFxx: past the end of the datagram
    return bytes;
  };
  for (
    const [what, answer] of [
      ["the only beacon, corrupt", (first: number) => [beacon(first, plain, true)]],
      ["a length that takes the rest", (first: number) => [swallowing(first)]],
    ] as const
  ) {
    const poller = new GatewayPoller({ ctx, maxPackets: 5 });
    poller.restore({ after: 4 });
    const letters: DeadLetter[] = [];
    for (let round = 1; round <= 3; round++) {
      const poll = decodePoll(poller.poll());
      assert.equal(poll.after, 4, what);
      const out = sink();
      const count = what.startsWith("the only") ? 1 : 3;
      poller.receive(datagram([status(poll.seq, 1, 4 + count, count), ...answer(5)]), RX, out);
      letters.push(...out.deadLetters);
    }
    assert.deepEqual(letters.map((d) => [d.stage, d.ref]), Array(3).fill(["framing", "5"]), what);
    assert.equal(poller.lost.corrupt, 1, what);
    assert.equal(poller.watermark, 5, what);
    // The next poll asks after it.
    assert.equal(decodePoll(poller.poll()).after, 5, what);
  }
  // A status its beacons contradict anchors nothing: the corrupt packet
  // before beacon 8 is 7, as the beacons say, not the status's first (5).
  const poller = new GatewayPoller({ ctx, maxPackets: 5 });
  poller.restore({ after: 4 });
  const poll = decodePoll(poller.poll());
  const out = sink();
  poller.receive(
    datagram([status(poll.seq, 1, 9, 3), beacon(7, plain, true), beacon(8), beacon(9)]),
    RX,
    out,
  );
  assert.deepEqual(out.deadLetters.map((d) => d.ref), ["7"]);
});

Deno.test("GatewayPoller() counts a link gap once, in index order, whatever is sent again", () => {
  // Link 1 counts 10, 11, 12, then 16: 13, 14, 15 never reached the gateway.
  const seqs: Seqs = (i) => (i <= 3 ? 9 + i : 12 + i);
  const poller = new GatewayPoller({ ctx, maxPackets: 6 });
  let poll = decodePoll(poller.poll());
  const out = sink();
  // Datagrams: [status, 1, 2], [3, 4] lost, [5, 6].
  poller.receive(datagram([status(poll.seq, 1, 6, 6), beacon(1, seqs), beacon(2, seqs)]), RX, out);
  const progress = poller.receive(datagram([beacon(5, seqs), beacon(6, seqs)]), RX, out);
  assert.deepEqual(progress, { advanced: false, complete: false, full: false, retry: true });
  assert.deepEqual(refs(out), [1, 2, 5, 6]); // 5 and 6 are emitted at once…
  assert.equal(poller.watermark, 2); // …but W stays before the gap
  assert.equal(poller.lost.link, 0);
  poll = decodePoll(poller.poll());
  assert.equal(poll.after, 2);
  const again = sink();
  poller.receive(
    datagram([status(poll.seq, 1, 6, 4), ...range(3, 6).map((i) => beacon(i, seqs))]),
    RX,
    again,
  );
  // 5 and 6 again are in the window already: not emitted twice.
  assert.deepEqual(refs(again), [3, 4]);
  assert.equal(poller.watermark, 6);
  assert.deepEqual(poller.lost, { gateway: 0, link: 3, corrupt: 0 });
});

Deno.test("GatewayPoller() does not count the 16383 → 0 wrap as link loss", () => {
  const seqs: Seqs = (i) => 16380 + i; // 16381, 16382, 16383, 0, 1
  const poller = new GatewayPoller({ ctx, maxPackets: 5 });
  const poll = decodePoll(poller.poll());
  poller.receive(
    datagram([status(poll.seq, 1, 5, 5), ...range(1, 5).map((i) => beacon(i, seqs))]),
    RX,
    sink(),
  );
  assert.equal(poller.watermark, 5);
  assert.deepEqual(poller.lost, { gateway: 0, link: 0, corrupt: 0 });
  assert.deepEqual(poller.state(), { after: 5, seqs: { "1": 1 } });
});

Deno.test("GatewayPoller() resumes link counting from a checkpoint", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 5 });
  poller.restore({ after: 4, seqs: { "1": 2 } });
  const poll = decodePoll(poller.poll());
  poller.receive(datagram([status(poll.seq, 1, 5, 1), beacon(5)]), RX, sink());
  assert.equal(poller.lost.link, 2); // 3 and 4 skipped between the checkpoint's 2 and 5
});

Deno.test("GatewayPoller() emits the beacons of an answer whose status is lost as they arrive", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 8 });
  poller.poll();
  const out = sink();
  // A datagram with room for another beacon ends its answer: complete, no timeout.
  const progress = poller.receive(datagram(range(1, 3).map((i) => beacon(i))), RX, out);
  assert.deepEqual(progress, { advanced: true, complete: true, full: false, retry: false });
  assert.deepEqual(refs(out), [1, 2, 3]);
  assert.equal(poller.watermark, 3);
  assert.equal(poller.counters.answers_without_status, 1);
  // Its status, late, is stale: the next poll has a new sequence count.
  const next = decodePoll(poller.poll());
  assert.equal(next.after, 3);
  poller.receive(datagram([status(next.seq - 1, 1, 3, 3)]), RX, out);
  assert.equal(poller.counters.stale_answers, 1);
});

Deno.test("GatewayPoller() completes a full answer from its beacons when its status is lost", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 28 });
  poller.poll();
  const out = sink();
  // Two full datagrams of 14 beacons: the whole window 1…28.
  let progress = poller.receive(datagram(range(1, 14).map((i) => beacon(i))), RX, out);
  assert.deepEqual(progress, { advanced: true, complete: false, full: false, retry: false });
  progress = poller.receive(datagram(range(15, 28).map((i) => beacon(i))), RX, out);
  assert.deepEqual(progress, { advanced: true, complete: true, full: true, retry: false });
  assert.deepEqual(refs(out), range(1, 28));
  assert.equal(poller.watermark, 28);
});

Deno.test("GatewayPoller() asks again at once when the datagram with the status is lost, and falls back to the timeout when that never helps", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 30 });
  let poll = decodePoll(poller.poll());
  const out = sink();
  // Datagrams: [status, 1…13] lost, [14…27], [28…30].
  const rest = () => {
    poller.receive(datagram(range(14, 27).map((i) => beacon(i))), RX, out);
    return poller.receive(datagram(range(28, 30).map((i) => beacon(i))), RX, out);
  };
  let progress = poller.receive(datagram(range(14, 27).map((i) => beacon(i))), RX, out);
  assert.deepEqual(progress, { advanced: false, complete: false, full: false, retry: false });
  assert.deepEqual(refs(out), range(14, 27)); // emitted without waiting for the gap or the status
  progress = poller.receive(datagram(range(28, 30).map((i) => beacon(i))), RX, out);
  // The last datagram arrived and 1…13 are missing: poll again now.
  assert.deepEqual(progress, { advanced: false, complete: false, full: false, retry: true });
  assert.equal(poller.watermark, 0);
  // The same loss again brings nothing new: asked again at once 3 times
  // (the datagram may be lost again), then only after the timeout.
  for (let attempt = 1; attempt <= 4; attempt++) {
    poll = decodePoll(poller.poll());
    assert.equal(poll.after, 0);
    assert.equal(rest().retry, attempt <= 3);
  }
  assert.deepEqual(poller.expire(), {
    advanced: false,
    complete: false,
    full: false,
    retry: false,
  });
  poll = decodePoll(poller.poll());
  progress = poller.receive(
    datagram([status(poll.seq, 1, 30, 30), ...range(1, 13).map((i) => beacon(i))]),
    RX,
    out,
  );
  assert.deepEqual(progress, { advanced: true, complete: true, full: true, retry: false });
  assert.equal(poller.watermark, 30);
  assert.deepEqual(refs(out), [...range(14, 30), ...range(1, 13)]); // each once
  assert.deepEqual(poller.lost, { gateway: 0, link: 0, corrupt: 0 });
});

Deno.test("GatewayPoller() stalled() ends an answer whose last datagram was lost", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 40 });
  let poll = decodePoll(poller.poll());
  const out = sink();
  // [status, 1…13], [14…27], [28…30] lost: nothing says the answer ended.
  poller.receive(
    datagram([status(poll.seq, 1, 30, 30), ...range(1, 13).map((i) => beacon(i))]),
    RX,
    out,
  );
  const progress = poller.receive(datagram(range(14, 27).map((i) => beacon(i))), RX, out);
  assert.deepEqual(progress, { advanced: true, complete: false, full: false, retry: false });
  // A pause: the burst is over, 28…30 are missing, the answer moved W: poll again now.
  assert.deepEqual(poller.stalled(), {
    advanced: false,
    complete: false,
    full: false,
    retry: true,
  });
  // Without its status, a burst that ended without a gap completes the answer.
  poll = decodePoll(poller.poll());
  assert.equal(poll.after, 27);
  poller.receive(datagram(range(28, 30).map((i) => beacon(i))), RX, out);
  // (that datagram has room for more: complete already; stalled() changes nothing)
  assert.deepEqual(poller.stalled(), {
    advanced: false,
    complete: false,
    full: false,
    retry: false,
  });
  assert.equal(poller.watermark, 30);
  poll = decodePoll(poller.poll());
  // Nothing of this answer has arrived: a pause says nothing yet.
  assert.deepEqual(poller.stalled(), {
    advanced: false,
    complete: false,
    full: false,
    retry: false,
  });
  assert.deepEqual(refs(out), range(1, 30));
});

Deno.test("GatewayPoller() goes back to W = 0 when the next answer confirms that the gateway restarted", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 8 });
  poller.restore({ after: 500, seqs: { "1": 7 } });
  const first = decodePoll(poller.poll());
  // newest 10 < W 500: a restart, or a forgery — not believed on one packet.
  const suspect = poller.receive(datagram([status(first.seq, 1, 10, 0)]), RX, sink());
  assert.deepEqual(suspect, { advanced: false, complete: false, full: false, retry: true });
  assert.equal(poller.counters.suspect_status, 1);
  assert.equal(poller.counters.gateway_resets, 0);
  assert.deepEqual(poller.state(), { after: 500, seqs: { "1": 7 } });
  // The poll is repeated with a new sequence count; its answer says the same.
  const second = decodePoll(poller.poll());
  assert.notEqual(second.seq, first.seq);
  assert.equal(second.after, 500);
  const progress = poller.receive(datagram([status(second.seq, 1, 12, 0)]), RX, sink());
  assert.deepEqual(progress, { advanced: true, complete: true, full: false, retry: false });
  assert.equal(poller.counters.gateway_resets, 1);
  assert.deepEqual(poller.state(), { after: 0, seqs: {} });
  assert.equal(decodePoll(poller.poll()).after, 0);
});

Deno.test("GatewayPoller() does not act on one forged status that claims 4,000,000,000 beacons", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 8 });
  poller.restore({ after: 439_995, seqs: { "1": 439_995 % 16384 } });
  const poll = decodePoll(poller.poll());
  const forged = poller.receive(
    datagram([status(poll.seq, 4_000_000_000, 4_000_000_000, 0)]),
    RX,
    sink(),
  );
  assert.deepEqual(forged, { advanced: false, complete: false, full: false, retry: true });
  assert.deepEqual(poller.lost, { gateway: 0, link: 0, corrupt: 0 });
  assert.equal(poller.watermark, 439_995);
  // The real answer to the same poll comes after it: its status is stale
  // now, its beacons are taken all the same.
  const out = sink();
  const real = [status(poll.seq, 1, 439_999, 4), ...range(439_996, 439_999).map((i) => beacon(i))];
  poller.receive(datagram(real), RX, out);
  assert.equal(poller.counters.stale_answers, 1);
  assert.equal(poller.watermark, 439_999);
  // The repeated poll has a new sequence count; its genuine answer does not confirm the jump.
  const again = decodePoll(poller.poll());
  assert.notEqual(again.seq, poll.seq);
  assert.equal(again.after, 439_999);
  const progress = poller.receive(datagram([status(again.seq, 1, 439_999, 0)]), RX, out);
  assert.deepEqual(progress, { advanced: false, complete: true, full: false, retry: false });
  assert.deepEqual(refs(out), [439_996, 439_997, 439_998, 439_999]);
  assert.equal(poller.watermark, 439_999);
  assert.deepEqual(poller.lost, { gateway: 0, link: 0, corrupt: 0 });
  assert.equal(poller.counters.suspect_status, 1);
  assert.equal(poller.counters.gateway_resets, 0);
});

Deno.test("GatewayPoller() counts a gateway loss above maxLossJump once the next answer confirms it", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 2, maxLossJump: 1000 });
  poller.restore({ after: 10 });
  let poll = decodePoll(poller.poll());
  // 11…2011 gone: 2001 > 1000, suspect.
  const answer = (seq: number) =>
    datagram([status(seq, 2012, 3000, 2), beacon(2012), beacon(2013)]);
  assert.equal(poller.receive(answer(poll.seq), RX, sink())?.retry, true);
  assert.deepEqual(poller.lost, { gateway: 0, link: 0, corrupt: 0 });
  assert.equal(poller.watermark, 10);
  poll = decodePoll(poller.poll());
  const out = sink();
  const progress = poller.receive(answer(poll.seq), RX, out);
  assert.deepEqual(progress, { advanced: true, complete: true, full: true, retry: false });
  assert.deepEqual(poller.lost, { gateway: 2001, link: 0, corrupt: 0 });
  assert.equal(poller.watermark, 2013);
  assert.deepEqual(refs(out), [2012, 2013]);
  assert.equal(poller.counters.suspect_status, 1);
  // A loss of at most maxLossJump needs no confirmation.
  poll = decodePoll(poller.poll());
  poller.receive(datagram([status(poll.seq, 3014, 4000, 0)]), RX, sink());
  assert.deepEqual(poller.lost, { gateway: 3001, link: 0, corrupt: 0 });
  assert.equal(poller.counters.suspect_status, 1);
  assert.throws(() => new GatewayPoller({ ctx, maxLossJump: -1 }), RangeError);
});

Deno.test("GatewayPoller() yields one dead letter and every good beacon of a datagram with one corrupt packet", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 6 });
  const poll = decodePoll(poller.poll());
  const out = sink();
  const progress = poller.receive(
    datagram([status(poll.seq, 1, 6, 6), ...range(1, 6).map((i) => beacon(i, plain, i === 4))]),
    RX,
    out,
  );
  assert.deepEqual(refs(out), [1, 2, 3, 5, 6]);
  assert.deepEqual(out.deadLetters.map((d) => [d.stage, d.ref, d.peer]), [
    ["framing", "4", "127.0.0.1:7003"],
  ]);
  assert.equal(poller.watermark, 3);
  assert.equal(progress?.retry, true);
});

Deno.test("GatewayPoller() rejects a status that contradicts itself", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 4 });
  const poll = decodePoll(poller.poll());
  // count 9 > max 4: ignored, while the beacons with it are taken (and,
  // as without a status, a datagram with room for more ends the answer).
  const out = sink();
  const progress = poller.receive(datagram([status(poll.seq, 1, 20, 9), beacon(1)]), RX, out);
  assert.deepEqual(progress, { advanced: true, complete: true, full: false, retry: false });
  assert.equal(poller.counters.answers_without_status, 1);
  assert.equal(poller.counters.bad_status, 1);
  assert.deepEqual(refs(out), [1]);
  assert.throws(() => new GatewayPoller({ ctx, maxPackets: 65536 }), RangeError);
});

Deno.test("GatewayPoller() rejects a status whose oldest is above its newest, twice over, instead of taking it for a restart", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 8 });
  poller.restore({ after: 500, seqs: { "1": 7 } });
  for (let k = 0; k < 2; k++) {
    const poll = decodePoll(poller.poll());
    // newest 3 < W 500 would read as a restart; oldest 1,500 > newest 3 is no ring at all.
    poller.receive(datagram([status(poll.seq, 1500, 3, 0)]), RX, sink());
  }
  assert.equal(poller.counters.bad_status, 2);
  assert.equal(
    poller.counters.gateway_resets,
    0,
    "the old poller went back to W = 0 (then again and again)",
  );
  assert.deepEqual(poller.state(), { after: 500, seqs: { "1": 7 } });
});

Deno.test("GatewayPoller() with deferMapping hands on the packets of exactly the beacons it would map", async () => {
  const { mapBeaconsHere } = await import("../../../sources/isl/map_beacons.ts");
  const datagrams = (seq: number) => [
    // 1…6 with 4 corrupt, then 4 again sound, 2 again (a repeat), 10 (beyond the window 4…9).
    datagram([status(seq, 1, 9, 6), ...range(1, 6).map((i) => beacon(i, plain, i === 4))]),
    datagram([beacon(4), beacon(2), beacon(10)]),
  ];
  const here = new GatewayPoller({ ctx, maxPackets: 6 });
  const deferred = new GatewayPoller({ ctx, maxPackets: 6, deferMapping: true });
  const mapped = sink();
  const handed: { observations: Observation[]; deadLetters: DeadLetter[]; packets?: Uint8Array[] } =
    sink();
  const seqHere = decodePoll(here.poll()).seq;
  const seqDeferred = decodePoll(deferred.poll()).seq;
  for (const d of datagrams(seqHere)) here.receive(d, RX, mapped);
  for (const d of datagrams(seqDeferred)) deferred.receive(d, RX, handed);
  // Nothing mapped by the deferred poller; its framing dead letter as before.
  assert.equal(handed.observations.length, 0);
  assert.deepEqual(handed.deadLetters.map((d) => d.ref), ["4"]);
  assert.deepEqual(mapped.deadLetters.map((d) => d.ref), ["4"]);
  // Its packets map to the very observations the other poller made.
  const packets = datagram(handed.packets!);
  assert.equal(packets.length, 6 * 96);
  const elsewhere = await mapBeaconsHere(packets, ctx, RX);
  assert.deepEqual(elsewhere.observations, mapped.observations);
  assert.deepEqual(refs(elsewhere), [1, 2, 3, 5, 6, 4]);
  // The state moved alike.
  assert.equal(deferred.watermark, here.watermark);
  assert.deepEqual(deferred.state(), here.state());
  assert.deepEqual(deferred.counters, here.counters);
  // A beacon that did not map after all is counted as rejected.
  deferred.rejectedLater(1);
  assert.equal(deferred.counters.beacons, here.counters.beacons - 1);
  assert.equal(deferred.counters.rejected_beacons, 1);
});

Deno.test("GatewayPoller.restore() refuses a saved state that is not a watermark instead of starting from 0", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 10 });
  for (const state of ["v1.2989", {}, null, 42]) {
    assert.throws(
      () => poller.restore(state as never),
      /Cannot resume from a saved state that is not an ISL watermark/,
      JSON.stringify(state),
    );
  }
  poller.restore(undefined); // a first start
  assert.equal(poller.watermark, 0);
  poller.restore({ after: 1981 });
  assert.equal(poller.watermark, 1981);
});

Deno.test("GatewayPoller() counts no 16,383-count jump for a beacon its link delivered late or twice (SPEC §6: skipped counts are the ones never received)", () => {
  for (
    const [what, order, lost] of [
      // 5 came after 6: counted lost at 6 (not known yet), then late — not 16,382 more.
      ["late", [1, 2, 3, 4, 6, 5, 7], 1],
      // 4 relayed again after 5.
      ["twice", [1, 2, 3, 4, 5, 4, 6], 0],
      // A real gap across the wrap still counts: 16380 → 2 skips 16381–16383, 0, 1.
      ["wrap gap", [16378, 16379, 16380, 2, 3, 4, 5], 5],
    ] as const
  ) {
    const poller = new GatewayPoller({ ctx, maxPackets: 7 });
    const poll = decodePoll(poller.poll());
    const beacons = order.map((seq, i) => {
      const fields = handBeacon(i + 1, 1, seq);
      // The time a link count was observed: it follows the count, not the index.
      fields.coarse = handBeacon(0, 1, 0).coarse + (order[0] > seq ? seq + 16384 : seq);
      return encodeBeacon(fields);
    });
    poller.receive(datagram([status(poll.seq, 1, 7, 7), ...beacons]), RX, sink());
    assert.equal(poller.watermark, 7, what);
    assert.deepEqual(poller.lost, { gateway: 0, link: lost, corrupt: 0 }, what);
  }
});

Deno.test("GatewayPoller() counts an empty datagram and lets it end nothing", () => {
  const poller = new GatewayPoller({ ctx, maxPackets: 4 });
  const poll = decodePoll(poller.poll());
  const out = sink();
  poller.receive(datagram([status(poll.seq, 1, 4, 4), beacon(1), beacon(2)]), RX, out);
  // Room for more beacons, but no bytes: not this answer's last datagram.
  const progress = poller.receive(new Uint8Array(0), RX, out);
  assert.deepEqual(progress, { advanced: false, complete: false, full: false, retry: false });
  assert.equal(poller.counters.empty_datagrams, 1);
  poller.receive(datagram([beacon(3), beacon(4)]), RX, out);
  assert.deepEqual(refs(out), [1, 2, 3, 4]);
  assert.equal(poller.watermark, 4);
});
