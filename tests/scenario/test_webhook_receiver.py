"""The webhook receiver end to end: real signed requests to the real app, real database.

Every test asserts the status code and exactly what the journal holds afterwards. The clock
is frozen at `NOW`; requests are signed by `tests.zoom_signing` (an independent restatement
of Zoom's rule). The app runs against a migrated SQLite file, and also against PostgreSQL
when `BALINT_TEST_POSTGRES_URL` is set.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI
from httpx import ASGITransport, AsyncClient
from sqlalchemy import Engine, create_engine, event, select

from bot.config import Settings
from bot.meeting import zoom_wire as wire
from bot.meeting.delivery import Faults, HttpTransport, WebhookDelivery
from bot.meeting.observe import ObservingMeeting
from bot.runtime.durable import MeetingRuntime
from bot.service_hooks import ServiceHooks
from storage import journal
from storage.checkpoints import BACKSTOP_PAGES
from storage.db import make_engine, make_session_factory, session_scope, sqlite_path
from storage.migrate import upgrade
from storage.tables.journal import JournalEntry
from tests.storage_fixtures import (  # noqa: F401
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
    wal_frames,
)
from tests.zoom_fixtures import all_bodies, body, documents
from tests.zoom_signing import encrypted_token, sign, signed_headers
from webhooks.http import create_app
from webhooks.metrics import Metrics

NOW = datetime(2026, 3, 4, 17, 30, tzinfo=UTC)
OLD_SECRET = "old-secret-token"
NEW_SECRET = "new-secret-token"
PATH = "/zoom/webhook"
WINDOW = 7200
MAX_BYTES = 4096
MEETING = "4118UHIiRCAAAtBlDkcVyw=="

pytestmark = pytest.mark.anyio


def _client(app: FastAPI) -> AsyncClient:
    return AsyncClient(transport=ASGITransport(app=app), base_url="http://zoom.test")


def _settings(url: str = "sqlite://", **server: Any) -> Settings:
    return Settings(
        zoom={"webhook_secret_tokens": [OLD_SECRET, NEW_SECRET]},
        storage={"url": url},
        server={"max_body_bytes": MAX_BYTES, "timestamp_window_seconds": WINDOW, **server},
    )


@dataclass
class Receiver:
    """The app under test, its database and what it told the worker."""

    app: FastAPI
    client: AsyncClient
    engine: Engine
    metrics: Metrics
    journaled: list[tuple[int, str | None]] = field(default_factory=list)

    async def post(
        self,
        payload: bytes,
        *,
        secret: str = NEW_SECRET,
        at: datetime | int = NOW,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        sent = headers if headers is not None else signed_headers(payload, secret=secret, at=at)
        return await self.client.post(PATH, content=payload, headers=sent)

    def rows(self) -> list[JournalEntry]:
        with session_scope(make_session_factory(self.engine)) as session:
            return list(session.scalars(select(JournalEntry).order_by(JournalEntry.id)))

    def count(self, event: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "balint_webhooks_received_total", {"event": event or "-", "outcome": outcome}
        )
        return value or 0.0


def _receiver(engine: Engine, **kwargs: Any) -> Receiver:
    metrics = Metrics()
    calls: list[tuple[int, str | None]] = []
    app = create_app(
        _settings(),
        engine=engine,
        metrics=metrics,
        on_journaled=lambda entry_id, uuid: calls.append((entry_id, uuid)),
        clock=lambda: NOW,
        **kwargs,
    )
    return Receiver(app=app, client=_client(app), engine=engine, metrics=metrics, journaled=calls)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest) -> Engine:
    made: Engine = request.getfixturevalue(f"{request.param}_engine")
    return made


@pytest.fixture
def receiver(engine: Engine) -> Receiver:
    return _receiver(engine)


# --- every event type ---------------------------------------------------------------------

MEETING_BODIES = [case for case in all_bodies() if case[0] != "endpoint.url_validation"]


@pytest.mark.parametrize(("event_name", "index"), MEETING_BODIES)
async def test_every_recorded_event_is_journaled_with_its_raw_bytes(
    receiver: Receiver, event_name: str, index: int
) -> None:
    payload = body(event_name, index)
    document = documents(event_name)[index]

    response = await receiver.post(payload)

    assert response.status_code == 200
    [row] = receiver.rows()
    content = document["payload"]["object"].get("chat_message", {}).get("message_content", "")
    if content and not content.strip().startswith("/"):  # chat text is never stored
        assert row.redacted is True
        assert json.loads(row.body)["payload"]["object"]["chat_message"]["message_content"] == ""
        assert content.encode() not in row.body
    else:
        assert row.body == payload
        assert row.redacted is False
    assert row.event == event_name
    assert row.event_ts == document["event_ts"]
    assert row.meeting_uuid == document["payload"]["object"]["uuid"]
    assert row.parsed_ok is True
    assert row.parse_error is None
    assert row.processed_at is None
    assert row.received_at == NOW
    assert receiver.journaled == [(row.id, row.meeting_uuid)]
    assert receiver.count(event_name, "journaled") == 1


@pytest.mark.parametrize("index", [0, 1])
@pytest.mark.parametrize("secret", [OLD_SECRET, NEW_SECRET])
async def test_url_validation_is_answered_with_the_signing_secret_and_not_stored(
    receiver: Receiver, index: int, secret: str
) -> None:
    plain = documents("endpoint.url_validation")[index]["payload"]["plainToken"]

    response = await receiver.post(body("endpoint.url_validation", index), secret=secret)

    assert response.status_code == 200
    assert response.json() == {
        "plainToken": plain,
        "encryptedToken": encrypted_token(secret, plain),
    }
    assert receiver.rows() == []
    assert receiver.journaled == []
    assert receiver.count("endpoint.url_validation", "validated") == 1


async def test_unsigned_url_validation_is_refused(receiver: Receiver) -> None:
    response = await receiver.post(
        body("endpoint.url_validation"), headers={"content-type": "application/json"}
    )
    assert response.status_code == 401
    assert "encryptedToken" not in response.text


# --- requests not from Zoom ---------------------------------------------------------------


def _headers_with(payload: bytes, **changes: str | None) -> dict[str, str]:
    headers = signed_headers(payload, secret=NEW_SECRET, at=NOW)
    for name, value in changes.items():
        header = name.replace("_", "-")
        if value is None:
            headers.pop(header)
        else:
            headers[header] = value
    return headers


PARTICIPANT = body("meeting.participant_joined")
REFUSED_HEADERS = {
    "forged signature": _headers_with(PARTICIPANT, x_zm_signature="v0=" + "ab" * 32),
    "signature of other bytes": _headers_with(
        PARTICIPANT, x_zm_signature=sign(PARTICIPANT + b" ", int(NOW.timestamp()), NEW_SECRET)
    ),
    "wrong secret": signed_headers(PARTICIPANT, secret="not-our-secret", at=NOW),
    "missing signature": _headers_with(PARTICIPANT, x_zm_signature=None),
    "missing timestamp": _headers_with(PARTICIPANT, x_zm_request_timestamp=None),
    "missing both": {"content-type": "application/json"},
    "malformed timestamp": _headers_with(PARTICIPANT, x_zm_request_timestamp="17726438e3"),
    "timestamp changed after signing": _headers_with(
        PARTICIPANT, x_zm_request_timestamp=str(int(NOW.timestamp()) - 1)
    ),
    "stale": signed_headers(PARTICIPANT, secret=NEW_SECRET, at=NOW - timedelta(seconds=WINDOW + 1)),
    "future": signed_headers(PARTICIPANT, secret=NEW_SECRET, at=NOW + timedelta(seconds=301)),
}


@pytest.mark.parametrize("case", sorted(REFUSED_HEADERS))
async def test_requests_not_from_zoom_get_401_and_store_nothing(
    receiver: Receiver, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    response = await receiver.post(PARTICIPANT, headers=REFUSED_HEADERS[case])

    assert response.status_code == 401
    assert response.json() == {"error": "invalid request"}
    assert receiver.rows() == []
    assert receiver.journaled == []
    assert receiver.count("", "unauthorized") == 1
    logged = _all_log_text(caplog)
    assert "Anna Keller" not in logged and "anna.keller" not in logged
    assert "webhook refused" in logged


@pytest.mark.parametrize(
    "at",
    [NOW - timedelta(seconds=WINDOW - 5), NOW + timedelta(seconds=295)],
    ids=["old retry inside window", "slightly fast clock"],
)
async def test_timestamps_inside_the_window_are_accepted(receiver: Receiver, at: datetime) -> None:
    assert (await receiver.post(PARTICIPANT, at=at)).status_code == 200
    assert len(receiver.rows()) == 1


async def test_both_rotated_secrets_are_accepted(receiver: Receiver) -> None:
    assert (
        await receiver.post(body("meeting.participant_joined", 0), secret=OLD_SECRET)
    ).status_code == 200
    assert (
        await receiver.post(body("meeting.participant_joined", 1), secret=NEW_SECRET)
    ).status_code == 200
    assert len(receiver.rows()) == 2


async def test_no_configured_secret_refuses_everything(engine: Engine) -> None:
    app = create_app(Settings(), engine=engine, clock=lambda: NOW)
    client = _client(app)
    response = await client.post(
        PATH, content=PARTICIPANT, headers=signed_headers(PARTICIPANT, secret="", at=NOW)
    )
    assert response.status_code == 401
    assert Receiver(app, client, engine, Metrics()).rows() == []


# --- bodies we cannot take ----------------------------------------------------------------


@pytest.mark.parametrize("payload", [b"not json", b'{"event": ', b"\xff\xfe{}", b""])
async def test_signed_non_json_is_journaled_as_one_redacted_unparsed_line(
    receiver: Receiver, payload: bytes
) -> None:
    response = await receiver.post(payload)
    assert response.status_code == 200
    [row] = receiver.rows()
    assert (row.event, row.meeting_uuid, row.parsed_ok, row.redacted) == ("", None, False, True)
    assert row.parse_error is not None and "not JSON" in row.parse_error
    line = json.loads(row.body)
    assert (line["redacted"], line["bytes"]) == ("unreadable body", len(payload))
    assert receiver.count("", "unparsed") == 1
    assert (await receiver.post(payload)).status_code == 200  # Zoom's retry: a duplicate
    assert len(receiver.rows()) == 1


async def test_unsigned_non_json_gets_401_because_the_signature_comes_first(
    receiver: Receiver,
) -> None:
    response = await receiver.post(b"not json", headers={"x-zm-request-timestamp": "1"})
    assert response.status_code == 401


def _oversized() -> bytes:
    document = documents("meeting.participant_joined")[0]
    document["padding"] = "x" * MAX_BYTES
    return json.dumps(document).encode()


async def test_body_over_the_limit_gets_413_and_stores_nothing(receiver: Receiver) -> None:
    response = await receiver.post(_oversized())
    assert response.status_code == 413
    assert receiver.rows() == []
    assert receiver.count("", "too_large") == 1


async def test_declared_length_over_the_limit_gets_413_before_reading(receiver: Receiver) -> None:
    headers = signed_headers(PARTICIPANT, secret=NEW_SECRET, at=NOW)
    headers["content-length"] = str(MAX_BYTES + 1)
    # The declared length is checked before a byte is read, so the short body never matters.
    response = await receiver.client.post(PATH, content=PARTICIPANT, headers=headers)
    assert response.status_code == 413
    assert receiver.rows() == []


async def test_streamed_body_without_length_is_counted_as_it_is_read(receiver: Receiver) -> None:
    payload = _oversized()
    headers = signed_headers(payload, secret=NEW_SECRET, at=NOW)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(payload), 1000):
            yield payload[start : start + 1000]

    response = await receiver.client.post(PATH, content=chunks(), headers=headers)
    assert response.status_code == 413
    assert receiver.rows() == []


async def test_streamed_body_within_the_limit_is_accepted(receiver: Receiver) -> None:
    headers = signed_headers(PARTICIPANT, secret=NEW_SECRET, at=NOW)

    async def chunks() -> AsyncIterator[bytes]:
        yield PARTICIPANT[:100]
        yield PARTICIPANT[100:]

    response = await receiver.client.post(PATH, content=chunks(), headers=headers)
    assert response.status_code == 200
    assert [row.body for row in receiver.rows()] == [PARTICIPANT]


# --- duplicates, order, unknown and unparseable -------------------------------------------


async def test_duplicate_is_acknowledged_but_journaled_and_announced_once(
    receiver: Receiver,
) -> None:
    first = await receiver.post(PARTICIPANT)
    retry = await receiver.post(PARTICIPANT, at=NOW - timedelta(minutes=85))  # Zoom's 3rd retry
    reserialised = json.dumps(documents("meeting.participant_joined")[0], indent=2, sort_keys=True)
    again = await receiver.post(reserialised.encode())

    assert [first.status_code, retry.status_code, again.status_code] == [200, 200, 200]
    [row] = receiver.rows()
    assert row.body == PARTICIPANT
    assert receiver.journaled == [(row.id, MEETING)]
    assert receiver.count("meeting.participant_joined", "journaled") == 1
    assert receiver.count("meeting.participant_joined", "duplicate") == 2


async def test_sqlite_journal_is_checkpointed_beside_its_commits(
    sqlite_engine: Engine,  # noqa: F811
) -> None:
    """No journal write pays for a WAL checkpoint (`storage.checkpoints`), yet the log is
    copied into the database soon after, with no further delivery to prompt it."""
    receiver = _receiver(sqlite_engine)
    assert (await receiver.post(PARTICIPANT)).status_code == 200
    database = sqlite_path(sqlite_engine.url.render_as_string(hide_password=False))
    assert database is not None

    def copied() -> bool:
        frames, backfilled = wal_frames(database)
        return 0 < frames == backfilled

    deadline = time.monotonic() + 10
    while not copied() and time.monotonic() < deadline:
        await anyio.sleep(0.01)
    assert copied()
    with sqlite_engine.connect() as connection:
        mark = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert mark == BACKSTOP_PAGES


async def test_out_of_order_deliveries_are_all_kept_and_listed_in_event_order(
    receiver: Receiver,
) -> None:
    # Zoom delivers late: the left (18:31) arrives before the joins (17:03, 17:13).
    sent = [
        body("meeting.participant_left", 0),
        body("meeting.participant_joined", 1),
        body("meeting.started", 0),
        body("meeting.participant_joined", 0),
    ]
    for payload in sent:
        assert (await receiver.post(payload)).status_code == 200

    assert [row.body for row in receiver.rows()] == sent  # arrival order
    with session_scope(make_session_factory(receiver.engine)) as session:
        ordered = journal.entries_for_meeting(session, meeting_uuid=MEETING)
        pending = journal.unprocessed(session, meeting_uuid=MEETING)
    expected = [
        "meeting.started",
        "meeting.participant_joined",
        "meeting.participant_joined",
        "meeting.participant_left",
    ]
    assert [entry.event for entry in ordered] == expected
    assert [entry.event for entry in pending] == expected
    assert [entry.event_ts for entry in ordered] == sorted(entry.event_ts or 0 for entry in ordered)


async def test_unknown_event_is_journaled_without_its_meeting_so_it_opens_no_session(
    receiver: Receiver,
) -> None:
    document = {
        "event": "meeting.sharing_started",
        "event_ts": 1772644000000,
        "payload": {"account_id": "acc", "object": {"id": 1, "uuid": MEETING, "sharing": {}}},
    }
    payload = json.dumps(document).encode()

    response = await receiver.post(payload)

    assert response.status_code == 200
    [row] = receiver.rows()
    assert (row.event, row.event_ts, row.meeting_uuid, row.parsed_ok) == (
        "meeting.sharing_started",
        1772644000000,
        None,
        True,
    )
    assert row.body == payload
    assert receiver.journaled == []  # the worker is not told: nothing to process


@pytest.mark.parametrize(
    ("document", "error_part"),
    [([1, 2, 3], "not an object"), ({"payload": {}}, "no event name")],
    ids=["json array", "no event"],
)
async def test_signed_json_that_is_no_event_is_journaled_unparsed_and_acknowledged(
    receiver: Receiver, document: Any, error_part: str
) -> None:
    payload = json.dumps(document).encode()

    response = await receiver.post(payload)

    assert response.status_code == 200
    [row] = receiver.rows()
    assert (row.body, row.event, row.parsed_ok) == (payload, "", False)
    assert row.parse_error is not None and error_part in row.parse_error
    assert receiver.journaled == []  # nothing for the worker to feed
    assert receiver.count("", "unparsed") == 1
    with session_scope(make_session_factory(receiver.engine)) as session:
        assert journal.unprocessed(session) == []


@pytest.mark.parametrize(
    ("document", "event_name", "error_part"),
    [
        (
            {
                "event": "meeting.participant_joined",
                "event_ts": 1772644000001,
                "payload": {"object": {"id": "1", "uuid": MEETING}},
            },
            "meeting.participant_joined",
            "participant",
        ),
        (
            {
                "event": "meeting.started",
                "event_ts": "yesterday",
                "payload": {"object": {"uuid": MEETING}},
            },
            "meeting.started",
            "event_ts",
        ),
    ],
    ids=["participant missing", "event_ts not a number"],
)
async def test_an_event_that_fails_its_model_is_acked_then_marked_unparsed_by_the_worker(
    receiver: Receiver,
    document: Any,
    event_name: str,
    error_part: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The receiver reads the envelope only (the full parse costs the ack nothing); the
    meeting worker finds that the body does not fit, marks it unparsed with the error and
    goes on. The body stays as it came."""
    payload = json.dumps(document).encode()

    response = await receiver.post(payload)

    assert response.status_code == 200
    [row] = receiver.rows()
    assert (row.body, row.event, row.parsed_ok, row.parse_error) == (
        payload,
        event_name,
        True,
        None,
    )
    assert receiver.journaled == [(row.id, MEETING)]
    assert receiver.count(event_name, "journaled") == 1

    runtime = MeetingRuntime(
        meeting_uuid=MEETING,
        control=ObservingMeeting(MEETING),
        hooks=ServiceHooks(_settings()),
        session_factory=make_session_factory(receiver.engine),
        owner="test-worker",
        lease_ttl=timedelta(seconds=30),
        clock=lambda: NOW,
    )
    caplog.set_level(logging.ERROR)
    await runtime.process_journal()

    [row] = receiver.rows()
    assert (row.body, row.parsed_ok, row.processed_at) == (payload, False, NOW)
    assert row.parse_error is not None and error_part in row.parse_error
    assert "marked unparsed" in caplog.text and "yesterday" not in caplog.text
    with session_scope(make_session_factory(receiver.engine)) as session:
        assert journal.unprocessed(session) == []


