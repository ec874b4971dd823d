// The queue's table: one row per deal, rebuilt only where a deal changed.
import { ago, duration, node, stamp } from "./format.js";
import { dealHref, el, state } from "./page.js";

function shownDeals() {
  const seen = new Set(state.first.map((deal) => deal.id));
  return state.first.concat(state.more.filter((deal) => !seen.has(deal.id)));
}

function stepTitle(step) {
  if (step.status === "pending") return `${step.stage}: pending`;
  const times = `started ${stamp(step.started_at)}` + (step.ended_at ? `, ended ${stamp(step.ended_at)}` : "");
  const error = step.error ? ` — ${step.error}` : "";
  return `${step.stage}: ${step.status} (${times})${error}`;
}

// A deal HubSpot no longer has as it was: a small badge beside its status.
export function hubspotBadge(deal) {
  if (deal.hubspot_state === "archived") {
    return node("span", { className: "badge badge-archived", textContent: "deleted in HubSpot" });
  }
  if (deal.hubspot_state === "merged") {
    const into = deal.merged_into_hubspot_deal_id;
    return node("span", { className: "badge badge-merged", textContent: into ? `merged into ${into}` : "merged" });
  }
  return null;
}

function rowCells(deal) {
  const link = node("a", { href: dealHref(deal.id), className: "open", textContent: deal.hubspot_deal_id });
  link.setAttribute("aria-label", `Open deal ${deal.hubspot_deal_id} ${deal.name}`.trim());
  const dots = node("ol", { className: "dots" });
  dots.setAttribute("aria-label", "Stage progress");
  for (const step of deal.steps) {
    const dot = node("li", { className: `dot dot-${step.status}`, title: stepTitle(step) });
    dot.dataset.stage = step.stage;
    dot.dataset.status = step.status;
    dot.append(node("span", { className: "visually-hidden", textContent: `${step.stage} ${step.status}` }));
    dots.append(dot);
  }
  const running = deal.status === "running" && deal.duration_ms !== null;
  const dur = node("td", { className: "duration" });
  dur.dataset.ms = deal.duration_ms ?? "";
  dur.dataset.running = running ? "1" : "";
  const updated = node("td", { className: "updated" }, node("time", { dateTime: deal.updated_at }));
  // Where the deal is, by name: the dots only say which stages ran.
  const where = deal.status === "running" || deal.status === "failed" ||
    (deal.status === "pending" && deal.current_stage !== "intake")
    ? node("span", { className: "where", textContent: deal.current_stage })
    : null;
  const badge = hubspotBadge(deal);
  return [
    node("td", {}, link),
    node("td", { className: "name", textContent: deal.name, title: deal.name }),
    node(
      "td",
      { className: "status" },
      node("span", { className: `pill pill-${deal.status}`, textContent: deal.status }),
      where ? " " : null,
      where,
      badge ? " " : null,
      badge
    ),
    node("td", {}, dots),
    dur,
    updated,
  ];
}

export function render() {
  const deals = shownDeals();
  const existing = new Map([...el.rows.children].map((tr) => [tr.dataset.id, tr]));
  let cursor = el.rows.firstElementChild;
  for (const deal of deals) {
    const signature = JSON.stringify(deal);
    let tr = existing.get(deal.id);
    existing.delete(deal.id);
    if (!tr) {
      tr = node("tr", {});
      tr.dataset.id = deal.id;
    }
    if (tr.dataset.signature !== signature) {
      tr.dataset.signature = signature;
      tr.dataset.status = deal.status;
      tr.dataset.hubspotState = deal.hubspot_state;
      tr.replaceChildren(...rowCells(deal));
    }
    tr.classList.toggle("selected", deal.id === state.dealId);
    // Move a row only when it is out of place, so a focused link keeps its focus.
    if (tr !== cursor) el.rows.insertBefore(tr, cursor);
    else cursor = cursor.nextElementSibling;
  }
  for (const tr of existing.values()) tr.remove();
  const filtered = el.status.value || el.stage.value || el.q.value.trim() || el.hubspot.value;
  el.empty.textContent = filtered
    ? "No deals match these filters."
    : "No deals yet. Deals appear here as HubSpot check-ins arrive.";
  el.empty.hidden = deals.length > 0;
  el.more.hidden = !state.nextBefore;
  refreshClocks();
}

// Once a second: "updated n s ago" and running durations advance without a request.
export function refreshClocks() {
  const elapsed = Date.now() - state.receivedAt;
  for (const td of el.rows.querySelectorAll("td.duration")) {
    const ms = td.dataset.ms === "" ? null : Number(td.dataset.ms);
    td.textContent = duration(ms === null ? null : td.dataset.running ? ms + elapsed : ms);
  }
  for (const time of el.rows.querySelectorAll("td.updated time")) {
    time.textContent = ago(time.dateTime);
  }
}
