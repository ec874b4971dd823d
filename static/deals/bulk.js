// Bulk actions on every deal the filters select: a preview of how many, then one POST.
import { getJson, post } from "./api.js";
import { plural, setButton, setHidden } from "./format.js";
import { allowed, el, filterParams, filtersSet, hubspotState, poll, state, urls } from "./page.js";

// Deals HubSpot deleted or merged away are never started again: in the operator's words.
const INACTIVE_VIEW =
  "Only deals active in HubSpot are started again: restore a deleted deal in HubSpot first; act on the deal a merged one went into.";

export async function fetchPreview() {
  if (!filtersSet() || !allowed.size) return;
  const generation = state.generation;
  const params = filterParams();
  params.delete("limit");
  const preview = await (await getJson(`${urls.actions}?${params}`)).json();
  if (generation !== state.generation) return;
  state.preview = preview;
  renderBulk();
}

export function showBulkError(error) {
  state.preview = null;
  renderBulk(`Cannot count the deals these filters select: ${error.message}.`);
}

function bulkButton(action, n, limit) {
  const label = action === "retry" ? `Retry all ${n.toLocaleString()} failed` : `Re-run all ${n.toLocaleString()}`;
  if (n > limit) {
    return {
      label: action === "retry" ? `Retry all ${limit.toLocaleString()}+ failed` : `Re-run all ${limit.toLocaleString()}+`,
      enabled: false,
      reason: `More than ${limit.toLocaleString()} deals match; narrow the filters (a bulk action takes at most ${limit.toLocaleString()}).`,
    };
  }
  if (n === 0) {
    return {
      label,
      enabled: false,
      reason: action === "retry"
        ? "No failed deal matches these filters."
        : "No deal these filters select can be re-run (running deals finish first).",
    };
  }
  return {
    label,
    enabled: true,
    reason: action === "retry"
      ? "Resume each failed deal at the stage that failed, ahead of the backlog."
      : "Start each deal again at intake, ahead of the backlog (running ones are left alone).",
  };
}

export function renderBulk(problem) {
  setHidden(el.bulk, !filtersSet() || !allowed.size);
  if (hubspotState() === "archived" || hubspotState() === "merged") {
    const never = { enabled: false, reason: INACTIVE_VIEW };
    setButton(el.bulkRetry, { label: "Retry all failed", ...never });
    setButton(el.bulkRerun, { label: "Re-run all", ...never });
    return;
  }
  const preview = state.preview;
  if (!preview) {
    const waiting = { enabled: false, reason: problem || "Counting the deals these filters select…" };
    setButton(el.bulkRetry, { label: "Retry all failed", ...waiting });
    setButton(el.bulkRerun, { label: "Re-run all", ...waiting });
    return;
  }
  setButton(el.bulkRetry, bulkButton("retry", preview.retry, preview.limit));
  setButton(el.bulkRerun, bulkButton("rerun", preview.rerun, preview.limit));
}

// The deals the filters selected that HubSpot deleted or merged away (an "All" view).
function leftAlone(skipped) {
  const parts = [];
  if (skipped && skipped.archived) parts.push(`${skipped.archived.toLocaleString()} deleted in HubSpot`);
  if (skipped && skipped.merged) parts.push(`${skipped.merged.toLocaleString()} merged into another deal`);
  return parts.length ? ` Left alone: ${parts.join(", ")}.` : "";
}

export async function bulkAct(action) {
  const n = state.preview ? state.preview[action] : 0;
  const question = action === "retry"
    ? `Retry all ${plural(n, "failed deal", "failed deals")} these filters select? Each resumes at the stage that failed, ahead of the backlog.`
    : `Re-run all ${plural(n, "deal", "deals")} these filters select from scratch? They run ahead of the backlog; their earlier runs stay in their timelines.`;
  if (!n || !window.confirm(question)) return;
  el.bulkOutcome.textContent = "Sending…";
  const body = {
    action,
    status: el.status.value,
    stage: el.stage.value,
    q: el.q.value.trim(),
    hubspot_state: hubspotState(),
  };
  const result = await post(urls.actions, body, urls.csrf);
  if (result.ok) {
    const count = result.answer.count;
    el.bulkOutcome.textContent = (count
      ? `${action === "retry" ? "Retry" : "Re-run"} started for ${plural(count, "deal", "deals")}, ahead of the backlog.`
      : "Nothing started: no deal these filters select could be started again any more.") +
      leftAlone(result.answer.skipped);
  } else {
    el.bulkOutcome.textContent = result.message;
  }
  el.bulkOutcome.dataset.outcome = result.ok ? "started" : "refused";
  state.ticks = 0; // counts, health and the preview now, not in 10 s
  poll.now();
}
