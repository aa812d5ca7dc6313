"""Delivers the simulator's webhooks the way Zoom does: late, twice, out of order, retried.

`WebhookDelivery` queues each `Webhook` the simulated meeting produces and sends it through a
transport: `CallableTransport` (an in-process receiver, `(headers, body) -> status`) or
`HttpTransport` (HTTP POST with an injected `httpx.AsyncClient`, e.g. to the real receiver on
loopback). It follows Zoom's retry rule (zoom-reference §1.3): a delivery succeeds on HTTP
200 or 204; anything else, or a transport error, is retried 5, 20 and 60 minutes after the
previous attempt (3 retries), then dropped. A retry is a full duplicate of the body.

`Faults` adds the disorder a receiver must survive: extra duplicate deliveries, fixed or
random delays, and reordering of what is due at the same moment. It is seeded, so a test
run is reproducible. Time is passed in (`now`), so the delivery runs on a virtual clock as
well as on the wall clock; `re_sign` signs each attempt again at its send time, for a
receiver that checks `x-zm-request-timestamp` freshness against the wall clock.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from bot.meeting import zoom_wire as wire

__all__ = [
    "RETRY_DELAYS",
    "Attempt",
    "CallableTransport",
    "Faults",
    "HttpTransport",
    "Transport",
    "WebhookDelivery",
]

_log = logging.getLogger(__name__)

#: Zoom retries a failed delivery 5, 20 and 60 minutes after the previous attempt.
RETRY_DELAYS: tuple[timedelta, ...] = (
    timedelta(minutes=5),
    timedelta(minutes=20),
    timedelta(minutes=60),
)

_SUCCESS = frozenset({200, 204})


class Transport(Protocol):
    """Sends one webhook request; returns the HTTP status (raises on a transport error)."""

    async def send(self, headers: Mapping[str, str], body: bytes) -> int: ...


@dataclass(frozen=True, slots=True)
class CallableTransport:
    """Delivers in process to `receiver(headers, body) -> status`."""

    receiver: Callable[[Mapping[str, str], bytes], Awaitable[int]]

    async def send(self, headers: Mapping[str, str], body: bytes) -> int:
        return await self.receiver(headers, body)


@dataclass(frozen=True, slots=True)
class HttpTransport:
    """POSTs to `url` with an injected client (its timeout plays Zoom's 3-second limit)."""

    client: httpx.AsyncClient
    url: str
    timeout_seconds: float = 3.0

    async def send(self, headers: Mapping[str, str], body: bytes) -> int:
        response = await self.client.post(
            self.url, content=body, headers=dict(headers), timeout=self.timeout_seconds
        )
        return response.status_code


@dataclass(frozen=True, slots=True, kw_only=True)
class Faults:
    """Disorder to add on top of Zoom's retries (all off by default).

    Args:
        duplicate_rate: chance that a successful delivery is sent once more (as when Zoom
            missed the ack), `duplicate_after` later.
        delay: fixed delay added before the first attempt.
        max_jitter: random extra delay, uniform in [0, max_jitter], per webhook.
        reorder: shuffle webhooks that are due at the same flush.
        seed: seeds the random choices.
    """

    duplicate_rate: float = 0.0
    duplicate_after: timedelta = timedelta(minutes=5)
    delay: timedelta = timedelta(0)
    max_jitter: timedelta = timedelta(0)
    reorder: bool = False
    seed: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One send: which webhook, when, the attempt number (1 = first), status or error."""

    event: str
    event_ts: int
    at: datetime
    number: int
    status: int | None
    error: str = ""
    duplicate: bool = False

    @property
    def ok(self) -> bool:
        return self.status in _SUCCESS


@dataclass(slots=True, kw_only=True)
class _Queued:
    webhook: wire.Webhook
    due: datetime
    number: int = 1
    duplicate: bool = False
    order: int = 0


@dataclass(slots=True)
class WebhookDelivery:
    """Queues webhooks and sends them when due, with Zoom's retries and optional faults.

    Use `submit(webhook, now)` (or `sink(clock)` as a `SimulatedMeeting` webhook sink), then
    `flush(now)` to send everything due. `attempts` records every send.

    Args:
        transport: where the requests go.
        faults: extra disorder (none by default).
        re_sign: secret and clock to sign each attempt afresh at its send time; None keeps
            the signature the meeting made.
    """

    transport: Transport
    faults: Faults = field(default_factory=Faults)
    re_sign: tuple[str, Callable[[], datetime]] | None = None
    attempts: list[Attempt] = field(default_factory=list)
    _queue: list[_Queued] = field(default_factory=list)
    _rng: random.Random = field(init=False)
    _counter: int = 0

    def __post_init__(self) -> None:
        self._rng = random.Random(self.faults.seed)

    @property
    def pending(self) -> int:
        """How many sends are waiting (first attempts, retries and duplicates)."""
        return len(self._queue)

    def next_due(self) -> datetime | None:
        """When the earliest waiting send is due, or None."""
        return min((item.due for item in self._queue), default=None)

    def submit(self, webhook: wire.Webhook, now: datetime) -> None:
        """Queue `webhook`, produced at `now`, for its first attempt."""
        delay = self.faults.delay
        if self.faults.max_jitter > timedelta(0):
            delay += self.faults.max_jitter * self._rng.random()
        self._enqueue(_Queued(webhook=webhook, due=now + delay))

    def sink(self, clock: Callable[[], datetime]) -> Callable[[wire.Webhook], Awaitable[None]]:
        """A webhook sink for `SimulatedMeeting.set_webhook_sink` that queues and sends what
        is due at once (so with no faults a webhook goes out as it happens)."""

        async def _sink(webhook: wire.Webhook) -> None:
            now = clock()
            self.submit(webhook, now)
            await self.flush(now)

        return _sink

    async def flush(self, now: datetime) -> list[Attempt]:
        """Send everything due at or before `now`; returns the attempts made."""
        due = sorted(
            (item for item in self._queue if item.due <= now), key=lambda i: (i.due, i.order)
        )
        if self.faults.reorder:
            self._rng.shuffle(due)
        for item in due:
            self._queue.remove(item)
        made: list[Attempt] = []
        for item in due:
            made.append(await self._send(item, now))
        return made

    async def drain(self) -> list[Attempt]:
        """Send everything still queued, retries included, in due order (end of a run)."""
        made: list[Attempt] = []
        while self._queue:
            due = self.next_due()
            assert due is not None
            made.extend(await self.flush(due))
        return made

    def _enqueue(self, item: _Queued) -> None:
        self._counter += 1
        item.order = self._counter
        self._queue.append(item)

    async def _send(self, item: _Queued, at: datetime) -> Attempt:
        headers = dict(item.webhook.headers)
        if self.re_sign is not None:
            secret, clock = self.re_sign
            headers = wire.signed_headers(secret=secret, body=item.webhook.body, at=clock())
        status: int | None
        error = ""
        try:
            status = await self.transport.send(headers, item.webhook.body)
        except httpx.HTTPError as failed:
            status, error = None, f"{type(failed).__name__}: {failed}"
        attempt = Attempt(
            event=item.webhook.event,
            event_ts=item.webhook.event_ts,
            at=at,
            number=item.number,
            status=status,
            error=error,
            duplicate=item.duplicate,
        )
        self.attempts.append(attempt)
        if not attempt.ok:
            if item.number <= len(RETRY_DELAYS):
                retry_at = at + RETRY_DELAYS[item.number - 1]
                self._enqueue(replace(item, due=retry_at, number=item.number + 1))
            else:
                _log.warning(
                    "webhook dropped after Zoom's last retry",
                    extra={"event_type": item.webhook.event},
                )
        elif not item.duplicate and self._rng.random() < self.faults.duplicate_rate:
            self._enqueue(
                replace(item, due=at + self.faults.duplicate_after, duplicate=True, number=1)
            )
        return attempt
