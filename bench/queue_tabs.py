"""Benchmark: N open queue pages polling one server over 1,000,000 deals.

Each tab does what the page script does: the first page every 2 s with If-None-Match,
the counts every 5th tick, and the ingestion health strip when the page has one (every
5th tick too; --health-every). A share of tabs has a search open (a HubSpot id prefix, a
common name part, a rare one) and a share a status or stage filter; meanwhile a writer
moves a few deals a second (status and stage, through the counts' triggers), so the
unfiltered first page keeps changing. The tabs log in with a session cookie, as browsers.

Prints latency p50/p99 per request kind (client side, connect to last byte, as the tab
sees it; the view's own Server-Timing beside it; the tabs ask through http.client, whose
own cost per request is small beside a browser's, where requests' took a few ms on a
slow machine and came out as the server's), the 200/304 mix, and the CPU cores the
web workers and their PostgreSQL backends used (from /proc, over the measured window).
Compares with the targets (page p99 <= 50 ms, <= 0.5 cores in all) and exits 1 when one
is missed. Its last line:

    tabs: tabs=N deals=D page_p99_ms=... counts_p99_ms=... search_p99_ms=... cores=...

    .venv/bin/python bench/queue_tabs.py [--tabs 100] [--deals 1000000] [--seconds 60]

Uses bench/queue_endpoint.py's servers and database (vcc_bench_queue, loaded once and
kept; --database): embedded in var/bench-queue/, or on BENCH_DATABASE_URL /
BENCH_BROKER_URL (bench/support.py).
"""

import argparse
import contextlib
import http.client
import io
import os
import random
import re
import sys
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import cast
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
# The web workers' PostgreSQL backends are told apart by their application name, and
# keep their connection for the whole run (its CPU is read from /proc).
os.environ.update(PGAPPNAME="vcc-bench-web", DATABASE_CONN_MAX_AGE="3600")

import psycopg  # noqa: E402
import queue_server as qs  # noqa: E402
from support import BenchEngines, bench_user, percentiles, process_tree  # noqa: E402

PAGE_P99_TARGET_MS = 50.0
CORES_TARGET = 0.5
POLL_SECONDS = 2.0
SEARCHES = ["2000050", "bench deal", "deal 99999"]  # id prefix, common part, rare part
FILTERS = [{"status": "failed"}, {"stage": "appraisal"}]


def session_cookie() -> str:
    """A logged-in staff session, as a browser tab has after the login page."""
    from django.conf import settings
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
    )
    from django.contrib.sessions.backends.db import SessionStore

    user = bench_user()
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[-1]  # the one that signs in
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    assert session.session_key is not None  # save() made one
    return session.session_key


def page_urls() -> dict[str, str]:
    """The URLs the queue page's script polls (its data- attributes name the same routes);
    the health strip's when the project has one."""
    from django.urls import NoReverseMatch, reverse

    urls = {"page": reverse("queue-deals"), "counts": reverse("queue-counts")}
    with contextlib.suppress(NoReverseMatch):
        urls["health"] = reverse("sync-health")
    return urls


class Recorder:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.client: dict[str, list[float]] = defaultdict(list)
        self.server: dict[str, list[float]] = defaultdict(list)
        self.statuses: dict[str, dict[int, int]] = defaultdict(lambda: defaultdict(int))
        self.errors: dict[str, int] = defaultdict(int)
        self.measuring = False

    def error(self, reason: str) -> None:
        with self.lock:
            if self.measuring:  # not the requests cut short when the server stops
                self.errors[reason] += 1

    def add(self, kind: str, response: http.client.HTTPResponse, client_ms: float) -> None:
        timing = re.search(r"app;dur=([\d.]+)", response.getheader("Server-Timing", ""))
        with self.lock:
            if not self.measuring:
                return
            self.client[kind].append(client_ms)
            if timing:
                self.server[kind].append(float(timing[1]))
            self.statuses[kind][response.status] += 1


