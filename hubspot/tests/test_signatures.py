"""HubSpot's v3 webhook signature (hubspot/signatures.py)."""

import base64
import hashlib
import hmac

import pytest

from hubspot.signatures import SignatureError, signature_v3, verify_signature_v3

SECRET = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy"
URI = "https://vcc.example/api/webhooks/hubspot/"
BODY = b'[{"eventId":1,"objectId":123,"subscriptionType":"deal.creation"}]'
NOW_MS = 1_700_000_000_000


def by_hand(uri: str = URI, timestamp: str = str(NOW_MS)) -> str:
    source = ("POST" + uri).encode() + BODY + timestamp.encode()
    return base64.b64encode(hmac.new(SECRET.encode(), source, hashlib.sha256).digest()).decode()


def verify(signature: str | None, *, timestamp: str | None = str(NOW_MS), **overrides) -> None:
    arguments = {"secrets": [SECRET], "method": "POST", "uri": URI, "body": BODY}
    verify_signature_v3(
        **{**arguments, **overrides}, signature=signature, timestamp=timestamp, now_ms=NOW_MS
    )


def test_the_signature_is_base64_hmac_sha256_of_method_uri_body_and_timestamp():
    assert (
        signature_v3(secret=SECRET, method="POST", uri=URI, body=BODY, timestamp=str(NOW_MS))
        == by_hand()
    )


def test_a_valid_signature_passes():
    verify(by_hand())  # no exception


def test_escaped_characters_in_the_uri_are_decoded_before_signing():
    escaped = "https://vcc.example/api/webhooks/hubspot/?from=a%3Ab%2Fc"
    verify(by_hand("https://vcc.example/api/webhooks/hubspot/?from=a:b/c"), uri=escaped)


@pytest.mark.parametrize(
    ("change", "why"),
    [
        ({"body": BODY + b" "}, "does not match"),
        ({"uri": URI + "?x=1"}, "does not match"),
        ({"method": "PUT"}, "does not match"),
        ({"secrets": ["another-secret"]}, "does not match"),
    ],
)
def test_anything_changed_breaks_the_signature(change, why):
    with pytest.raises(SignatureError, match=why):
        verify(by_hand(), **change)


def test_while_the_secret_is_rotated_either_one_signs():
    verify(by_hand(), secrets=["the-new-secret", SECRET])  # signed with the previous one
    with pytest.raises(SignatureError):
        verify(by_hand(), secrets=["the-new-secret"])  # once the previous one is unset


def test_a_timestamp_older_or_newer_than_five_minutes_is_refused():
    stale = str(NOW_MS - 5 * 60 * 1000 - 1)
    future = str(NOW_MS + 5 * 60 * 1000 + 1)
    just_in_time = str(NOW_MS - 5 * 60 * 1000)

    verify(by_hand(timestamp=just_in_time), timestamp=just_in_time)
    for timestamp in (stale, future):
        with pytest.raises(SignatureError, match="5 minutes"):
            verify(by_hand(timestamp=timestamp), timestamp=timestamp)


@pytest.mark.parametrize(
    ("signature", "timestamp"), [(None, str(NOW_MS)), ("abc", None), ("abc", "yesterday")]
)
def test_missing_or_malformed_headers_are_refused(signature, timestamp):
    with pytest.raises(SignatureError):
        verify(signature, timestamp=timestamp)
