"""The meeting settings a Balint group needs, as pure checks and the PATCH that fixes them.

`balint-bot doctor` reads the meeting with REST and asks `check_meeting` what is wrong; with
`--fix` it sends `fixes_for(...)` as `PATCH /meetings/{id}` `settings`. The group is
confidential and runs from a roster, so: waiting room on (the bot admits people), join before
host off (nobody is alone in the room before the bot opens it), no automatic recording,
registration required with automatic approval (each member has a personal link and Zoom's
events carry their registrant id), mute on entry, and the bot's Zoom user an alternative host
(so its ZAK lets it open the room as host, or arrive as co-host). Zoom setting names:
https://developers.zoom.us/docs/api/meetings/#tag/meetings/PATCH/meetings/{meetingId}.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bot.zoom_api.models import Meeting, User

__all__ = ["Check", "check_meeting", "fixes_for"]

#: Meeting types that accept registration: scheduled (2) and recurring with a fixed time (8).
_REGISTRABLE_TYPES = frozenset({2, 8})
#: A licensed Zoom user; only licensed users of the account can be alternative hosts.
_LICENSED = 2


@dataclass(frozen=True, slots=True, kw_only=True)
class Check:
    """One line of `doctor`'s report.

    Args:
        name: what is checked, as a statement that should hold.
        ok: whether it holds.
        detail: what was found (shown when it fails).
        fix: what to do about it (shown when it fails).
        fixable: `doctor --fix` can repair it through the REST API.
    """

    name: str
    ok: bool
    detail: str = ""
    fix: str = ""
    fixable: bool = False


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def check_meeting(meeting: Meeting, bot_user: User) -> list[Check]:
    """Every settings check for `meeting`, with `bot_user` the Zoom user the SDK bot joins as."""
    s = meeting.settings
    bot_email = bot_user.email.lower()
    is_host = bool(bot_user.id and bot_user.id == meeting.host_id) or (
        bool(bot_email) and bot_email == meeting.host_email.lower()
    )
    listed = bot_email in s.alternative_host_emails()
    return [
        Check(
            name="waiting room on",
            ok=s.waiting_room,
            detail=f"waiting_room is {_on_off(s.waiting_room)}",
            fix="turn on Waiting Room for the meeting (the bot admits members from it)",
            fixable=True,
        ),
        Check(
            name="join before host off",
            ok=not s.join_before_host,
            detail=f"join_before_host is {_on_off(s.join_before_host)}",
            fix="turn off 'Allow participants to join before host'",
            fixable=True,
        ),
        Check(
            name="automatic recording off",
            ok=s.auto_recording == "none",
            detail=f"auto_recording is {s.auto_recording!r}",
            fix="set automatic recording to none (the group is confidential)",
            fixable=True,
        ),
        Check(
            name="meeting type accepts registration",
            ok=meeting.type in _REGISTRABLE_TYPES,
            detail=f"meeting type {meeting.type} (recurring without a fixed time cannot register)",
            fix="give the recurring meeting a fixed time in Zoom (type 8)",
        ),
        Check(
            name="registration required, approved automatically",
            ok=s.approval_type == 0,
            detail=f"approval_type is {s.approval_type} (0 automatic, 1 manual, 2 none)",
            fix="require registration with automatic approval",
            fixable=meeting.type in _REGISTRABLE_TYPES,
        ),
        Check(
            name="mute on entry",
            ok=s.mute_upon_entry,
            detail=f"mute_upon_entry is {_on_off(s.mute_upon_entry)}",
            fix="turn on 'Mute participants upon entry'",
            fixable=True,
        ),
        Check(
            name="bot user is a licensed user",
            ok=bot_user.type == _LICENSED,
            detail=f"user type {bot_user.type} (2 = licensed)",
            fix="give the bot's Zoom user a Licensed seat (alternative hosts must be licensed)",
        ),
        Check(
            name="bot user is an alternative host",
            ok=listed or is_host,
            detail=f"{bot_user.email or bot_user.id} is not in alternative_hosts",
            fix="add the bot's Zoom user to the meeting's alternative hosts",
            fixable=bool(bot_email) and bot_user.type == _LICENSED,
        ),
    ]


def fixes_for(meeting: Meeting, bot_user: User) -> dict[str, Any]:
    """The `settings` body of a PATCH that repairs every fixable failed check ({} if none)."""
    failed = {c.name for c in check_meeting(meeting, bot_user) if c.fixable and not c.ok}
    body: dict[str, Any] = {}
    if "waiting room on" in failed:
        body["waiting_room"] = True
    if "join before host off" in failed:
        body["join_before_host"] = False
    if "automatic recording off" in failed:
        body["auto_recording"] = "none"
    if "registration required, approved automatically" in failed:
        body["approval_type"] = 0
        if meeting.type == 8:
            # 1 = register once, attend every occurrence (one personal link per member).
            body["registration_type"] = 1
    if "mute on entry" in failed:
        body["mute_upon_entry"] = True
    if "bot user is an alternative host" in failed:
        hosts = [h for h in meeting.settings.alternative_host_emails() if h]
        hosts.append(bot_user.email.lower())
        # Zoom's API: "multiple values separated by semicolon".
        body["alternative_hosts"] = ";".join(hosts)
    return body
