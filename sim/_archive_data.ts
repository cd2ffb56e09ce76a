/**
 * The observations the archive simulator holds: EO tracks of the bundled
 * catalogue as seen from {@link OPTICAL_SITE}, propagated with SGP4, oldest
 * first, pre-rendered as CSV rows so pages are served fast.
 *
 * @module
 */

import { formatUtc } from "./_time.ts";
import { type CatalogObject, type Look, OPTICAL_SITE, Orbits } from "./orbits.ts";
import { mulberry32 } from "./_random.ts";

/** The CSV header of every page, UDL EO observation field names. */
export const ARCHIVE_COLUMNS = [
  "id",
  "classificationMarking",
  "obTime",
  "idSensor",
  "satNo",
  "origObjectId",
  "ra",
  "declination",
  "raUnc",
  "declinationUnc",
  "mag",
  "magUnc",
  "senlat",
  "senlon",
  "senalt",
  "referenceFrame",
  "uct",
  "dataMode",
  "source",
] as const;

/** Columns whose JSON form is a number. */
const NUMERIC = new Set(
  ["satNo", "ra", "declination", "raUnc", "declinationUnc", "mag", "magUnc", "senlat", "senlon"]
    .concat(["senalt"]),
);

/**
 * Seconds of sim time per frame: one visibility check of the whole
 * catalogue per frame, then an SGP4 look every {@link STEP_S} seconds for
 * each object in view, interpolated linearly to one observation a second.
 */
const FRAME_S = 60;
const STEP_S = 10;
/** Lowest elevation a telescope points at, degrees. */
const MIN_ELEVATION = 10;
/** Telescopes on the site; objects are shared out between them. */
const SENSORS = ["MAUI-EO-1", "MAUI-EO-2"];
/** 1 arcsec, in degrees: a good astrometric fit. */
const UNC_DEG = 1 / 3600;

/** Options for {@link ArchiveData}. */
export interface ArchiveDataOptions {
  /** Sim time of the first frame, Unix ms. */
  startMs: number;
  /** Seed of the noise (same seed, same observations). */
  seed: number;
  /** At most this many records are held; older ones are dropped (retention). */
  maxHeld: number;
  /**
   * Observations per second of sim time for the whole site (default: each
   * object in view once a second, however many that makes).
   */
  perSecond?: number;
}

interface Pending {
  timeUs: number;
  /** The row after its id. */
  tail: string;
}

/**
 * Records generated on demand: `ensure(n)` extends the timeline until `n`
 * records exist. Indexes are global and never reused; record `i` has
 * cursor position `i`.
 */
export class ArchiveData {
  readonly #orbits = new Orbits();
  readonly #random: () => number;
  readonly #maxHeld: number;
  readonly #perSecond: number | undefined;
  #frameMs: number;
  /** CSV rows of records `#first` … `#first + #rows.length − 1`. */
  #rows: string[] = [];
  /** obTime of each held record, µs (for the `obTime` filter). */
  #times: number[] = [];
  #first = 0;

  constructor(options: ArchiveDataOptions) {
    this.#frameMs = options.startMs;
    this.#random = mulberry32(options.seed);
    this.#maxHeld = options.maxHeld;
    this.#perSecond = options.perSecond;
  }

  /** Records generated so far (the next index). */
  get generated(): number {
    return this.#first + this.#rows.length;
  }

  /** Index of the oldest record still held. */
  get oldest(): number {
    return this.#first;
  }

  /** Generates until at least `count` records exist. */
  ensure(count: number): void {
    while (this.generated < count) this.#frame();
    const excess = this.#rows.length - this.#maxHeld;
    if (excess > 0) {
      this.#rows.splice(0, excess);
      this.#times.splice(0, excess);
      this.#first += excess;
    }
  }

  /** The CSV row of record `index` (held). */
  csvRow(index: number): string {
    return this.#rows[index - this.#first];
  }

  /** The CSV page of records `from` … `to − 1`, header first. */
  csvPage(from: number, to: number): string {
    const start = from - this.#first;
    const rows = this.#rows.slice(start, start + (to - from));
    if (rows.length === 0) return CSV_HEADER + "\n";
    return CSV_HEADER + "\n" + rows.join("\n") + "\n";
  }

  /** The JSON page of records `from` … `to − 1`: numbers as JSON numbers, empty cells absent. */
  jsonPage(from: number, to: number): string {
    const parts: string[] = [];
    for (let i = from; i < to; i++) parts.push(JSON.stringify(rowObject(this.csvRow(i))));
    return "[" + parts.join(",") + "]";
  }

