"""Typed errors of the Zoom REST client, under one root `ZoomApiError`.

Tree::

    BalintError
     └── ZoomApiError            (status, code, message, method, path)
          ├── ZoomAuthError      OAuth token refused, or 401 again after one renewal
          ├── ZoomNotFound       404 (meeting, user or registrant does not exist)
          ├── ZoomRateLimited    429 daily limit (no retry), or per-second limit still hit
          │                      after the bounded retries; carries `rate_limit`
          ├── ZoomUnavailable    5xx or network failure/timeout after the bounded retries
          └── ZoomRequestError   any other 4xx (Zoom's own `code` says why, e.g. 3001)

Every error carries structured fields, never just a string, so callers (doctor, the SDK bot,
attendance reconciliation) can decide without parsing messages. No secret is ever put in a
message.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from phases.errors import BalintError

__all__ = [
    "RateLimit",
    "ZoomApiError",
    "ZoomAuthError",
    "ZoomNotFound",
    "ZoomRateLimited",
    "ZoomRequestError",
    "ZoomUnavailable",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class RateLimit:
    """What Zoom's rate-limit headers said on one response (all optional on the wire).

    Args:
        kind: `X-RateLimit-Type`: "QPS" (per-second) or "Daily-limit"; "" when absent.
        category: `X-RateLimit-Category` (Light, Medium, Heavy, Resource-intensive).
        limit: `X-RateLimit-Limit`, if given.
        remaining: `X-RateLimit-Remaining`, if given.
        retry_after_seconds: how long to wait, from `Retry-After` or `X-RateLimit-Reset`.
        retry_at: the moment one may retry, when the header gave a date.
    """

    kind: str = ""
    category: str = ""
    limit: int | None = None
    remaining: int | None = None
    retry_after_seconds: float | None = None
    retry_at: datetime | None = None

    @property
    def is_daily(self) -> bool:
        return self.kind.lower().startswith("daily")


class ZoomApiError(BalintError):
    """A Zoom REST call failed.

    Args:
        message: what went wrong, for people.
        status: the HTTP status (0 when no response arrived).
        code: Zoom's numeric error `code` from the body, if any.
        method: the HTTP method of the failed call.
        path: the API path of the failed call (no query string, no secrets).
    """

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: int | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        where = f" ({method} {path})" if method else ""
        status_text = f"HTTP {status}" if status else "no response"
        code_text = f", Zoom code {code}" if code is not None else ""
        super().__init__(f"Zoom API: {message} [{status_text}{code_text}]{where}")
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.path = path


class ZoomAuthError(ZoomApiError):
    """Zoom refused our credentials or token (check account id, client id/secret, scopes)."""


class ZoomNotFound(ZoomApiError):
    """The meeting, user or registrant does not exist (or is not in this account)."""


class ZoomRequestError(ZoomApiError):
    """Zoom rejected the request (4xx other than 401/404/429); `code` says why."""


class ZoomUnavailable(ZoomApiError):
    """Zoom answered 5xx or could not be reached, even after the bounded retries."""

    def __init__(
        self,
        message: str,
        *,
        attempts: int,
        status: int = 0,
        code: int | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message, status=status, code=code, method=method, path=path)
        self.attempts = attempts


class ZoomRateLimited(ZoomApiError):
    """Zoom's rate limit was hit: a daily limit (fail fast) or a per-second limit that persisted.

    Args:
        rate_limit: the parsed rate-limit headers (`rate_limit.retry_at` for a daily limit).
    """

    def __init__(
        self,
        message: str,
        *,
        rate_limit: RateLimit,
        status: int = 429,
        code: int | None = None,
        method: str = "",
        path: str = "",
    ) -> None:
        super().__init__(message, status=status, code=code, method=method, path=path)
        self.rate_limit = rate_limit

    @property
    def daily(self) -> bool:
        return self.rate_limit.is_daily

    @property
    def retry_after(self) -> float | None:
        return self.rate_limit.retry_after_seconds
