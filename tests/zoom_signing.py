"""Sign test webhook requests the way Zoom does, independently of `webhooks.signature`.

The rule is restated here (HMAC-SHA256 over `v0:{timestamp}:{body}`, hex, `v0=` prefix) so
that a mistake in the production signer cannot make the tests agree with it.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime

__all__ = ["encrypted_token", "sign", "signed_headers"]


def sign(body: bytes, ts: str | int, secret: str) -> str:
    """The `x-zm-signature` Zoom would send for `body` at timestamp `ts` (epoch seconds)."""
    message = b"v0:" + str(ts).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signed_headers(
    body: bytes, *, secret: str, at: datetime | int | str, content_type: bool = True
) -> dict[str, str]:
    """Headers of a Zoom delivery of `body` signed with `secret` at time `at`."""
    ts = str(int(at.timestamp())) if isinstance(at, datetime) else str(at)
    headers = {"x-zm-request-timestamp": ts, "x-zm-signature": sign(body, ts, secret)}
    if content_type:
        headers["content-type"] = "application/json; charset=utf-8"
    return headers


def encrypted_token(secret: str, plain_token: str) -> str:
    """The answer Zoom expects to its `endpoint.url_validation` challenge."""
    return hmac.new(secret.encode(), plain_token.encode(), hashlib.sha256).hexdigest()
