/**
 * The status page served at `GET /`: one self-contained HTML document (no
 * CDN, no build step, no external file), which polls `GET /status` once a
 * second and renders it.
 *
 * The rate charts are inline SVG polylines drawn by the page's own script
 * (~20 lines) rather than a chart library: a five-minute sparkline per source
 * needs no axes, zoom or legend, and an npm chart library would have to be
 * read from the module cache at run time or inlined at build time — more
 * permissions or a build step, for a 300-point line.
 *
 * Everything shown that came from outside (dead-letter reasons, errors) is
 * set as text, never as HTML.
 *
 * @module
 */

/**
 * The page.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { STATUS_PAGE_HTML } from "./status_page.ts";
 *
 * assert.match(STATUS_PAGE_HTML, /^<!doctype html>/);
 * assert.doesNotMatch(STATUS_PAGE_HTML, /(src|href)="https?:/);
 * ```
 */
export const STATUS_PAGE_HTML: string = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>SDA ingest — status</title>
<link rel="icon" href="data:,">
<style>
  :root {
    --bg: #f4f5f7; --card: #fff; --ink: #1c2330; --muted: #667085; --line: #d0d5dd;
    --ok: #12805c; --warn: #b54708; --err: #b42318; --accent: #2e5aac;
    font: 15px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  }
  @media (prefers-color-scheme: dark) {
    :root { --bg: #0f141b; --card: #18202b; --ink: #e4e7ec; --muted: #98a2b3; --line: #344054;
            --accent: #7aa2f7; }
  }
  * { box-sizing: border-box; }
  body { margin: 0; background: var(--bg); color: var(--ink); }
  header { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: baseline;
           padding: .8rem 1rem; border-bottom: 1px solid var(--line); background: var(--card); }
  header h1 { font-size: 1.1rem; margin: 0; }
  header .meta { color: var(--muted); font-size: .85rem; }
  main { padding: 1rem; display: grid; gap: 1rem;
         grid-template-columns: repeat(auto-fill, minmax(min(100%, 330px), 1fr)); }
  .banners { grid-column: 1 / -1; display: grid; gap: .5rem; }
  .banner { padding: .6rem .8rem; border-radius: 6px; font-weight: 600; color: #fff;
            overflow-wrap: anywhere; }
  .banner.error { background: var(--err); }
  .banner.warning { background: var(--warn); }
  .card { background: var(--card); border: 1px solid var(--line); border-radius: 8px;
          padding: .8rem 1rem; min-width: 0; }
  .card h2 { font-size: 1rem; margin: 0 0 .4rem; display: flex; gap: .5rem; align-items: center;
             flex-wrap: wrap; }
  .kind { color: var(--muted); font-weight: 400; font-size: .85rem; }
  .state { font-size: .75rem; padding: .1rem .45rem; border-radius: 99px; color: #fff;
           background: var(--muted); text-transform: uppercase; letter-spacing: .03em; }
  .state.up { background: var(--ok); }
  .state.degraded, .state.starting { background: var(--warn); }
  .state.down { background: var(--err); }
  .owner { color: var(--muted); font-size: .8rem; font-weight: 400; }
  .rate { font-size: 1.6rem; font-weight: 700; font-variant-numeric: tabular-nums; }
  .rate small { font-size: .85rem; color: var(--muted); font-weight: 400; }
  svg.spark { width: 100%; height: 48px; display: block; margin: .2rem 0 .5rem; }
  svg.spark polyline { fill: none; stroke: var(--accent); stroke-width: 1.5;
                       vector-effect: non-scaling-stroke; }
  svg.spark path { fill: var(--accent); opacity: .12; }
  table { width: 100%; border-collapse: collapse; font-variant-numeric: tabular-nums; }
  td { padding: .15rem 0; vertical-align: top; }
  td:first-child { color: var(--muted); padding-right: .8rem; white-space: nowrap; }
  td:last-child { text-align: right; overflow-wrap: anywhere; }
  ul.reasons { list-style: none; margin: .3rem 0 0; padding: 0; font-size: .82rem; }
  ul.reasons li { border-top: 1px solid var(--line); padding: .25rem 0; overflow-wrap: anywhere; }
  ul.reasons .stage { color: var(--err); font-weight: 600; margin-right: .3rem; }
  ul.reasons time { color: var(--muted); margin-right: .3rem; }
  .muted { color: var(--muted); }
  #conn.lost { color: var(--err); font-weight: 600; }
  main.stale > section { opacity: .45; }
</style>
</head>
<body>
<header>
  <h1>SDA sensor ingest</h1>
  <span class="meta" id="summary">loading…</span>
  <span class="meta" id="conn"></span>
</header>
<main id="main">
  <div class="banners" id="banners"></div>
</main>
<script>
"use strict";
const STAGES = ["framing", "decoding", "validation", "transport"];
const SVG = "http://www.w3.org/2000/svg";
const nf = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) e.append(c);
  return e;
}
function seconds(s) {
  if (s === null || s === undefined) return "–";
  if (s < 1) return (s * 1000).toFixed(s < 0.01 ? 2 : 1) + " ms";
  if (s < 120) return s.toFixed(1) + " s";
  return (s / 60).toFixed(1) + " min";
}
function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}
// Relative to the service's clock, not the browser's: the two need not agree.
let serverNow = Date.now();
function ago(iso) {
  if (!iso) return "never";
  const s = Math.max(0, (serverNow - Date.parse(iso)) / 1000);
  return s < 1 ? "just now" : seconds(s) + " ago";
}
function row(label, value, field) {
  const td = el("td", field ? { "data-field": field } : {}, String(value));
  return el("tr", {}, el("td", {}, label), td);
}
// Five minutes at one point a second, right-aligned so time runs the same on every card.
function spark(values) {
  const w = 300, h = 48, n = 300;
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 " + w + " " + h);
  svg.setAttribute("preserveAspectRatio", "none");
  svg.setAttribute("role", "img");
  const max = Math.max(1, ...values);
  svg.setAttribute("aria-label", "observations per second, last 5 minutes, peak " + nf.format(max));
  const pts = values.slice(-n).map((v, i, a) => {
    const x = w - (a.length - 1 - i) * (w / (n - 1));
    const y = h - 2 - (v / max) * (h - 4);
    return x.toFixed(1) + "," + y.toFixed(1);
  });
  if (pts.length > 1) {
    const area = document.createElementNS(SVG, "path");
    area.setAttribute("d", "M" + pts[0].split(",")[0] + "," + h + " L" + pts.join(" L") +
      " L" + w + "," + h + " Z");
    const line = document.createElementNS(SVG, "polyline");
    line.setAttribute("points", pts.join(" "));
    svg.append(area, line);
  }
  return svg;
}
function sourceCard(s) {
  const dead = STAGES.reduce((sum, k) => sum + (s.dead_letters[k] || 0), 0);
  const card = el("section", { class: "card source", "data-source": s.name, "data-state": s.state });
  card.append(el("h2", {}, s.name, el("span", { class: "kind" }, s.kind),
    el("span", { class: "state " + s.state }, s.state),
    s.owner ? el("span", { class: "owner" }, "owner " + s.owner) : null));
  card.append(el("div", { class: "rate" },
    el("span", { "data-field": "rate" }, nf.format(s.rate_now)), el("small", {}, " obs/s")));
  card.append(spark(s.rate));
  const t = el("table", {});
  t.append(row("observations", nf.format(s.observations), "observations"));
  t.append(row("duplicates dropped", nf.format(s.duplicates), "duplicates"));
  t.append(row("age p50 / p99", seconds(s.age_s && s.age_s.p50) + " / " + seconds(s.age_s && s.age_s.p99), "age"));
  t.append(row("receive→durable p50 / p99", seconds(s.latency_s && s.latency_s.p50) + " / " +
    seconds(s.latency_s && s.latency_s.p99), "latency"));
  t.append(row("last receive", ago(s.last_receive), "last-receive"));
  for (const stage of STAGES) {
    t.append(row("dead letters: " + stage, nf.format(s.dead_letters[stage] || 0), "dead-letters-" + stage));
  }
  if (s.lost) {
    for (const cause of ["gateway", "link", "corrupt"]) {
      t.append(row("lost: " + cause, nf.format(s.lost[cause] || 0), "lost-" + cause));
    }
  }
  if (s.position) {
    const entries = Object.entries(s.position.values);
    if (entries.length === 0) t.append(row(s.position.label, "none saved yet", "position"));
    for (const [k, v] of entries) {
      // An ISL watermark is {after, seqs}: the index is what an operator compares.
      const shown = typeof v === "string" ? v
        : v && typeof v === "object" && "after" in v ? "after " + nf.format(v.after)
        : JSON.stringify(v);
      t.append(row(s.position.label + (entries.length > 1 || k !== s.name ? " " + k : ""),
        shown, "position"));
    }
  }
  if (s.last_error) {
    // When, so that an error long past reads as such on a source that recovered.
    const at = s.last_error_at ? " (" + ago(s.last_error_at) + ")" : "";
    t.append(row("last error", s.last_error + at, "last-error"));
  }
  card.append(t);
  if (s.recent_dead_letters.length > 0) {
    const ul = el("ul", { class: "reasons", "aria-label": "recent dead letters" });
    for (const d of s.recent_dead_letters) {
      ul.append(el("li", {}, el("time", {}, d.t_rx.slice(11, 19)),
        el("span", { class: "stage" }, d.stage), d.reason));
    }
    card.append(el("div", { class: "muted" }, "recent dead letters (" + nf.format(dead) + " in all)"), ul);
  }
  return card;
}
function logsCard(logs) {
  const card = el("section", { class: "card logs", "data-logs": "" });
  card.append(el("h2", {}, "Logs", el("span", { class: "kind" }, "fsync " + logs.fsync +
    (logs.fsync === "interval" ? " every " + logs.fsync_interval_ms + " ms" : ""))));
  const t = el("table", {});
  for (const [label, log, key] of [["event log", logs.events, "events"], ["dead-letter log", logs.dead_letters, "dead-letters"]]) {
    t.append(row(label, log.dir));
    t.append(row("  next offset", nf.format(log.offset), key + "-offset"));
    t.append(row("  on disk", bytes(log.bytes) + (log.segments === null ? "" : " in " + log.segments + " segment" + (log.segments === 1 ? "" : "s")), key + "-bytes"));
  }
  if (logs.filesystem) {
    const fs = logs.filesystem;
    t.append(row("filesystem free", bytes(fs.available_bytes) + (fs.size_bytes ? " of " + bytes(fs.size_bytes) +
      " (" + (100 * fs.available_bytes / fs.size_bytes).toFixed(0) + " %)" : ""), "filesystem-free"));
  }
  card.append(t);
  return card;
}
function render(doc) {
  serverNow = Date.parse(doc.generated);
  const main = document.getElementById("main");
  const banners = el("div", { class: "banners", id: "banners" });
  for (const b of doc.banners) banners.append(el("div", { class: "banner " + b.level, role: "alert" }, b.text));
  main.replaceChildren(banners, ...doc.sources.map(sourceCard), logsCard(doc.logs));
  const total = doc.sources.reduce((sum, s) => sum + s.rate_now, 0);
  document.getElementById("summary").textContent = doc.status + " · " + nf.format(total) +
    " obs/s · up " + seconds(doc.uptime_s) + " · quantiles over " + doc.window_s + " s";
  document.title = (doc.banners.length ? "⚠ " : "") + "SDA ingest — " + doc.status;
}
/** HH:MM:SS UTC, as the dead letters' times. */
function utc(ms) {
  return new Date(ms).toISOString().slice(11, 19) + " UTC";
}
let lastSeen;
async function tick() {
  const conn = document.getElementById("conn");
  const main = document.getElementById("main");
  try {
    const response = await fetch("status", { cache: "no-store", credentials: "same-origin" });
    if (!response.ok) throw new Error("HTTP " + response.status);
    render(await response.json());
    lastSeen = Date.now();
    conn.textContent = "updated " + utc(lastSeen);
    conn.className = "meta";
    main.className = "";
  } catch (error) {
    // What the page shows is as it was when last seen: say so where one
    // looks (title, summary, a banner), not only in a small line.
    const since = lastSeen === undefined ? "" : " since " + utc(lastSeen);
    conn.textContent = "cannot reach the service" + since + ": " + error.message;
    conn.className = "meta lost";
    main.className = "stale";
    document.title = "✖ SDA ingest — unreachable";
    document.getElementById("summary").textContent = "unreachable" + since +
      (lastSeen === undefined ? "" : " · below: as it was then");
    const banners = document.getElementById("banners");
    if (banners && !banners.querySelector("[data-unreachable]")) {
      banners.prepend(el("div", { class: "banner error", role: "alert", "data-unreachable": "" },
        "Cannot reach the service" + since + " (" + error.message + "): it may have stopped; what follows is as it was then"));
    }
  } finally {
    setTimeout(tick, 1000);
  }
}
tick();
</script>
</body>
</html>
`;
