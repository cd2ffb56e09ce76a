/** ISL packets built byte by byte from the SPEC §6 tables, independent of the codec. */

/** CRC-16/CCITT-FALSE, bit by bit, independent of the codec. */
export function crc(bytes: Uint8Array): number {
  let value = 0xffff;
  for (const byte of bytes) {
    value ^= byte << 8;
    for (let bit = 0; bit < 8; bit++) {
      value = value & 0x8000 ? ((value << 1) ^ 0x1021) & 0xffff : (value << 1) & 0xffff;
    }
  }
  return value;
}

/** A beacon packet built field by field with a DataView, from the SPEC §6 table. */
export function beaconByHand(flags: number, target: number): Uint8Array {
  const bytes = new Uint8Array(96);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, 0x0800 | 12); // version 0, TM, secondary header flag 1, APID 12
  view.setUint16(2, 0xc000 | 9999); // unsegmented, sequence count 9999
  view.setUint16(4, 89); // data length
  view.setUint8(6, 0x1e); // CUC P-field
  // 2026-11-25T12:00:00 UTC = 12:00:37 TAI = 25165 days + 43237 s after 1958-01-01 TAI.
  view.setUint32(7, 25165 * 86400 + 43237);
  view.setUint16(11, 0x1234); // 4660 × 2^-16 s = 71105.957… µs
  view.setUint32(13, 123456); // gateway index
  view.setUint32(17, 60005); // observer
  view.setUint32(21, target);
  view.setFloat64(25, 371.123456789); // range
  view.setFloat64(33, -0.0123); // range rate
  view.setFloat32(41, 0.25); // range 1σ
  [1234.5, -6543.25, 1.125].forEach((x, i) => view.setFloat64(45 + 8 * i, x));
  [7.5, 0.25, -0.125].forEach((v, i) => view.setFloat64(69 + 8 * i, v));
  view.setUint8(93, flags);
  view.setUint16(94, crc(bytes.subarray(0, 94)));
  return bytes;
}

/** A status packet built field by field with a DataView. */
export function statusByHand(
  seq: number,
  oldest: number,
  newest: number,
  count: number,
): Uint8Array {
  const bytes = new Uint8Array(18);
  const view = new DataView(bytes.buffer);
  view.setUint16(0, 0x07fe); // version 0, TM, no secondary header, APID 0x7FE
  view.setUint16(2, 0xc000 | seq);
  view.setUint16(4, 11);
  view.setUint32(6, oldest);
  view.setUint32(10, newest);
  view.setUint16(14, count);
  view.setUint16(16, crc(bytes.subarray(0, 16)));
  return bytes;
}
