"""Actions the phase engine asks for: what the bot should do in the meeting.

The engine never does anything itself; the runtime executes these through the
`MeetingControl` port (`bot.meeting.executor`). Targets carry both the stable meeting key
and the per-join `user_id` Zoom addresses, plus the display name for the timeline.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime

__all__ = [
    "Action",
    "Admit",
    "AllowSelfMedia",
    "AskStartVideo",
    "AskUnmute",
    "Audience",
    "Mute",
    "PhaseChanged",
    "PutInWaitingRoom",
    "RecordLocation",
    "Rename",
    "SafetyAnswer",
    "ScheduleWakeup",
    "SendChat",
    "StopRecording",
    "StopVideo",
    "Target",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """The participant an action is for."""

    key: str
    user_id: str
    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Admit:
    """Admit one person from the waiting room. `confirm`: report Zoom's success back to the
    engine (`phases.events.ActionDone`), which announces the admission only then."""

    target: Target
    confirm: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PutInWaitingRoom:
    target: Target


@dataclass(frozen=True, slots=True, kw_only=True)
class Rename:
    """Rename someone who is in the waiting room (Zoom allows this only there)."""

    target: Target
    new_name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Mute:
    """Mute the target now. `allow_self_unmute` False: they may not unmute themselves (the
    one-way mirror; Zoom offers this per person, and a host or co-host can always unmute)."""

    target: Target
    allow_self_unmute: bool = True
    #: report Zoom's success back (`phases.events.ActionDone`), as for `Admit`
    confirm: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class StopVideo:
    target: Target
    #: report Zoom's success back (`phases.events.ActionDone`), as for `Admit`
    confirm: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AskUnmute:
    """Ask (never force) the target to unmute; Zoom lets them accept or ignore it."""

    target: Target


@dataclass(frozen=True, slots=True, kw_only=True)
class AskStartVideo:
    """Ask (never force) the target to start their video."""

    target: Target


@dataclass(frozen=True, slots=True, kw_only=True)
class AllowSelfMedia:
    """Allow or forbid participants to unmute themselves / start their own video.

    Zoom has these only as meeting-wide switches (`AllowParticipantsToUnmuteSelf`,
    `AllowParticipantsToStartVideo`). `None` leaves that switch as it is.
    """

    unmute: bool | None = None
    video: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StopRecording:
    """Stop any recording in progress; `started_by` is for the timeline only. `confirm`:
    report Zoom's success back, as for `Admit`."""

    started_by: Target | None = None
    confirm: bool = False


class Audience(enum.StrEnum):
    """Who a chat line goes to."""

    EVERYONE = "everyone"
    PARTICIPANT = "participant"
    FACILITATORS = "facilitators"
    WAITING_ROOM = "waiting_room"
    #: the answer to a `TrustedCommand`: goes back to its source (the console), never into
    #: the meeting; `recipients` names the facilitator who gave the command.
    CONSOLE = "console"


@dataclass(frozen=True, slots=True, kw_only=True)
class SendChat:
    """Post a chat line.

    Args:
        to: the audience.
        text: the line, from the message catalogue.
        recipients: for PARTICIPANT the one person; for FACILITATORS every facilitator present
            (Zoom has no "hosts only" chat for an SDK bot, so each gets a private line).
    """

    to: Audience
    text: str
    recipients: tuple[Target, ...] = field(default=())


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleWakeup:
    """Deliver `TimerDue(timer=timer)` at `at` (timezone-aware). Re-arming a name replaces it."""

    at: datetime
    timer: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseChanged:
    """A record that the session moved from one phase to another (nothing to execute).

    `at` is when the new phase began (the engine's `phase_since`): the scheduled start for a
    meditation the clock opened late, otherwise the event's `now`. The runtime stores it;
    billing derives the therapy window from these records.
    """

    from_phase: str
    to_phase: str
    reason: str
    at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class RecordLocation:
    """Keep a member's answer to the location question for this session (nothing to execute
    in the meeting: the runtime stores it in the step's transaction, still sealed).

    Args:
        person: who answered.
        member_id: their roster member id ("" if the roster entry has none).
        sealed: the sealed answer, exactly as it came (`phases.events.PrivateReply`).
    """

    person: Target
    member_id: str
    sealed: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SafetyAnswer:
    """Tell a facilitator, privately, a member's safety plan (`/safety NAME`).

    The engine names only who asks and about whom: the runtime reads the member's emergency
    contact and today's location when it carries the action out, sends them in a private
    line, and writes the use to the audit log; the PHI is never part of the action, so it is
    never stored with the action log.

    Args:
        to: the facilitator who asked.
        member_id: the roster member id of the member asked about.
        member_name: their roster display name.
    """

    to: Target
    member_id: str
    member_name: str


Action = (
    Admit
    | PutInWaitingRoom
    | Rename
    | Mute
    | StopVideo
    | AskUnmute
    | AskStartVideo
    | AllowSelfMedia
    | StopRecording
    | SendChat
    | SafetyAnswer
    | ScheduleWakeup
    | PhaseChanged
    | RecordLocation
)
