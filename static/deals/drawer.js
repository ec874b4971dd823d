// The deal drawer: its facts, its timeline of passes and runs, and its two actions.
import { ApiError, getJson, post } from "./api.js";
import { duration, node, setButton, setText, stamp } from "./format.js";
import { allowed, dealHref, el, poll, state, urls, writeUrl } from "./page.js";
import { forgetRuns, runDetail } from "./runs.js";
import { render } from "./table.js";

export function openDrawer(id, { push = true } = {}) {
  if (state.dealId !== id) {
    state.deal = null;
    forgetRuns();
    el.outcome.textContent = "";
    el.facts.replaceChildren();
    el.timeline.replaceChildren();
    el.drawerTitle.textContent = "Loading…";
    renderActions(null);
  }
  state.dealId = id;
  // From one drawer to another (a merged deal's): focus goes back where it was before both.
  if (!el.drawer.contains(document.activeElement)) state.lastFocus = document.activeElement;
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
  forgetRuns();
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

// A link to another deal's drawer (queue.js opens it in place).
function dealLink(id, hubspotDealId) {
  const link = node("a", { href: dealHref(id), textContent: hubspotDealId });
  link.dataset.dealId = id;
  return link;
}

// Where the deal stands in HubSpot: active, deleted, or merged into another (a link).
function inHubspot(deal) {
  const when = deal.hubspot_state_at ? ` on ${stamp(deal.hubspot_state_at)}` : "";
  if (deal.hubspot_state === "archived") return `deleted in HubSpot${when}`;
  if (deal.hubspot_state !== "merged") return "active";
  if (!deal.merged_into_id) return `merged in HubSpot${when}`;
  return node(
    "span",
    {},
    "merged into ",
    dealLink(deal.merged_into_id, deal.merged_into_hubspot_deal_id),
    when
  );
}

function mergedFrom(deal) {
  const links = deal.merged_from.flatMap((other, n) => [
    n ? ", " : null,
    dealLink(other.id, other.hubspot_deal_id),
  ]);
  return node("span", {}, ...links);
}

function renderDrawer(deal) {
  el.drawerTitle.textContent = `${deal.hubspot_deal_id} ${deal.name}`.trim();
  const facts = [
    ["In HubSpot", inHubspot(deal)],
    deal.merged_from.length ? ["Merged from", mergedFrom(deal)] : null,
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
    ...facts
      .filter(Boolean)
      .flatMap(([term, value]) => [node("dt", { textContent: term }), node("dd", {}, value)])
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
  const detail = runDetail(run); // its output and log lines, on demand (runs.js)
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
    detail.button,
    run.error ? node("pre", { className: "error", textContent: run.error }) : null,
    detail.panel
  );
  item.dataset.runId = run.id;
  item.dataset.stage = run.stage;
  item.dataset.status = run.status;
  return item;
}

// What the deal allows and why not, as the API says it (deals/rules.py): the buttons
// say it before anyone clicks.
function actionStates(deal) {
  if (!deal) {
    const loading = { enabled: false, reason: "Loading the deal…" };
    return { rerun: loading, retry: loading };
  }
  const state = (action) => ({ enabled: action.allowed, reason: action.reason });
  return { rerun: state(deal.actions.rerun), retry: state(deal.actions.retry) };
}

function renderActions(deal) {
  const states = actionStates(deal);
  setButton(el.rerun, states.rerun);
  setButton(el.retry, states.retry);
  const why = ["rerun", "retry"]
    .filter((action) => allowed.has(action) && !states[action].enabled)
    .map((action) => states[action].reason);
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
