// The operator queue page: polls the queue API and wires the page's modules together.
// ES modules, no framework, no build step. Everything shown comes from the JSON API.
import { ApiError, getJson } from "./api.js";
import { bulkAct, fetchPreview, renderBulk, showBulkError } from "./bulk.js";
import { act, closeDrawer, loadDeal, openDrawer } from "./drawer.js";
import { clock, setHidden, setText } from "./format.js";
import { fetchHealth, showHealthError } from "./health.js";
import { $, PAGE_ROWS, el, filterParams, poll, readUrl, state, urls, writeUrl } from "./page.js";
import { refreshClocks, render } from "./table.js";

const POLL_MS = 2000;
const COUNTS_EVERY_TICKS = 5; // counts scan every deal: every 10 s is plenty for a header
const MAX_LIVE_ROWS = 200; // the API's largest page: up to this, every row shown stays live

async function fetchFirstPage() {
  const generation = state.generation;
  const headers = state.etag ? { "If-None-Match": state.etag } : {};
  const response = await getJson(`${urls.page}?${filterParams()}`, headers);
  if (generation !== state.generation) return false; // the filters changed meanwhile
  if (response.status === 304) return false;
  const page = await response.json();
  state.etag = response.headers.get("ETag");
  state.first = page.items;
  state.receivedAt = Date.now();
  if (!state.more.length) state.nextBefore = page.next_before;
  return true;
}

async function fetchCounts() {
  const counts = await (await getJson(urls.counts)).json();
  for (const [status, n] of Object.entries(counts)) {
    const output = $(`count-${status}`);
    if (output) setText(output, String(n));
  }
}

async function tick() {
  clearTimeout(state.timer);
  const counts = state.ticks++ % COUNTS_EVERY_TICKS === 0;
  try {
    const jobs = [fetchFirstPage(), counts ? fetchCounts() : null];
    if (counts) {
      // Each says itself when it cannot be loaded; the table is not at fault.
      jobs.push(fetchHealth().catch(showHealthError), fetchPreview().catch(showBulkError));
    }
    // The drawer says itself when its deal cannot be loaded; the table is not at fault.
    if (state.dealId) jobs.push(loadDeal(state.dealId).catch(() => null));
    const [changed] = await Promise.all(jobs);
    if (changed) render();
    setHidden(el.banner, true);
    state.lastUpdated = new Date();
    setText(el.lastUpdated, `Last updated ${clock(state.lastUpdated)}`);
  } catch (error) {
    // Keep the last data on screen; say what is wrong and that it is not fresh.
    el.banner.textContent =
      `Cannot refresh the queue: ${error.message}. ` +
      (state.lastUpdated ? `Showing data from ${clock(state.lastUpdated)}` : "No data yet") +
      (el.live.checked ? "; retrying every 2 s." : ".");
    el.banner.hidden = false;
    if (!(error instanceof ApiError)) console.error(error);
  }
  schedule();
}

function schedule() {
  clearTimeout(state.timer);
  if (el.live.checked && document.visibilityState === "visible") {
    state.timer = setTimeout(tick, POLL_MS);
  }
}

function restart() {
  // New filters: start over from the first page.
  state.generation++;
  state.etag = null;
  state.more = [];
  state.limit = PAGE_ROWS;
  state.nextBefore = null;
  state.ticks = 0;
  state.preview = null;
  renderBulk();
  tick();
}

async function loadMore() {
  if (!state.nextBefore) return;
  if (state.limit < MAX_LIVE_ROWS) {
    // Poll a longer first page rather than append one: rows shown keep refreshing, and
    // a deal pushed down by newer ones cannot fall between two pages.
    state.limit = Math.min(MAX_LIVE_ROWS, state.limit + PAGE_ROWS);
    state.etag = null;
    return tick();
  }
  el.more.disabled = true;
  const generation = state.generation;
  try {
    const params = filterParams(PAGE_ROWS);
    params.set("before", state.nextBefore);
    const page = await (await getJson(`${urls.page}?${params}`)).json();
    if (generation !== state.generation) return;
    state.more = state.more.concat(page.items);
    state.nextBefore = page.next_before;
    render();
  } catch (error) {
    el.banner.textContent = `Cannot load more deals: ${error.message}.`;
    el.banner.hidden = false;
  } finally {
    el.more.disabled = false;
  }
}

// ---------------------------------------------------------------- wiring
poll.now = tick;
let searchTimer = null;
el.filters.addEventListener("submit", (event) => event.preventDefault());
el.status.addEventListener("change", () => { writeUrl(); restart(); });
el.stage.addEventListener("change", () => { writeUrl(); restart(); });
el.hubspot.addEventListener("change", () => { writeUrl(); restart(); });
el.q.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(() => { writeUrl(); restart(); }, 300);
});
el.more.addEventListener("click", loadMore);
el.live.addEventListener("change", () => (el.live.checked ? tick() : schedule()));
document.addEventListener("visibilitychange", () => {
  if (document.visibilityState === "visible" && el.live.checked) tick();
  else schedule();
});

el.rows.addEventListener("click", (event) => {
  const tr = event.target.closest("tr[data-id]");
  if (!tr || event.ctrlKey || event.metaKey || event.shiftKey) return; // new-tab clicks
  event.preventDefault();
  openDrawer(tr.dataset.id);
});
// A deal named in the drawer (the one it was merged into, the ones merged into it): its
// own drawer, in place.
el.facts.addEventListener("click", (event) => {
  const link = event.target.closest("a[data-deal-id]");
  if (!link || event.ctrlKey || event.metaKey || event.shiftKey) return; // new-tab clicks
  event.preventDefault();
  openDrawer(link.dataset.dealId);
});
el.drawerClose.addEventListener("click", () => closeDrawer());
document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && state.dealId) closeDrawer();
});
el.rerun.addEventListener("click", () => act("rerun"));
el.retry.addEventListener("click", () => act("retry"));
el.bulkRetry.addEventListener("click", () => bulkAct("retry"));
el.bulkRerun.addEventListener("click", () => bulkAct("rerun"));
window.addEventListener("popstate", () => {
  const dealId = readUrl();
  restart();
  if (dealId) openDrawer(dealId, { push: false });
  else closeDrawer({ push: false });
});

const initialDeal = readUrl();
renderBulk();
if (initialDeal) openDrawer(initialDeal, { push: false });
setInterval(refreshClocks, 1000);
tick();
