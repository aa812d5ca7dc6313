"""Zoom webhook signatures: pure functions over the raw body and headers.

Zoom signs `v0:{x-zm-request-timestamp}:{raw body}` with HMAC-SHA256 keyed by the app's
Secret Token, hex-encoded, and sends it as `x-zm-signature: v0=<hex>`
(https://developers.zoom.us/docs/api/webhooks/#verify-webhook-events). The URL-validation
challenge answers `encryptedToken = hex(HMAC-SHA256(secret, plainToken))`. The simulator signs
with `sign` and the receiver checks with `signature_matches`, so both sides share one rule.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

__all__ = ["encrypt_plain_token", "sign", "signature_matches"]


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `x-zm-signature` value Zoom sends for `body` at `timestamp` (epoch seconds, verbatim)."""
    message = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_matches(secrets: Iterable[str], timestamp: str, body: bytes, signature: str) -> bool:
    """True if `signature` is valid for any of `secrets` (several during token rotation).

    Compared in constant time; every secret is tried so timing does not reveal which matched.
    """
    matched = False
    for secret in secrets:
        if hmac.compare_digest(sign(secret, timestamp, body), signature):
            matched = True
    return matched


def encrypt_plain_token(secret: str, plain_token: str) -> str:
    """The `encryptedToken` answering Zoom's `endpoint.url_validation` challenge."""
    return hmac.new(secret.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
