"""`ServiceHooks`, `default_controls`: what a process that runs meetings needs of the service.

`bot.service` (the receiver and the runtime in one process), `serve`'s meeting workers
(`bot.worker_process`) and `join` all run meetings with these. They are kept apart from
`bot.service` so that a worker does not import the web application it never serves (FastAPI,
Starlette and what they import); with its own start (`bot.worker_process`), that took an
idle worker from 115 to 78 MiB resident (docs/benchmarks.md, "thirteenth round"). An
import-linter contract keeps it so.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from sqlalchemy.orm import Session

from bot import safety_plan
from bot.agenda import agenda_from_settings, messages_from_settings
from bot.calendar import calendar_from_settings, match_meeting
from bot.config import Settings
from bot.errors import BalintError
from bot.groups import group_of_meeting
from bot.meeting.observe import ObservingMeeting
from bot.meeting.port import MeetingControl
from bot.runtime import inbox
from bot.runtime.durable import Decoded
from bot.runtime.worker import ControlFactory
from phases.actions import Action, RecordLocation, SafetyAnswer, SendChat
from phases.agenda import Agenda
from phases.calendar import Calendar, SkippedMeeting, UnplannedSession
from phases.engine import new_session
from phases.state import SessionState
from storage import attendance, sessions
from storage.journal import JournalEntry
from storage.roster import roster_entries
from webhooks.parse import parse_event
from webhooks.translate import to_engine_events, to_presence

__all__ = ["ServiceHooks", "default_controls"]

_log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True, slots=True)
class _GroupRun:
    """What one group's sessions are run with: its own settings, agenda, wording, calendar
    and attendance policy (`Settings.for_group`)."""

    settings: Settings
    agenda: Agenda
    messages: Mapping[str, str]
    calendar: Calendar
    policy: attendance.AttendancePolicy


class ServiceHooks:
    """The runtime's hooks onto the receiver's models and the storage engineer's tables.

    With several groups (`[[groups]]`) each meeting is run as its group's: the group is the
    one that lists the meeting's number (`bot.groups.group_of_meeting`, the receiver's
    routing rule) when the session opens, and the session's stored group after that.
    """

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._keyring = safety_plan.keyring_of(settings)
        self._runs = {
            group.name: self._run_of(settings.for_group(group)) for group in settings.all_groups()
        }

    def _run_of(self, settings: Settings) -> _GroupRun:
        agenda = agenda_from_settings(settings)
        if agenda.ask_location and not self._keyring.has_current:
            # an answer could not be kept sealed: better not to ask for it at all
            agenda = dataclasses.replace(agenda, ask_location=False)
        return _GroupRun(
            settings=settings,
            agenda=agenda,
            # `[agenda.messages]`: the group's own wording of the engine's lines
            messages=messages_from_settings(settings),
            calendar=calendar_from_settings(settings.group, settings.agenda),
            # the same policy as the CLI's rebuild: the bot's own name is not a person
            policy=attendance.policy_for(
                length_minutes=settings.agenda.length_minutes, bot_name=settings.zoom.bot_name
            ),
        )

    def _run_of_meeting(self, meeting_id: str) -> _GroupRun | None:
        if len(self._runs) == 1:  # one group: every meeting that reaches the runtime is its
            return next(iter(self._runs.values()))
        group = group_of_meeting(self._settings, meeting_id)
        return self._runs[group.name] if group is not None else None

    def _run_of_session(self, db: Session, meeting_uuid: str) -> _GroupRun:
        """The group of the meeting's stored session (the only group if there is none)."""
        record = sessions.session_by_meeting(db, meeting_uuid=meeting_uuid)
        if record is not None:
            name = sessions.group_name_of(db, record=record)
            if name in self._runs:
                return self._runs[name]
        return next(iter(self._runs.values()))

    def decode(self, entry: JournalEntry) -> Decoded:
        if inbox.is_command(entry):
            return inbox.decode_command(entry)
        event = parse_event(entry.body)
        at = (
            datetime.fromtimestamp(entry.event_ts / 1000, UTC)
            if entry.event_ts is not None
            else None
        )
        zoom_object = getattr(getattr(event, "payload", None), "object", None)
        meeting_id = str(getattr(zoom_object, "id", "") or "")
        return Decoded(
            meeting_id=meeting_id,
            events=tuple(to_engine_events(event, bot_name=self._settings.zoom.bot_name)),
            at=at,
            presence=to_presence(event),
        )

    def start_session(
        self, db: Session, *, meeting_uuid: str, meeting_id: str, now: datetime
    ) -> tuple[SessionState, Sequence[Action]]:
        run = self._run_of_meeting(meeting_id)
        if run is None:
            # the receiver keeps other meetings out; a console command naming one is inert
            _log.warning("meeting of no group: not run", extra={"meeting_id": meeting_uuid})
            first = next(iter(self._runs.values()))
            return new_session(
                agenda=first.agenda,
                roster=(),
                scheduled_start=first.calendar.local(now),
                skipped="no group's meeting",
            )
        group = run.settings.group
        # the calendar's matching rule: a planned session's start, else the meeting's own;
        # a cancelled evening or a break is no session: its engine state stays inert and the
        # runtime stores nothing of it (`bot.runtime.durable`, "No session")
        match = match_meeting(
            db,
            calendar=run.calendar,
            group_name=group.name,
            meeting_uuid=meeting_uuid,
            started=now,
        )
        if isinstance(match, SkippedMeeting):
            return new_session(
                agenda=run.agenda,
                roster=(),
                scheduled_start=run.calendar.local(now),
                messages=run.messages,
                skipped=match.reason,
            )
        start = match.scheduled_start
        sessions.ensure_session(
            db,
            group_name=group.name,
            meeting_uuid=meeting_uuid,
            meeting_id=meeting_id,
            scheduled_start=start,
            now=now,
            timezone=group.timezone,
            module=match.module,
        )
        # closed modules: only members enrolled in the module the calendar matched the
        # session to are admitted (the same module `ensure_session` stored for it)
        module = match.module.name if group.closed_modules and match.module else None
        roster = roster_entries(db, group_name=group.name, module=module)
        return new_session(
            agenda=run.agenda,
            roster=roster,
            scheduled_start=start,
            messages=run.messages,
            unplanned=isinstance(match, UnplannedSession),
        )

    def record_presence(
        self, db: Session, *, meeting_uuid: str, entry: JournalEntry, decoded: Decoded
    ) -> None:
        if decoded.presence is not None:  # a console command carries none
            attendance.record_presence(
                db, meeting_uuid=meeting_uuid, journal_id=entry.id, event=decoded.presence
            )

    def seal(self, text: str) -> str | None:
        return safety_plan.seal_reply(self._keyring, text)

    def record_location(
        self, db: Session, *, meeting_uuid: str, action: RecordLocation, at: datetime
    ) -> None:
        safety_plan.keep_location(db, meeting_uuid=meeting_uuid, action=action, at=at)

    def safety_line(
        self, db: Session, *, meeting_uuid: str, action: SafetyAnswer, now: datetime
    ) -> SendChat:
        return safety_plan.safety_line(
            db,
            settings=self._run_of_session(db, meeting_uuid).settings,
            keyring=self._keyring,
            meeting_uuid=meeting_uuid,
            action=action,
            now=now,
        )

    def finalize(self, db: Session, *, meeting_uuid: str, now: datetime) -> None:
        try:
            with db.begin_nested():
                policy = self._run_of_session(db, meeting_uuid).policy
                attendance.finalize(db, meeting_uuid=meeting_uuid, policy=policy, now=now)
        except BalintError as failed:  # attendance can be recomputed from the journal later
            _log.error(
                "attendance not finalised",
                extra={"meeting_id": meeting_uuid, "error_type": type(failed).__name__},
            )


def default_controls(settings: Settings, registry: dict[str, MeetingControl]) -> ControlFactory:
    """The `MeetingControl` of each meeting by `[bot] meeting_adapter` (not `sdk`): observe
    only, or the simulated meeting registered in `registry` under its uuid."""
    adapter = settings.bot.meeting_adapter
    if adapter == "none":
        return ObservingMeeting

    def simulated(meeting_uuid: str) -> MeetingControl:
        meeting = registry.get(meeting_uuid)
        if meeting is None:
            _log.warning(
                "no simulated meeting registered; observing only",
                extra={"meeting_id": meeting_uuid},
            )
            return ObservingMeeting(meeting_uuid)
        return meeting

    return simulated
