"""Attacks on a real `balint-bot serve` on loopback: every answer checked, every kept byte too.

One serve process for the module (`served`: at most 8 webhook requests in progress, 1 s head
and body deadlines). Each test sends what an attacker (or a confused Zoom) might, and checks
the status code, how fast it came, what the journal holds afterwards and what was logged:
never a 500, never a traceback, never a name, e-mail or chat text where it does not belong.
"""

from __future__ import annotations

import asyncio
import json
import socket
import time
from typing import Any

import httpx
import pytest

from tests.hostile.harness import (
    MEETING_UUID,
    PATH,
    SECRET,
    Serve,
    chat,
    encode,
    open_sockets,
    participant,
    record,
    rows,
    session_uuids,
    unique_ts,
)
from tests.waiting import wait_until
from tests.zoom_signing import sign, signed_headers

pytestmark = pytest.mark.slow


def _new_rows(serve: Serve, before: int) -> list[Any]:
    return rows(serve.url)[before:]


# --- not from Zoom ----------------------------------------------------------------------------


def _forgeries() -> list[tuple[str, dict[str, str]]]:
    body = encode(participant())
    now = int(time.time())
    good = sign(body, now, SECRET)
    return [
        ("no headers", {}),
        ("no signature", {"x-zm-request-timestamp": str(now)}),
        ("no timestamp", {"x-zm-signature": good}),
        (
            "another secret",
            {"x-zm-request-timestamp": str(now), "x-zm-signature": sign(body, now, "x" * 22)},
        ),
        (
            "signature of another body",
            {"x-zm-request-timestamp": str(now), "x-zm-signature": sign(body + b" ", now, SECRET)},
        ),
        (
            "signature for another time",
            {"x-zm-request-timestamp": str(now - 1), "x-zm-signature": good},
        ),
        (
            "stale by three hours",
            {
                "x-zm-request-timestamp": str(now - 3 * 3600),
                "x-zm-signature": sign(body, now - 3 * 3600, SECRET),
            },
        ),
        (
            "ten minutes in the future",
            {
                "x-zm-request-timestamp": str(now + 600),
                "x-zm-signature": sign(body, now + 600, SECRET),
            },
        ),
        ("timestamp not a number", {"x-zm-request-timestamp": "1e9", "x-zm-signature": good}),
        ("huge timestamp", {"x-zm-request-timestamp": "9" * 40, "x-zm-signature": good}),
        ("v1 scheme", {"x-zm-request-timestamp": str(now), "x-zm-signature": "v1=" + good[3:]}),
        ("upper-case hex", {"x-zm-request-timestamp": str(now), "x-zm-signature": good.upper()}),
        ("truncated signature", {"x-zm-request-timestamp": str(now), "x-zm-signature": good[:-2]}),
    ]


def test_forged_stale_and_future_requests_get_401_and_store_nothing(served: Serve) -> None:
    body = encode(participant())
    before = len(rows(served.url))
    answers = []
    with httpx.Client(trust_env=False, timeout=5) as client:
        for _name, headers in _forgeries():
            answers.append(
                client.post(f"{served.base}{PATH}", content=body, headers=headers).status_code
            )
    assert answers == [401] * len(answers)
    assert _new_rows(served, before) == []
    assert "Anna Keller" not in served.log and "Traceback" not in served.log
    record(f"{len(answers)} forged, stale or future requests", "401 each; nothing stored")


# --- signed bodies of every shape ---------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return (
        b'{"event":"meeting.started","event_ts":1,"payload":' + b"[" * depth + b"]" * depth + b"}"
    )


ODD_BODIES = {
    "nested 100,000 deep": _nested(100_000),
    "nested 900 deep": _nested(900),
    "nested 40 deep": _nested(40),
    "a 5,000-digit number": b'{"event":"meeting.started","event_ts":' + b"9" * 5000 + b"}",
    "not UTF-8": b'{"event":"meeting.participant_joined","name":"Ren\xe9e"}',
    "not JSON": b"event=meeting.started&name=Anna",
    "empty": b"",
    "a JSON string": b'"meeting.started"',
}


