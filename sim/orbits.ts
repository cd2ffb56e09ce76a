/**
 * Plausible orbits for the simulators (SPEC §11): a small bundled catalogue
 * propagated with SGP4 (`satellite.js`), seen from a ground site or from
 * another satellite. What the simulators send therefore looks like what a
 * sensor network produces: real ranges, angles and rates.
 *
 * @module
 */

import {
  degreesToRadians,
  ecfToEci,
  ecfToLookAngles,
  eciToEcf,
  geodeticToEcf,
  gstime,
  json2satrec,
  type OMMJsonObject,
  propagate,
  type SatRec,
} from "satellite.js";

/** A ground site. */
export interface Site {
  /** Geodetic latitude, degrees. */
  lat_deg: number;
  /** Longitude, degrees east. */
  lon_deg: number;
  /** Height above the ellipsoid, km. */
  alt_km: number;
}

/** A radar site in the central Pacific (Kwajalein-like). */
export const RADAR_SITE: Site = { lat_deg: 9.3953, lon_deg: 167.4793, alt_km: 0.01 };
/** An optical site on a mountain top (Haleakalā-like). */
export const OPTICAL_SITE: Site = { lat_deg: 20.7083, lon_deg: -156.2571, alt_km: 3.05 };

/** One catalogued object. */
export interface CatalogObject {
  /** NORAD catalogue number. */
  norad: number;
  /** International designator. */
  intlId: string;
  /** Name. */
  name: string;
}

const EPOCH = "2026-11-25T00:00:00.000000";

function omm(
  norad: number,
  name: string,
  intlId: string,
  elements: { n: number; e: number; i: number; raan: number; argp: number; m: number },
): OMMJsonObject {
  return {
    OBJECT_NAME: name,
    OBJECT_ID: intlId,
    EPOCH,
    MEAN_MOTION: elements.n,
    ECCENTRICITY: elements.e,
    INCLINATION: elements.i,
    RA_OF_ASC_NODE: elements.raan,
    ARG_OF_PERICENTER: elements.argp,
    MEAN_ANOMALY: elements.m,
    EPHEMERIS_TYPE: 0,
    CLASSIFICATION_TYPE: "U",
    NORAD_CAT_ID: norad,
    ELEMENT_SET_NO: 999,
    REV_AT_EPOCH: 1000,
    BSTAR: 0.0001,
    MEAN_MOTION_DOT: 0.00001,
    MEAN_MOTION_DDOT: 0,
  } as OMMJsonObject;
}

/**
 * The bundled catalogue: a few named objects, a debris cloud of 240
 * fragments in 12 planes (so that some are always above a site's horizon),
 * three geostationary satellites, and ISL pairs flying in formation.
 */
export function bundledCatalog(): OMMJsonObject[] {
  const list: OMMJsonObject[] = [
    omm(25544, "ISS (ZARYA)", "1998-067A", {
      n: 15.5,
      e: 0.0004,
      i: 51.64,
      raan: 120,
      argp: 90,
      m: 0,
    }),
    omm(20580, "HST", "1990-037B", { n: 15.28, e: 0.0002, i: 28.47, raan: 200, argp: 60, m: 40 }),
    omm(41866, "GOES 16", "2016-071A", { n: 1.0027, e: 0.0001, i: 0.05, raan: 90, argp: 0, m: 0 }),
    omm(28884, "GEO-PACIFIC", "2005-041A", {
      n: 1.0027,
      e: 0.0002,
      i: 0.1,
      raan: 0,
      argp: 0,
      m: 0,
    }),
    omm(36516, "GEO-WEST", "2010-021A", { n: 1.0027, e: 0.0002, i: 0.05, raan: 0, argp: 0, m: 0 }),
  ];
  // A fragmentation cloud (COSMOS 1408-like): 12 planes × 20 fragments.
  let norad = 49863;
  for (let plane = 0; plane < 12; plane++) {
    for (let k = 0; k < 20; k++) {
      list.push(
        omm(norad, `COSMOS 1408 DEB`, `1982-092${String.fromCharCode(65 + (norad % 26))}`, {
          n: 15.2 + (k % 5) * 0.04,
          e: 0.002 + (k % 3) * 0.001,
          i: 82.5,
          raan: plane * 30 + k * 0.3,
          argp: 100 + k,
          m: k * 18,
        }),
      );
      norad++;
    }
  }
  // ISL pairs: two satellites in one plane, 3° apart (~370 km), ranging each other.
  for (let pair = 0; pair < 4; pair++) {
    const raan = pair * 90;
    list.push(
      omm(60001 + 2 * pair, `ISL-${pair}A`, `2025-100${"ABCDEFGH"[2 * pair]}`, {
        n: 15.05,
        e: 0.0003,
        i: 53,
        raan,
        argp: 0,
        m: pair * 40,
      }),
      omm(60002 + 2 * pair, `ISL-${pair}B`, `2025-100${"ABCDEFGH"[2 * pair + 1]}`, {
        n: 15.05,
        e: 0.0003,
        i: 53,
        raan,
        argp: 0,
        m: pair * 40 + 3,
      }),
    );
  }
  return list;
}

/** Position and velocity, km and km/s, in the inertial frame of SGP4 (TEME). */
export interface StateVector {
  /** Position x, y, z, km. */
  r_km: [number, number, number];
  /** Velocity x, y, z, km/s. */
  v_km_s: [number, number, number];
}

