"""Chat redaction before the journal: balint-bot stores no chat text except commands.

The design's rule ("Data that must never be lost or leaked"): the bot never stores chat text
other than commands. Zoom's `meeting.chat_message_sent` carries the text of every chat line,
so the receiver journals such a body with `message_content` emptied unless the line is a
command (its text, stripped, starts with "/"), and marks the journal row as redacted. The
rest of the body (sender, recipient, message id, times) stays, so the row still parses and
the runtime still sees that a message was sent.

Called after the signature check (which covers the original bytes) and after the dedupe key
was computed from the ORIGINAL document, so Zoom's retries of a redacted message still land
on the same journal row. Works on the decoded JSON document, not the model, so a chat body
that does not fit our models is redacted too. Pure, no I/O.
"""

from __future__ import annotations

import copy
import json
from typing import Any

__all__ = ["CHAT_EVENT", "is_command", "redacted_body"]

CHAT_EVENT = "meeting.chat_message_sent"


def is_command(text: str) -> bool:
    """True for a chat line the bot may keep: a slash-command."""
    return text.strip().startswith("/")


def redacted_body(document: Any) -> bytes | None:
    """The body to journal instead of the received one, or None to keep the received bytes.

    Only a `meeting.chat_message_sent` whose `payload.object.chat_message.message_content` is
    present, not empty and not a command is redacted: the copy has `message_content` set to
    "" and is serialised as compact UTF-8 JSON.
    """
    if not isinstance(document, dict) or document.get("event") != CHAT_EVENT:
        return None
    message = _chat_message(document)
    if message is None or "message_content" not in message:
        return None
    content = message["message_content"]
    if content is None or content == "" or (isinstance(content, str) and is_command(content)):
        return None
    redacted = copy.deepcopy(document)
    inner = _chat_message(redacted)
    assert inner is not None
    inner["message_content"] = ""
    return json.dumps(redacted, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _chat_message(document: dict[str, Any]) -> dict[str, Any] | None:
    payload = document.get("payload")
    obj = payload.get("object") if isinstance(payload, dict) else None
    message = obj.get("chat_message") if isinstance(obj, dict) else None
    return message if isinstance(message, dict) else None
