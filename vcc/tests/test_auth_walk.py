"""Every URL pattern x every method x every kind of user gets the answer its role allows.

The walk reads the URL patterns themselves; a pattern without an expectation below fails
the walk (add one the day the endpoint is added). Users: anonymous, signed in but not staff,
and one of each role (viewer, operator, admin: deals/services/roles.py). An expectation is
the least role a (pattern, method) needs: below it the answer is a refusal (401, 403, or a
redirect to a login form), from it on anything but a refusal or a 5xx. NOT_SERVED: a method
the view does not take (405 once past the staff check); OPEN: anyone, never a 5xx. Admin
pages follow from each model's table in ADMIN_MODELS, as Django's admin checks them.
Objects exist for every admin model, so a change page checks its permission on a real row.
"""

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from rest_framework.authtoken.models import Token

from deals.tests.factories import DealFactory, DealWritebackFactory, PipelineRunFactory
from hubspot.models import DealImport, DealPayload, SyncRun, WebhookEvent
from vcc.testing import role_user

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_broker")]

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
USERS = ("anonymous", "visitor", "viewer", "operator", "admin")
RANK = {name: rank for rank, name in enumerate(USERS)}
VIEWER, OPERATOR, ADMIN = "viewer", "operator", "admin"
NOBODY = "nobody"  # refused to every role (superusers aside)
OPEN = "open"
NOT_SERVED = "not served"

# Pages and the API: (pattern name) -> {method: least role}; methods left out: NOT_SERVED.
EXPECTED: dict[str, dict[str, str]] = {
    "home": dict.fromkeys(METHODS, OPEN),  # a redirect to the queue page
    "queue": dict.fromkeys(METHODS, VIEWER),
    "login": dict.fromkeys(METHODS, OPEN),
    "logout": dict.fromkeys(METHODS, OPEN),
    "healthz": dict.fromkeys(METHODS, OPEN),
    # Prometheus': a bearer token or loopback only (vcc/tests/test_metrics.py).
    "metrics": dict.fromkeys(METHODS, OPEN),
    "readyz": dict.fromkeys(METHODS, OPEN),
    "hubspot-webhook": dict.fromkeys(METHODS, OPEN),  # its signature is its authentication
    "deal-detail": {"GET": VIEWER},
    "run-detail": {"GET": VIEWER},
    "insights": {"GET": VIEWER},
    "deal-rerun": {"POST": OPERATOR},
    "deal-rerun-process": {"POST": OPERATOR},
    "deal-retry": {"POST": OPERATOR},
    "queue-deals": {"GET": VIEWER},
    "queue-counts": {"GET": VIEWER},
    "queue-actions": {"GET": VIEWER, "POST": OPERATOR},
    "sync-run-list": {"GET": VIEWER, "POST": OPERATOR},
    "sync-run-detail": {"GET": VIEWER},
    "sync-health": {"GET": VIEWER},
    "deal-import-list": {"POST": OPERATOR},
    "deal-import-detail": {"GET": VIEWER},
    "schema": {"GET": VIEWER},
    "swagger-ui": {"GET": VIEWER},
    # The admin's own pages, for any staff account (the admin checks staff, then each model).
    "admin:index": dict.fromkeys(METHODS, VIEWER),
    "admin:login": dict.fromkeys(METHODS, OPEN),
    "admin:logout": dict.fromkeys(METHODS, OPEN),
    "admin:password_change": dict.fromkeys(METHODS, VIEWER),
    "admin:password_change_done": dict.fromkeys(METHODS, VIEWER),
    "admin:jsi18n": dict.fromkeys(METHODS, VIEWER),
    "admin:view_on_site": dict.fromkeys(METHODS, VIEWER),  # 404 for the sample ids
    "admin:autocomplete": {"GET": NOBODY, "HEAD": NOBODY},  # no field named: 403 to all
    "admin:": dict.fromkeys(METHODS, VIEWER),  # the catch-all: 404 for staff
    # Our own admin pages.
    "admin:hubspot_syncrun_sync_now": {"POST": OPERATOR},
}
# Per model: the least role for its admin's view, add, change (a POST to the change page)
# and delete; None where the admin allows it to nobody.
_ADMIN_ONLY = {"view": ADMIN, "add": ADMIN, "change": ADMIN, "delete": ADMIN}
_LOGINS = {"view": ADMIN, "add": NOBODY, "change": ADMIN, "delete": ADMIN}
_READ_ONLY = {"view": VIEWER, "add": NOBODY, "change": NOBODY, "delete": NOBODY}
ADMIN_MODELS: dict[str, dict[str, str]] = {
    "auth_group": _ADMIN_ONLY,
    "auth_user": _ADMIN_ONLY,
    "authtoken_tokenproxy": {"view": ADMIN, "add": NOBODY, "change": NOBODY, "delete": ADMIN},
    **{
        f"django_celery_beat_{model}": _ADMIN_ONLY
        for model in (
            "periodictask",
            "clockedschedule",
            "crontabschedule",
            "solarschedule",
            "intervalschedule",
        )
    },
    # The login throttle's records, written by logins only.
    **{f"axes_{name}": _LOGINS for name in ("accessattempt", "accesslog", "accessfailurelog")},
    "deals_deal": {**_READ_ONLY, "change": ADMIN},
    "deals_pipelinerun": _READ_ONLY,
    "deals_dealwriteback": {**_READ_ONLY, "change": ADMIN},
    "hubspot_syncrun": {**_READ_ONLY, "delete": ADMIN},
    "hubspot_dealimport": {**_READ_ONLY, "add": OPERATOR, "delete": ADMIN},
    "hubspot_webhookevent": {**_READ_ONLY, "delete": ADMIN},
    "hubspot_dealpayload": {**_READ_ONLY, "view": OPERATOR, "delete": ADMIN},
}
# The admin's app pages answer 404 (not 403) to a user who may see nothing of the app.
APP_PAGES = {"auth": ADMIN, "authtoken": ADMIN, "django_celery_beat": ADMIN, "axes": ADMIN}
APP_PAGES |= {"deals": VIEWER, "hubspot": VIEWER}


