// The ingestion strip: how the HubSpot sync is doing, and a banner when it is failing.
import { getJson } from "./api.js";
import { clock, plural, setHidden, setText, stamp } from "./format.js";
import { el, urls } from "./page.js";

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
      last.rerun ? `${last.rerun.toLocaleString()} re-run after a change` : null,
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
}

export function showHealthError(error) {
  setText(el.syncLast, `Cannot tell how the sync is doing: ${error.message}.`);
}
