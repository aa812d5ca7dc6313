"""A member's private answer to the bot is sealed before the journal; nothing else is."""

from __future__ import annotations

import json

import pytest

from phases.events import ChatMessage, PrivateReply
from storage.crypto import Keyring, generate_key
from webhooks.parse import parse_event
from webhooks.redaction import serialise, stored_document
from webhooks.sealing import SEALED_FIELD, ReplySealer
from webhooks.translate import to_engine_events

KEYRING = Keyring.from_text(generate_key())
SEALER = ReplySealer(
    bot_name="Balint  Companion",
    seal=lambda text: KEYRING.seal_text(text, field_name="private_reply"),
)
WHERE = "Zq-7 Numbat Road, Picton"


def _journaled(document: dict, sealer: ReplySealer | None = SEALER) -> bytes:
    """The body the receiver journals: the redaction's document, sealed by `sealer`."""
    kept = stored_document(document)
    if sealer is not None:
        kept = sealer.into(document, kept)
    return serialise(document if kept is None else kept)


def _chat(text: str, *, to: str = "Balint Companion", kind: str = "guest") -> dict:
    return {
        "event": "meeting.chat_message_sent",
        "event_ts": 1764547200000,
        "payload": {
            "account_id": "acc",
            "object": {
                "id": 85746065432,
                "uuid": "4118UHIiRCAAAtBlDkcVyw==",
                "chat_message": {
                    "date_time": "2026-12-02T00:05:00Z",
                    "sender_session_id": "16778240",
                    "sender_name": "Anna",
                    "sender_type": "guest",
                    "recipient_session_id": "16779264" if to else "",
                    "recipient_name": to,
                    "recipient_type": kind if to else "everyone",
                    "message_id": "m-1",
                    "message_content": text,
                },
            },
        },
    }


def test_a_private_answer_to_the_bot_is_sealed_and_reaches_the_engine_opaque():
    body = _journaled(_chat(WHERE))
    assert b"Numbat" not in body
    message = json.loads(body)["payload"]["object"]["chat_message"]
    assert message["message_content"] == ""
    assert KEYRING.open_text(message[SEALED_FIELD], field_name="private_reply") == WHERE
    (event,) = to_engine_events(parse_event(body), bot_name="Balint Companion")
    assert isinstance(event, PrivateReply) and event.sealed == message[SEALED_FIELD]
    assert event.message_id == "m-1" and event.sender.name == "Anna"


@pytest.mark.parametrize(
    "document",
    [
        _chat(WHERE, to="Ben"),  # a private chat between participants: emptied, never sealed
        _chat(WHERE, to=""),  # to everyone
        _chat(WHERE, kind="group"),
        _chat("/status"),  # a command is kept as sent
        _chat("   "),
        {"event": "meeting.participant_joined", "payload": {}},
    ],
)
def test_nothing_else_is_sealed(document):
    assert SEALER.into(document, stored_document(document)) == stored_document(document)
    assert SEALED_FIELD.encode() not in _journaled(document)


def test_without_a_sealer_the_answer_is_emptied_like_any_chat_line():
    body = _journaled(_chat(WHERE), sealer=None)
    assert b"Numbat" not in body and SEALED_FIELD.encode() not in body
    (event,) = to_engine_events(parse_event(body), bot_name="Balint Companion")
    assert isinstance(event, ChatMessage) and event.text == ""