def _admin_expectation(name: str) -> dict[str, str] | None:
    match = re.fullmatch(
        r"admin:(\w+?)_(changelist|add|change|delete|history|password_change)", name
    )
    if not match or match.group(1) not in ADMIN_MODELS:
        return None
    model, view = ADMIN_MODELS[match.group(1)], match.group(2)
    if view in ("changelist", "history"):
        return dict.fromkeys(METHODS, model["view"])
    if view == "change":  # a GET shows it read-only with the view permission
        return {**dict.fromkeys(METHODS, model["view"]), "POST": model["change"]}
    if view == "password_change":
        return dict.fromkeys(METHODS, model["change"])
    return dict.fromkeys(METHODS, model[view])


def _patterns(patterns=None, prefix: str = "", namespace: str = "") -> Iterator[tuple[str, str]]:
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            inner = namespace + (f"{pattern.namespace}:" if pattern.namespace else "")
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern), inner)
        elif isinstance(pattern, URLPattern):
            yield namespace + (pattern.name or ""), prefix + str(pattern.pattern)


PATTERNS = list(dict.fromkeys(_patterns()))  # the import "add" page is listed twice
_WALKED = [(name, route) for name, route in PATTERNS if name != "admin:app_list"]
_WALKED += [(f"admin:app_list:{app}", f"admin/{app}/") for app in APP_PAGES]
APP_PAGE_NAMES = {f"admin:app_list:{app}" for app in APP_PAGES}
requests_made: Counter[str] = Counter()


def _expectation(name: str) -> dict[str, str] | None:
    if name.startswith("admin:app_list:"):
        return dict.fromkeys(METHODS, APP_PAGES[name.rsplit(":", 1)[1]])
    if name in EXPECTED:
        declared = {"HEAD": EXPECTED[name].get("GET", NOT_SERVED), **EXPECTED[name]}
        return {method: declared.get(method, NOT_SERVED) for method in METHODS}
    return _admin_expectation(name)  # our import paste form is the add page: OPERATOR


@pytest.fixture
def samples(django_user_model) -> dict[str, str]:
    """A row of every model the admin shows, by admin URL prefix: their primary keys."""
    now = timezone.now()
    deal = DealFactory.create(status="failed")
    run = PipelineRunFactory.create(deal=deal)
    writeback = DealWritebackFactory.create(deal=deal, outcome_status="failed", finished_at=now)
    event = WebhookEvent.objects.create(
        dedupe_key="k", event_id=1, subscription_type="deal.creation", hubspot_deal_id="1",
        occurred_at=now,
    )  # fmt: skip
    payload = DealPayload.objects.create(
        hubspot_deal_id="1", payload={}, size_bytes=2, source="sync", fetched_at=now
    )
    interval = IntervalSchedule.objects.create(every=5, period="minutes")
    owner = django_user_model.objects.create_user("token-owner")
    login = {"user_agent": "ua", "ip_address": "10.0.0.1", "username": "u", "path_info": "/"}
    return {
        "deals_deal": str(deal.pk),
        "deals_pipelinerun": str(run.pk),
        "deals_dealwriteback": str(writeback.pk),
        "hubspot_syncrun": str(SyncRun.objects.create(trigger="manual").pk),
        "hubspot_dealimport": str(DealImport.objects.create(total=1).pk),
        "hubspot_webhookevent": str(event.pk),
        "hubspot_dealpayload": payload.pk,
        "auth_user": str(owner.pk),
        "auth_group": str(Group.objects.get(name="viewer").pk),
        "authtoken_tokenproxy": str(Token.objects.create(user=owner).user_id),
        "django_celery_beat_periodictask": str(
            PeriodicTask.objects.create(name="t", task="x", interval=interval).pk
        ),
        "django_celery_beat_intervalschedule": str(interval.pk),
        "axes_accessattempt": str(
            AccessAttempt.objects.create(
                **login, failures_since_start=1, get_data="", post_data=""
            ).pk
        ),
        "axes_accesslog": str(AccessLog.objects.create(**login).pk),
        "axes_accessfailurelog": str(AccessFailureLog.objects.create(**login).pk),
        "django_celery_beat_crontabschedule": str(CrontabSchedule.objects.create().pk),
        "django_celery_beat_solarschedule": str(
            SolarSchedule.objects.create(event="sunset", latitude=0, longitude=0).pk
        ),
        "django_celery_beat_clockedschedule": str(
            ClockedSchedule.objects.create(clocked_time=now + timedelta(days=1)).pk
        ),
    }


