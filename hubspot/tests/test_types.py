"""The parsing helpers of hubspot/types.py: HubSpot's amounts and datetimes."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from hubspot.types import parse_amount, parse_hubspot_datetime


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1000.50", Decimal("1000.50")),
        ("12", Decimal("12")),
        (None, None),
        ("", None),
        ("  ", None),
        ("12,5", None),
        ("NaN", None),
        ("Infinity", None),
    ],
)
def test_amount_parsing(raw, expected):
    assert parse_amount(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-01-17T19:55:04.281Z", datetime(2024, 1, 17, 19, 55, 4, 281000, tzinfo=UTC)),
        ("1579514400000", datetime(2020, 1, 20, 10, 0, tzinfo=UTC)),
        ("2024-01-17", datetime(2024, 1, 17, tzinfo=UTC)),
        ("2024-01-17T19:55:04", datetime(2024, 1, 17, 19, 55, 4, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("yesterday", None),
        ("99999999999999999999999", None),
    ],
)
def test_datetime_parsing(raw, expected):
    assert parse_hubspot_datetime(raw) == expected
