/**
 * Large request bodies for the edge tests and benchmark, generated as they
 * are sent (64 KiB at a time): 100 MB is never held, by the test either.
 *
 * @module
 */

import { EPOCH_1958_MICROS, formatTimestamp } from "../../envelope/time.ts";
import { encodeBeacon } from "../../sources/isl/beacon.ts";

const CHUNK = 64 * 1024;
const encoder = new TextEncoder();

/** A generated body: its stream, and how many observations it holds once read. */
export interface Generated {
  stream: ReadableStream<Uint8Array>;
  /** Observations generated so far (all of them once the stream is done). */
  count(): number;
}

/** First t_obs: an hour ago, so that every one is a valid receipt-time observation. */
function start(): number {
  return Math.floor(Date.now() / 1000) * 1_000_000 - 3_600_000_000;
}

/** A stream of text produced `make(i)` by `make(i)` until `bytes` (or `count` items) are out. */
function textStream(
  head: string,
  make: (i: number) => string,
  tail: string,
  limit: { bytes?: number; count?: number },
): Generated {
  let i = 0;
  let sent = 0;
  let ended = false;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (ended) return controller.close();
      let text = i === 0 && sent === 0 ? head : "";
      while (text.length < CHUNK) {
        if ((limit.bytes !== undefined && sent + text.length >= limit.bytes) || i === limit.count) {
          text += tail;
          ended = true;
          break;
        }
        text += make(i++);
      }
      const bytes = encoder.encode(text);
      sent += bytes.length;
      controller.enqueue(bytes);
    },
  }, { highWaterMark: 0 });
  return { stream, count: () => i };
}

/** CCSDS TDM: one message, one segment, five data lines per observation (as a radar sends). */
export function radarBody(limit: { bytes?: number; count?: number }): Generated {
  const t0 = start();
  const head = "CCSDS_TDM_VERS = 2.0\nCREATION_DATE = 2026-11-25T12:00:00\n" +
    "ORIGINATOR = XR1-OPS\nMESSAGE_ID = XR1-GEN\nMETA_START\nTIME_SYSTEM = UTC\n" +
    "PARTICIPANT_1 = XR1\nPARTICIPANT_2 = 49863\nMODE = SEQUENTIAL\nPATH = 2,1,2\n" +
    "ANGLE_TYPE = AZEL\nRANGE_UNITS = km\nMETA_STOP\nDATA_START\n";
  return textStream(
    head,
    (i) => {
      const t = formatTimestamp(t0 + i * 1000).slice(0, -1);
      const f = (i % 1000) / 1000;
      return `RANGE = ${t} ${(1234.5 + f).toFixed(6)}\n` +
        `DOPPLER_INSTANTANEOUS = ${t} ${(-1.2 - f).toFixed(6)}\n` +
        `ANGLE_1 = ${t} ${(120 + f * 90).toFixed(6)}\n` +
        `ANGLE_2 = ${t} ${(10 + f * 45).toFixed(6)}\n` +
        `RCS = ${t} ${(1.2 + f).toFixed(3)}\n`;
    },
    "DATA_STOP\n",
    limit,
  );
}

/** An archive page as CSV, every column of SPEC §5. */
export function opticalBody(limit: { bytes?: number; count?: number }): Generated {
  const t0 = start();
  const head = "id,obTime,idSensor,satNo,origObjectId,ra,declination,raUnc,declinationUnc," +
    "mag,magUnc,senlat,senlon,senalt,referenceFrame,uct,dataMode,source\n";
  return textStream(
    head,
    (i) => {
      const f = (i % 1000) / 1000;
      return `GEN-${i},${formatTimestamp(t0 + i * 10_000)},MAUI-EO-1,${49863 + (i % 240)},,` +
        `${(f * 359).toFixed(6)},${(f * 170 - 85).toFixed(6)},0.000278,0.000278,` +
        `5.5,0.12,20.7083,-156.2571,3.05,J2000,false,REAL,bench\n`;
    },
    "",
    limit,
  );
}

/** Beacon packets back to back (96 bytes each). */
export function islBody(limit: { bytes?: number; count?: number }): Generated {
  const t0 = start();
  const perChunk = Math.floor(CHUNK / 96);
  const total = limit.count ?? Math.ceil((limit.bytes ?? 0) / 96);
  let i = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i >= total) return controller.close();
      const n = Math.min(perChunk, total - i);
      const bytes = new Uint8Array(n * 96);
      for (let k = 0; k < n; k++, i++) {
        // CUC time is TAI: UTC + 37 s since 2017.
        const tai = t0 + i * 1000 + 37_000_000 + EPOCH_1958_MICROS;
        encodeBeacon(
          {
            apid: 1 + (i % 8),
            seq: i % 16384,
            coarse: Math.floor(tai / 1_000_000),
            fine: Math.floor(((tai % 1_000_000) * 65536) / 1_000_000),
            index: i + 1,
            observer: 60001 + (i % 8),
            target: 60002,
            range_km: 362.7 + i * 1e-6,
            range_rate_km_s: -0.0004,
            range_sigma_km: 0.0009765625,
            r_km: [-6840.069883376951, -500.7206673444646, -1018.5557871127975],
            v_km_s: [1.2134426744182594, -4.535357241518274, -5.955075466010313],
            flags: 7,
          },
          bytes,
          k * 96,
        );
      }
      controller.enqueue(bytes);
    },
  }, { highWaterMark: 0 });
  return { stream, count: () => i };
}
