// The ingestion strip: how the HubSpot sync is doing, and a banner when it is failing.
import { getJson } from "./api.js";
import { clock, node, plural, setHidden, setText, stamp } from "./format.js";
import { $, el, urls } from "./page.js";

const HEALTH_WORDS = { ok: "Health: ok", degraded: "Health: degraded", failing: "Health: failing" };

// The system's health beside the strip, and what is wrong (each reason, worst first).
function renderHealth(health) {
  const status = $("health-status");
  if (status.dataset.status !== health.status) status.dataset.status = health.status;
  setText(status, HEALTH_WORDS[health.status] || `Health: ${health.status}`);
  const list = $("health-reasons");
  const key = JSON.stringify(health.reasons);
  if (list.dataset.key !== key) {
    list.dataset.key = key;
    list.replaceChildren(...health.reasons.map((reason) => {
      const item = node("li", { textContent: reason.message });
      item.dataset.severity = reason.severity;
      return item;
    }));
  }
  setHidden(list, health.reasons.length === 0);
}

export async function fetchHealth() {
  const health = await (await getJson(urls.health)).json();
  const last = health.last_sync;
  let text = "No sync has run yet.";
  if (last && (last.status === "running" || last.status === "queued")) {
    text = `Syncing now: ${last.progress.message || "starting"}.`;
  } else if (last) {
    const brought = [
      plural(last.new, "new deal", "new deals"),
      `${last.updated.toLocaleString()} updated`,
      last.restarted ? `${last.restarted.toLocaleString()} restarted after a HubSpot change` : null,
      last.invalid ? `${last.invalid.toLocaleString()} rejected` : null,
    ].filter(Boolean).join(", ");
    text = `Last sync ${last.status} at ${clock(new Date(last.finished_at || last.started_at))}: ${brought}.`;
  }
  setText(el.syncLast, text);
  el.syncLast.dataset.status = last ? last.status : "";
  let next = `Syncs ${health.schedule}.`;
  if (health.next_due_at) {
    const due = new Date(health.next_due_at);
    next = due < Date.now() - 60_000
      ? `The next sync is overdue (was due at ${clock(due)}).`
      : `Next sync due at ${clock(due)} (${health.schedule}).`;
  }
  const rec = health.last_reconcile;
  if (rec && rec.status === "succeeded") {
    next += ` Last reconcile at ${clock(new Date(rec.finished_at))}: ${rec.checked.toLocaleString()} checked, ${rec.archived} deleted, ${rec.restored} restored, ${rec.merged} merged.`;
  }
  setText(el.syncNext, next);
  const since = health.last_success_at
    ? ` The last successful sync finished at ${stamp(health.last_success_at)}.`
    : "";
  setText(
    el.syncBanner,
    health.failing
      ? `HubSpot sync is failing. ${health.problem} New deals and changes from HubSpot are not coming in.${since}`
      : ""
  );
  setHidden(el.syncBanner, !health.failing);
  renderHealth(health);
}

export function showHealthError(error) {
  setText(el.syncLast, `Cannot tell how the sync is doing: ${error.message}.`);
}
