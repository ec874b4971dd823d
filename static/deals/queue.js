// The operator queue page: polls the queue API, renders the table, drives the drawer.
// Plain script, no framework, no build step. Everything it shows comes from the JSON API;
// text is always set with textContent, never parsed as HTML.
"use strict";

(function () {
  const POLL_MS = 2000;
  const COUNTS_EVERY_TICKS = 5; // counts scan every deal: every 10 s is plenty for a header
  const PAGE_ROWS = 50;
  const MAX_LIVE_ROWS = 200; // the API's largest page: up to this, every row shown stays live
  const root = document.getElementById("queue");
  const api = {
    page: root.dataset.pageUrl,
    counts: root.dataset.countsUrl,
    actions: root.dataset.actionsUrl,
    health: root.dataset.healthUrl,
    deal: root.dataset.dealUrl,
    csrf: root.dataset.csrfToken,
  };
  const $ = (id) => document.getElementById(id);
  const el = {
    rows: $("rows"), empty: $("empty"), more: $("more"), banner: $("banner"),
    live: $("live"), lastUpdated: $("last-updated"), filters: $("filters"),
    status: $("f-status"), stage: $("f-stage"), q: $("f-q"),
    drawer: $("drawer"), drawerTitle: $("drawer-title"), drawerClose: $("drawer-close"),
    facts: $("drawer-facts"), timeline: $("timeline"), outcome: $("action-outcome"),
    drawerError: $("drawer-error"), rerun: $("rerun"), retry: $("retry"),
    actionReason: $("action-reason"), syncLast: $("sync-last"), syncNext: $("sync-next"),
    syncBanner: $("sync-banner"), bulk: $("bulk"), bulkRetry: $("bulk-retry"),
    bulkRerun: $("bulk-rerun"), bulkOutcome: $("bulk-outcome"),
  };

  const state = {
    first: [], // the newest `limit` deals, refreshed by every poll
    limit: PAGE_ROWS, // "Load more" grows it, up to MAX_LIVE_ROWS
    more: [], // pages past MAX_LIVE_ROWS added by "Load more", kept as they were loaded
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

  // ---------------------------------------------------------------- formatting
  function clock(date) {
    return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }
  function stamp(iso) {
    return iso ? new Date(iso).toLocaleString() : "—";
  }
  function duration(ms) {
    if (ms === null || ms === undefined) return "—";
    if (ms < 1000) return `${ms} ms`;
    const s = Math.floor(ms / 1000);
    if (s < 60) return `${(ms / 1000).toFixed(1)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} m ${String(s % 60).padStart(2, "0")} s`;
    return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, "0")} m`;
  }
  function ago(iso) {
    const s = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
    if (s < 90) return `updated ${s} s ago`;
    if (s < 5400) return `updated ${Math.round(s / 60)} min ago`;
    if (s < 129600) return `updated ${Math.round(s / 3600)} h ago`;
    return `updated ${Math.round(s / 86400)} d ago`;
  }
  // The DOM is touched only where a value changed: polls repeat mostly the same values.
  function setText(element, text) {
    if (element.textContent !== text) element.textContent = text;
  }
  function setHidden(element, hidden) {
    if (element.hidden !== hidden) element.hidden = hidden;
  }
  // A button and its reason: disabled ones say why on hover (on their wrapper too, as a
  // disabled button gets no pointer events in some browsers).
  function setButton(button, { label, enabled, reason }) {
    if (label !== undefined) setText(button, label);
    if (button.disabled !== !enabled) button.disabled = !enabled;
    for (const element of [button, button.parentElement]) {
      if (element.title !== reason) element.title = reason;
    }
  }
  function plural(n, one, many) {
    return `${n.toLocaleString()} ${n === 1 ? one : many}`;
  }
  function node(tag, props, ...children) {
    const element = document.createElement(tag);
    Object.assign(element, props || {});
    for (const child of children) {
      if (child !== null && child !== undefined) element.append(child);
    }
    return element;
  }

  // ---------------------------------------------------------------- the URL
  // Filters and the open deal live in the URL, so a copied link opens the same view.
  function readUrl() {
    const params = new URLSearchParams(location.search);
    el.status.value = params.get("status") || "";
    el.stage.value = params.get("stage") || "";
    el.q.value = params.get("q") || "";
    // Only a deal id: the value goes into API URLs, so nothing else may come through.
    const deal = params.get("deal");
    return /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(deal || "")
      ? deal
      : null;
  }
  function writeUrl({ push } = {}) {
    const params = new URLSearchParams();
    if (el.status.value) params.set("status", el.status.value);
    if (el.stage.value) params.set("stage", el.stage.value);
    if (el.q.value.trim()) params.set("q", el.q.value.trim());
    if (state.dealId) params.set("deal", state.dealId);
    const query = params.toString();
    const url = `${location.pathname}${query ? "?" + query : ""}`;
    if (url !== location.pathname + location.search) {
      history[push ? "pushState" : "replaceState"](null, "", url);
    }
  }
  function filterParams(limit = state.limit) {
    const params = new URLSearchParams({ limit: String(limit) });
    if (el.status.value) params.set("status", el.status.value);
    if (el.stage.value) params.set("stage", el.stage.value);
    if (el.q.value.trim()) params.set("q", el.q.value.trim());
    return params;
  }

  // ---------------------------------------------------------------- talking to the API
  class ApiError extends Error {}

  async function getJson(url, headers = {}) {
    let response;
    try {
      response = await fetch(url, {
        headers: { Accept: "application/json", ...headers },
        credentials: "same-origin",
        cache: "no-store", // we send If-None-Match ourselves
      });
    } catch (error) {
      throw new ApiError("the server cannot be reached; check the connection");
    }
    if (response.status !== 304 && !response.ok) {
      const error = new ApiError(trouble(response.status));
      error.status = response.status;
      throw error;
    }
    return response;
  }

  // What went wrong, in an operator's words (the status code is for the logs, not people).
  function trouble(status) {
    if (status === 401 || status === 403) return "your session has ended; reload the page to log in again";
    if (status === 404) return "it is not there any more";
    if (status >= 500) return "the server had a problem; it may pass in a moment";
    return "the server refused the request";
  }

  async function fetchFirstPage() {
    const generation = state.generation;
    const headers = state.etag ? { "If-None-Match": state.etag } : {};
    const response = await getJson(`${api.page}?${filterParams()}`, headers);
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
    const counts = await (await getJson(api.counts)).json();
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
      const page = await (await getJson(`${api.page}?${params}`)).json();
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

  // ---------------------------------------------------------------- the table
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
    return [
      node("td", {}, link),
      node("td", { className: "name", textContent: deal.name, title: deal.name }),
      node(
        "td",
        { className: "status" },
        node("span", { className: `pill pill-${deal.status}`, textContent: deal.status }),
        where ? " " : null,
        where
      ),
      node("td", {}, dots),
      dur,
      updated,
    ];
  }

  function render() {
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
        tr.replaceChildren(...rowCells(deal));
      }
      tr.classList.toggle("selected", deal.id === state.dealId);
      // Move a row only when it is out of place, so a focused link keeps its focus.
      if (tr !== cursor) el.rows.insertBefore(tr, cursor);
      else cursor = cursor.nextElementSibling;
    }
    for (const tr of existing.values()) tr.remove();
    const filtered = el.status.value || el.stage.value || el.q.value.trim();
    el.empty.textContent = filtered
      ? "No deals match these filters."
      : "No deals yet. Deals appear here as HubSpot check-ins arrive.";
    el.empty.hidden = deals.length > 0;
    el.more.hidden = !state.nextBefore;
    refreshClocks();
  }

  // Once a second: "updated n s ago" and running durations advance without a request.
  function refreshClocks() {
    const elapsed = Date.now() - state.receivedAt;
    for (const td of el.rows.querySelectorAll("td.duration")) {
      const ms = td.dataset.ms === "" ? null : Number(td.dataset.ms);
      td.textContent = duration(ms === null ? null : td.dataset.running ? ms + elapsed : ms);
    }
    for (const time of el.rows.querySelectorAll("td.updated time")) {
      time.textContent = ago(time.dateTime);
    }
  }

  // ---------------------------------------------------------------- the drawer
  function dealHref(id) {
    const params = new URLSearchParams(location.search);
    params.set("deal", id);
    return `${location.pathname}?${params}`;
  }

  function openDrawer(id, { push = true } = {}) {
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

  function closeDrawer({ push = true } = {}) {
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

  async function loadDeal(id) {
    let response;
    try {
      response = await getJson(`${api.deal}${id}/`);
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

  // The re-run keeps the seed system's URL, process/.
  const ACTION_PATHS = { rerun: "process/", retry: "retry/" };

  async function post(url, body) {
    const headers = { Accept: "application/json", "X-CSRFToken": api.csrf };
    if (body) headers["Content-Type"] = "application/json";
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers,
        credentials: "same-origin",
        body: body ? JSON.stringify(body) : undefined,
      });
    } catch (error) {
      return { ok: false, message: "Not sent: the server cannot be reached. Check the connection and try again." };
    }
    const answer = await response.json().catch(() => ({}));
    if (response.ok) return { ok: true, answer };
    // Refusals (a deal that changed meanwhile, a filter too wide) come with the reason.
    const reason = response.status === 409 || response.status === 400
      ? answer.detail || Object.values(answer).flat().join(" ")
      : `Not done: ${trouble(response.status)}.`;
    return { ok: false, message: reason || "Not done." };
  }

  async function act(kind) {
    const id = state.dealId;
    const deal = state.deal;
    const name = deal ? deal.hubspot_deal_id : "this deal";
    const question =
      kind === "rerun"
        ? `Re-run deal ${name} from scratch? Its earlier runs stay in the timeline.`
        : `Retry deal ${name} from the stage that failed?`;
    if (!id || !window.confirm(question)) return;
    el.outcome.textContent = "Sending…";
    const result = await post(`${api.deal}${id}/${ACTION_PATHS[kind]}`);
    if (result.ok) {
      el.outcome.textContent = kind === "rerun"
        ? "Re-run started: the deal starts again at intake, ahead of the backlog."
        : `Retry started: the deal resumes at ${deal ? deal.current_stage : "the stage that failed"}, ahead of the backlog.`;
    } else {
      el.outcome.textContent = result.message;
    }
    el.outcome.dataset.outcome = result.ok ? "started" : "refused";
    tick(); // the row and the timeline show the outcome at once, not in 2 s
  }

  // ---------------------------------------------------------------- ingestion health
  async function fetchHealth() {
    const health = await (await getJson(api.health)).json();
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

  function showHealthError(error) {
    setText(el.syncLast, `Cannot tell how the sync is doing: ${error.message}.`);
  }

  // ---------------------------------------------------------------- bulk actions
  function filtersSet() {
    return Boolean(el.status.value || el.stage.value || el.q.value.trim());
  }

  async function fetchPreview() {
    if (!filtersSet()) return;
    const generation = state.generation;
    const params = filterParams();
    params.delete("limit");
    const preview = await (await getJson(`${api.actions}?${params}`)).json();
    if (generation !== state.generation) return;
    state.preview = preview;
    renderBulk();
  }

  function showBulkError(error) {
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

  function renderBulk(problem) {
    setHidden(el.bulk, !filtersSet());
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

  async function bulkAct(action) {
    const n = state.preview ? state.preview[action] : 0;
    const question = action === "retry"
      ? `Retry all ${plural(n, "failed deal", "failed deals")} these filters select? Each resumes at the stage that failed, ahead of the backlog.`
      : `Re-run all ${plural(n, "deal", "deals")} these filters select from scratch? They run ahead of the backlog; their earlier runs stay in their timelines.`;
    if (!n || !window.confirm(question)) return;
    el.bulkOutcome.textContent = "Sending…";
    const body = { action, status: el.status.value, stage: el.stage.value, q: el.q.value.trim() };
    const result = await post(api.actions, body);
    if (result.ok) {
      const count = result.answer.count;
      el.bulkOutcome.textContent = count
        ? `${action === "retry" ? "Retry" : "Re-run"} started for ${plural(count, "deal", "deals")}, ahead of the backlog.`
        : "Nothing started: no deal these filters select could be started again any more.";
    } else {
      el.bulkOutcome.textContent = result.message;
    }
    el.bulkOutcome.dataset.outcome = result.ok ? "started" : "refused";
    state.ticks = 0; // counts, health and the preview now, not in 10 s
    tick();
  }

  // ---------------------------------------------------------------- wiring
  let searchTimer = null;
  el.filters.addEventListener("submit", (event) => event.preventDefault());
  el.status.addEventListener("change", () => { writeUrl(); restart(); });
  el.stage.addEventListener("change", () => { writeUrl(); restart(); });
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
})();
