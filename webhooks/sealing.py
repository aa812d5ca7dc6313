"""A member's private answer to the bot is sealed before the journal sees it.

The group's safety plan: the bot asks each member privately where they are joining from, and
that answer must never be stored or logged in clear (`docs/privacy.md`). Zoom's
`meeting.chat_message_sent` carries it in `message_content`. For a private line to the bot
(`recipient_type` is one person and `recipient_name` is the bot's display name) that is not
a command, the receiver journals the body with `message_content` emptied, as the chat
redaction does (`webhooks.redaction`), and the text sealed with the data key in a field of
our own beside it, `SEALED_FIELD`. `webhooks.translate` then hands the engine a
`PrivateReply` carrying only that opaque token.

Every other line is left to the redaction (a private chat between participants is emptied,
never sealed: only what is said to the bot is kept, and only sealed). Without a data key the
receiver has no sealer and the answer is simply emptied: nothing of it is kept.

Called on the redaction's result (after the signature check and the dedupe key, before the
journal). Pure: the sealing function is handed in.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from webhooks.redaction import CHAT_EVENT, command_name

__all__ = ["SEALED_FIELD", "ReplySealer"]

#: The field of `payload.object.chat_message` that holds the sealed text (ours, not Zoom's).
SEALED_FIELD = "balint_sealed_content"


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplySealer:
    """Seals private lines to the bot.

    Args:
        bot_name: the bot's display name in the meeting (`[zoom] bot_name`).
        seal: text -> an opaque ASCII token (`storage.crypto.Keyring.seal_text`).
    """

    bot_name: str
    seal: Callable[[str], str]

    def token(self, document: Any) -> str | None:
        """The sealed text of a private line to the bot that is not a command, else None."""
        if not isinstance(document, dict) or document.get("event") != CHAT_EVENT:
            return None
        message = _chat_message(document)
        if message is None:
            return None
        content = message.get("message_content")
        if not isinstance(content, str) or not content.strip() or command_name(content) is not None:
            return None
        if str(message.get("recipient_type", "")) in ("", "everyone", "group"):
            return None
        if _fold(str(message.get("recipient_name", ""))) != _fold(self.bot_name):
            return None
        return self.seal(content.strip())

    def into(self, document: Any, kept: Any | None) -> Any | None:
        """What to journal of `document` when it is a private line to the bot: `kept` (the
        redaction's document, `webhooks.redaction.stored_document`) with the sealed text in
        `SEALED_FIELD` beside its emptied `message_content`. Any other body: `kept` as it is
        (None: the received bytes)."""
        token = self.token(document)
        if token is None or not isinstance(kept, dict):
            return kept
        sealed = copy.deepcopy(kept)
        inner = _chat_message(sealed)
        if inner is None:
            return kept
        inner[SEALED_FIELD] = token
        inner["message_content"] = ""
        return sealed


def _chat_message(document: dict[str, Any]) -> dict[str, Any] | None:
    payload = document.get("payload")
    obj = payload.get("object") if isinstance(payload, dict) else None
    message = obj.get("chat_message") if isinstance(obj, dict) else None
    return message if isinstance(message, dict) else None


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()