async def test_a_failing_on_journaled_callback_does_not_change_the_answer(engine: Engine) -> None:
    def broken(entry_id: int, uuid: str | None) -> None:
        raise RuntimeError("worker queue closed")

    app = create_app(_settings(), engine=engine, on_journaled=broken, clock=lambda: NOW)
    client = _client(app)
    headers = signed_headers(PARTICIPANT, secret=NEW_SECRET, at=NOW)
    assert (await client.post(PATH, content=PARTICIPANT, headers=headers)).status_code == 200
    assert len(Receiver(app, client, engine, Metrics()).rows()) == 1


# --- the database is unavailable ------------------------------------------------------------


async def test_database_gone_gets_503_then_the_retry_is_stored(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    directory = tmp_path / "data"
    url = f"sqlite:///{directory / 'balint.db'}"
    engine = make_engine(url)
    receiver = _receiver(engine)  # no connection is opened until the first webhook

    response = await receiver.post(PARTICIPANT)

    assert response.status_code == 503
    assert not directory.exists()
    assert receiver.journaled == []
    assert receiver.count("meeting.participant_joined", "unavailable") == 1
    assert "Anna Keller" not in _all_log_text(caplog)
    assert (await receiver.client.get("/readyz")).status_code == 503

    directory.mkdir()  # the volume is back; Zoom retries the same delivery
    upgrade(url)
    retry = await receiver.post(PARTICIPANT, at=NOW - timedelta(minutes=5))

    assert retry.status_code == 200
    assert [row.body for row in receiver.rows()] == [PARTICIPANT]
    assert (await receiver.client.get("/readyz")).status_code == 200
    engine.dispose()


async def test_read_only_database_gets_503_and_nothing_is_stored(
    request: pytest.FixtureRequest,
) -> None:
    url: str = request.getfixturevalue("sqlite_url")
    read_only = make_engine(url)

    @event.listens_for(read_only, "connect")
    def _query_only(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.execute("PRAGMA query_only = ON")

    receiver = _receiver(read_only)

    assert (await receiver.post(PARTICIPANT)).status_code == 503
    assert receiver.journaled == []
    writable = make_engine(url)
    assert Receiver(receiver.app, receiver.client, writable, Metrics()).rows() == []
    read_only.dispose()
    writable.dispose()


async def test_unreachable_postgresql_gets_503() -> None:
    # Nothing listens on port 9 of localhost: the connection is refused at once.
    unreachable = create_engine(
        "postgresql+psycopg://balint@127.0.0.1:9/balint", connect_args={"connect_timeout": 2}
    )
    receiver = _receiver(unreachable)
    assert (await receiver.post(PARTICIPANT)).status_code == 503
    assert (await receiver.client.get("/readyz")).json()["checks"]["database"] is False
    unreachable.dispose()


# --- operations endpoints ---------------------------------------------------------------------


async def test_healthz_metrics_and_readiness_checks(engine: Engine) -> None:
    states = {"worker": True, "scheduler": True}
    metrics = Metrics()
    app = create_app(
        _settings(), engine=engine, metrics=metrics, readiness=lambda: states, clock=lambda: NOW
    )
    client = _client(app)
    await client.post(
        PATH, content=PARTICIPANT, headers=signed_headers(PARTICIPANT, secret=NEW_SECRET, at=NOW)
    )
    await client.post(PATH, content=b"nope", headers={})

    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert (ready.status_code, ready.json()) == (
        200,
        {
            "ready": True,
            "checks": {
                "secret": True,
                "database": True,
                "journal": True,
                "worker": True,
                "scheduler": True,
            },
        },
    )
    states["scheduler"] = False
    assert (await client.get("/readyz")).status_code == 503

    text = (await client.get("/metrics")).text
    assert (
        'balint_webhooks_received_total{event="meeting.participant_joined",outcome="journaled"} 1.0'
        in text
    )
    assert 'balint_webhooks_received_total{event="-",outcome="unauthorized"} 1.0' in text
    assert "balint_webhook_ack_seconds_count 2.0" in text


async def test_async_readiness_check_and_caller_lifespan(engine: Engine) -> None:
    seen: list[str] = []

    async def ready() -> dict[str, bool]:
        return {"worker": False}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        seen.append("start")
        yield
        seen.append("stop")

    app = create_app(_settings(), engine=engine, readiness=ready, lifespan=lifespan)
    async with app.router.lifespan_context(app), _client(app) as client:
        assert seen == ["start"]
        response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["checks"] == {
            "secret": True,
            "database": True,
            "journal": True,
            "worker": False,
        }
    assert seen == ["start", "stop"]


async def test_configured_webhook_path_is_the_only_receiver(engine: Engine) -> None:
    app = create_app(_settings(webhook_path="/hooks/zoom"), engine=engine, clock=lambda: NOW)
    client = _client(app)
    headers = signed_headers(PARTICIPANT, secret=NEW_SECRET, at=NOW)
    assert (
        await client.post("/hooks/zoom", content=PARTICIPANT, headers=headers)
    ).status_code == 200
    assert (await client.post(PATH, content=PARTICIPANT, headers=headers)).status_code == 404
    assert (await client.get("/hooks/zoom")).status_code == 405


async def test_the_webhook_path_with_a_trailing_slash_is_the_webhook_path(
    receiver: Receiver,
) -> None:
    # An endpoint entered in Zoom with a slash at its end is the same endpoint (it got 404).
    headers = signed_headers(PARTICIPANT, secret=NEW_SECRET, at=NOW)
    answer = await receiver.client.post(f"{PATH}/", content=PARTICIPANT, headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    assert (await receiver.client.get(f"{PATH}/")).status_code == 405
    assert len(receiver.rows()) == 1
    unsigned = await receiver.client.post(f"{PATH}/", content=PARTICIPANT)
    assert unsigned.status_code == 401


async def test_the_webhook_path_is_matched_under_the_apps_root_path(engine: Engine) -> None:
    # Behind a proxy that mounts the service under a prefix (ASGI `root_path`), the webhook
    # route is matched as FastAPI's router matches the others: below the prefix.
    app = create_app(_settings(), engine=engine, clock=lambda: NOW)
    client = AsyncClient(
        transport=ASGITransport(app=app, root_path="/balint"), base_url="http://zoom.test"
    )
    headers = signed_headers(PARTICIPANT, secret=NEW_SECRET, at=NOW)
    answer = await client.post(f"/balint{PATH}", content=PARTICIPANT, headers=headers)
    assert (answer.status_code, answer.json()) == (200, {"status": "ok"})
    assert answer.headers["content-type"] == "application/json"
    assert (await client.get(f"/balint{PATH}")).headers["allow"] == "POST"
    assert (await client.get("/balint/healthz")).status_code == 200
    # a path that only begins with the prefix is not below it: no route, as for FastAPI's
    stray = await client.post(f"/balint-old{PATH}", content=PARTICIPANT, headers=headers)
    assert stray.status_code == 404
    assert (await client.get("/balint-old/healthz")).status_code == 404


# --- logs -----------------------------------------------------------------------------------


async def test_logs_carry_commands_but_no_other_chat_text_or_names(
    receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    for index in range(3):
        assert (await receiver.post(body("meeting.chat_message_sent", index))).status_code == 200
    assert (await receiver.post(body("meeting.participant_joined", 0))).status_code == 200

    commands = [getattr(record, "command", None) for record in caplog.records]
    assert "next" in commands and "case" in commands  # the command's name only
    logged = _all_log_text(caplog)
    for secret_text in (
        "audio dropped",
        "Petra Lang",
        "petra.lang",
        "Anna Keller",
        "anna.keller",
        "case Anna",
    ):
        assert secret_text not in logged


def _all_log_text(caplog: pytest.LogCaptureFixture) -> str:
    """Every message and every extra field of every captured record, as one string."""
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.extend(str(value) for value in vars(record).values())
    return "\n".join(parts)


# --- the simulator's Zoom: retries, duplicates, reordering, an outage -------------------------


def _simulated_session() -> list[wire.Webhook]:
    """A short meeting as the simulator's wire format writes it, signed at production time."""
    meeting = wire.MeetingIdentity(uuid="SimUuid0000000000000A==", start_time=NOW)
    people = [
        wire.WireParticipant(
            user_id=str(16778240 + n), user_name=f"Person {n}", participant_uuid=f"p-{n}"
        )
        for n in range(3)
    ]
    bodies: list[tuple[str, bytes, datetime]] = []

    def add(name: str, payload: bytes, at: datetime) -> None:
        bodies.append((name, payload, at))

    at = NOW
    add(wire.MEETING_STARTED, wire.meeting_body(wire.MEETING_STARTED, meeting=meeting, at=at), at)
    for n, person in enumerate(people):
        at = NOW + timedelta(seconds=10 + n)
        for name in (wire.PARTICIPANT_JOINED_WAITING_ROOM, wire.PARTICIPANT_ADMITTED):
            add(name, wire.participant_body(name, meeting=meeting, participant=person, at=at), at)
        at += timedelta(milliseconds=500)
        name = wire.PARTICIPANT_JOINED
        add(name, wire.participant_body(name, meeting=meeting, participant=person, at=at), at)
    at = NOW + timedelta(seconds=30)
    chat = wire.chat_body(
        meeting=meeting,
        sender=wire.ChatParty(session_id="16778240", name="Person 0", party_type="host"),
        recipient=None,
        message_id="msg-1",
        text="/next",
        at=at,
    )
    add(wire.CHAT_MESSAGE_SENT, chat, at)
    at = NOW + timedelta(seconds=40)
    name = wire.PARTICIPANT_LEFT
    add(name, wire.participant_body(name, meeting=meeting, participant=people[2], at=at), at)
    at = NOW + timedelta(seconds=50)
    add(wire.MEETING_ENDED, wire.meeting_body(wire.MEETING_ENDED, meeting=meeting, at=at), at)
    return [
        wire.Webhook(
            event=name,
            body=payload,
            headers=wire.signed_headers(secret=NEW_SECRET, body=payload, at=at),
            event_ts=wire.epoch_ms(at),
        )
        for name, payload, at in bodies
    ]


async def test_simulated_zoom_delivery_survives_an_outage_duplicates_and_reordering(
    tmp_path: Path,
) -> None:
    clock = [NOW + timedelta(minutes=1)]
    directory = tmp_path / "data"
    url = f"sqlite:///{directory / 'balint.db'}"
    engine = make_engine(url)
    app = create_app(_settings(), engine=engine, clock=lambda: clock[0])
    client = _client(app)
    delivery = WebhookDelivery(
        transport=HttpTransport(client=client, url=PATH),
        faults=Faults(duplicate_rate=0.5, reorder=True, max_jitter=timedelta(seconds=20), seed=7),
        re_sign=(NEW_SECRET, lambda: clock[0]),
    )
    webhooks = _simulated_session()
    for webhook in webhooks:
        delivery.submit(webhook, NOW)

    outage = await delivery.flush(clock[0])  # the database's volume is not mounted yet

    assert [attempt.status for attempt in outage] == [503] * len(webhooks)
    directory.mkdir()
    upgrade(url)
    clock[0] += timedelta(minutes=5)  # Zoom's first retry
    await delivery.drain()

    rows = Receiver(app, client, engine, Metrics()).rows()
    assert sorted(row.body for row in rows) == sorted(w.body for w in webhooks)  # each once
    assert any(attempt.duplicate and attempt.ok for attempt in delivery.attempts)
    with session_scope(make_session_factory(engine)) as session:
        ordered = journal.entries_for_meeting(session, meeting_uuid="SimUuid0000000000000A==")
    by_time = sorted(webhooks, key=lambda w: w.event_ts)
    assert [entry.event_ts for entry in ordered] == [w.event_ts for w in by_time]
    assert all(row.parsed_ok for row in rows)
    engine.dispose()
