/**
 * Gateway indexes of malformed packets, from the sound beacons around them.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { IslPacket, PacketFault } from "./decode_datagram.ts";
import { BEACON_BYTES } from "./_layout.ts";

/**
 * The index of each fault, or `undefined` where it cannot be known. Beacons
 * of an answer carry consecutive indexes (SPEC §6), so a malformed packet
 * between two sound beacons whose indexes are as far apart as their
 * positions takes the index its position gives. With a sound beacon on one
 * side only, a beacon-sized (96-byte) packet still takes it; anything else
 * (a damaged status packet, a run that is not consecutive) stays unknown.
 * Positions count every packet except sound status packets.
 *
 * `anchor`, when known, is the index of the packet in slot 0 — the one
 * right after the poll's status, whose `first` it is — so a malformed
 * packet there takes it whatever its size (one whose length field took the
 * rest of the datagram, the answer's only beacon), and it counts as a sound
 * beacon before the others: without it, such a packet's index was never
 * known, it was never counted lost, and `W` stayed before it for good. A
 * sound beacon of the datagram that disagrees with it (index − anchor ≠
 * its slot) voids it.
 */
export function inferFaultIndexes(
  packets: readonly IslPacket[],
  faults: readonly PacketFault[],
  anchor?: number,
): (number | undefined)[] {
  const out: (number | undefined)[] = new Array(faults.length);
  if (faults.length === 0) return out;
  // Slots of the sound beacons, in datagram order.
  const slots: number[] = [];
  const indexes: number[] = [];
  let statusBefore = 0;
  let p = 0;
  const slotOf = (position: number): number => {
    while (p < packets.length && packets[p].position < position) {
      const packet = packets[p];
      if (packet.type === "status") statusBefore++;
      p++;
    }
    return position - statusBefore;
  };
  const faultSlots = new Array<number>(faults.length);
  let f = 0;
  for (let i = 0; i <= packets.length; i++) {
    const position = i < packets.length ? packets[i].position : Infinity;
    while (f < faults.length && faults[f].position < position) {
      faultSlots[f] = slotOf(faults[f].position);
      f++;
    }
    if (i < packets.length) {
      const packet = packets[i];
      if (packet.type === "beacon") {
        slots.push(slotOf(packet.position));
        indexes.push(packet.beacon.index);
      } else {
        slotOf(packet.position);
      }
    }
  }
  // Only a status its own beacons agree with anchors anything (one out of
  // spec, or forged, would blame the wrong index).
  if (anchor !== undefined && slots.length > 0 && indexes[0] - anchor !== slots[0]) {
    anchor = undefined;
  }
  if (anchor !== undefined && slots[0] !== 0) {
    slots.unshift(0);
    indexes.unshift(anchor);
  }
  let next = 0;
  for (let k = 0; k < faults.length; k++) {
    const slot = faultSlots[k];
    if (anchor !== undefined && slot === 0) {
      out[k] = anchor;
      continue;
    }
    while (next < slots.length && slots[next] < slot) next++;
    const before = next - 1;
    const hasAfter = next < slots.length;
    out[k] = faultIndex(
      slot,
      faults[k].bytes.length === BEACON_BYTES,
      before >= 0 ? slots[before] : -1,
      before >= 0 ? indexes[before] : 0,
      hasAfter ? slots[next] : -1,
      hasAfter ? indexes[next] : 0,
    );
  }
  return out;
}

/**
 * The rule itself, for one malformed packet in `slot` between the sound
 * beacon before it (`beforeSlot` −1: none) and the one after it
 * (`afterSlot` −1: none) — shared with `IslStreamDecoder`, which applies it
 * as the beacons arrive.
 */
export function faultIndex(
  slot: number,
  beaconSized: boolean,
  beforeSlot: number,
  beforeIndex: number,
  afterSlot: number,
  afterIndex: number,
): number | undefined {
  if (beforeSlot >= 0 && afterSlot >= 0) {
    const consecutive = afterIndex - beforeIndex === afterSlot - beforeSlot;
    return consecutive ? beforeIndex + (slot - beforeSlot) : undefined;
  }
  if (beforeSlot >= 0 && beaconSized) return beforeIndex + (slot - beforeSlot);
  if (afterSlot >= 0 && beaconSized) {
    const index = afterIndex - (afterSlot - slot);
    return index >= 1 ? index : undefined;
  }
  return undefined;
}
