"""The safety plan in a live meeting: sealing a member's answer, answering `/safety`.

The engine only asks and passes on (`phases.engine`: `RecordLocation` carries the sealed
token, `SafetyAnswer` names who asked about whom); the PHI is handled here, at the edges:

- `reply_sealer` / `seal_reply`: the member's private line to the bot, sealed with the data key
  before anything keeps it (the webhook receiver, `webhooks.sealing`; the runtime for what
  the SDK bot heard);
- `keep_location`: the sealed token stored for the meeting's session, unopened;
- `safety_line`: the private line to the facilitator who asked, composed from the member's
  emergency contacts and today's location when it is sent (never stored: the action log
  holds only the `SafetyAnswer`), the read written to the audit log.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from bot.agenda import messages_from_settings
from bot.config import Settings
from phases.actions import Audience, RecordLocation, SafetyAnswer, SendChat
from phases.messages import Messages
from storage import safety
from storage.crypto import DataKeyError, Keyring
from storage.sessions import session_by_meeting
from webhooks.sealing import ReplySealer

__all__ = ["keep_location", "keyring_of", "reply_sealer", "safety_line", "seal_reply"]

_log = logging.getLogger(__name__)


def keyring_of(settings: Settings) -> Keyring:
    """The data keys from the settings (`BALINT_DATA_KEY`, `BALINT_DATA_KEY_PREVIOUS`)."""
    current = settings.data_key.get_secret_value() if settings.data_key else None
    previous = settings.data_key_previous.get_secret_value() if settings.data_key_previous else None
    return Keyring.from_text(current, previous)


def seal_reply(keyring: Keyring, text: str) -> str | None:
    """`text` sealed for `storage.safety` (None without a data key: then nothing is kept)."""
    if not keyring.has_current:
        return None
    return keyring.seal_text(text, field_name=safety.LOCATION_FIELD)


def reply_sealer(settings: Settings, keyring: Keyring) -> ReplySealer | None:
    """The webhook receiver's sealer (None without a data key: such lines are emptied)."""
    if not keyring.has_current:
        asking = [settings.for_group(group).agenda.ask_location for group in settings.all_groups()]
        if any(asking):
            _log.warning("no data key: the location question is not asked (nothing could be kept)")
        return None
    return ReplySealer(
        bot_name=settings.zoom.bot_name,
        seal=lambda text: keyring.seal_text(text, field_name=safety.LOCATION_FIELD),
    )


def keep_location(db: Session, *, meeting_uuid: str, action: RecordLocation, at: datetime) -> None:
    """Store the sealed answer for the meeting's session (as it came, unopened)."""
    member_id = int(action.member_id) if action.member_id.isdigit() else None
    if not safety.record_location(
        db,
        meeting_uuid=meeting_uuid,
        member_id=member_id,
        person_key=action.person.key,
        token=action.sealed,
        at=at,
    ):
        _log.warning(
            "location not kept: the meeting has no session", extra={"meeting_id": meeting_uuid}
        )


def safety_line(
    db: Session,
    *,
    settings: Settings,
    keyring: Keyring,
    meeting_uuid: str,
    action: SafetyAnswer,
    now: datetime,
) -> SendChat:
    """The private answer to `/safety`, read now and audited (see the module docstring)."""
    messages = Messages(messages_from_settings(settings))
    record = session_by_meeting(db, meeting_uuid=meeting_uuid)
    text: str
    if not keyring.has_current or not action.member_id.isdigit():
        text = messages.text("safety_unavailable", name=action.member_name)
    else:
        try:
            rows = safety.safety_plan(
                db,
                group_name=settings.group.name,
                session_id=record.id if record is not None else None,
                keyring=keyring,
                command="/safety",
                now=now,
                actor=f"zoom:{action.to.name}"[:100],
                member_ids=[int(action.member_id)],
            )
        except DataKeyError:
            rows = ()
        if not rows:
            text = messages.text("safety_unavailable", name=action.member_name)
        else:
            row = rows[0]
            contacts = "; ".join(c.describe() for c in row.contacts)
            text = messages.text(
                "safety_answer",
                name=row.name,
                contact=contacts or messages.text("safety_no_contact"),
                location=row.location or messages.text("safety_no_location"),
            )
    return SendChat(to=Audience.PARTICIPANT, text=text, recipients=(action.to,))
