"""What the journal keeps of chat: the command the grammar reads, nothing else of the text."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phases.commands import Unknown, parse
from tests.zoom_fixtures import all_bodies, documents
from webhooks.parse import dedupe_key, parse_event
from webhooks.redaction import (
    MAX_ARGUMENT,
    command_name,
    command_text,
    foreign_body,
    serialise,
    stored_document,
    unreadable_body,
)


def _chat(content: Any, **extra_message: Any) -> dict[str, Any]:
    return {
        "event": "meeting.chat_message_sent",
        "event_ts": 1772643790113,
        "payload": {
            "account_id": "lAAAAAAAAAAAAA-bcde12",
            "object": {
                "id": 85746065432,
                "uuid": "4118UHIiRCAAAtBlDkcVyw==",
                "chat_message": {
                    "sender_session_id": "16778240",
                    "sender_name": "Anna",
                    "message_id": "m-1",
                    "message_content": content,
                    **extra_message,
                },
            },
        },
    }


def _kept(document: dict[str, Any]) -> dict[str, Any]:
    stored = stored_document(document)
    return document if stored is None else json.loads(serialise(stored))


def _content(document: dict[str, Any]) -> Any:
    return _kept(document)["payload"]["object"]["chat_message"].get("message_content")


@pytest.mark.parametrize(
    "text",
    [
        "/next",
        "/case Anna",
        "/extend 10",
        "/admit all",
        "/mirror off",
        "/admit 416 as Ben",
        "/safety Anna",  # issue 20: dropped to "/" (the help line) until it was rendered
    ],
)
def test_commands_as_written_canonically_are_kept_byte_for_byte(text: str) -> None:
    assert stored_document(_chat(text)) is None


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("  /next  ", "/next"),
        ("/next please, we are late", "/next"),
        ("/NEXT", "/next"),
        ("/ÉXTEND  10min", "/extend 10"),
        ("\uff0fcase   Anna   Keller", "/case Anna Keller"),
        ("/case", "/case"),  # a known command with a missing argument: the engine explains
        # who a facilitator says someone is stays part of the command (issue 13)
        ("/admit  416   AS  Ben Test", "/admit 416 as Ben Test"),
        ("/SAFETY   Anna  Keller", "/safety Anna Keller"),
        ("/mirror maybe", "/mirror"),
        ("/back", "/"),  # unknown: the engine answers with the help line; the word is gone
        ("/I feel awful about this case", "/"),
    ],
)
def test_commands_are_kept_as_the_grammar_reads_them(text: str, kept: str) -> None:
    document = _chat(text)
    assert _content(document) == kept
    assert parse(kept) == (Unknown("") if isinstance(parse(text), Unknown) else parse(text))


@pytest.mark.parametrize(
    "text",
    [
        "/next\nmy patient's name is Jane Roe",
        "/next\r\nsecond line",
        "/case Anna\u2028and a second line",
        "/next\u0085next line",
    ],
)
def test_only_the_first_line_of_a_command_is_kept(text: str) -> None:
    stored = serialise(stored_document(_chat(text)))
    assert b"line" not in stored and b"Jane" not in stored
    assert _content(_chat(text)) in ("/next", "/case Anna")


def test_a_huge_command_line_is_cut_to_a_bounded_argument() -> None:
    text = "/case " + "A" * 100_000
    kept = _content(_chat(text))
    assert kept == "/case " + "A" * MAX_ARGUMENT
    assert command_text("/" + "x" * 100_000) == "/"


@pytest.mark.parametrize("text", ["hello", "Sorry, my audio dropped", "a /slash later", "é/", " "])
def test_other_lines_lose_their_text_and_keep_the_rest(text: str) -> None:
    document = _chat(text)
    stored = serialise(stored_document(document))
    assert text.strip().encode() not in stored or not text.strip()
    assert json.loads(stored) == _chat("")
    assert document == _chat(text)  # the caller's document is not changed
    event = parse_event(stored)  # the redacted body still parses
    assert event.chat_message.message_content == ""  # type: ignore[union-attr]
    assert dedupe_key(document) != dedupe_key(_chat(""))  # why the receiver keys the original


def test_text_under_unknown_keys_is_dropped_at_every_level() -> None:
    document = _chat("/next", message_text="secret under a new key", body={"text": "nested"})
    document["payload"]["object"]["chat_text"] = "secret beside the message"
    document["payload"]["note"] = "secret in the payload"
    document["extra"] = "secret at the top"
    stored = serialise(stored_document(document))
    assert b"secret" not in stored and b"nested" not in stored
    assert json.loads(stored) == _chat("/next")


def test_long_or_nested_values_of_known_keys_are_dropped() -> None:
    document = _chat("hello", sender_name="N" * 10_000, sender_email={"address": "a@example.org"})
    message = json.loads(serialise(stored_document(document)))["payload"]["object"]["chat_message"]
    assert "sender_name" not in message and "sender_email" not in message


def test_odd_shapes_keep_no_text() -> None:
    assert _content(_chat(12345)) == ""
    assert _content(_chat(None)) == ""
    assert _content(_chat(["/next", "secret"])) == ""
    odd = _chat("x")
    odd["payload"]["object"]["chat_message"] = "a chat text where an object belongs"
    stored = serialise(stored_document(odd))
    assert b"chat text" not in stored
    assert stored_document({"event": "meeting.chat_message_sent"}) == {
        "event": "meeting.chat_message_sent",
        "payload": {"object": {}},
    }
    assert stored_document(["meeting.chat_message_sent"]) is None


def test_other_chat_events_keep_only_their_envelope() -> None:
    document = _chat("secret")
    document["event"] = "meeting.chat_message_file_sent"
    document["payload"]["object"]["chat_message_file"] = {"file_name": "secret.pdf"}
    stored = serialise(stored_document(document))
    assert b"secret" not in stored
    assert json.loads(stored)["payload"]["object"] == {
        "id": 85746065432,
        "uuid": "4118UHIiRCAAAtBlDkcVyw==",
    }


@pytest.mark.parametrize(("event_name", "index"), all_bodies())
def test_only_chat_that_is_not_a_canonical_command_is_rewritten(
    event_name: str, index: int
) -> None:
    document = documents(event_name)[index]
    stored = stored_document(document)
    message = document.get("payload", {}).get("object", {}).get("chat_message", {})
    text = message.get("message_content", "")
    is_chat = event_name == "meeting.chat_message_sent"
    assert (stored is not None) == (is_chat and text != command_text(text))


def test_command_names_for_logs_never_carry_arguments() -> None:
    assert command_name("/case Anna Keller") == "case"
    assert command_name("/admit all") == "admit"
    assert command_name("/extend") == "extend"
    assert command_name("/whatever secret") == "unknown"
    assert command_name("hello") is None
    assert command_name(42) is None


def test_the_redacted_lines_name_no_one() -> None:
    assert json.loads(foreign_body(event="meeting.participant_joined", event_ts=5)) == {
        "event": "meeting.participant_joined",
        "event_ts": 5,
        "redacted": "not the group's meeting",
    }
    line = json.loads(unreadable_body(b"Anna \xff", reason="body is not JSON"))
    assert line["bytes"] == 6 and "Anna" not in json.dumps(line)
    assert serialise({"text": "\ud800"}) == b'{"text":"\\ud800"}'  # a lone surrogate, escaped


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_no_text_survives_unless_it_is_the_command(text: str) -> None:
    kept = _content(_chat(text))
    first = text.strip().splitlines()[0] if text.strip() else ""
    command = parse(first)
    if command is None:
        assert kept == ""
    elif isinstance(command, Unknown):
        assert kept == "/"
    else:
        assert parse(kept) == command or len(first) > MAX_ARGUMENT
    assert isinstance(kept, str) and len(kept) <= MAX_ARGUMENT + 12
    assert "\n" not in kept