@pytest.mark.parametrize("name", list(ODD_BODIES))
def test_unreadable_signed_bodies_are_acked_and_kept_as_one_redacted_line(
    served: Serve, name: str
) -> None:
    body = ODD_BODIES[name]
    before = len(rows(served.url))
    response, took = served.post(body)
    assert response.status_code == 200, (name, response.text)
    assert took < 1.0
    [row] = _new_rows(served, before)
    assert row.parsed_ok is False and row.meeting_uuid is None
    if name != "a JSON string":  # JSON, but not an object: kept as it came (nothing to hide)
        assert row.redacted is True
        assert json.loads(row.body)["bytes"] == len(body)
    assert b"Ren" not in row.body and b"Anna" not in row.body
    assert served.post(body)[0].status_code == 200  # Zoom's retry: a duplicate, not a second row
    assert len(_new_rows(served, before)) == 1


def test_numbers_of_any_size_are_read_and_journaled(served: Serve) -> None:
    document = participant(extra={"duration": 10**300, "type": 10**30})
    document["payload"]["object"]["participant"]["user_id"] = "INF"  # becomes 1e999 below
    document["payload"]["object"]["participant"]["registrant_id"] = 10**200
    big_ts = participant()
    big_ts["event_ts"] = 10**400
    before = len(rows(served.url))
    for body in (encode(document).replace(b'"INF"', b"1e999"), encode(big_ts)):
        response, took = served.post(body)
        assert (response.status_code, took < 1.0) == (200, True), response.text
    # both acknowledged as events; the meeting worker then finds that the second does not
    # fit its model (event_ts) and marks it unparsed
    deadline = time.monotonic() + 30
    while any(row.processed_at is None for row in _new_rows(served, before)):
        assert time.monotonic() < deadline, "the worker did not process both"
        time.sleep(0.05)
    parsed, unparsed = _new_rows(served, before)
    assert parsed.parsed_ok is True and parsed.meeting_uuid == MEETING_UUID
    assert unparsed.parsed_ok is False and unparsed.event_ts is None
    assert "event_ts" in (unparsed.parse_error or "")
    record(
        f"signed bodies: {len(ODD_BODIES)} unreadable shapes, huge numbers",
        "200 each, journaled (unreadable ones as one redacted unparsed line)",
    )


def test_other_encodings_json_allows_are_read(served: Serve) -> None:
    document = participant(name="Zoë Ünal")
    before = len(rows(served.url))
    for body in (
        b"\xef\xbb\xbf" + encode(document),  # UTF-8 with a byte order mark
        json.dumps(participant(name="Zoë Ünal")).encode("utf-16"),
        json.dumps(participant(name="Zoë Ünal")).encode("utf-32"),
    ):
        assert served.post(body)[0].status_code == 200
    assert [row.parsed_ok for row in _new_rows(served, before)] == [True, True, True]


def test_text_no_database_takes_is_replaced_in_the_columns(served: Serve) -> None:
    document = participant(uuid="uuid\u0000with\ud800nul")
    document["event"] = "meeting.participant_joined\u0000" + "x" * 10_000
    before = len(rows(served.url))
    response, _ = served.post(json.dumps(document).encode())
    assert response.status_code == 200
    [row] = _new_rows(served, before)
    assert "\x00" not in row.event and len(row.event) <= 128
    assert (row.parsed_ok, row.meeting_uuid) == (True, None)  # an event we know nothing of


# --- chat: only the command ---------------------------------------------------------------------