/** What a ground sensor measures of an object. */
export interface Look {
  /** Azimuth, degrees in [0, 360). */
  az_deg: number;
  /** Elevation, degrees. */
  el_deg: number;
  /** Slant range, km. */
  range_km: number;
  /** Range rate, km/s (positive: receding). */
  range_rate_km_s: number;
  /** Topocentric right ascension, degrees in [0, 360). */
  ra_deg: number;
  /** Topocentric declination, degrees. */
  dec_deg: number;
}

/**
 * The catalogue, propagated on demand.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Orbits, RADAR_SITE } from "./orbits.ts";
 *
 * const orbits = new Orbits();
 * const t = Date.parse("2026-11-25T12:00:00Z");
 * const visible = orbits.visible(RADAR_SITE, t, 10);
 * assert.ok(visible.length > 0);
 * const look = orbits.look(visible[0].norad, RADAR_SITE, t)!;
 * assert.ok(look.el_deg >= 10 && look.range_km > 200);
 * ```
 */
export class Orbits {
  #records = new Map<number, { object: CatalogObject; satrec: SatRec }>();

  /** @param catalog OMM records (default: {@link bundledCatalog}) */
  constructor(catalog: OMMJsonObject[] = bundledCatalog()) {
    for (const record of catalog) {
      const norad = Number(record.NORAD_CAT_ID);
      this.#records.set(norad, {
        object: { norad, intlId: record.OBJECT_ID, name: record.OBJECT_NAME },
        satrec: json2satrec(record),
      });
    }
  }

  /** Every object of the catalogue. */
  get objects(): CatalogObject[] {
    return [...this.#records.values()].map((r) => r.object);
  }

  /** The object with this NORAD number, if catalogued. */
  object(norad: number): CatalogObject | undefined {
    return this.#records.get(norad)?.object;
  }

  /** SGP4 state at `timeMs` (Unix ms), or undefined if SGP4 fails. */
  state(norad: number, timeMs: number): StateVector | undefined {
    const record = this.#records.get(norad);
    if (record === undefined) return undefined;
    const pv = propagate(record.satrec, new Date(timeMs));
    if (pv === null || typeof pv.position !== "object") return undefined;
    const { position: r, velocity: v } = pv;
    return { r_km: [r.x, r.y, r.z], v_km_s: [v.x, v.y, v.z] };
  }

  /** What a sensor at `site` sees of `norad` at `timeMs`. */
  look(norad: number, site: Site, timeMs: number): Look | undefined {
    const a = this.#topocentric(norad, site, timeMs);
    const b = this.#topocentric(norad, site, timeMs + 100);
    if (a === undefined || b === undefined) return undefined;
    return { ...a, range_rate_km_s: (b.range_km - a.range_km) / 0.1 };
  }

  /** Objects above `minElevationDeg` at `site` at `timeMs`, highest first. */
  visible(site: Site, timeMs: number, minElevationDeg = 10): CatalogObject[] {
    const out: { object: CatalogObject; el: number }[] = [];
    for (const { object } of this.#records.values()) {
      const look = this.#topocentric(object.norad, site, timeMs);
      if (look && look.el_deg >= minElevationDeg) out.push({ object, el: look.el_deg });
    }
    return out.sort((x, y) => y.el - x.el).map((x) => x.object);
  }

  /** Range and range rate between two objects (inter-satellite link). */
  link(
    observer: number,
    target: number,
    timeMs: number,
  ): { range_km: number; range_rate_km_s: number } | undefined {
    const a = this.state(observer, timeMs);
    const b = this.state(target, timeMs);
    if (a === undefined || b === undefined) return undefined;
    const d = [0, 1, 2].map((k) => b.r_km[k] - a.r_km[k]);
    const dv = [0, 1, 2].map((k) => b.v_km_s[k] - a.v_km_s[k]);
    const range = Math.hypot(d[0], d[1], d[2]);
    const rate = (d[0] * dv[0] + d[1] * dv[1] + d[2] * dv[2]) / range;
    return { range_km: range, range_rate_km_s: rate };
  }

  #topocentric(
    norad: number,
    site: Site,
    timeMs: number,
  ): Omit<Look, "range_rate_km_s"> | undefined {
    const state = this.state(norad, timeMs);
    if (state === undefined) return undefined;
    const gmst = gstime(new Date(timeMs));
    const geodetic = {
      latitude: degreesToRadians(site.lat_deg),
      longitude: degreesToRadians(site.lon_deg),
      height: site.alt_km,
    };
    const r = { x: state.r_km[0], y: state.r_km[1], z: state.r_km[2] };
    const angles = ecfToLookAngles(geodetic, eciToEcf(r, gmst));
    const siteEci = ecfToEci(geodeticToEcf(geodetic), gmst);
    const rho = [r.x - siteEci.x, r.y - siteEci.y, r.z - siteEci.z];
    const norm = Math.hypot(rho[0], rho[1], rho[2]);
    const deg = 180 / Math.PI;
    let az = angles.azimuth * deg % 360;
    if (az < 0) az += 360;
    let ra = Math.atan2(rho[1], rho[0]) * deg;
    if (ra < 0) ra += 360;
    return {
      az_deg: az,
      el_deg: angles.elevation * deg,
      range_km: angles.rangeSat,
      ra_deg: ra % 360,
      dec_deg: Math.asin(rho[2] / norm) * deg,
    };
  }
}
