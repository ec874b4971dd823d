// A run's detail in the drawer's timeline: its output, parameters and log lines, loaded
// from GET /api/runs/{id}/ when the operator opens it. The timeline is rebuilt when the
// deal changes; the open run stays open, and is loaded again only once it has changed.
import { ApiError, getJson } from "./api.js";
import { node, stamp } from "./format.js";
import { urls } from "./page.js";

const open = new Map(); // run id -> { key, detail } of the runs shown open in the drawer

// A run's state as the timeline knows it: its detail is loaded again when this changes.
const keyOf = (run) => `${run.status} ${run.ended_at}`;

export function forgetRuns() {
  open.clear();
}

// The button that opens and closes a run's detail, and the panel it controls.
export function runDetail(run) {
  const panel = node("div", { className: "run-detail", id: `run-${run.id}` });
  panel.hidden = true;
  panel.setAttribute("role", "region");
  panel.setAttribute("aria-label", `${run.stage} attempt ${run.attempt}: output and log`);
  const button = node("button", {
    type: "button",
    className: "link run-toggle",
    textContent: "Output and log",
  });
  button.setAttribute("aria-expanded", "false");
  button.setAttribute("aria-controls", panel.id);
  button.addEventListener("click", () => toggle(run, button, panel));
  if (open.has(run.id)) show(run, button, panel);
  return { button, panel };
}

function toggle(run, button, panel) {
  if (open.has(run.id)) {
    open.delete(run.id);
    button.setAttribute("aria-expanded", "false");
    panel.hidden = true;
    return;
  }
  open.set(run.id, { key: null, detail: null });
  show(run, button, panel);
}

function show(run, button, panel) {
  button.setAttribute("aria-expanded", "true");
  panel.hidden = false;
  const known = open.get(run.id);
  if (known.detail && known.key === keyOf(run)) {
    fill(panel, known.detail);
    return;
  }
  if (!known.detail) panel.replaceChildren(node("p", { className: "muted", textContent: "Loading…" }));
  else fill(panel, known.detail); // the last one, until the new one comes
  load(run, panel).catch(() => null); // it shows its own error in the panel
}

async function load(run, panel) {
  const key = keyOf(run);
  let detail;
  try {
    detail = await (await getJson(`${urls.run}${run.id}/`)).json();
  } catch (error) {
    const shown = error.status === 404 ? new ApiError("this run is not there any more") : error;
    panel.replaceChildren(node("p", { className: "banner", textContent: `Cannot load this run: ${shown.message}.` }));
    throw error;
  }
  if (!open.has(run.id)) return; // closed meanwhile
  open.set(run.id, { key, detail });
  if (panel.isConnected) fill(panel, detail);
}

function json(value) {
  return JSON.stringify(value, null, 2);
}

function section(title, ...content) {
  return node("section", {}, node("h4", { textContent: title }), ...content);
}

// A scrolling box readers reach by keyboard (tabindex), as a long output needs.
function box(className, label, ...children) {
  const element = node("pre", { className, tabIndex: 0 }, ...children);
  element.setAttribute("aria-label", label);
  return element;
}

function outputSection(detail) {
  if (detail.output === null) {
    const why = detail.status === "failed" ? "None: the run failed." : "None.";
    return section("Output", node("p", { className: "muted", textContent: why }));
  }
  const note = detail.output_truncated
    ? node("p", { className: "muted", textContent: "Longer than 64 KB: its first 64 KB are kept." })
    : null;
  const text = detail.output_truncated ? detail.output : json(detail.output);
  return section("Output", note, box("json run-output", "Output", text));
}

function logSection(detail) {
  let body;
  if (detail.log_lines === null) {
    const why = detail.log_lines_cleared
      ? "Cleared with age (the output is kept)."
      : detail.status === "running"
        ? "Still running: its lines are kept when the run ends."
        : "None kept for this run.";
    body = node("p", { className: "muted", textContent: why });
  } else if (!detail.log_lines.length) {
    body = node("p", { className: "muted", textContent: "No lines." });
  } else {
    const lines = detail.log_lines.map((line) => node(
      "li",
      { className: `log-line log-${line.level}` },
      node("time", { dateTime: line.at, textContent: stamp(line.at) }),
      node("span", { className: "log-level", textContent: line.level }),
      node("span", { className: "log-message", textContent: line.message }),
    ));
    body = node("ol", { className: "log run-log", tabIndex: 0 }, ...lines);
    body.setAttribute("aria-label", "Log lines");
  }
  const dropped = detail.log_lines_dropped
    ? node("p", { className: "muted", textContent: `${detail.log_lines_dropped.toLocaleString()} more lines past the limit, not kept.` })
    : null;
  return section("Log", body, dropped);
}

function fill(panel, detail) {
  const version = detail.stage_version ? `version ${detail.stage_version}` : "version not recorded";
  panel.replaceChildren(
    node("p", { className: "muted run-version", textContent: `${detail.stage} ${version}` }),
    outputSection(detail),
    section("Parameters", detail.params === null
      ? node("p", { className: "muted", textContent: "Not recorded." })
      : box("json run-params", "Parameters", json(detail.params))),
    logSection(detail),
  );
}
