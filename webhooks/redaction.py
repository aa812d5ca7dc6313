"""What the journal may keep of a signed body: commands, not chat; the group's meetings only.

The design's rules ("Data that must never be lost or leaked"): the bot stores no chat text
except commands, and only the group's own meetings exist for it. The receiver therefore
journals, instead of the received bytes:

- a `meeting.chat_message_sent` rebuilt from the fields our model reads (`chat_document`):
  `message_content` becomes the command it parses to in the command grammar
  (`phases.commands`, first line only, arguments bounded: "/next please" is kept as "/next",
  "/case  anna" as "/case anna"), "/" for a slash-word the grammar does not know (so the
  engine still answers with the help line), and "" for anything else; any other key, at any
  level, and any value that is not a short scalar is dropped, so text Zoom might one day send
  under another key is not kept either. The result still parses, and the runtime still sees
  that a message was sent and by whom. Other chat-like events (`..._chat_...`, which we have
  no model for) keep only their envelope and meeting (`chat_like_document`);
- for an event of another meeting, one redacted line (`foreign_body`): the event name and
  time, no names, e-mails or meeting instance;
- for a signed body that is not readable JSON, a line with the reason, its size and SHA-256
  (`unreadable_body`), since its text cannot be inspected.

Called after the signature check (which covers the original bytes) and after the dedupe key
was computed from the ORIGINAL document, so Zoom's retries of a redacted message still land
on the same journal row. Works on the decoded JSON document, not the model, so a body that
does not fit our models is redacted too. Pure, no I/O, no recursion on the document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

from phases.commands import (
    AdmitCmd,
    BadUsage,
    CaseCmd,
    Command,
    EndCmd,
    ExtendCmd,
    HelpCmd,
    HoldCmd,
    MirrorCmd,
    NextCmd,
    PauseCmd,
    ReflectionCmd,
    ResumeCmd,
    SafetyCmd,
    StatusCmd,
    Unknown,
    parse,
)

__all__ = [
    "CHAT_EVENT",
    "MAX_ARGUMENT",
    "chat_document",
    "chat_like_document",
    "command_name",
    "command_text",
    "foreign_body",
    "serialise",
    "stored_document",
    "unreadable_body",
]

CHAT_EVENT = "meeting.chat_message_sent"
#: Longest command argument kept (a name after /case, /admit, /hold), in characters.
MAX_ARGUMENT = 100
#: Longest scalar text kept in a rebuilt chat body (names, ids, times), in characters.
_MAX_SCALAR = 256

_CHAT_KEYS = frozenset(
    {
        "date_time",
        "sender_session_id",
        "sender_name",
        "sender_email",
        "sender_type",
        "recipient_session_id",
        "recipient_name",
        "recipient_email",
        "recipient_type",
        "message_id",
    }
)
_BARE_TEXT: dict[type, str] = {
    HelpCmd: "/help",
    StatusCmd: "/status",
    NextCmd: "/next",
    PauseCmd: "/pause",
    ResumeCmd: "/resume",
    ReflectionCmd: "/reflection",
    EndCmd: "/end",
}


def command_text(content: Any) -> str:
    """What may be kept of a chat line: its command, written canonically, or "".

    Only the first line counts; a slash-word the grammar does not know is kept as "/".
    `phases.commands.parse(command_text(x))` is `parse(first line of x)`, except that an
    unknown verb is forgotten and an argument is cut to `MAX_ARGUMENT` characters.
    """
    if not isinstance(content, str):
        return ""
    command = parse(_first_line(content))
    return "" if command is None else _render(command)


def command_name(content: Any) -> str | None:
    """The command's name for logs ("case", "next", "unknown"), never its argument."""
    if not isinstance(content, str):
        return None
    command = parse(_first_line(content))
    match command:
        case None:
            return None
        case Unknown():
            return "unknown"
        case BadUsage(verb=verb):
            return verb
        case _:
            return _render(command).split(" ", 1)[0].removeprefix("/")


