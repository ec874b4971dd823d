// What every module of the queue page shares: the API's URLs from the page's data
// attributes, its elements, its state, and the filters as they stand in the URL.

export const PAGE_ROWS = 50;

const root = document.getElementById("queue");
export const urls = {
  page: root.dataset.pageUrl,
  counts: root.dataset.countsUrl,
  actions: root.dataset.actionsUrl,
  health: root.dataset.healthUrl,
  insights: root.dataset.insightsUrl,
  deal: root.dataset.dealUrl,
  run: root.dataset.runUrl,
  csrf: root.dataset.csrfToken,
};

export const $ = (id) => document.getElementById(id);
export const el = {
  rows: $("rows"), empty: $("empty"), more: $("more"), banner: $("banner"),
  live: $("live"), lastUpdated: $("last-updated"), filters: $("filters"),
  status: $("f-status"), stage: $("f-stage"), q: $("f-q"), hubspot: $("f-hubspot"),
  drawer: $("drawer"), drawerTitle: $("drawer-title"), drawerClose: $("drawer-close"),
  facts: $("drawer-facts"), timeline: $("timeline"), outcome: $("action-outcome"),
  drawerError: $("drawer-error"), rerun: $("rerun"), retry: $("retry"),
  actionReason: $("action-reason"), syncLast: $("sync-last"), syncNext: $("sync-next"),
  syncBanner: $("sync-banner"), bulk: $("bulk"), bulkRetry: $("bulk-retry"),
  bulkRerun: $("bulk-rerun"), bulkOutcome: $("bulk-outcome"),
};

// The actions this user may take (the server renders the names it allows): the others'
// buttons are taken off the page, and the API would refuse them with 403 anyway.
export const allowed = new Set((root.dataset.allowedActions || "").split(" ").filter(Boolean));
for (const action of ["rerun", "retry"]) {
  if (!allowed.has(action)) {
    $(`${action}-wrap`).remove();
    $(`bulk-${action}-wrap`).remove();
  }
}
if (!allowed.size) $("drawer-actions").remove();

export const state = {
  first: [], // the newest `limit` deals, refreshed by every poll
  limit: PAGE_ROWS, // "Load more" grows it, up to the API's largest page
  more: [], // pages past that added by "Load more", kept as they were loaded
  nextBefore: null,
  etag: null,
  receivedAt: Date.now(), // when the shown durations were computed by the server
  generation: 0, // bumped when the filters change, so a late answer for old ones is dropped
  ticks: 0,
  timer: null,
  lastUpdated: null, // when the API last answered
  dealId: null, // the deal open in the drawer
  deal: null,
  lastFocus: null,
  preview: null, // how many deals each bulk action would take, for the filters shown
};

// The poll, set by queue.js: an action calls it so its outcome shows at once, not in 2 s.
export const poll = { now: () => {} };

// Filters that narrow the deals, as bulk actions need (the HubSpot state alone does not:
// only active deals are ever started again).
export function filtersSet() {
  return Boolean(el.status.value || el.stage.value || el.q.value.trim());
}

// The HubSpot state asked for: empty is the API's default, the active deals.
export function hubspotState() {
  return el.hubspot.value || "active";
}

// Filters and the open deal live in the URL, so a copied link opens the same view.
export function readUrl() {
  const params = new URLSearchParams(location.search);
  el.status.value = params.get("status") || "";
  el.stage.value = params.get("stage") || "";
  el.q.value = params.get("q") || "";
  el.hubspot.value = params.get("hubspot_state") || "";
  if (el.hubspot.selectedIndex < 0) el.hubspot.value = ""; // an unknown one: the default
  // Only a deal id: the value goes into API URLs, so nothing else may come through.
  const deal = params.get("deal");
  return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(deal || "")
    ? deal
    : null;
}

export function writeUrl({ push } = {}) {
  const params = new URLSearchParams();
  if (el.status.value) params.set("status", el.status.value);
  if (el.stage.value) params.set("stage", el.stage.value);
  if (el.q.value.trim()) params.set("q", el.q.value.trim());
  if (el.hubspot.value) params.set("hubspot_state", el.hubspot.value);
  if (state.dealId) params.set("deal", state.dealId);
  const query = params.toString();
  const url = `${location.pathname}${query ? "?" + query : ""}`;
  if (url !== location.pathname + location.search) {
    history[push ? "pushState" : "replaceState"](null, "", url);
  }
}

export function filterParams(limit = state.limit) {
  const params = new URLSearchParams({ limit: String(limit) });
  if (el.status.value) params.set("status", el.status.value);
  if (el.stage.value) params.set("stage", el.stage.value);
  if (el.q.value.trim()) params.set("q", el.q.value.trim());
  if (el.hubspot.value) params.set("hubspot_state", el.hubspot.value);
  return params;
}

export function dealHref(id) {
  const params = new URLSearchParams(location.search);
  params.set("deal", id);
  return `${location.pathname}?${params}`;
}