class Tab(threading.Thread):
    def __init__(self, n, urls, cookie, params, kind, recorder, stop, health_every) -> None:
        super().__init__(daemon=True, name=f"tab-{n}")
        self.urls, self.params, self.kind = urls, params, kind
        self.recorder, self.stop, self.health_every = recorder, stop, health_every
        self.headers = {"Cookie": f"sessionid={cookie}", "Accept": "application/json"}
        self.etag: str | None = None

    def get(self, kind: str, url: str, params: dict | None = None, headers=None) -> None:
        """One request on a connection of its own, as gunicorn's sync workers close each.
        http.client rather than requests: a hundred tabs' worth of requests' own work (a
        few ms a request on a slow machine) would be measured as the server's latency."""
        path = f"{url}?{urlencode(params)}" if params else url
        connection = http.client.HTTPConnection("127.0.0.1", qs.PORT, timeout=30)
        started = time.perf_counter()
        try:
            connection.request("GET", path, headers={**self.headers, **(headers or {})})
            response = connection.getresponse()
            response.read()
        except (OSError, http.client.HTTPException) as exc:
            self.recorder.error(type(exc).__name__)
            return
        finally:
            connection.close()
        self.recorder.add(kind, response, (time.perf_counter() - started) * 1000)
        if response.status >= 400:
            self.recorder.error(f"HTTP {response.status}")
        elif kind == self.kind and response.getheader("ETag"):
            self.etag = response.getheader("ETag")

    def run(self) -> None:
        self.stop.wait(random.uniform(0, POLL_SECONDS))  # tabs were opened at random times
        tick = 0
        next_at = time.monotonic()
        while not self.stop.is_set():
            headers: dict[str, str] = {"If-None-Match": self.etag} if self.etag else {}
            self.get(self.kind, self.urls["page"], params=self.params, headers=headers)
            if tick % 5 == 0:
                self.get("counts", self.urls["counts"])
            if "health" in self.urls and tick % self.health_every == 0:
                self.get("health", self.urls["health"])
            tick += 1
            next_at += POLL_SECONDS
            self.stop.wait(max(0.0, next_at - time.monotonic()))


def writer(url: str, stop: threading.Event, per_second: float, moved: list[int]) -> None:
    """Moves random deals among the newest (the ones first pages show) to a new status
    and stage, through the triggers as any writer does."""
    statuses = ["pending", "running", "done", "failed"]
    stages = ["intake", "segmentation", "categorization", "appraisal", "review", "done"]
    with psycopg.connect(url, autocommit=True, application_name="vcc-bench-writer") as conn:
        newest = [
            row[0]
            for row in conn.execute("SELECT id FROM deals ORDER BY updated_at DESC LIMIT 500")
        ]
        while not stop.wait(1.0 / per_second):
            conn.execute(
                "UPDATE deals SET status = %s, current_stage = %s, updated_at = now() "
                "WHERE id = %s",
                [random.choice(statuses), random.choice(stages), random.choice(newest)],
            )
            moved[0] += 1


def cpu_ticks(pid: int) -> int | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return int(fields[11]) + int(fields[12])  # utime + stime