  /**
   * The index of the first record with obTime after `timeUs` (or at it,
   * with `inclusive`), generating as far as `limit` records to find it.
   */
  firstAfter(timeUs: number, inclusive: boolean, limit: number): number {
    while (
      this.generated < limit &&
      (this.#times.length === 0 || this.#times[this.#times.length - 1] <= timeUs)
    ) {
      this.ensure(Math.min(limit, this.generated + 1));
    }
    const times = this.#times;
    let lo = 0;
    let hi = times.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (inclusive ? times[mid] < timeUs : times[mid] <= timeUs) lo = mid + 1;
      else hi = mid;
    }
    return Math.min(this.#first + lo, limit);
  }

  /** One frame of sim time: tracks of every object above the horizon. */
  #frame(): void {
    const t0 = this.#frameMs;
    this.#frameMs += FRAME_S * 1000;
    const random = this.#random;
    const pending: Pending[] = [];
    const perSecond = this.#perSecond;
    let tracks = this.#tracks(this.#orbits.visible(OPTICAL_SITE, t0, MIN_ELEVATION), t0);
    if (tracks.length === 0 && perSecond !== undefined) {
      // A live archive keeps pace with the wall clock, but in ~5 % of
      // minutes nothing of the catalogue is 10° up from the site: the
      // network then takes the objects highest in its sky, or the frame
      // would hold no record and the next ones would lie a minute ahead.
      tracks = this.#tracks(this.#orbits.visible(OPTICAL_SITE, t0, -90).slice(0, 8), t0);
    }
    if (perSecond === undefined) {
      // Each telescope samples each of its objects once a second.
      for (const track of tracks) {
        const offsetMs = Math.floor(random() * 1000);
        for (let k = 0; k < FRAME_S; k++) {
          const ms = k * 1000 + offsetMs;
          // Set below the horizon during the frame: no more of it.
          if (track.looks[Math.floor(ms / (STEP_S * 1000))].el_deg < MIN_ELEVATION) continue;
          pending.push(this.#sample(track, t0, ms, random() * 1000));
        }
      }
    } else if (tracks.length > 0) {
      // A fixed rate for the whole network: the objects in view take turns,
      // so a live archive's obTime keeps pace with the wall clock.
      const n = Math.round(FRAME_S * perSecond);
      const spacingUs = 1e6 / perSecond;
      for (let k = 0; k < n; k++) {
        const us = k * spacingUs;
        pending.push(
          this.#sample(
            tracks[k % tracks.length],
            t0,
            Math.floor(us / 1000),
            random() * spacingUs / 2,
          ),
        );
      }
    }
    pending.sort((x, y) => x.timeUs - y.timeUs);
    for (const p of pending) {
      const index = this.generated;
      this.#rows.push(recordId(index) + p.tail);
      this.#times.push(p.timeUs);
    }
  }

  /** Tracks of `objects` over the frame from `t0`: an SGP4 look every STEP_S. */
  #tracks(objects: readonly CatalogObject[], t0: number): Track[] {
    const orbits = this.#orbits;
    const tracks: Track[] = [];
    for (const object of objects) {
      const looks: Look[] = [];
      for (let step = 0; step <= FRAME_S / STEP_S; step++) {
        const look = orbits.look(object.norad, OPTICAL_SITE, t0 + step * STEP_S * 1000);
        if (look === undefined) break;
        looks.push(look);
      }
      if (looks.length <= FRAME_S / STEP_S) continue;
      // About one object in 30 is a UCT: the telescope saw it, the
      // catalogue did not correlate it.
      const uct = object.norad % 30 === 7;
      tracks.push({
        looks,
        sensor: SENSORS[object.norad % SENSORS.length],
        uct,
        satNo: uct ? "" : String(object.norad),
        orig: uct
          ? `UCT-${object.norad.toString(36).toUpperCase()}`
          : object.norad < 49863 || object.norad >= 60001
          ? object.intlId
          : "",
      });
    }
    return tracks;
  }

  /** One observation of `track` at `ms` into the frame that starts at `t0`, interpolated. */
  #sample(track: Track, t0: number, ms: number, jitterUs: number): Pending {
    const random = this.#random;
    const step = Math.min(Math.floor(ms / (STEP_S * 1000)), track.looks.length - 2);
    const a = track.looks[step];
    const b = track.looks[step + 1];
    const f = (ms - step * STEP_S * 1000) / (STEP_S * 1000);
    // Unwrap RA across 0/360 before interpolating.
    let dra = b.ra_deg - a.ra_deg;
    if (dra > 180) dra -= 360;
    if (dra < -180) dra += 360;
    const timeUs = (t0 + ms) * 1000 + Math.floor(jitterUs);
    let ra = a.ra_deg + f * dra + (random() - 0.5) * UNC_DEG;
    ra = ((ra % 360) + 360) % 360;
    if (ra >= 360) ra = 0;
    const dec = a.dec_deg + f * (b.dec_deg - a.dec_deg) + (random() - 0.5) * UNC_DEG;
    const range = a.range_km + f * (b.range_km - a.range_km);
    const mag = 4.5 + 5 * Math.log10(Math.max(range, 200) / 1000) + (random() - 0.5) * 0.4;
    const tail = `,U,${formatUtc(timeUs)},${track.sensor},${track.satNo},${track.orig},${
      ra.toFixed(6)
    },${Math.max(-90, Math.min(90, dec)).toFixed(6)},${UNC_TEXT},${UNC_TEXT},${
      mag.toFixed(2)
    },0.12,${SITE_TEXT},J2000,${track.uct},SIMULATED,sda-sim-archive`;
    return { timeUs, tail };
  }
}

interface Track {
  looks: Look[];
  sensor: string;
  uct: boolean;
  satNo: string;
  orig: string;
}

const UNC_TEXT = UNC_DEG.toFixed(6);
const SITE_TEXT = `${OPTICAL_SITE.lat_deg},${OPTICAL_SITE.lon_deg},${OPTICAL_SITE.alt_km}`;
const CSV_HEADER = ARCHIVE_COLUMNS.join(",");

/** A UUID-shaped id that is unique per record index. */
export function recordId(index: number): string {
  return "5dae0b1e-7a2d-4c1e-8f00-" + index.toString(16).padStart(12, "0");
}

/** A simulator CSV row (no quoting: its cells hold no commas) as a UDL JSON object. */
function rowObject(row: string): Record<string, string | number | boolean> {
  const cells = row.split(",");
  const object: Record<string, string | number | boolean> = {};
  for (let j = 0; j < ARCHIVE_COLUMNS.length; j++) {
    const name = ARCHIVE_COLUMNS[j];
    const cell = cells[j];
    if (cell === "") continue;
    object[name] = name === "uct" ? cell === "true" : NUMERIC.has(name) ? Number(cell) : cell;
  }
  return object;
}
