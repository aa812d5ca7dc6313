"""Chat redaction: only commands keep their text; everything else about a body is kept."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.zoom_fixtures import all_bodies, documents
from webhooks.parse import dedupe_key, parse_event
from webhooks.redaction import is_command, redacted_body


def _chat(content: Any) -> dict[str, Any]:
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
                },
            },
        },
    }


@pytest.mark.parametrize("text", ["/next", "/case Anna", "  /back  ", "\n/end"])
def test_commands_are_kept_byte_for_byte(text: str) -> None:
    assert is_command(text)
    assert redacted_body(_chat(text)) is None


@pytest.mark.parametrize("text", ["hello", "Sorry, my audio dropped", "a /slash later", "é/"])
def test_other_lines_lose_their_text_and_nothing_else(text: str) -> None:
    assert not is_command(text)
    document = _chat(text)
    stored = redacted_body(document)
    assert stored is not None
    assert text.encode() not in stored
    expected = _chat("")
    assert json.loads(stored) == expected
    assert document == _chat(text)  # the caller's document is not changed
    event = parse_event(stored)  # the redacted body still parses
    assert event.chat_message.message_content == ""  # type: ignore[union-attr]
    assert dedupe_key(document) != dedupe_key(expected)  # why the receiver keys the original


def test_a_non_string_content_is_redacted_and_odd_shapes_are_left_alone() -> None:
    assert redacted_body(_chat(12345)) is not None
    assert redacted_body(_chat("")) is None
    assert redacted_body(_chat(None)) is None
    odd = _chat("x")
    odd["payload"]["object"]["chat_message"] = "not an object"
    assert redacted_body(odd) is None
    assert redacted_body({"event": "meeting.chat_message_sent"}) is None
    assert redacted_body(["meeting.chat_message_sent"]) is None


@pytest.mark.parametrize(("event_name", "index"), all_bodies())
def test_only_non_command_chat_bodies_are_redacted(event_name: str, index: int) -> None:
    document = documents(event_name)[index]
    stored = redacted_body(document)
    message = document.get("payload", {}).get("object", {}).get("chat_message", {})
    text = message.get("message_content", "")
    assert (stored is not None) == (bool(text) and not text.strip().startswith("/"))


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=40))
def test_no_text_survives_unless_it_is_a_command(text: str) -> None:
    stored = redacted_body(_chat(text))
    if text.strip().startswith("/") or text == "":
        assert stored is None
    else:
        assert stored is not None
        assert json.loads(stored)["payload"]["object"]["chat_message"]["message_content"] == ""
