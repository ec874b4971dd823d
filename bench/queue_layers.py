"""Benchmark: what each shortcut on the queue's read path saves, over 1,000,000 deals.

Each layer stays only where it saves at least a fifth of a request's cost (issue 18's
rule; the figures go in the README's benchmark table). For the first page at limit 50,
the view's own time (its Server-Timing header, authentication to body) is measured with
and without each layer, in rounds that alternate the two so that a machine's load
drifting meanwhile falls on both alike:

- page reuse: pollers asking for the same ETag share the body built for the first
  (deals/queue_format.py RecentPages, QUEUE_PAGE_REUSE_SECONDS) against every page built;
- the ETag shortcut: If-None-Match answered 304 from the first query alone, against a 200;
- the timestamp loader: psycopg's C loader for timestamptz (deals/queue_selectors.py
  `_fetch`) against Django's own.

Exits 1 when a layer saves less than a fifth: then it should go (the query string's
validation, cached per query string, saved 11% here and went).

    .venv/bin/python bench/queue_layers.py [--deals 1000000] [--rounds 20] [--samples 20]

Uses bench/queue_endpoint.py's data (var/bench-queue/, kept between runs).
"""

import argparse
import contextlib
import os
import statistics
import sys
from collections.abc import Callable, Iterator

from queue_server import DATABASE, django_setup, prepare_database, start_engines
from support import bench_token

FLOOR_SAVED = 0.2  # a fifth of the request's cost
URL = "/api/queue/deals/?limit=50"


def server_ms(client, headers: dict[str, str]) -> float:
    response = client.get(URL, **headers)
    assert response.status_code in (200, 304), response.status_code
    return float(response["Server-Timing"].split("dur=")[1])


@contextlib.contextmanager
def reuse(seconds: float) -> Iterator[None]:
    from django.test import override_settings

    with override_settings(QUEUE_PAGE_REUSE_SECONDS=seconds):
        yield


@contextlib.contextmanager
def patched(module, name: str, value) -> Iterator[None]:
    original = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, original)


def _fetch_with_djangos_loader(sql, params):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def layers(etag: str) -> list[tuple[str, Callable, Callable, dict, dict]]:
    """(name, context with the layer, context without, headers with, headers without)."""
    from deals import queue_selectors

    no_match: dict[str, str] = {}
    if_match = {"HTTP_IF_NONE_MATCH": etag}
    return [
        ("page reuse", lambda: reuse(2.0), lambda: reuse(0), no_match, no_match),
        (
            "ETag shortcut (304)",
            lambda: reuse(0),
            lambda: reuse(0),
            if_match,
            no_match,
        ),
        (
            "psycopg timestamp loader",
            lambda: reuse(0),
            lambda: patched(queue_selectors, "_fetch", _fetch_with_djangos_loader),
            no_match,
            no_match,
        ),
    ]


def measure(client, with_layer, without, headers_with, headers_without, rounds, samples):
    on: list[float] = []
    off: list[float] = []
    for _ in range(rounds):
        with with_layer():
            on += [server_ms(client, headers_with) for _ in range(samples)]
        # A layer's own switch is off in the other branch only.
        with reuse(0), without():
            off += [server_ms(client, headers_without) for _ in range(samples)]
    return statistics.median(on), statistics.median(off)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--deals", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true", help="load the data again")
    parser.add_argument("--database", default=DATABASE, help="kept between runs")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--samples", type=int, default=20, help="requests per round and side")
    args = parser.parse_args()

    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at the start")
    engines = start_engines(args.database)
    prepare_database(engines, args.deals, args.rebuild)
    django_setup(engines)
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {bench_token()}")
    etag = client.get(URL)["ETag"]

    print("\n== first page, limit 50: the view's median ms with and without each layer")
    print(f"{'layer':<28}{'with':>8}{'without':>9}{'saved':>8}")
    failures = []
    for name, with_layer, without, h_with, h_without in layers(etag):
        on, off = measure(client, with_layer, without, h_with, h_without, args.rounds, args.samples)
        saved = 1 - on / off
        print(f"{name:<28}{on:>8.2f}{off:>9.2f}{saved:>7.0%}")
        if saved < FLOOR_SAVED:
            failures.append(f"{name} saves {saved:.0%} of the request, under a fifth")
    print(f"\nmachine: load average {os.getloadavg()[0]:.1f} at the end")
    for failure in failures:
        print(f"MISSED: {failure}")
    if not failures:
        print(f"all met: every layer saves at least {FLOOR_SAVED:.0%} of a request's cost")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
