"""Webhook delivery: Zoom's retry schedule, duplicates, delays, reordering, HTTP transport."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import httpx

from bot.meeting import zoom_wire as wire
from bot.meeting.delivery import (
    CallableTransport,
    Faults,
    HttpTransport,
    WebhookDelivery,
)
from webhooks.signature import signature_matches

T0 = datetime(2026, 12, 3, 0, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
SECRET = "s3cret"


def hook(n: int, at: datetime = T0) -> wire.Webhook:
    body = wire.meeting_body(wire.MEETING_STARTED, meeting=wire.MeetingIdentity(), at=at)
    body = body.replace(b'"event_ts":', f'"n":{n},"event_ts":'.encode())
    return wire.Webhook(
        event=f"e{n}",
        body=body,
        headers=wire.signed_headers(secret=SECRET, body=body, at=at),
        event_ts=wire.epoch_ms(at),
    )


class Receiver:
    """An in-process receiver answering from a script of statuses (200 when it runs out)."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.statuses = list(statuses or [])
        self.got: list[tuple[dict[str, str], bytes]] = []

    async def __call__(self, headers: Mapping[str, str], body: bytes) -> int:
        self.got.append((dict(headers), body))
        return self.statuses.pop(0) if self.statuses else 200


def test_success_is_delivered_once_and_verifies():
    async def main() -> None:
        receiver = Receiver()
        delivery = WebhookDelivery(CallableTransport(receiver))
        delivery.submit(hook(1), T0)
        await delivery.flush(T0)
        assert len(receiver.got) == 1 and delivery.pending == 0
        headers, body = receiver.got[0]
        assert signature_matches(
            [SECRET], headers["x-zm-request-timestamp"], body, headers["x-zm-signature"]
        )

    asyncio.run(main())


def test_failures_are_retried_after_5_20_and_60_minutes_then_dropped():
    async def main() -> None:
        receiver = Receiver([500, 503, 404, 500])
        delivery = WebhookDelivery(CallableTransport(receiver))
        delivery.submit(hook(1), T0)
        await delivery.flush(T0)
        assert delivery.next_due() == T0 + 5 * MIN
        await delivery.flush(T0 + 4 * MIN)
        assert len(receiver.got) == 1  # not due yet
        await delivery.drain()
        assert [(a.at - T0, a.number, a.status) for a in delivery.attempts] == [
            (timedelta(0), 1, 500),
            (5 * MIN, 2, 503),
            (25 * MIN, 3, 404),
            (85 * MIN, 4, 500),
        ]
        assert delivery.pending == 0
        assert len({body for _, body in receiver.got}) == 1  # a retry is a full duplicate

    asyncio.run(main())


def test_a_204_counts_as_success():
    async def main() -> None:
        delivery = WebhookDelivery(CallableTransport(Receiver([204])))
        delivery.submit(hook(1), T0)
        await delivery.drain()
        assert [a.ok for a in delivery.attempts] == [True]

    asyncio.run(main())


def test_duplicates_arrive_later_with_the_same_body():
    async def main() -> None:
        receiver = Receiver()
        delivery = WebhookDelivery(CallableTransport(receiver), faults=Faults(duplicate_rate=1.0))
        delivery.submit(hook(1), T0)
        await delivery.drain()
        assert [(a.at - T0, a.duplicate) for a in delivery.attempts] == [
            (timedelta(0), False),
            (5 * MIN, True),
        ]
        assert receiver.got[0][1] == receiver.got[1][1]

    asyncio.run(main())


def test_delay_and_reordering():
    async def main() -> None:
        receiver = Receiver()
        faults = Faults(delay=2 * MIN, reorder=True, seed=3)
        delivery = WebhookDelivery(CallableTransport(receiver), faults=faults)
        for n in range(8):
            delivery.submit(hook(n), T0)
        await delivery.flush(T0 + MIN)
        assert receiver.got == []
        await delivery.flush(T0 + 2 * MIN)
        order = [a.event for a in delivery.attempts]
        assert sorted(order) == [f"e{n}" for n in range(8)]
        assert order != sorted(order)

    asyncio.run(main())


def test_re_signing_uses_the_send_time():
    async def main() -> None:
        receiver = Receiver()
        later = T0 + 3 * MIN
        delivery = WebhookDelivery(CallableTransport(receiver), re_sign=(SECRET, lambda: later))
        delivery.submit(hook(1), T0)
        await delivery.flush(T0)
        headers, body = receiver.got[0]
        assert headers["x-zm-request-timestamp"] == str(int(later.timestamp()))
        assert signature_matches(
            [SECRET], headers["x-zm-request-timestamp"], body, headers["x-zm-signature"]
        )

    asyncio.run(main())


def test_http_transport_posts_the_raw_body_and_headers():
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200 if len(seen) > 1 else 500)

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            transport = HttpTransport(client, "http://127.0.0.1:8000/zoom/webhook")
            delivery = WebhookDelivery(transport)
            webhook = hook(1)
            delivery.submit(webhook, T0)
            await delivery.drain()
        assert [a.status for a in delivery.attempts] == [500, 200]
        assert seen[0].content == webhook.body
        assert seen[0].headers["x-zm-signature"] == webhook.headers["x-zm-signature"]
        assert seen[0].url.path == "/zoom/webhook"

    asyncio.run(main())


def test_http_errors_are_failures_that_zoom_retries():
    calls = 0

    def server(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200)

    async def main() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(server)) as client:
            delivery = WebhookDelivery(HttpTransport(client, "http://127.0.0.1:9/x"))
            delivery.submit(hook(1), T0)
            await delivery.drain()
        assert [(a.status, bool(a.error)) for a in delivery.attempts] == [
            (None, True),
            (200, False),
        ]

    asyncio.run(main())


def test_a_simulated_meeting_delivers_through_the_sink_as_things_happen():
    from bot.meeting.simulated import MeetingOptions, SimulatedMeeting

    async def main() -> None:
        receiver = Receiver()
        delivery = WebhookDelivery(CallableTransport(receiver))
        meeting = SimulatedMeeting(MeetingOptions(webhook_secret=SECRET), clock=lambda: T0)
        meeting.set_webhook_sink(delivery.sink(lambda: T0))
        await meeting.start()
        await meeting.person_joins("Anna")
        assert [body for _, body in receiver.got] == [w.body for w in meeting.webhooks]
        assert len(receiver.got) == 3

    asyncio.run(main())