def test_chat_keeps_the_command_only(served: Serve) -> None:
    lines = {
        "/next\nmy patient Jane Roe is not doing well": "/next",
        "/case " + "B" * 100_000: "/case " + "B" * 100,
        "/" + "x" * 100_000: "/",
        "Sorry, I have to leave early, my son is ill": "",
    }
    before, mark = len(rows(served.url)), served.mark()
    for text in lines:
        assert served.post(encode(chat(text)))[0].status_code == 200
    drifted = chat("/status", message_text="Jane Roe's history", extra={"text": "secret"})
    assert served.post(encode(drifted))[0].status_code == 200
    kept = [
        json.loads(row.body)["payload"]["object"]["chat_message"]
        for row in _new_rows(served, before)
    ]
    assert [message["message_content"] for message in kept] == [*lines.values(), "/status"]
    assert kept[-1].keys() >= {"sender_name", "message_id"} and "message_text" not in kept[-1]
    logged = "\n".join(served.lines[mark:])
    for secret in ("Jane Roe", "patient", "son is ill", "BBBB", "xxxx", "history"):
        assert secret not in logged
    commands = [r.get("command") for r in served.records() if r.get("command")]
    assert {"next", "case", "unknown", "status"} <= set(commands)
    record(
        "chat: a second line, 100 KB after a slash, text under a new key",
        "200; only the command kept (bounded), logs carry its name only",
    )


# --- other meetings -----------------------------------------------------------------------------


def test_events_of_other_meetings_are_acked_counted_and_not_kept(served: Serve) -> None:
    before = len(rows(served.url))
    foreign_uuid = "intake-call-uuid-0000=="
    counted = served.metric("meeting.participant_joined", "foreign_meeting")
    intake = participant(
        name="Private Patient",
        email="private.patient@example.net",
        meeting_id=91234567890,
        uuid=foreign_uuid,
    )
    unknown_of_ours = {
        "event": "meeting.sharing_started",
        "event_ts": unique_ts(),
        "payload": {
            "account_id": "acc-1",
            "object": {"id": 85746065432, "uuid": "unknown-event-uuid=="},
        },
    }
    no_meeting = {
        "event": "user.updated",
        "event_ts": unique_ts(),
        "payload": {"object": {"email": "x@example.net"}},
    }
    for document in (intake, unknown_of_ours, no_meeting):
        response, took = served.post(encode(document))
        assert (response.status_code, took < 1.0) == (200, True)
    assert served.post(encode(participant()))[0].status_code == 200  # the group's own
    assert wait_until(lambda: MEETING_UUID in session_uuids(served.url))
    foreign, unknown, account, ours = _new_rows(served, before)
    assert json.loads(foreign.body) == {
        "event": "meeting.participant_joined",
        "event_ts": intake["event_ts"],
        "redacted": "not the group's meeting",
    }
    assert (foreign.meeting_uuid, foreign.redacted, foreign.parsed_ok) == (None, True, False)
    assert unknown.meeting_uuid is None  # journaled as is, but it can open no session
    assert account.redacted is True and b"x@example.net" not in account.body
    assert ours.meeting_uuid == MEETING_UUID
    sessions = session_uuids(served.url)
    assert foreign_uuid not in sessions and "unknown-event-uuid==" not in sessions
    assert served.metric("meeting.participant_joined", "foreign_meeting") == counted + 1
    assert "Private Patient" not in served.log and "private.patient" not in served.log
    record(
        "events of another meeting (a 1:1 call), an unknown event, an account event",
        "200; one redacted line each, counted; no names, no session",
    )


# --- the HTTP surface ---------------------------------------------------------------------------


def test_no_openapi_or_docs_pages(served: Serve) -> None:
    for path in ("/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"):
        assert served.get(path)[0].status_code == 404


def test_forwarded_headers_from_an_untrusted_peer_are_ignored(served: Serve) -> None:
    headers = {"x-forwarded-for": "203.0.113.9", "x-forwarded-proto": "https"}
    with httpx.Client(trust_env=False, timeout=5) as client:
        response = client.post(f"{served.base}{PATH}", content=b"{}", headers=headers)
    assert response.status_code == 401
    assert wait_until(
        lambda: any(r.get("reason") == "missing signature headers" for r in served.records())
    )
    refusals = [r for r in served.records() if r.get("reason") == "missing signature headers"]
    assert refusals[-1]["client"] == "127.0.0.1"
    assert "203.0.113.9" not in served.log
    record("X-Forwarded-For from a peer not in trusted_proxies", "ignored (logged the real peer)")


