"""Zoom REST wire rules as pure functions: read rate-limit headers, turn a response into data.

No I/O here (the gidgethub `sansio` idea): `decipher(...)` maps status, headers and body to
the decoded JSON or raises the typed error from `bot.zoom_api.errors`; `rate_limit_from_headers`
reads Zoom's rate-limit headers (https://developers.zoom.us/docs/api/rate-limits/): on a 429
`X-RateLimit-Type` is `QPS` (per-second; `X-RateLimit-Reset` may say when) or `Daily-limit`
(`Retry-After` gives the date/time one may retry). Every header is optional on the wire, so a
429 without `X-RateLimit-Type` is classified by its message ("daily" or not).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from bot.zoom_api.errors import (
    RateLimit,
    ZoomApiError,
    ZoomAuthError,
    ZoomNotFound,
    ZoomRateLimited,
    ZoomRequestError,
    ZoomUnavailable,
)

__all__ = ["decipher", "error_fields", "parse_delay", "rate_limit_from_headers"]

#: Values of X-RateLimit-Reset above this are epoch seconds, below it a delay in seconds.
_EPOCH_THRESHOLD = 1_000_000_000


def parse_delay(value: str, now: datetime) -> tuple[float | None, datetime | None]:
    """Read a retry header: seconds, epoch seconds, an HTTP date or an ISO 8601 date-time.

    Returns `(seconds from now, absolute moment)`; `(None, None)` if unreadable.
    """
    text = value.strip()
    if not text:
        return None, None
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        if number >= _EPOCH_THRESHOLD:
            moment = datetime.fromtimestamp(number, tz=UTC)
            return max(0.0, (moment - now).total_seconds()), moment
        return max(0.0, number), None
    moment_or_none: datetime | None
    try:
        moment_or_none = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment_or_none = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            moment_or_none = None
    if moment_or_none is None:
        return None, None
    if moment_or_none.tzinfo is None:
        moment_or_none = moment_or_none.replace(tzinfo=UTC)
    return max(0.0, (moment_or_none - now).total_seconds()), moment_or_none


def _int_or_none(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def rate_limit_from_headers(headers: Mapping[str, str], now: datetime) -> RateLimit:
    """Parse Zoom's `X-RateLimit-*` and `Retry-After` headers (case-insensitive mapping)."""
    lowered = {key.lower(): value for key, value in headers.items()}
    seconds: float | None = None
    moment: datetime | None = None
    for name in ("retry-after", "x-ratelimit-reset"):
        if name in lowered:
            seconds, moment = parse_delay(lowered[name], now)
            if seconds is not None:
                break
    return RateLimit(
        kind=lowered.get("x-ratelimit-type", ""),
        category=lowered.get("x-ratelimit-category", ""),
        limit=_int_or_none(lowered.get("x-ratelimit-limit")),
        remaining=_int_or_none(lowered.get("x-ratelimit-remaining")),
        retry_after_seconds=seconds,
        retry_at=moment,
    )


def error_fields(body: bytes) -> tuple[int | None, str]:
    """Zoom's error body: `{"code": 3001, "message": "..."}` (OAuth: `reason`/`error`)."""
    try:
        data = json.loads(body) if body else {}
    except (ValueError, UnicodeDecodeError):
        return None, ""
    if not isinstance(data, dict):
        return None, ""
    code = data.get("code")
    message = data.get("message") or data.get("reason") or data.get("error") or ""
    return (code if isinstance(code, int) else None), str(message)


def decipher(
    status: int,
    headers: Mapping[str, str],
    body: bytes,
    *,
    method: str,
    path: str,
    now: datetime,
) -> Any:
    """Turn one Zoom response into its JSON data (None when empty) or raise the typed error.

    Raises:
        ZoomAuthError: 401.
        ZoomNotFound: 404.
        ZoomRateLimited: 429 (per-second or daily; the caller decides whether to retry).
        ZoomUnavailable: 5xx.
        ZoomRequestError: any other non-2xx.
        ZoomApiError: a 2xx whose body is not JSON.
    """
    if 200 <= status < 300:
        if not body.strip():
            return None
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError):
            raise ZoomApiError(
                "response body is not JSON", status=status, method=method, path=path
            ) from None
    code, message = error_fields(body)
    text = message or f"HTTP {status}"
    if status == 401:
        raise ZoomAuthError(text, status=status, code=code, method=method, path=path)
    if status == 404:
        raise ZoomNotFound(text, status=status, code=code, method=method, path=path)
    if status == 429:
        limit = rate_limit_from_headers(headers, now)
        if not limit.kind and "daily" in message.lower():
            limit = RateLimit(
                kind="Daily-limit",
                category=limit.category,
                limit=limit.limit,
                remaining=limit.remaining,
                retry_after_seconds=limit.retry_after_seconds,
                retry_at=limit.retry_at,
            )
        raise ZoomRateLimited(
            text, rate_limit=limit, status=status, code=code, method=method, path=path
        )
    if status >= 500:
        raise ZoomUnavailable(text, attempts=1, status=status, code=code, method=method, path=path)
    raise ZoomRequestError(text, status=status, code=code, method=method, path=path)
