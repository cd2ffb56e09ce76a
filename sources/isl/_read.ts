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
