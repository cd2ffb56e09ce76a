/**
 * Field readers for packets whose framing has been checked.
 *
 * Portable: web APIs only.
 *
 * @module
 */

import type { Beacon } from "./beacon.ts";
import type { StatusPacket } from "./status_packet.ts";

/** Reads the fields of a status packet whose framing has been checked. */
export function readStatus(view: DataView, offset: number): StatusPacket {
  return {
    seq: view.getUint16(offset + 2) & 0x3fff,
    oldest: view.getUint32(offset + 6),
    newest: view.getUint32(offset + 10),
    count: view.getUint16(offset + 14),
  };
}

/** Reads the fields of a beacon packet already checked by the framing. */
export function readBeacon(view: DataView, offset: number): Beacon {
  return {
    apid: view.getUint16(offset) & 0x7ff,
    seq: view.getUint16(offset + 2) & 0x3fff,
    coarse: view.getUint32(offset + 7),
    fine: view.getUint16(offset + 11),
    index: view.getUint32(offset + 13),
    observer: view.getUint32(offset + 17),
    target: view.getUint32(offset + 21),
    range_km: view.getFloat64(offset + 25),
    range_rate_km_s: view.getFloat64(offset + 33),
    range_sigma_km: view.getFloat32(offset + 41),
    r_km: [
      view.getFloat64(offset + 45),
      view.getFloat64(offset + 53),
      view.getFloat64(offset + 61),
    ],
    v_km_s: [
      view.getFloat64(offset + 69),
      view.getFloat64(offset + 77),
      view.getFloat64(offset + 85),
    ],
    flags: view.getUint8(offset + 93),
  };
}

/**
 * Reads a beacon's fields into `into` (a reused object: the hot path of the
 * poller allocates no intermediate beacon). The position and velocity
 * arrays are new each time: observations keep them.
 */
export function readBeaconInto(view: DataView, offset: number, into: Beacon): Beacon {
  into.apid = view.getUint16(offset) & 0x7ff;
  into.seq = view.getUint16(offset + 2) & 0x3fff;
  into.coarse = view.getUint32(offset + 7);
  into.fine = view.getUint16(offset + 11);
  into.index = view.getUint32(offset + 13);
  into.observer = view.getUint32(offset + 17);
  into.target = view.getUint32(offset + 21);
  into.range_km = view.getFloat64(offset + 25);
  into.range_rate_km_s = view.getFloat64(offset + 33);
  into.range_sigma_km = view.getFloat32(offset + 41);
  into.r_km = [
    view.getFloat64(offset + 45),
    view.getFloat64(offset + 53),
    view.getFloat64(offset + 61),
  ];
  into.v_km_s = [
    view.getFloat64(offset + 69),
    view.getFloat64(offset + 77),
    view.getFloat64(offset + 85),
  ];
  into.flags = view.getUint8(offset + 93);
  return into;
}
