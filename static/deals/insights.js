// The insights panel: how the pipeline is doing over 24 hours or 7 days, drawn with uPlot
// (vendored, static/vendor/uplot/) from GET /api/insights/. It polls on its own with the
// ETag (a 304 until the rollups are next folded), pauses on a hidden tab or with Live off,
// and redraws a chart only when its data changed. Hovering a chart shows its numbers in
// the legend.
import uPlot from "../vendor/uplot/uPlot.esm.js";
import { ApiError, getJson } from "./api.js";
import { clock, duration, node, setHidden, setText } from "./format.js";
import { $, el, urls } from "./page.js";

const POLL_MS = 15_000;
const HEIGHT = 210;
const STAGES = ["intake", "segmentation", "categorization", "appraisal", "review"];
// The page's own colours (queue.css) for outcomes; stages get a steady palette of their own.
const css = getComputedStyle(document.documentElement);
const token = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
const COLOURS = {
  done: token("--done", "#1d8a4a"),
  failed: token("--failed", "#c9302c"),
  pending: token("--pending", "#8a94a6"),
  running: token("--running", "#d08700"),
  accent: token("--accent", "#2456d3"),
};
const SOURCE_COLOURS = { sync: COLOURS.accent, webhook: "#7b3fc4", import: "#0f8b8d", reconcile: "#8a94a6" };
const STAGE_COLOURS = {
  intake: COLOURS.accent, segmentation: "#7b3fc4", categorization: "#0f8b8d",
  appraisal: COLOURS.running, review: "#b5487c",
};

const root = $("insights");
const view = {
  range: "24h",
  etag: null,
  timer: null,
  charts: {},
  keys: {}, // each chart's last data, as JSON: redraw only what changed
  hidden: localStorage.getItem("insights-hidden") === "1",
};

const count = (n) => (n === null || n === undefined ? "–" : n.toLocaleString());
const seconds = (s) => (s === null || s === undefined ? "–" : duration(Math.round(s * 1000)));

function line(label, stroke, extra = {}) {
  return { label, stroke, width: 2, points: { show: false }, value: (u, v) => count(v), ...extra };
}

function timeAxis() {
  return { stroke: COLOURS.pending, grid: { stroke: "#eceff3" }, ticks: { stroke: "#d9dee6" } };
}

function valueAxis(format, extra = {}) {
  return {
    stroke: COLOURS.pending, grid: { stroke: "#eceff3" }, ticks: { stroke: "#d9dee6" },
    size: 60, values: (u, splits) => splits.map(format), ...extra,
  };
}

// Each chart: its series and axes; `data(body)` picks its columns from the API's answer.
const CHARTS = {
  flow: {
    series: () => [
      ...Object.keys(SOURCE_COLOURS).map((s) => line(`in: ${s}`, SOURCE_COLOURS[s])),
      line("done", COLOURS.done),
      line("failed", COLOURS.failed),
    ],
    axes: () => [timeAxis(), valueAxis((v) => count(v))],
    data: (b) => [...Object.keys(SOURCE_COLOURS).map((s) => b.arrived[s] || b.buckets.map(() => 0)), b.done, b.failed],
  },
  durations: {
    series: () => STAGES.flatMap((stage) => [
      line(`${stage} p50`, STAGE_COLOURS[stage], { value: (u, v) => seconds(v), spanGaps: false }),
      line(`${stage} p95`, STAGE_COLOURS[stage], { value: (u, v) => seconds(v), dash: [6, 4], width: 1.5 }),
    ]),
    axes: () => [timeAxis(), valueAxis((v) => seconds(v), { size: 70 })],
    scales: { y: { distr: 3 } }, // durations span milliseconds to minutes
    data: (b) => STAGES.flatMap((stage) => [b.durations[stage].p50, b.durations[stage].p95]),
  },
  failures: {
    series: () => STAGES.map((stage) => line(stage, STAGE_COLOURS[stage])),
    axes: () => [timeAxis(), valueAxis((v) => count(v))],
    data: (b) => STAGES.map((stage) => b.failures.by_stage[stage]),
  },
  backlog: {
    series: () => [
      // Sampled at every fold: a gap is a fold that did not run, bridged.
      line("pending", COLOURS.pending, { fill: "rgba(138, 148, 166, .15)", spanGaps: true }),
      line("oldest waiting", COLOURS.running, { scale: "age", value: (u, v) => seconds(v), spanGaps: true }),
    ],
    axes: () => [
      timeAxis(),
      valueAxis((v) => count(v)),
      valueAxis((v) => seconds(v), { scale: "age", side: 1, grid: { show: false }, size: 70 }),
    ],
    scales: { age: { range: (u, min, max) => [0, Math.max(60, max || 0)] } },
    data: (b) => [b.backlog.pending, b.backlog.oldest_pending_seconds],
  },
};

