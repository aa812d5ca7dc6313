"""Bounded retries for Zoom REST calls: 5xx and network errors with jittered backoff, and
per-second 429s after the delay Zoom's headers give.

A daily-limit 429 is never retried (it would fail until the date in `Retry-After`), and
neither is any other 4xx. The sleep, the random source and the clock are injected so tests
run without waiting and can assert the exact delays.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from bot.zoom_api.errors import ZoomRateLimited, ZoomUnavailable
from bot.zoom_api.wire import decipher
from storage.clock import Clock

__all__ = ["Clock", "RetryPolicy", "Sleep", "call_with_retries"]

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How hard to try.

    Args:
        attempts: total tries for 5xx and network errors (1 = no retry).
        base_delay: first backoff in seconds; doubles per retry, capped at `max_delay`.
        max_delay: longest backoff between two tries.
        rate_limit_attempts: total tries while Zoom answers per-second 429s.
        max_rate_limit_wait: a per-second 429 asking to wait longer than this fails at once.
    """

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0
    rate_limit_attempts: int = 5
    max_rate_limit_wait: float = 30.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Delay before retry number `retry` (0-based): "equal jitter" in [cap/2, cap]."""
        cap = min(self.max_delay, self.base_delay * (2**retry))
        return rng.uniform(cap / 2, cap)


async def call_with_retries(
    send: Callable[[], Awaitable[httpx.Response]],
    *,
    method: str,
    path: str,
    policy: RetryPolicy,
    sleep: Sleep,
    rng: random.Random,
    clock: Clock,
) -> Any:
    """Send with `send()` until Zoom answers usefully; return the decoded JSON (or None).

    Raises:
        ZoomUnavailable: 5xx or network failure on every one of `policy.attempts` tries.
        ZoomRateLimited: a daily limit (at once), or per-second limits on every try.
        ZoomApiError: any other failure, as `decipher` classifies it (not retried).
    """
    failures = 0
    limited = 0
    while True:
        try:
            response = await send()
        except httpx.TransportError as exc:
            failures += 1
            reason = "timed out" if isinstance(exc, httpx.TimeoutException) else "unreachable"
            if failures >= policy.attempts:
                raise ZoomUnavailable(
                    f"Zoom {reason} ({type(exc).__name__}) after {failures} tries",
                    attempts=failures,
                    method=method,
                    path=path,
                ) from exc
            delay = policy.backoff(failures - 1, rng)
            logger.warning(
                "zoom api %s %s %s; retry %d in %.2fs", method, path, reason, failures, delay
            )
            await sleep(delay)
            continue
        try:
            return decipher(
                response.status_code,
                response.headers,
                response.content,
                method=method,
                path=path,
                now=clock(),
            )
        except ZoomUnavailable as unavailable:
            failures += 1
            if failures >= policy.attempts:
                raise ZoomUnavailable(
                    f"{unavailable.message} (after {failures} tries)",
                    attempts=failures,
                    status=unavailable.status,
                    code=unavailable.code,
                    method=method,
                    path=path,
                ) from None
            delay = policy.backoff(failures - 1, rng)
            logger.warning(
                "zoom api %s %s answered %d; retry %d in %.2fs",
                method,
                path,
                unavailable.status,
                failures,
                delay,
            )
            await sleep(delay)
        except ZoomRateLimited as limited_error:
            limit = limited_error.rate_limit
            if limit.is_daily:
                logger.error(
                    "zoom api %s %s: daily rate limit reached (retry at %s)",
                    method,
                    path,
                    limit.retry_at,
                )
                raise
            limited += 1
            wait = limit.retry_after_seconds
            if wait is None:
                wait = policy.backoff(limited - 1, rng)
            if limited >= policy.rate_limit_attempts or wait > policy.max_rate_limit_wait:
                raise
            logger.warning(
                "zoom api %s %s: per-second rate limit (%s); waiting %.2fs",
                method,
                path,
                limit.category or "unknown category",
                wait,
            )
            await sleep(wait)
