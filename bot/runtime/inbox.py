"""Commands from a trusted source outside the meeting chat (the console), made durable.

The one way a console button reaches the engine. `submit_command` journals the command in
the webhook journal, next to Zoom's deliveries, under its own event name (`COMMAND_EVENT`)
and its own dedupe key (`console:<command id>`), in the caller's transaction. From there it
takes the path every webhook takes: the worker (or the SDK join process) drains the journal,
the runtime steps the meeting with it under the meeting's lease, and `decode_command` turns
the entry into a `phases.events.TrustedCommand`, which the engine runs exactly like the same
line typed in the chat (same command parser, same handlers, same action log), with the
facilitator's rights taken from the roster, not from a name. Nothing here calls the meeting
or touches engine state: the runtime does, once, wherever the meeting's lease is.

The engine answers a console command with `SendChat(to=Audience.CONSOLE)` lines, which the
runtime logs with the entry's other actions (cause `j<entry id>`); `command_outcome` reads
them back for the console. The journal entry itself is the command's audit trail, as a chat
command's webhook is.

The body is JSON: `{"event", "source", "meeting_id", "facilitator", "member_id", "text",
"command_id", "target_key"}`; `event_ts` is the command's time on the service's clock.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.runtime.codec import decode_action
from bot.runtime.durable import Decoded
from phases.actions import Audience, SendChat
from phases.errors import BalintError
from phases.events import TrustedCommand
from storage import journal
from storage import runtime_state as rs
from storage.journal import JournalEntry

__all__ = [
    "COMMAND_EVENT",
    "CommandOutcome",
    "InboxError",
    "SubmittedCommand",
    "command_outcome",
    "decode_command",
    "is_command",
    "submit_command",
]

#: The journal's event name for a console command (Zoom's names never start with "balint.").
COMMAND_EVENT = "balint.command"


class InboxError(BalintError):
    """A journaled command could not be read back (written by an incompatible version)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SubmittedCommand:
    """A command now in the journal: its entry id and its command id."""

    entry_id: int
    command_id: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandOutcome:
    """What became of a submitted command so far.

    Args:
        processed: the runtime has stepped the meeting with it.
        replies: the engine's answers to the facilitator (empty when it just did it).
    """

    processed: bool
    replies: tuple[str, ...] = ()


def submit_command(
    session: Session,
    *,
    meeting_uuid: str,
    meeting_id: str,
    facilitator: str,
    member_id: str,
    text: str,
    target_key: str = "",
    source: str = "console",
    now: datetime,
) -> SubmittedCommand:
    """Journal one command for the meeting's runtime (flushed; committed by the caller).

    Args:
        meeting_uuid: the meeting instance it is for.
        meeting_id: the Zoom meeting number (the SDK join process picks its entries by it).
        facilitator: the signed-in facilitator's roster display name.
        member_id: their roster member id ("" if unknown).
        text: the command line, as typed in chat ("/next").
        target_key: the stable key of the person a row's button names, if any.
        source: where it came from.
        now: the command's time on the service's clock (the meeting's clock).

    Raises:
        ValueError: `now` is naive.
    """
    if now.tzinfo is None:
        raise ValueError("the command time must be timezone-aware")
    command_id = uuid.uuid4().hex
    body = {
        "event": COMMAND_EVENT,
        "source": source,
        "meeting_id": meeting_id,
        "facilitator": facilitator,
        "member_id": member_id,
        "text": text,
        "command_id": command_id,
        "target_key": target_key,
    }
    entry_id, _new = journal.record(
        session,
        received_at=now,
        event=COMMAND_EVENT,
        event_ts=int(now.timestamp() * 1000),
        meeting_uuid=meeting_uuid,
        dedupe_key=f"{source}:{command_id}",
        body=json.dumps(body, sort_keys=True).encode("utf-8"),
        parsed_ok=True,
    )
    return SubmittedCommand(entry_id=entry_id, command_id=command_id)


def is_command(entry: JournalEntry) -> bool:
    """True for a journal entry that `submit_command` wrote."""
    return entry.event == COMMAND_EVENT


def decode_command(entry: JournalEntry) -> Decoded:
    """The engine event a journaled command stands for.

    Raises:
        InboxError: the body is not a command this version wrote.
    """
    try:
        data: Any = json.loads(entry.body)
        event = TrustedCommand(
            facilitator=str(data["facilitator"]),
            member_id=str(data["member_id"]),
            text=str(data["text"]),
            command_id=str(data["command_id"]),
            target_key=str(data.get("target_key", "")),
            source=str(data["source"]),
        )
        meeting_id = str(data["meeting_id"])
    except (ValueError, KeyError, TypeError) as bad:
        raise InboxError(f"journal entry {entry.id} is not a readable command: {bad}") from None
    at = None
    if entry.event_ts is not None:
        at = datetime.fromtimestamp(entry.event_ts / 1000, UTC)
    return Decoded(meeting_id=meeting_id, events=(event,), at=at)


def command_outcome(session: Session, *, meeting_uuid: str, entry_id: int) -> CommandOutcome:
    """Whether the runtime has run the command yet, and the engine's answers to it."""
    entry = journal.entry(session, entry_id=entry_id)
    if entry is None or entry.processed_at is None:
        return CommandOutcome(processed=False)
    prefix = f"j{entry_id}:"
    replies: list[str] = []
    for record in rs.actions_for_meeting(session, meeting_uuid=meeting_uuid, kind="send_chat"):
        if not record.key.startswith(prefix):
            continue
        action = decode_action(record.payload)
        if isinstance(action, SendChat) and action.to is Audience.CONSOLE:
            replies.append(action.text)
    return CommandOutcome(processed=True, replies=tuple(replies))