def _render(command: Command) -> str:
    bare = _BARE_TEXT.get(type(command))
    if bare is not None:
        return bare
    match command:
        case CaseCmd(name=name):
            return f"/case {_argument(name)}"
        case HoldCmd(name=name):
            return f"/hold {_argument(name)}"
        case SafetyCmd(name=name):
            return f"/safety {_argument(name)}"
        case AdmitCmd(everyone=True):
            return "/admit all"
        case AdmitCmd(name=name, as_name=as_name) if as_name:
            # who a facilitator says someone is (issue 13: attendance, billing) is the command
            return f"/admit {_argument(name)} as {_argument(as_name)}"
        case AdmitCmd(name=name):
            return f"/admit {_argument(name)}"
        case ExtendCmd(minutes=minutes):
            return f"/extend {minutes}"
        case MirrorCmd(on=on):
            return "/mirror on" if on else "/mirror off"
        case BadUsage(verb=verb):
            return f"/{verb}"
        case _:  # Unknown: the engine answers "/" with the help line; the word is not kept
            return "/"


def _first_line(text: str) -> str:
    lines = text.strip().splitlines()  # every line break Unicode knows, not only "\n"
    return lines[0] if lines else ""


def _argument(text: str) -> str:
    return text[:MAX_ARGUMENT].strip()


def stored_document(document: Any) -> Any | None:
    """The document to journal instead of the received one, or None to keep the received bytes.

    Only chat bodies change: `meeting.chat_message_sent` becomes `chat_document(document)`
    and any other event whose name mentions chat becomes `chat_like_document(document)`,
    unless the result equals the document (a command as Zoom sent it, and nothing else).
    """
    if not isinstance(document, dict):
        return None
    name = document.get("event")
    if not isinstance(name, str) or "chat" not in name.lower():
        return None
    rebuilt = chat_document(document) if name == CHAT_EVENT else chat_like_document(document)
    return None if rebuilt == document else rebuilt


def chat_document(document: dict[str, Any]) -> dict[str, Any]:
    """A chat body with only the fields our model reads, and only the command of its text."""
    rebuilt = chat_like_document(document)
    obj = _path(document, "payload", "object")
    message = obj.get("chat_message") if obj is not None else None
    if not isinstance(message, dict):
        return rebuilt
    kept = _scalars(message, _CHAT_KEYS)
    if "message_content" in message:
        kept["message_content"] = command_text(message["message_content"])
    files = message.get("file_ids")
    if isinstance(files, list):
        kept["file_ids"] = [value for value in files[:20] if _short(value)]
    rebuilt["payload"]["object"]["chat_message"] = kept
    return rebuilt


def chat_like_document(document: dict[str, Any]) -> dict[str, Any]:
    """The envelope and the meeting of a body: event, event_ts, account, meeting id and uuid."""
    rebuilt = _scalars(document, ("event", "event_ts"))
    payload = document.get("payload")
    kept_payload = _scalars(payload, ("account_id",)) if isinstance(payload, dict) else {}
    obj = _path(document, "payload", "object")
    kept_payload["object"] = _scalars(obj, ("id", "uuid")) if obj is not None else {}
    rebuilt["payload"] = kept_payload
    return rebuilt


def foreign_body(*, event: str, event_ts: int | None) -> bytes:
    """The journal line for an event of a meeting that is not the group's."""
    return serialise({"event": event, "event_ts": event_ts, "redacted": "not the group's meeting"})


def unreadable_body(body: bytes, *, reason: str) -> bytes:
    """The journal line for a signed body that is not readable JSON (its text is not kept)."""
    return serialise(
        {
            "redacted": "unreadable body",
            "reason": reason,
            "bytes": len(body),
            "sha256": hashlib.sha256(body).hexdigest(),
        }
    )


def serialise(document: Any) -> bytes:
    """Compact UTF-8 JSON; text that UTF-8 cannot hold (lone surrogates) is escaped instead."""
    try:
        text = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
        return text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(document, ensure_ascii=True, separators=(",", ":")).encode("ascii")


def _scalars(table: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The entries of `table` under `keys` whose values are short scalars, in `table`'s order."""
    wanted = set(keys)
    return {key: value for key, value in table.items() if key in wanted and _short(value)}


def _short(value: Any) -> bool:
    """A scalar small enough to keep: a number, a boolean, null or text up to 256 characters."""
    if value is None or isinstance(value, bool | int | float):
        return True
    return isinstance(value, str) and len(value) <= _MAX_SCALAR


def _path(document: dict[str, Any], *keys: str) -> dict[str, Any] | None:
    value: Any = document
    for key in keys:
        value = value.get(key) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else None