class CpuMeter:
    """CPU of the gunicorn tree and of the web workers' PostgreSQL backends, sampled every
    second so that a process seen only part of the window still counts."""

    def __init__(self, gunicorn_pid: int, engines: BenchEngines) -> None:
        self.gunicorn_pid = gunicorn_pid
        self.engines = engines
        self.first: dict[tuple[str, int], int] = {}
        self.last: dict[tuple[str, int], int] = {}

    def pids(self) -> list[tuple[str, int]]:
        web = process_tree(self.gunicorn_pid)
        with psycopg.connect(self.engines.admin_conninfo, autocommit=True) as conn:
            backends = conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND application_name = %s",
                [self.engines.database, "vcc-bench-web"],
            ).fetchall()
        return [("web", pid) for pid in web] + [("postgres", pid) for (pid,) in backends]

    def sample(self, *, start: bool = False) -> None:
        for key in self.pids():
            ticks = cpu_ticks(key[1])
            if ticks is None:
                continue
            self.first.setdefault(key, ticks if start else 0)
            self.last[key] = ticks

    def cores(self, seconds: float) -> dict[str, float]:
        per_second = os.sysconf("SC_CLK_TCK")
        used: dict[str, float] = defaultdict(float)
        for key, ticks in self.last.items():
            used[key[0]] += (ticks - self.first[key]) / per_second / seconds
        return dict(used)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tabs", type=int, default=100)
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--database", default=qs.DATABASE, help="kept between runs")
    parser.add_argument("--seconds", type=int, default=60, help="measured window")
    parser.add_argument("--warmup", type=int, default=8, help="seconds before measuring")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--search-share", type=float, default=0.1)
    parser.add_argument("--filter-share", type=float, default=0.2)
    parser.add_argument("--changes", type=float, default=2.0, help="deals moved per second")
    parser.add_argument("--health-every", type=int, default=5, help="ticks between polls")
    args = parser.parse_args()
    cast(io.TextIOWrapper, sys.stdout).reconfigure(line_buffering=True)
    random.seed(9)

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    engines = qs.start_engines(args.database)
    qs.prepare_database(engines, args.deals, rebuild=False)
    qs.django_setup(engines)
    cookie = session_cookie()
    gunicorn = qs.start_gunicorn(engines, args.workers, reuse=True)  # as deployed
    stop = threading.Event()
    recorder = Recorder()
    moved = [0]
    try:
        urls = page_urls()
        print(
            f"polled: page {urls['page']}, counts {urls['counts']}, health "
            f"{urls.get('health', '(none on this page)')}"
        )
        searching = round(args.tabs * args.search_share)
        filtering = round(args.tabs * args.filter_share)
        tabs = []
        for n in range(args.tabs):
            if n < searching:
                params, kind = {"limit": 50, "q": SEARCHES[n % len(SEARCHES)]}, "search"
            elif n < searching + filtering:
                params, kind = {"limit": 50, **FILTERS[n % len(FILTERS)]}, "filtered"
            else:
                params, kind = {"limit": 50}, "page"
            tabs.append(Tab(n, urls, cookie, params, kind, recorder, stop, args.health_every))
        print(
            f"tabs: {args.tabs} ({searching} searching, {filtering} filtered); "
            f"{args.changes:g} deals moved a second; {args.workers} gunicorn workers"
        )
        changes = threading.Thread(
            target=writer, args=(engines.conninfo, stop, args.changes, moved), daemon=True
        )
        for thread in [*tabs, changes]:
            thread.start()
        time.sleep(args.warmup)

        meter = CpuMeter(gunicorn.pid, engines)
        meter.sample(start=True)
        recorder.measuring = True
        started = time.monotonic()
        while time.monotonic() - started < args.seconds:
            time.sleep(1.0)
            meter.sample()
        recorder.measuring = False
        elapsed = time.monotonic() - started
        meter.sample()
        load = os.getloadavg()[0]
    finally:
        stop.set()
        qs.stop_gunicorn(gunicorn)

    cores = meter.cores(elapsed)
    print(
        f"\n== {elapsed:.0f} s measured, load average {load:.1f} at the end; "
        f"{moved[0]} deal moves in all"
    )
    print(
        f"{'kind':<10}{'requests':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'server p50':>12}{'p99':>8}   statuses"
    )
    figures = {}
    for kind in ("page", "filtered", "search", "counts", "health"):
        if not recorder.client[kind]:
            continue
        p50, p99 = percentiles(recorder.client[kind])
        s50, s99 = percentiles(recorder.server[kind])
        figures[kind] = p99
        statuses = dict(sorted(recorder.statuses[kind].items()))
        print(
            f"{kind:<10}{len(recorder.client[kind]):>9}{p50:>9.1f}{p99:>9.1f}"
            f"{s50:>12.1f}{s99:>8.1f}   {statuses}"
        )
    total = sum(cores.values())
    print(
        f"cores: web workers {cores.get('web', 0):.2f}, their PostgreSQL backends "
        f"{cores.get('postgres', 0):.2f}, in all {total:.2f}; errors {dict(recorder.errors)}"
    )

    page_p99 = percentiles(recorder.client["page"] + recorder.client["filtered"])[1]
    failures = []
    if page_p99 > PAGE_P99_TARGET_MS:
        failures.append(f"page p99 {page_p99:.1f} ms > {PAGE_P99_TARGET_MS:.0f} ms")
    if total > CORES_TARGET:
        failures.append(f"{total:.2f} cores > {CORES_TARGET}")
    if recorder.errors:
        failures.append(f"{sum(recorder.errors.values())} requests failed")
    print("\n== targets")
    for failure in failures:
        print(f"MISSED: {failure}")
    if not failures:
        print(f"all met: page p99 <= {PAGE_P99_TARGET_MS:.0f} ms, <= {CORES_TARGET} cores")
    print(
        f"tabs: tabs={args.tabs} deals={args.deals} page_p99_ms={page_p99:.1f} "
        f"counts_p99_ms={figures.get('counts', float('nan')):.1f} "
        f"search_p99_ms={figures.get('search', float('nan')):.1f} cores={total:.2f}"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
