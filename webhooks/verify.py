"""Is this request from Zoom? Signature and freshness checks on the raw bytes, before parsing.

Zoom sends `x-zm-request-timestamp` (epoch seconds) and `x-zm-signature` (`v0=` + hex
HMAC-SHA256 of `v0:{timestamp}:{raw body}` keyed by the app's Secret Token; the rule itself is
in `webhooks.signature`). A timestamp more than 5 minutes ahead of our clock, or older than the
configured window, is refused: the window is wide (default 2 hours) because Zoom's retries may
carry the original timestamp, and replays inside it are harmless since the journal dedupes.
Several secrets may be configured while a token is rotated. Pure: the clock is injected.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from webhooks.errors import SignatureError
from webhooks.signature import signature_matches

__all__ = [
    "FUTURE_TOLERANCE_SECONDS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "SignatureError",
    "signing_secret",
    "verify_request",
]

SIGNATURE_HEADER = "x-zm-signature"
TIMESTAMP_HEADER = "x-zm-request-timestamp"
#: How far ahead of our clock a timestamp may be (clock skew), in seconds.
FUTURE_TOLERANCE_SECONDS = 300


def verify_request(
    headers: Mapping[str, str],
    body: bytes,
    *,
    secrets: Sequence[str],
    now: datetime,
    window_seconds: int,
) -> None:
    """Accept the request only if a configured secret signed exactly these bytes recently.

    Args:
        headers: the request headers; keys are matched case-insensitively.
        body: the raw request body, as received.
        secrets: the Secret Tokens currently accepted (several while rotating).
        now: the current time (aware).
        window_seconds: how old a timestamp may be.

    Raises:
        SignatureError: with `reason` one of `no secret configured`, `missing signature
            headers`, `malformed timestamp`, `timestamp in the future`, `timestamp too old`,
            `signature mismatch`.
    """
    if not any(secrets):
        raise SignatureError("no secret configured")
    timestamp, signature = _headers(headers)
    age = now.timestamp() - int(timestamp)
    if age < -FUTURE_TOLERANCE_SECONDS:
        raise SignatureError("timestamp in the future")
    if age > window_seconds:
        raise SignatureError("timestamp too old")
    if not signature_matches([s for s in secrets if s], timestamp, body, signature):
        raise SignatureError("signature mismatch")


def signing_secret(headers: Mapping[str, str], body: bytes, *, secrets: Sequence[str]) -> str:
    """The secret that signed a request already accepted by `verify_request`.

    Zoom's URL-validation answer must be keyed with the same Secret Token that signed the
    challenge, which matters while two tokens are configured.

    Raises:
        SignatureError: no configured secret signed the request.
    """
    timestamp, signature = _headers(headers)
    for secret in secrets:
        if secret and signature_matches([secret], timestamp, body, signature):
            return secret
    raise SignatureError("signature mismatch")


def _headers(headers: Mapping[str, str]) -> tuple[str, str]:
    lowered = {key.lower(): value for key, value in headers.items()}
    timestamp = lowered.get(TIMESTAMP_HEADER, "").strip()
    signature = lowered.get(SIGNATURE_HEADER, "").strip()
    if not timestamp or not signature:
        raise SignatureError("missing signature headers")
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        raise SignatureError("malformed timestamp")
    return timestamp, signature