def _raw_request(port: int, head: bytes, body: bytes = b"") -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", port), timeout=5)
    connection.sendall(head + body)
    return connection


def _head(length: int) -> bytes:
    return (
        f"POST {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


def _read_status(connection: socket.socket, timeout: float) -> tuple[bytes, float]:
    connection.settimeout(timeout)
    started = time.perf_counter()
    try:
        data = connection.recv(4096)
    except (TimeoutError, ConnectionResetError):
        data = b""
    return data, time.perf_counter() - started


def test_a_body_that_does_not_arrive_in_time_gets_408(served: Serve) -> None:
    connection = _raw_request(served.port, _head(1000), b'{"event":')
    data, took = _read_status(connection, 5)
    connection.close()
    assert data.startswith(b"HTTP/1.1 408"), data
    assert 0.8 < took < 2.0


def test_a_head_that_does_not_arrive_in_time_is_closed(served: Serve) -> None:
    partial = _raw_request(served.port, f"POST {PATH} HTTP/1.1\r\nHost: x\r\n".encode())
    silent = socket.create_connection(("127.0.0.1", served.port), timeout=5)
    for connection in (partial, silent):
        data, took = _read_status(connection, 5)
        connection.close()
        assert data == b"" and took < 2.0  # closed by the server, without an answer
    record("slow request head / slow body (slowloris)", "closed after 1 s / 408 after 1 s")


def test_a_client_that_hangs_up_is_logged_once_without_a_traceback(served: Serve) -> None:
    mark = served.mark()
    connection = _raw_request(served.port, _head(5000), b'{"event":"meeting.started"')
    time.sleep(0.2)
    connection.close()
    assert wait_until(lambda: any("aborted" in line for line in served.lines[mark:]), 5)
    time.sleep(0.3)
    new = served.lines[mark:]
    aborted = [line for line in new if "aborted" in line]
    assert len(aborted) == 1 and len(aborted[0]) < 400
    assert not any("Traceback" in line or "Exception" in line for line in new)
    record("client hangs up mid-body", "one short log line, no traceback")


def test_past_the_concurrency_limit_requests_get_503_at_once(served: Serve) -> None:
    held = list(open_sockets(served.port, 8, _head(1000) + b"{"))  # 8 requests in progress
    time.sleep(0.2)
    try:
        response, took = served.post(encode(participant()))
        assert (response.status_code, took < 0.5) == (503, True), response.text
        assert served.get("/healthz")[0].status_code == 200  # not counted, always answered
    finally:
        for connection in held:
            connection.close()
    started = time.perf_counter()
    assert wait_until(lambda: served.post(encode(participant()))[0].status_code == 200, 5)
    record(
        "more webhook requests in progress than max_concurrent_requests",
        "503 at once past the limit; /healthz still 200",
        f"{time.perf_counter() - started:.2f} s after the held requests ended",
    )


def test_many_requests_at_once_never_get_a_500(served: Serve) -> None:
    bodies = [encode(participant()) for _ in range(60)]

    async def burst() -> list[int]:
        limits = httpx.Limits(max_connections=60)
        async with httpx.AsyncClient(trust_env=False, timeout=10, limits=limits) as client:
            answers = await asyncio.gather(
                *(
                    client.post(
                        f"{served.base}{PATH}",
                        content=body,
                        headers=signed_headers(body, secret=SECRET, at=int(time.time())),
                    )
                    for body in bodies
                )
            )
        return [answer.status_code for answer in answers]

    statuses = asyncio.run(burst())
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 8
    kept = {row.event_ts for row in rows(served.url)}
    acked = {json.loads(b)["event_ts"] for b, s in zip(bodies, statuses, strict=True) if s == 200}
    assert acked <= kept  # every 200 is in the journal
    record(
        "60 webhooks at once (limit 8 in progress)",
        f"{statuses.count(200)} x 200, {statuses.count(503)} x 503, never a 500",
    )
