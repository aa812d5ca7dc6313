"""The receiver app's own limits and filters, in process: other meetings, load, slow and
vanishing clients, bugs, the OpenAPI page and readiness.

The app is called through ASGI directly where a test needs a body that never arrives or a
client that hangs up (httpx's transport would send the whole body at once). The hostile
suite (`tests/hostile/`) repeats the important cases against a real `serve` on loopback.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import Engine, select

from bot.config import Settings
from storage.db import make_session_factory, session_scope
from storage.tables.journal import JournalEntry
from tests.storage_fixtures import sqlite_engine, sqlite_template, sqlite_url  # noqa: F401
from tests.zoom_fixtures import body, documents
from tests.zoom_signing import signed_headers
from webhooks.http import create_app
from webhooks.metrics import Metrics

pytestmark = pytest.mark.anyio
NOW = datetime(2026, 3, 4, 17, 30, tzinfo=UTC)
SECRET = "limits-secret-token-0001"
PATH = "/zoom/webhook"


def _settings(**server: Any) -> Settings:
    return Settings(
        zoom={"webhook_secret_tokens": [SECRET]},
        group={"meeting_id": "857 4606 5432"},
        server={"body_timeout_seconds": 0.2, **server},
    )


@pytest.fixture
def db(request: pytest.FixtureRequest) -> Engine:
    engine: Engine = request.getfixturevalue("sqlite_engine")
    return engine


def _rows(engine: Engine) -> list[JournalEntry]:
    with session_scope(make_session_factory(engine)) as session:
        return list(session.scalars(select(JournalEntry).order_by(JournalEntry.id)))


def _client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://zoom.test")


def _signed(payload: bytes) -> dict[str, str]:
    return signed_headers(payload, secret=SECRET, at=NOW)


async def test_events_of_another_meeting_keep_one_redacted_line(db: Engine) -> None:
    metrics = Metrics()
    told: list[int] = []
    app = create_app(
        _settings(),
        engine=db,
        metrics=metrics,
        clock=lambda: NOW,
        on_journaled=lambda entry_id, _uuid: told.append(entry_id),
    )
    ours = documents("meeting.participant_joined")[0]
    other = json.loads(json.dumps(ours))
    other["payload"]["object"]["id"] = 91234567890
    payloads = [json.dumps(document).encode() for document in (other, ours)]
    async with _client(app) as client:
        for payload in payloads:
            assert (
                await client.post(PATH, content=payload, headers=_signed(payload))
            ).status_code == 200
    foreign, kept = _rows(db)
    assert json.loads(foreign.body)["redacted"] == "not the group's meeting"
    assert (foreign.meeting_uuid, foreign.parsed_ok, foreign.redacted) == (None, False, True)
    assert kept.body == payloads[1] and kept.meeting_uuid is not None
    assert told == [kept.id]
    value = metrics.registry.get_sample_value(
        "balint_webhooks_received_total",
        {"event": "meeting.participant_joined", "outcome": "foreign_meeting"},
    )
    assert value == 1.0


async def _call(
    app: FastAPI, payload: bytes, *, chunks: list[bytes] | None = None, hang_up: bool = False
) -> tuple[int, float]:
    """POST through raw ASGI: the body in `chunks`, then nothing more (or a disconnect)."""
    headers = [(k.encode(), v.encode()) for k, v in _signed(payload).items()]
    parts = list(chunks if chunks is not None else [payload])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if parts:
            return {"type": "http.request", "body": parts.pop(0), "more_body": True}
        if hang_up:
            return {"type": "http.disconnect"}
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": PATH,
        "raw_path": PATH.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "server": ("127.0.0.1", 8000),
    }
    loop = asyncio.get_running_loop()
    started = loop.time()
    await app(scope, receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    return status, loop.time() - started


async def test_a_body_that_stops_arriving_gets_408(
    db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(_settings(), engine=db, clock=lambda: NOW)
    payload = body("meeting.participant_joined")
    status, took = await _call(app, payload, chunks=[payload[:10]])
    assert status == 408 and took < 1.0
    assert _rows(db) == []
    assert "Traceback" not in caplog.text


async def test_a_client_that_hangs_up_is_one_quiet_line(
    db: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    app = create_app(_settings(), engine=db, clock=lambda: NOW)
    payload = body("meeting.participant_joined")
    await _call(app, payload, chunks=[payload[:10]], hang_up=True)
    aborted = [r for r in caplog.records if "aborted" in r.getMessage()]
    assert len(aborted) == 1 and aborted[0].levelname == "INFO" and aborted[0].exc_info is None
    assert _rows(db) == []


async def test_past_the_limit_of_requests_in_progress_503_at_once(db: Engine) -> None:
    metrics = Metrics()
    app = create_app(
        _settings(max_concurrent_requests=2, body_timeout_seconds=5),
        engine=db,
        metrics=metrics,
        clock=lambda: NOW,
    )
    payload = body("meeting.participant_joined")
    held = [asyncio.ensure_future(_call(app, payload, chunks=[b"{"])) for _ in range(2)]
    await asyncio.sleep(0.05)
    async with _client(app) as client:
        response = await client.post(PATH, content=payload, headers=_signed(payload))
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert (await client.get("/healthz")).status_code == 200
    for call in held:
        call.cancel()
    await asyncio.gather(*held, return_exceptions=True)
    value = metrics.registry.get_sample_value(
        "balint_webhooks_received_total", {"event": "-", "outcome": "busy"}
    )
    assert value == 1.0


async def test_a_bug_is_a_503_never_a_500(db: Engine, caplog: pytest.LogCaptureFixture) -> None:
    def broken_clock() -> datetime:
        raise RuntimeError("a bug")

    app = create_app(_settings(), engine=db, clock=broken_clock)
    payload = body("meeting.participant_joined")
    async with _client(app) as client:
        response = await client.post(PATH, content=payload, headers=_signed(payload))
    assert response.status_code == 503
    assert "failed unexpectedly" in caplog.text


async def test_there_is_no_openapi_page(db: Engine) -> None:
    app = create_app(_settings(), engine=db, clock=lambda: NOW)
    async with _client(app) as client:
        for path in ("/openapi.json", "/docs", "/redoc"):
            assert (await client.get(path)).status_code == 404


async def test_readiness_reports_a_missing_secret(db: Engine) -> None:
    app = create_app(Settings(), engine=db, clock=lambda: NOW)
    async with _client(app) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"secret": False, "database": True, "journal": True}
