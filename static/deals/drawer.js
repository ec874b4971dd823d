// The deal drawer: its facts, its timeline of passes and runs, and its two actions.
import { ApiError, getJson, post } from "./api.js";
import { duration, node, setButton, setText, stamp } from "./format.js";
import { el, poll, state, urls, writeUrl } from "./page.js";
import { render } from "./table.js";

export function openDrawer(id, { push = true } = {}) {
  if (state.dealId !== id) {
    state.deal = null;
    el.outcome.textContent = "";
    el.facts.replaceChildren();
    el.timeline.replaceChildren();
    el.drawerTitle.textContent = "Loading…";
    renderActions(null);
  }
  state.dealId = id;
  state.lastFocus = document.activeElement;
  el.drawer.hidden = false;
  writeUrl({ push });
  render();
  el.drawerTitle.focus();
  loadDeal(id).catch(() => null); // it shows its own error in the drawer
}

export function closeDrawer({ push = true } = {}) {
  if (!state.dealId) return;
  state.dealId = null;
  state.deal = null;
  el.drawer.hidden = true;
  writeUrl({ push });
  render();
  if (state.lastFocus && document.contains(state.lastFocus)) state.lastFocus.focus();
}

function showDrawerError(error) {
  el.drawerError.textContent = `Cannot load this deal: ${error.message}.`;
  el.drawerError.hidden = false;
}

export async function loadDeal(id) {
  let response;
  try {
    response = await getJson(`${urls.deal}${id}/`);
  } catch (error) {
    const shown = error.status === 404 ? new ApiError("there is no deal with this id") : error;
    if (id === state.dealId) showDrawerError(shown);
    throw error;
  }
  const deal = await response.json();
  if (id !== state.dealId) return;
  el.drawerError.hidden = true;
  if (JSON.stringify(deal) === JSON.stringify(state.deal)) return;
  state.deal = deal;
  renderDrawer(deal);
}

function renderDrawer(deal) {
  el.drawerTitle.textContent = `${deal.hubspot_deal_id} ${deal.name}`.trim();
  const facts = [
    ["Status", node("span", { className: `pill pill-${deal.status}`, textContent: deal.status })],
    ["Current stage", deal.current_stage],
    ["HubSpot deal stage", deal.deal_stage || "—"],
    ["Amount", deal.amount ?? "—"],
    ["Checked in", stamp(deal.hubspot_checked_in_at)],
    ["Created", stamp(deal.created_at)],
    ["Updated", stamp(deal.updated_at)],
    [
      "HubSpot write-back",
      deal.writeback
        ? [deal.writeback.state, deal.writeback.last_error].filter(Boolean).join(" · ")
        : "—",
    ],
  ];
  el.facts.replaceChildren(
    ...facts.flatMap(([term, value]) => [node("dt", { textContent: term }), node("dd", {}, value)])
  );
  el.timeline.replaceChildren(...deal.passes.map((pass, n) => passItem(deal, pass, n === 0)));
  if (!deal.passes.length) el.timeline.append(node("li", { textContent: "No pass yet." }));
  renderActions(deal);
}

// One pass: what started it, who, when, from where; then its runs in the order they ran.
function passItem(deal, pass, current) {
  const runs = deal.runs.filter((run) => run.pass_id === pass.id);
  const who = pass.requested_by ? ` by ${pass.requested_by}` : "";
  const head = node(
    "div",
    { className: "pass-head" },
    node("strong", { className: "pass-trigger", textContent: pass.trigger_label }),
    `${who} · from ${pass.from_stage} · ${stamp(pass.started_at)}`
  );
  const list = node("ol", { className: "runs" }, ...runs.map(runItem));
  if (!runs.length) {
    const note = current && deal.status === "pending"
      ? "Waiting for a worker."
      : "No stage ran in this pass.";
    list.append(node("li", { className: "muted", textContent: note }));
  }
  const item = node("li", { className: current ? "pass current" : "pass" }, head, list);
  item.dataset.passId = pass.id;
  item.dataset.trigger = pass.trigger;
  return item;
}

function runItem(run) {
  const took = run.ended_at
    ? ` · took ${duration(new Date(run.ended_at) - new Date(run.started_at))}`
    : " · still running";
  const item = node(
    "li",
    { className: `run run-${run.status}` },
    node("span", { className: `dot dot-${run.status}`, ariaHidden: "true" }),
    node("strong", { textContent: run.stage }),
    ` attempt ${run.attempt} · `,
    node("span", { className: "run-status", textContent: run.status }),
    ` · started ${stamp(run.started_at)}${took}`,
    run.error ? node("pre", { className: "error", textContent: run.error }) : null
  );
  item.dataset.stage = run.stage;
  item.dataset.status = run.status;
  return item;
}

// What the deal's state allows, and why not: the buttons say it before anyone clicks.
function actionStates(deal) {
  if (!deal) {
    const loading = { enabled: false, reason: "Loading the deal…" };
    return { rerun: loading, retry: loading };
  }
  const busy = "The deal is being processed; wait until it has finished.";
  const rerun = deal.status === "running"
    ? { enabled: false, reason: busy }
    : { enabled: true, reason: "Start the deal again at intake, ahead of the backlog." };
  const retry = {
    failed: { enabled: true, reason: `Resume at ${deal.current_stage}, ahead of the backlog.` },
    running: { enabled: false, reason: busy },
    pending: { enabled: false, reason: "The deal is waiting for a worker; only a failed deal can be retried." },
    done: { enabled: false, reason: "The deal is done; only a failed deal can be retried." },
  }[deal.status];
  return { rerun, retry };
}

function renderActions(deal) {
  const states = actionStates(deal);
  setButton(el.rerun, states.rerun);
  setButton(el.retry, states.retry);
  const why = [states.rerun, states.retry].filter((s) => !s.enabled).map((s) => s.reason);
  setText(el.actionReason, deal ? [...new Set(why)].join(" ") : "");
}

const ACTION_PATHS = { rerun: "rerun/", retry: "retry/" };

export async function act(kind) {
  const id = state.dealId;
  const deal = state.deal;
  const name = deal ? deal.hubspot_deal_id : "this deal";
  const question =
    kind === "rerun"
      ? `Re-run deal ${name} from scratch? Its earlier runs stay in the timeline.`
      : `Retry deal ${name} from the stage that failed?`;
  if (!id || !window.confirm(question)) return;
  el.outcome.textContent = "Sending…";
  const result = await post(`${urls.deal}${id}/${ACTION_PATHS[kind]}`, null, urls.csrf);
  if (result.ok) {
    el.outcome.textContent = kind === "rerun"
      ? "Re-run started: the deal starts again at intake, ahead of the backlog."
      : `Retry started: the deal resumes at ${deal ? deal.current_stage : "the stage that failed"}, ahead of the backlog.`;
  } else {
    el.outcome.textContent = result.message;
  }
  el.outcome.dataset.outcome = result.ok ? "started" : "refused";
  poll.now();
}
