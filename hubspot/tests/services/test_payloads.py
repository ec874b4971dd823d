"""Raw payloads: the HubSpot JSON last fetched for each deal (hubspot/services/payloads.py)."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from hubspot.models import DealPayload
from hubspot.parsing import parse_deal
from hubspot.services import deal_payloads_delete_old, deal_payloads_store
from hubspot.tests.factories import CHECKED_IN, deal_json

pytestmark = pytest.mark.django_db


def record(deal_id: int, **properties):
    return parse_deal(deal_json(deal_id, **properties), checked_in_property=CHECKED_IN)


def test_the_latest_fetch_of_each_deal_is_kept_as_hubspot_sent_it():
    now = timezone.now()
    deal_payloads_store(records=[record(1, dealname="First")], source="sync", now=now)
    deal_payloads_store(
        records=[record(1, dealname="Second"), record(2, **{CHECKED_IN: ""})],
        source="webhook",
        now=now + timedelta(seconds=1),
    )

    first = DealPayload.objects.get(hubspot_deal_id="1")
    assert first.payload == deal_json(1, dealname="Second")
    assert (first.source, first.truncated) == ("webhook", False)
    assert first.size_bytes == len(json.dumps(first.payload, separators=(",", ":")))
    assert DealPayload.objects.get(hubspot_deal_id="2").payload["properties"][CHECKED_IN] == ""


def test_a_payload_over_the_cap_is_truncated_and_flagged():
    big = record(3, description="x" * 600_000)

    deal_payloads_store(records=[big], source="import", now=timezone.now())

    stored = DealPayload.objects.get(hubspot_deal_id="3")
    assert stored.truncated is True
    assert stored.size_bytes > 600_000
    assert isinstance(stored.payload, str) and len(stored.payload.encode()) == 512 * 1024
    assert stored.payload.startswith('{"id":"3"')


def test_nul_characters_do_not_fail_the_batch():
    deal_payloads_store(records=[record(4, dealname="a\x00b")], source="sync", now=timezone.now())

    assert DealPayload.objects.get().payload["properties"]["dealname"] == "ab"


def test_payloads_not_fetched_within_the_ttl_are_deleted_and_counted(settings, caplog):
    settings.RAW_PAYLOAD_TTL_DAYS = 30
    now = timezone.now()
    deal_payloads_store(records=[record(5)], source="sync", now=now - timedelta(days=31))
    deal_payloads_store(records=[record(6)], source="sync", now=now - timedelta(days=29))

    with caplog.at_level("INFO", logger="hubspot.services.payloads"):
        deleted = deal_payloads_delete_old(now=now)

    assert deleted == 1
    assert list(DealPayload.objects.values_list("hubspot_deal_id", flat=True)) == ["6"]
    [logged] = [r for r in caplog.records if r.getMessage() == "hubspot_payloads_deleted"]
    assert logged.deleted == 1