function width(host) {
  return Math.max(280, host.clientWidth || 560);
}

function build(name, body) {
  const spec = CHARTS[name];
  const host = $(`chart-${name}`);
  host.replaceChildren();
  return new uPlot(
    {
      width: width(host),
      height: HEIGHT,
      series: [{ value: (u, ts) => (ts === null ? "–" : new Date(ts * 1000).toLocaleString()) }, ...spec.series()],
      axes: spec.axes(),
      scales: { x: { time: true }, ...(spec.scales || {}) },
      legend: { live: true },
      cursor: { drag: { x: false, y: false } },
    },
    [body.buckets, ...spec.data(body)],
    host
  );
}

function draw(body) {
  for (const name of Object.keys(CHARTS)) {
    const data = [body.buckets, ...CHARTS[name].data(body)];
    const key = JSON.stringify(data);
    if (view.keys[name] === key) continue; // the same numbers: leave the chart alone
    view.keys[name] = key;
    if (view.charts[name]) view.charts[name].setData(data);
    else view.charts[name] = build(name, body);
  }
  renderReasons(body.failures.top_reasons);
  $("chart-flow").closest("figure").dataset.empty = String(!body.buckets.length);
}

function renderReasons(top) {
  const key = JSON.stringify(top);
  if (view.keys.reasons === key) return;
  view.keys.reasons = key;
  const list = $("insights-reasons");
  const items = STAGES.flatMap((stage) => (top[stage] || []).map((r) =>
    node(
      "li", null,
      node("span", { className: "reason-stage", textContent: stage }),
      ` ${r.reason} `,
      node("strong", { textContent: count(r.runs) }),
      node("span", { className: "muted", textContent: ` (${count(r.failed)} failed, ${count(r.retried)} retried)` })
    )
  ));
  list.replaceChildren(...items);
  setHidden($("insights-no-reasons"), items.length > 0);
}

async function fetchInsights() {
  const headers = view.etag ? { "If-None-Match": view.etag } : {};
  const range = view.range;
  const response = await getJson(`${urls.insights}?range=${range}`, headers);
  if (range !== view.range || response.status === 304) return;
  const body = await response.json();
  view.etag = response.headers.get("ETag");
  draw(body);
  setText($("insights-asof"), body.as_of ? `Rolled up at ${clock(new Date(body.as_of))}` : "Nothing rolled up yet");
}

async function tick() {
  clearTimeout(view.timer);
  if (!view.hidden) {
    try {
      await fetchInsights();
      setHidden($("insights-error"), true);
    } catch (error) {
      setText($("insights-error"), `Cannot refresh the charts: ${error.message}.`);
      setHidden($("insights-error"), false);
      if (!(error instanceof ApiError)) console.error(error);
    }
  }
  schedule();
}

function schedule() {
  clearTimeout(view.timer);
  if (el.live.checked && document.visibilityState === "visible" && !view.hidden) {
    view.timer = setTimeout(tick, POLL_MS);
  }
}

function setRange(range) {
  if (range === view.range) return;
  view.range = range;
  view.etag = null;
  view.keys = {};
  for (const button of root.querySelectorAll("[data-range]")) {
    button.setAttribute("aria-pressed", String(button.dataset.range === range));
  }
  tick();
}

function setPanelHidden(hidden) {
  view.hidden = hidden;
  localStorage.setItem("insights-hidden", hidden ? "1" : "0");
  setHidden($("insights-body"), hidden);
  const toggle = $("insights-toggle");
  toggle.setAttribute("aria-expanded", String(!hidden));
  setText(toggle, hidden ? "Show charts" : "Hide charts");
  if (!hidden) tick();
  else schedule();
}

// ---------------------------------------------------------------- wiring
for (const button of root.querySelectorAll("[data-range]")) {
  button.addEventListener("click", () => setRange(button.dataset.range));
}
$("insights-toggle").addEventListener("click", () => setPanelHidden(!view.hidden));
el.live.addEventListener("change", () => (el.live.checked ? tick() : schedule()));
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && el.live.checked) tick();
  else schedule();
});
let resizeTimer = null;
window.addEventListener("resize", () => {
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    for (const [name, chart] of Object.entries(view.charts)) {
      chart.setSize({ width: width($(`chart-${name}`)), height: HEIGHT });
    }
  }, 150);
});
setPanelHidden(view.hidden);