def _path(name: str, route: str, samples: dict[str, str]) -> str:
    """A path the pattern matches: an admin object id is a real row of its model."""
    model = re.sub(r"^admin:|_(change|delete|history|password_change)$", "", name)
    object_id = samples.get(model, "1")
    values = {"uuid": str(uuid.uuid4()), "int": "1", "slug": "x"}

    def fill(match: re.Match) -> str:
        converter, field = match.group(1) or "str", match.group(2)
        if field in ("object_id", "id"):
            return object_id
        return values.get(converter, "1")

    route = re.sub(r"<(?:(\w+):)?(\w+)>", fill, route)
    route = re.sub(r"\(\?P<\w+>[^)]*\)", "x", route)
    return "/" + route.replace("^", "").replace("$", "")


def _refused(response) -> bool:
    if response.status_code in (401, 403) or getattr(response, "hides_the_app", False):
        return True
    location = response.headers.get("Location", "")
    return response.status_code == 302 and "/login/" in location


def _answers(expected: str, user: str, response) -> bool:
    if response.status_code >= 500:
        return False
    if expected == OPEN:
        return True
    if expected == NOT_SERVED:
        return _refused(response) if RANK[user] < RANK[VIEWER] else response.status_code == 405
    if expected == NOBODY or RANK[user] < RANK[expected]:
        return _refused(response)
    return not _refused(response)


def test_every_url_pattern_has_an_expectation():
    missing = [name or route for name, route in _WALKED if _expectation(name) is None]

    assert missing == [], "add these to EXPECTED (or ADMIN_MODELS) in vcc/tests/test_auth_walk.py"


@pytest.fixture
def clients(django_user_model) -> dict[str, Client]:
    made = {"anonymous": Client(), "visitor": Client()}
    made["visitor"].force_login(django_user_model.objects.create_user("visitor"))
    for role in (VIEWER, OPERATOR, ADMIN):
        made[role] = Client()
        made[role].force_login(role_user(f"walk-{role}", role))
    return made


@pytest.mark.parametrize(("name", "route"), _WALKED, ids=[route for _, route in _WALKED])
def test_each_user_gets_the_answer_its_role_allows(name, route, samples, clients, settings):
    settings.HUBSPOT_CLIENT_SECRET = "walk-secret"  # webhooks set up: unsigned gets 401
    expected = _expectation(name)
    assert expected is not None, f"no expectation for {name or route}"
    path = _path(name, route, samples)
    wrong = []
    for method in METHODS:
        for user in USERS:
            response = clients[user].generic(method, path)
            response.hides_the_app = name in APP_PAGE_NAMES and response.status_code == 404
            requests_made[name] += 1
            if not _answers(expected[method], user, response):
                status = response.status_code
                wrong.append(f"{method} {path} as {user}: {status} (expected {expected[method]})")

    assert wrong == []


def test_the_walk_sees_every_part_of_the_project():
    names = {name for name, _ in _WALKED}
    for expected in ("queue", "queue-deals", "sync-run-list", "schema", "admin:deals_deal_change"):
        assert expected in names
    assert len(_WALKED) * len(METHODS) * len(USERS) > 2500


def test_session_posts_need_the_csrf_token(django_user_model):
    client = Client(enforce_csrf_checks=True)
    client.force_login(role_user("op", OPERATOR))

    response = client.post("/api/sync/runs/")

    assert response.status_code == 403
    assert "CSRF" in response.json()["detail"]


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    if requests_made:
        print(f"auth walk: patterns={len(requests_made)} requests={sum(requests_made.values())}")
