"""HubSpot's v3 request signature, which proves a webhook request came from HubSpot.

X-HubSpot-Signature-v3 is Base64(HMAC-SHA256(client secret, method + URI + body +
timestamp)), the URI as HubSpot called it (scheme, host, path and query) with some
percent-escapes decoded, and X-HubSpot-Request-Timestamp in epoch milliseconds. A request
older than 5 minutes is refused, so a captured request cannot be replayed later.
Reference: https://developers.hubspot.com/docs/apps/legacy-apps/authentication/validating-requests
(and ../shared/hubspot-spec/NOTES.md, "Webhooks").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

MAX_AGE_MS = 5 * 60 * 1000

# HubSpot decodes these escapes in the URI before signing it.
_DECODED = {
    "%3A": ":",
    "%2F": "/",
    "%3F": "?",
    "%40": "@",
    "%21": "!",
    "%24": "$",
    "%27": "'",
    "%28": "(",
    "%29": ")",
    "%2A": "*",
    "%2C": ",",
    "%3B": ";",
}


class SignatureError(Exception):
    """The request is not provably from HubSpot; the message says why, without secrets."""


def signature_v3(*, secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """The signature HubSpot sends for this request."""
    source = method.upper().encode() + _normalized_uri(uri).encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), source, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def verify_signature_v3(
    *,
    secrets: Sequence[str],
    method: str,
    uri: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now_ms: int,
) -> None:
    """Raise SignatureError unless the request is fresh and signed with one of `secrets`
    (the app's client secret, and while it is being rotated the previous one too)."""
    if not signature or not timestamp:
        raise SignatureError("X-HubSpot-Signature-v3 and X-HubSpot-Request-Timestamp required")
    try:
        sent_ms = int(timestamp)
    except ValueError:
        raise SignatureError("X-HubSpot-Request-Timestamp is not epoch milliseconds") from None
    # Refused either way: older than 5 minutes (a replay), or as far in the future (a
    # forged timestamp that would stay "fresh" for long).
    if abs(now_ms - sent_ms) > MAX_AGE_MS:
        raise SignatureError("the request timestamp is more than 5 minutes away from now")
    given = signature.strip().encode()
    matches = [
        hmac.compare_digest(
            signature_v3(
                secret=secret, method=method, uri=uri, body=body, timestamp=timestamp
            ).encode(),
            given,
        )
        for secret in secrets  # every one compared, so the timing tells nothing either
    ]
    if not any(matches):
        raise SignatureError("the signature does not match")


def _normalized_uri(uri: str) -> str:
    for escaped, char in _DECODED.items():
        uri = uri.replace(escaped, char).replace(escaped.lower(), char)
    return uri
