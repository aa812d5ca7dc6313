"""The phase engine: `new_session` builds a session, `handle` takes it one event further.

`handle(state, event, now) -> (state, actions)` is pure: no clock, no I/O, no mutation of
its arguments, and it does not raise on any event or chat text. The policies it applies are
described in `phases._table` (the theory of operation) and in issue 2; in short:

* arrivals: roster members are admitted at once except during the meditation, when
  non-facilitators wait and are admitted together, in arrival order, at its end; people not
  on the roster are never admitted by the bot (the facilitators are told once, privately);
  facilitators (roster role, or Zoom host / co-host) are never held; the bot ignores itself.
* the one-way mirror: during the discussion the presenter is muted without self-unmute
  (Zoom's per-person switch) and their video stopped, with restarting video forbidden
  (Zoom has that switch only meeting-wide; it binds only those whose video the host
  stopped), or only reminded, when enforcement is off; on leaving it (or `/mirror off`)
  both are allowed again (`AllowSelfMedia`) and the presenter is asked to come back. The
  bot never unmutes or starts anyone's video, and asks only the returning presenter.
* Zoom tells some facts twice (a webhook and the SDK bot in the meeting, merged by the
  runtime under one person key): an arrival of someone already waiting, a join of someone
  already in the meeting or a waiting-room exit of someone not waiting changes nothing but
  their ids (and a stronger role).
* recording is stopped at once and the facilitators are told who started it.
* an action Zoom refused (`ActionRefused`, fed back by the runtime) is reported privately to
  the facilitators so they can do it by hand: once per person for an admission (who stays
  waiting, so `/admit` can retry), once per discussion for the presenter's mirror, once per
  kind and code otherwise; refused chat lines and observe-only refusals are not reported.
* facilitator commands (`phases.commands`) steer the session; members get a polite refusal.
  A `TrustedCommand` (the console) runs the same command for a roster facilitator who is not
  speaking in the chat: its answers go back to the console (`Audience.CONSOLE`), and a button
  that names one person (`target_key`: `/admit`, `/hold`, `/case`) acts on exactly them.
* the safety plan: a member who comes into the meeting is asked privately, once, where they
  are joining from (`ask_location`), and reminded once if no answer came in
  `location_reminder_minutes`; their private answer reaches the engine sealed
  (`PrivateReply`) and is passed on unopened to be kept (`RecordLocation`). `/safety NAME`
  (facilitators) asks the runtime to send that member's emergency contact and today's
  location privately (`SafetyAnswer`: the engine never sees either).
* the webcam: a member whose video Zoom reported off for `webcam_reminder_minutes` during the
  group (after the meditation, before the closing's end; never the presenter behind the
  mirror) gets one private reminder.
* the group's calendar (`phases.calendar`) decides what a meeting is: a meeting it skipped
  (`Setup.skipped`) gets nothing, ever; a session it did not plan (`Setup.unplanned`) is
  timed from its own start, and the facilitators present are told so privately, once (as
  soon as one is there).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta

from phases._table import BEFORE_CLOSING, NEXT, RULES
from phases.actions import (
    Action,
    Admit,
    AllowSelfMedia,
    AskStartVideo,
    AskUnmute,
    Audience,
    Mute,
    PhaseChanged,
    PutInWaitingRoom,
    RecordLocation,
    Rename,
    SafetyAnswer,
    ScheduleWakeup,
    SendChat,
    StopRecording,
    StopVideo,
    Target,
)
from phases.agenda import Agenda
from phases.commands import (
    USAGE,
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
from phases.events import (
    ActionRefused,
    ArrivedInWaitingRoom,
    AudioMuted,
    AudioUnmuted,
    ChatMessage,
    Event,
    Joined,
    Left,
    LeftWaitingRoom,
    MeetingEnded,
    MeetingStarted,
    Participant,
    PrivateReply,
    RecordingStarted,
    RoleChanged,
    TimerDue,
    TrustedCommand,
    VideoOff,
    VideoOn,
    ZoomRole,
)
from phases.messages import DEFAULT_MESSAGES, Messages
from phases.roster import RosterEntry, match, normalise_name
from phases.state import Kind, Person, Phase, SessionState, Setup, Where

__all__ = ["RECENT_MESSAGE_IDS", "handle", "new_session", "wakeups"]

#: How many recent chat message ids are remembered to run a duplicated command once.
RECENT_MESSAGE_IDS = 64

_FIELDS = tuple(f.name for f in fields(SessionState))
_MINUTE = timedelta(minutes=1)
#: A `said` flag remembering the phase a meeting was in when Zoom ended it mid-group.
_ENDED_FROM = "ended_from:"
#: The `said` flag of the presenter's refused mirror, cleared on entering each discussion.
_REFUSED_MIRROR = "refused_mirror"
#: The `said` flag set while the mirror forbids the presenter's self-unmute / video restart.
_MIRROR_LOCKED = "mirror_locked"
#: The `said` flag of the line that tells the facilitators a session is unplanned.
_UNPLANNED_TOLD = "told_unplanned"
#: Refusals never reported: observe-only mode refuses everything by design ("not_executed").
_QUIET_CODES = frozenset({"not_executed"})
#: `said` flags of the safety plan and the webcam, each followed by a person key.
_ANSWERED = "location_answered:"
_LOCATION_REMINDED = "location_reminded:"
_WEBCAM_REMINDED = "webcam_reminded:"
#: Timer names of the reminders, each followed by a person key.
_LOCATION_TIMER = "location_reminder:"
_WEBCAM_TIMER = "webcam_reminder:"
#: Phases in which the webcam reminder does not run (before and after the group proper).
_NO_WEBCAM_RULE = frozenset({Phase.SOCIAL, Phase.MEDITATION, Phase.REFLECTION, Phase.ENDED})


def new_session(
    *,
    agenda: Agenda,
    roster: Sequence[RosterEntry],
    scheduled_start: datetime,
    messages: Mapping[str, str] | None = None,
    skipped: str = "",
    unplanned: bool = False,
) -> tuple[SessionState, list[Action]]:
    """Build the state of a session that has not begun, and its initial wake-ups.

    The session starts in `social` (the room is open). If it is created after the
    scheduled start, the first `handle` call walks it to the right phase for its `now`
    (see `phases._table`).

    Args:
        agenda: the session's shape.
        roster: the group's members and facilitators.
        scheduled_start: the group's start, timezone-aware.
        messages: overrides of the message catalogue, by key.
        skipped: the calendar's reason when the meeting is no session ("cancelled",
            "break", ...): the state is `ended`, has no wake-ups and stays inert.
        unplanned: the calendar planned no session around `scheduled_start` (the meeting's
            own start): the first facilitator present is told so, privately, once.

    Raises:
        AgendaError: a naive start time, or an unknown or malformed message override.
    """
    setup = Setup(
        agenda=agenda,
        roster=tuple(roster),
        messages=Messages(dict(messages or {})),
        scheduled_start=scheduled_start,
        skipped=skipped,
        unplanned=unplanned,
    )
    if skipped:
        return SessionState(setup=setup, phase=Phase.ENDED, phase_since=scheduled_start), []
    state = SessionState(
        setup=setup,
        phase=Phase.SOCIAL,
        phase_since=scheduled_start - timedelta(minutes=agenda.opens_minutes_before),
        mirror_on=agenda.enforce_mirror,
    )
    return state, list(wakeups(state))


def wakeups(state: SessionState) -> list[ScheduleWakeup]:
    """Every clock wake-up the session needs from now on, earliest first.

    A runtime that lost its timers (a restart) can re-arm them from this.
    """
    setup = state.setup
    agenda = setup.agenda
    alarms: list[ScheduleWakeup] = []
    if setup.skipped:
        return alarms
    if state.phase is Phase.SOCIAL:
        alarms.append(ScheduleWakeup(at=setup.scheduled_start, timer="meditation_start"))
        if agenda.meditation_minutes:
            alarms.append(ScheduleWakeup(at=setup.meditation_end, timer="meditation_end"))
    elif state.phase is Phase.MEDITATION and state.meditation_ends_at is not None:
        alarms.append(ScheduleWakeup(at=state.meditation_ends_at, timer="meditation_end"))
    if state.phase in BEFORE_CLOSING:
        alarms.extend(_end_alarms(state, state.group_end))
    if state.phase is Phase.REFLECTION and state.reflection_ends_at is not None:
        alarms.append(ScheduleWakeup(at=state.reflection_ends_at, timer="reflection_end"))
    rule = RULES[state.phase]
    if rule.budget is not None and rule.budget(agenda) and "nudged" not in state.said:
        at = state.phase_since + timedelta(minutes=rule.budget(agenda))
        alarms.append(ScheduleWakeup(at=at, timer=f"budget_{state.phase.value}"))
    if state.phase is not Phase.ENDED:
        alarms.extend(_reminder_alarms(state))
    return sorted(alarms, key=lambda alarm: alarm.at)


def _reminder_alarms(state: SessionState | _Draft) -> list[ScheduleWakeup]:
    """The doorbells of the location and webcam reminders not yet given."""
    alarms: list[ScheduleWakeup] = []
    agenda = state.setup.agenda
    if agenda.location_reminder_minutes:
        for key, asked in sorted(state.location_asked.items()):
            if {_ANSWERED + key, _LOCATION_REMINDED + key} & state.said:
                continue
            at = asked + timedelta(minutes=agenda.location_reminder_minutes)
            alarms.append(ScheduleWakeup(at=at, timer=_LOCATION_TIMER + key))
    if agenda.webcam_reminder_minutes:
        for key, since in sorted(state.video_off_since.items()):
            if _WEBCAM_REMINDED + key not in state.said:
                alarms.append(
                    ScheduleWakeup(at=_webcam_due(state, since), timer=_WEBCAM_TIMER + key)
                )
    return alarms


def _webcam_due(state: SessionState | _Draft, since: datetime) -> datetime:
    """When a video off since `since` earns its reminder: counted from the meditation's end."""
    start = max(since, state.setup.meditation_end)
    return start + timedelta(minutes=state.setup.agenda.webcam_reminder_minutes)


def _end_alarms(state: SessionState | _Draft, end: datetime) -> list[ScheduleWakeup]:
    alarms = [
        ScheduleWakeup(at=end - mark * _MINUTE, timer=f"warning_{mark}")
        for mark in state.setup.agenda.warning_minutes
        if mark not in state.warned
    ]
    alarms.append(ScheduleWakeup(at=end, timer="group_end"))
    return alarms


def handle(state: SessionState, event: Event, now: datetime) -> tuple[SessionState, list[Action]]:
    """Take the session one event further.

    Args:
        state: the session so far (not modified).
        event: what happened.
        now: when it is handled (timezone-aware); the engine's only clock.

    Returns:
        The next state and the actions to carry out, in order (none, ever, for a meeting
        the calendar skipped: see `Setup.skipped`).
    """
    if state.setup.skipped:
        return state, []
    draft = _Draft(state, now)
    if isinstance(event, MeetingEnded):
        _meeting_ended(draft)
    else:
        if isinstance(event, MeetingStarted) and draft.phase is Phase.ENDED:
            _reopen(draft)
        _catch_up(draft)
        _dispatch(draft, event)
        _catch_up(draft)
        _reminders(draft)
        if draft.setup.unplanned:
            _tell_unplanned(draft)
    return draft.freeze(), draft.out


class _Draft:
    """A mutable working copy of a state for the length of one `handle` call."""

    __slots__ = (*_FIELDS, "now", "out", "_own_people", "_bot", "console_sender")

    setup: Setup
    phase: Phase
    phase_since: datetime
    people: Mapping[str, Person]
    presenter: str
    cases: int
    extension_minutes: int
    paused: bool
    meditation_ends_at: datetime | None
    reflection_ends_at: datetime | None
    warned: frozenset[int]
    said: frozenset[str]
    mirror_on: bool
    last_mirror_reminder: datetime | None
    announced: frozenset[str]
    approved: frozenset[str]
    held: frozenset[str]
    recent_messages: tuple[str, ...]
    arrivals: int
    location_asked: Mapping[str, datetime]
    video_off_since: Mapping[str, datetime]

    def __init__(self, state: SessionState, now: datetime) -> None:
        for name in _FIELDS:
            setattr(self, name, getattr(state, name))
        self.now = now
        self.out: list[Action] = []
        self._own_people: dict[str, Person] | None = None
        self._bot = normalise_name(state.setup.agenda.bot_name)
        #: key of the facilitator a `TrustedCommand` is being run for ("" otherwise)
        self.console_sender = ""

    def freeze(self) -> SessionState:
        return SessionState(**{name: getattr(self, name) for name in _FIELDS})

    # -- small helpers used everywhere -----------------------------------------------------

    @property
    def agenda(self) -> Agenda:
        return self.setup.agenda

    @property
    def group_end(self) -> datetime:
        minutes = self.setup.agenda.length_minutes + self.extension_minutes
        return self.setup.scheduled_start + timedelta(minutes=minutes)

    def put(self, person: Person) -> None:
        if self._own_people is None:
            self._own_people = dict(self.people)
            self.people = self._own_people
        self._own_people[person.key] = person

    def is_bot(self, participant: Participant) -> bool:
        return normalise_name(participant.name) == self._bot

    def line(self, key: str, **values: object) -> str:
        return self.setup.messages.text(key, **values)

    def clock(self, moment: datetime) -> str:
        return moment.astimezone(self.setup.scheduled_start.tzinfo).strftime("%H:%M")

    def say(self, key: str, **values: object) -> None:
        self.out.append(SendChat(to=Audience.EVERYONE, text=self.line(key, **values)))

    def tell(self, person: Person, key: str, **values: object) -> None:
        self.out.append(
            SendChat(
                to=Audience.CONSOLE if person.key == self.console_sender else Audience.PARTICIPANT,
                text=self.line(key, **values),
                recipients=(_target(person),),
            )
        )

    def tell_facilitators(self, key: str, **values: object) -> bool:
        """Private line to every facilitator present; False when none is there."""
        recipients = tuple(
            _target(p)
            for p in sorted(self.people.values(), key=lambda p: p.seq)
            if p.where == "meeting" and p.is_facilitator
        )
        self.out.append(
            SendChat(to=Audience.FACILITATORS, text=self.line(key, **values), recipients=recipients)
        )
        return bool(recipients)

    def presenter_present(self) -> Person | None:
        person = self.people.get(self.presenter) if self.presenter else None
        return person if person is not None and person.where == "meeting" else None


def _target(person: Person) -> Target:
    return Target(key=person.key, user_id=person.user_id, name=person.name)


def _label(phase: Phase) -> str:
    return phase.value.replace("_", " ")


def _called(person: Person) -> str:
    """How the bot addresses someone: their roster name if known, else their display name."""
    return person.roster_name or person.name


# -- the clock --------------------------------------------------------------------------------


def _catch_up(d: _Draft) -> None:
    """Make every clock move that is due at `d.now` (nothing while paused)."""
    if d.paused or d.phase is Phase.ENDED:
        return
    now = d.now
    setup = d.setup
    end = d.group_end
    if d.phase is Phase.SOCIAL and now >= setup.scheduled_start:
        if d.agenda.meditation_minutes:
            d.meditation_ends_at = setup.meditation_end
            quiet = now >= setup.meditation_end or now >= end
            _enter(d, Phase.MEDITATION, "clock", at=setup.scheduled_start, quiet=quiet)
        else:
            _enter(d, Phase.CASE_CALL, "clock", at=setup.scheduled_start, quiet=now >= end)
    if (
        d.phase is Phase.MEDITATION
        and d.meditation_ends_at is not None
        and now >= d.meditation_ends_at
    ):
        _end_meditation(d, "clock", quiet=now >= end)
    if d.phase in BEFORE_CLOSING:
        _warnings(d, end)
        if now >= end:
            _enter(d, Phase.CLOSING, "clock")
    if (
        d.phase is Phase.REFLECTION
        and d.reflection_ends_at is not None
        and now >= d.reflection_ends_at
    ):
        _enter(d, Phase.ENDED, "clock", line="reflection_end")
    _budget(d)


def _warnings(d: _Draft, end: datetime) -> None:
    due = [
        mark
        for mark in d.agenda.warning_minutes
        if mark not in d.warned and d.now >= end - mark * _MINUTE
    ]
    if not due:
        return
    d.warned = d.warned | frozenset(due)
    if d.now < end:
        # The true time left (a late doorbell, or a resume after a pause, says less).
        left = math.ceil((end - d.now).total_seconds() / 60)
        d.say("warning", minutes=min(left, *due))


def _budget(d: _Draft) -> None:
    rule = RULES[d.phase]
    if rule.budget is None or "nudged" in d.said:
        return
    minutes = rule.budget(d.agenda)
    if minutes and d.now >= d.phase_since + minutes * _MINUTE:
        d.said = d.said | {"nudged"}
        d.tell_facilitators("budget_nudge", phase=_label(d.phase), minutes=minutes)


# -- phase changes ----------------------------------------------------------------------------


def _enter(
    d: _Draft,
    phase: Phase,
    reason: str,
    *,
    at: datetime | None = None,
    quiet: bool = False,
    line: str | None = None,
) -> None:
    """Move to `phase`: record it, post its line, arm its timers, apply its entry policy."""
    old = d.phase
    if old is Phase.MEDITATION and phase is not Phase.ENDED:
        _admit_held(d)
    if old is Phase.DISCUSSION and phase is not Phase.ENDED:
        _release_mirror(d)
        presenter = d.presenter_present()
        if presenter is not None:
            d.out.append(AskUnmute(target=_target(presenter)))
            d.out.append(AskStartVideo(target=_target(presenter)))
            if presenter.key in d.video_off_since:  # back from the mirror: the clock restarts
                _video_seen(d, presenter.key, on=True)
                _video_seen(d, presenter.key, on=False)
    d.phase = phase
    d.phase_since = at if at is not None else d.now
    d.said = d.said - {"nudged"}
    d.out.append(
        PhaseChanged(from_phase=old.value, to_phase=phase.value, reason=reason, at=d.phase_since)
    )
    rule = RULES[phase]
    presenter_name = ""
    if d.presenter:
        person = d.people.get(d.presenter)
        presenter_name = _called(person) if person is not None else ""
    if phase is Phase.MEDITATION:
        d.said = d.said - {"told_waiting_room"}
    elif phase is Phase.DISCUSSION:
        d.said = d.said - {_REFUSED_MIRROR}
    elif phase is Phase.REFLECTION:
        d.reflection_ends_at = d.now + d.agenda.reflection_minutes * _MINUTE
        d.out.append(ScheduleWakeup(at=d.reflection_ends_at, timer="reflection_end"))
    key = rule.entry_line if line is None else line
    if key and not quiet:
        meditation_end = d.meditation_ends_at or d.setup.meditation_end
        reflection_end = d.reflection_ends_at or d.now
        d.say(
            key,
            name=presenter_name,
            minutes=d.agenda.meditation_minutes,
            time=d.clock(reflection_end if phase is Phase.REFLECTION else meditation_end),
        )
    if rule.budget is not None:
        minutes = rule.budget(d.agenda)
        if minutes:
            at_due = d.phase_since + minutes * _MINUTE
            d.out.append(ScheduleWakeup(at=at_due, timer=f"budget_{phase.value}"))
    if phase is Phase.DISCUSSION:
        _mirror_enter(d)


def _end_meditation(d: _Draft, reason: str, *, quiet: bool = False) -> None:
    """Close the meditation (admitting everyone held, see `_admit_held`) and call for a case."""
    _enter(d, Phase.CASE_CALL, reason, quiet=quiet)


def _admit_held(d: _Draft) -> None:
    """Admit everyone held for the meditation, in arrival order, with one welcome line."""
    admitted: list[Person] = []
    for person in sorted(d.people.values(), key=lambda p: p.seq):
        if person.where != "waiting" or person.key in d.held:
            continue
        if person.kind == "guest" and person.key not in d.approved:
            continue
        d.out.append(Admit(target=_target(person)))
        admitted.append(person)
    if admitted:
        d.say("welcome_after_meditation", names=", ".join(_called(p) for p in admitted))


def _meeting_ended(d: _Draft) -> None:
    for person in list(d.people.values()):
        if person.where != "gone":
            d.put(_moved(person, "gone"))
    if d.phase is not Phase.ENDED:
        if d.phase in BEFORE_CLOSING:
            d.said = d.said | {f"{_ENDED_FROM}{d.phase.value}"}
        _enter(d, Phase.ENDED, "meeting ended", line="")


def _reopen(d: _Draft) -> None:
    """The meeting started again after Zoom ended it mid-group (say, the host ended it by
    mistake and restarted it): pick up the phase it was in; the clock then catches up."""
    flags = [flag for flag in d.said if flag.startswith(_ENDED_FROM)]
    if not flags:
        return
    d.said = d.said - set(flags)
    _enter(d, Phase(flags[0].removeprefix(_ENDED_FROM)), "meeting restarted", quiet=True)


def _mirror_enter(d: _Draft) -> None:
    presenter = d.presenter_present()
    if presenter is None:
        return
    if d.mirror_on:
        _enforce_mirror(d, presenter, audio=True, video=True)
        d.tell(presenter, "mirror_explained", name=_called(presenter))
    else:
        d.tell(presenter, "mirror_self", name=_called(presenter))


def _enforce_mirror(d: _Draft, presenter: Person, *, audio: bool, video: bool) -> None:
    if _MIRROR_LOCKED not in d.said:
        d.said = d.said | {_MIRROR_LOCKED}
        d.out.append(AllowSelfMedia(video=False))
    if audio:
        d.out.append(Mute(target=_target(presenter), allow_self_unmute=False))
    if video:
        d.out.append(StopVideo(target=_target(presenter)))


def _release_mirror(d: _Draft) -> None:
    """Allow self-unmute and video again if the mirror forbade them."""
    if _MIRROR_LOCKED in d.said:
        d.said = d.said - {_MIRROR_LOCKED}
        d.out.append(AllowSelfMedia(unmute=True, video=True))


def _remind_mirror(d: _Draft, presenter: Person) -> None:
    last = d.last_mirror_reminder
    if last is None or d.now - last >= timedelta(seconds=d.agenda.mirror_reminder_seconds):
        d.last_mirror_reminder = d.now
        d.tell(presenter, "mirror_reminder", name=_called(presenter))


# -- people -----------------------------------------------------------------------------------


def _moved(person: Person, where: Where) -> Person:
    return Person(
        key=person.key,
        user_id=person.user_id,
        name=person.name,
        email=person.email,
        registrant_id=person.registrant_id,
        where=where,
        zoom_role=person.zoom_role,
        kind=person.kind,
        roster_name=person.roster_name,
        muted=person.muted,
        video=person.video,
        came_through_waiting_room=person.came_through_waiting_room,
        seq=person.seq,
    )


def _upsert(
    d: _Draft,
    participant: Participant,
    *,
    where: Where,
    role: ZoomRole | None = None,
    came_through: bool | None = None,
) -> Person:
    """Record what an event says about someone and return their new record."""
    old = d.people.get(participant.key)
    if old is not None and (
        old.name == participant.name
        and old.email == participant.email
        and old.registrant_id == participant.registrant_id
    ):
        kind: Kind = old.kind
        roster_name = old.roster_name
    else:
        entry = match(d.setup.roster, participant)
        kind = entry.role if entry is not None else "guest"
        roster_name = entry.display_name if entry is not None else ""
        if entry is None and old is not None and old.kind != "guest":
            # A renamed person stays who we matched them as (e.g. renamed to their first name).
            kind, roster_name = old.kind, old.roster_name
    seq = old.seq if old is not None else 0
    if where == "waiting" and (old is None or old.where != "waiting"):
        d.arrivals += 1
        seq = d.arrivals
    fresh_join = old is None or old.where != where
    person = Person(
        key=participant.key,
        user_id=participant.user_id,
        name=participant.name,
        email=participant.email,
        registrant_id=participant.registrant_id,
        where=where,
        zoom_role=role if role is not None else (old.zoom_role if old else ZoomRole.ATTENDEE),
        kind=kind,
        roster_name=roster_name,
        muted=False if fresh_join or old is None else old.muted,
        video=False if fresh_join or old is None else old.video,
        came_through_waiting_room=(
            came_through
            if came_through is not None
            else (old.came_through_waiting_room if old else False)
        ),
        seq=seq,
    )
    d.put(person)
    return person


def _shows_more(person: Person) -> bool:
    """A member whose display name is not (just) their roster name."""
    return (
        person.kind == "member"
        and bool(person.roster_name)
        and normalise_name(person.name) != normalise_name(person.roster_name)
    )


def _arrived(d: _Draft, participant: Participant) -> None:
    old = d.people.get(participant.key)
    already = old is not None and old.where == "waiting"
    person = _upsert(d, participant, where="waiting", role=ZoomRole.ATTENDEE, came_through=True)
    if not already:  # the same arrival told again (webhook and SDK) is decided once
        _decide_waiting(d, person)


def _decide_waiting(d: _Draft, person: Person) -> None:
    """Admit, hold or announce someone who is in the waiting room."""
    if person.is_facilitator:
        d.out.append(Admit(target=_target(person)))
        return
    rule = RULES[d.phase]
    if rule.arrivals == "none" or person.key in d.held:
        return
    if person.kind == "guest" and person.key not in d.approved:
        _announce(d, person)
        return
    if d.agenda.rename_in_waiting_room and _shows_more(person):
        d.out.append(Rename(target=_target(person), new_name=person.roster_name))
    if rule.arrivals == "hold" and d.agenda.hold_during_meditation:
        if "told_waiting_room" not in d.said:
            d.said = d.said | {"told_waiting_room"}
            meditation_end = d.meditation_ends_at or d.setup.meditation_end
            d.out.append(
                SendChat(
                    to=Audience.WAITING_ROOM,
                    text=d.line("waiting_meditation", time=d.clock(meditation_end)),
                )
            )
        return
    d.out.append(Admit(target=_target(person)))


def _announce(d: _Draft, person: Person) -> None:
    """Tell the facilitators once that a guest is waiting (again later if none was there)."""
    if person.key in d.announced:
        return
    if d.tell_facilitators("unknown_waiting", name=person.name):
        d.announced = d.announced | {person.key}


def _announce_pending(d: _Draft) -> None:
    for person in sorted(d.people.values(), key=lambda p: p.seq):
        if (
            person.where == "waiting"
            and person.kind == "guest"
            and person.key not in d.approved
            and person.key not in d.held
            and person.key not in d.announced
        ):
            _announce(d, person)


def _joined(d: _Draft, participant: Participant, role: ZoomRole) -> None:
    """Someone is in the meeting proper. Admitted (`was_waiting`) when they were waiting, or
    when they last left from the waiting room and did not arrive again: Zoom reports an
    admission as leaving the waiting room and joining, in either order."""
    old = d.people.get(participant.key)
    if old is not None and old.where == "meeting":
        # The same join told again (webhook and SDK): new ids, and a role only if stronger
        # (a webhook's join says "attendee" for anyone but the host).
        stronger = role if role is not ZoomRole.ATTENDEE else old.zoom_role
        person = _upsert(d, participant, where="meeting", role=stronger)
        if person.is_facilitator and not old.is_facilitator:
            _announce_pending(d)
        if RULES[d.phase].mirror and person.key == d.presenter and d.mirror_on:
            # A rejoin whose departure was lost would bring them back audible: mute again.
            _enforce_mirror(d, person, audio=True, video=True)
        return
    was_waiting = old is not None and (
        old.where == "waiting" or (old.where == "gone" and old.came_through_waiting_room)
    )
    person = _upsert(d, participant, where="meeting", role=role, came_through=was_waiting)
    if person.key in d.held:
        d.held = d.held - {person.key}
    if person.is_facilitator:
        _announce_pending(d)
    else:
        if was_waiting and person.kind == "guest":
            # Someone let them in by hand (or with /admit): that is a facilitator's decision.
            d.approved = d.approved | {person.key}
        if d.phase is Phase.MEDITATION:
            if d.agenda.hold_during_meditation and not was_waiting:
                d.out.append(PutInWaitingRoom(target=_target(person)))
                return
            d.out.append(Mute(target=_target(person)))
    if RULES[d.phase].mirror and person.key == d.presenter and d.mirror_on:
        # Also when the presenter is a co-host: the mirror is about the case, not the role.
        _enforce_mirror(d, person, audio=True, video=True)
    if _shows_more(person):
        flag = f"name_reminded:{person.key}"
        if flag not in d.said:
            d.said = d.said | {flag}
            d.tell(person, "name_reminder", name=person.roster_name)
    _ask_location(d, person)


def _left(d: _Draft, participant: Participant) -> None:
    """Someone is gone; `came_through_waiting_room` then says whether they left from the
    waiting room (see `_joined`)."""
    old = d.people.get(participant.key)
    if old is not None and old.where != "gone":
        d.put(replace(_moved(old, "gone"), came_through_waiting_room=old.where == "waiting"))
        _video_seen(d, old.key, on=True)  # gone: no webcam clock runs for them


def _media(d: _Draft, participant: Participant, *, audio: bool | None, video: bool | None) -> None:
    old = d.people.get(participant.key)
    if old is None:
        old = _upsert(d, participant, where="meeting")
    person = Person(
        key=old.key,
        user_id=participant.user_id,
        name=old.name,
        email=old.email,
        registrant_id=old.registrant_id,
        where=old.where,
        zoom_role=old.zoom_role,
        kind=old.kind,
        roster_name=old.roster_name,
        muted=old.muted if audio is None else not audio,
        video=old.video if video is None else video,
        came_through_waiting_room=old.came_through_waiting_room,
        seq=old.seq,
    )
    d.put(person)
    if video is not None:
        _video_seen(d, person.key, on=video)
    turned_on = bool(audio) or bool(video)
    if turned_on and RULES[d.phase].mirror and person.key == d.presenter:
        if d.mirror_on:
            _enforce_mirror(d, person, audio=bool(audio), video=bool(video))
        _remind_mirror(d, person)


def _role_changed(d: _Draft, participant: Participant, role: ZoomRole) -> None:
    old = d.people.get(participant.key)
    where: Where = old.where if old is not None else "meeting"
    person = _upsert(d, participant, where=where, role=role)
    if person.is_facilitator and person.where == "meeting":
        _announce_pending(d)


def _recording(d: _Draft, participant: Participant | None) -> None:
    starter = None
    if participant is not None:
        known = d.people.get(participant.key)
        starter = Target(key=participant.key, user_id=participant.user_id, name=participant.name)
        name = _called(known) if known is not None else participant.name
    else:
        name = d.line("someone")
    d.out.append(StopRecording(started_by=starter))
    d.tell_facilitators("recording_stopped", name=name)


def _tell_unplanned(d: _Draft) -> None:
    """Tell the facilitators present, once, that this session is not on the calendar and
    is timed from its own start (see `Setup.unplanned`); wait for one to be there."""
    if _UNPLANNED_TOLD in d.said or d.phase is Phase.ENDED:
        return
    if not any(p.where == "meeting" and p.is_facilitator for p in d.people.values()):
        return
    start = d.setup.scheduled_start
    d.tell_facilitators(
        "unplanned_session",
        date=start.date().isoformat(),
        time=d.clock(start),
        end=d.clock(d.group_end),
    )
    d.said = d.said | {_UNPLANNED_TOLD}


def _refused(d: _Draft, event: ActionRefused) -> None:
    """Tell the facilitators, once, what Zoom would not let the bot do (see the docstring)."""
    if event.code in _QUIET_CODES or event.kind == "send_chat":
        return  # a refused chat line reported by a chat line could loop
    if event.code == "not_privileged":
        reason = d.line("reason_not_privileged")
    else:
        reason = d.line("reason_other", code=event.code)
    person = d.people.get(event.target_key) if event.target_key else None
    name = _called(person) if person is not None else event.target_name or d.line("someone")
    action = ""
    if event.kind == "admit":
        if person is not None and person.where != "waiting":
            return  # let in by hand meanwhile, or gone: nothing left to ask for
        flag, key = f"refused_admit:{event.target_key or event.target_name}", "refused_admit"
    elif (
        event.kind in ("mute", "stop_video")
        and d.phase is Phase.DISCUSSION
        and bool(event.target_key)
        and event.target_key == d.presenter
    ):
        flag, key = _REFUSED_MIRROR, "refused_mirror"
    else:
        flag, key = f"refused:{event.kind}:{event.code}", "refused_action"
        phrase = f"act_{event.kind}"
        phrase = phrase if phrase in DEFAULT_MESSAGES else "act_other"
        action = d.line(phrase, name=name, kind=event.kind)
    if flag in d.said:
        return
    if d.tell_facilitators(key, name=name, reason=reason, action=action):
        d.said = d.said | {flag}


# -- dispatch ---------------------------------------------------------------------------------


def _dispatch(d: _Draft, event: Event) -> None:
    if isinstance(event, TimerDue | MeetingStarted | MeetingEnded):
        return  # the clock work is done by _catch_up
    if isinstance(event, RecordingStarted):
        _recording(d, event.participant)
        return
    if isinstance(event, ActionRefused):
        _refused(d, event)
        return
    if isinstance(event, TrustedCommand):
        _trusted_command(d, event)
        return
    if isinstance(event, PrivateReply):
        _private_reply(d, event)
        return
    participant = event.sender if isinstance(event, ChatMessage) else event.participant
    if d.is_bot(participant):
        return
    match event:
        case ArrivedInWaitingRoom():
            _arrived(d, participant)
        case LeftWaitingRoom():
            old = d.people.get(participant.key)
            if old is None or old.where == "waiting":  # else admitted or gone: told already
                _left(d, participant)
        case Left():
            old = d.people.get(participant.key)
            if old is None or old.where != "waiting":  # else moved there: its arrival was told
                _left(d, participant)
        case Joined(role=role):
            _joined(d, participant, role)
        case AudioMuted():
            _media(d, participant, audio=False, video=None)
        case AudioUnmuted():
            _media(d, participant, audio=True, video=None)
        case VideoOn():
            _media(d, participant, audio=None, video=True)
        case VideoOff():
            _media(d, participant, audio=None, video=False)
        case RoleChanged(role=role):
            _role_changed(d, participant, role)
        case ChatMessage(text=text, message_id=message_id):
            _chat(d, participant, text, message_id)


# -- chat commands ----------------------------------------------------------------------------


def _chat(d: _Draft, participant: Participant, text: str, message_id: str) -> None:
    if message_id:
        if message_id in d.recent_messages:
            return
        d.recent_messages = (*d.recent_messages, message_id)[-RECENT_MESSAGE_IDS:]
    command = parse(text)
    if command is None:
        return
    sender = _chat_sender(d, participant)
    if not sender.is_facilitator:
        d.tell(sender, "refused_member", name=_called(sender))
        return
    _command(d, sender, command)


#: Prefix of a trusted source's command ids among `recent_messages` (kept apart from Zoom's).
_TRUSTED_ID = "trusted:"


def _trusted_command(d: _Draft, event: TrustedCommand) -> None:
    """Run a command from the console for a roster facilitator (see `TrustedCommand`)."""
    if event.command_id:
        seen = f"{_TRUSTED_ID}{event.source}:{event.command_id}"
        if seen in d.recent_messages:
            return
        d.recent_messages = (*d.recent_messages, seen)[-RECENT_MESSAGE_IDS:]
    command = parse(event.text)
    if command is None:
        return
    entry = _roster_facilitator(d, event)
    sender = Person(
        key=f"{event.source}:{event.member_id or normalise_name(event.facilitator)}",
        user_id="",
        name=entry.display_name if entry is not None else event.facilitator,
        where="gone",
        kind="facilitator" if entry is not None else "guest",
        roster_name=entry.display_name if entry is not None else "",
    )
    d.console_sender = sender.key
    if entry is None:
        d.tell(sender, "refused_member", name=event.facilitator)
        return
    _command(d, sender, command, target=event.target_key)


def _roster_facilitator(d: _Draft, event: TrustedCommand) -> RosterEntry | None:
    """The session roster's facilitator entry for the command's signer, or None."""
    for entry in d.setup.roster:
        if entry.role != "facilitator":
            continue
        if event.member_id and entry.member_id:
            if entry.member_id == event.member_id:
                return entry
        elif normalise_name(entry.display_name) == normalise_name(event.facilitator):
            return entry
    return None


def _chat_sender(d: _Draft, participant: Participant) -> Person:
    """Who typed a command.

    Zoom's chat webhook names the sender only by the per-join id (`sender_session_id`), not by
    the meeting-stable key, so someone present under that user id is the sender: a host who is
    not on the roster keeps their rights, and no phantom second person is recorded.
    """
    sender = d.people.get(participant.key)
    if sender is None:
        present = (
            p for p in d.people.values() if p.where != "gone" and p.user_id == participant.user_id
        )
        found = next(present, None)
        if found is not None:
            return found
    if sender is None or sender.user_id != participant.user_id or sender.name != participant.name:
        where: Where = sender.where if sender is not None else "meeting"
        sender = _upsert(d, participant, where=where)
    return sender


def _command(d: _Draft, sender: Person, command: Command, *, target: str = "") -> None:
    match command:
        case HelpCmd() | Unknown():
            d.tell(sender, "help")
        case BadUsage(verb=verb):
            d.tell(sender, "usage", usage=USAGE[verb])
        case StatusCmd():
            _status(d, sender)
        case NextCmd():
            _next(d, sender)
        case CaseCmd(name=name):
            _case(d, sender, name, target=target)
        case ExtendCmd(minutes=minutes):
            _extend(d, sender, minutes)
        case PauseCmd():
            if d.paused:
                d.tell(sender, "already_paused")
            else:
                d.paused = True
                d.tell(sender, "paused")
        case ResumeCmd():
            if d.paused:
                d.paused = False
                d.tell(sender, "resumed")
            else:
                d.tell(sender, "not_paused")
        case AdmitCmd(name=name, everyone=everyone):
            _admit(d, sender, name, everyone=everyone, target=target)
        case HoldCmd(name=name):
            _hold(d, sender, name, target=target)
        case MirrorCmd(on=on):
            _mirror(d, sender, on)
        case ReflectionCmd():
            _reflection(d, sender)
        case EndCmd():
            _end(d, sender)
        case SafetyCmd(name=name):
            _safety(d, sender, name)


def _status(d: _Draft, sender: Person) -> None:
    end = d.group_end
    if d.phase is Phase.REFLECTION and d.reflection_ends_at is not None:
        end = d.reflection_ends_at
    seconds = (end - d.now).total_seconds()
    minutes = max(0, math.ceil(seconds / 60))
    waiting = [p for p in sorted(d.people.values(), key=lambda p: p.seq) if p.where == "waiting"]
    d.tell(
        sender,
        "status",
        phase=_label(d.phase),
        minutes=minutes,
        time=d.clock(end),
        waiting=", ".join(p.name for p in waiting) or d.line("nobody"),
        paused=d.line("status_paused") if d.paused else "",
    )


def _next(d: _Draft, sender: Person) -> None:
    phase = d.phase
    if phase is Phase.ENDED:
        d.tell(sender, "already_ended")
    elif phase is Phase.CASE_CALL:
        d.tell(sender, "next_needs_case")
    elif phase is Phase.SOCIAL:
        if d.agenda.meditation_minutes:
            d.meditation_ends_at = d.now + d.agenda.meditation_minutes * _MINUTE
            d.out.append(ScheduleWakeup(at=d.meditation_ends_at, timer="meditation_end"))
            _enter(d, Phase.MEDITATION, "/next")
        else:
            _enter(d, Phase.CASE_CALL, "/next")
    elif phase is Phase.MEDITATION:
        _end_meditation(d, "/next")
    elif phase is Phase.RETURN:
        if d.cases >= d.agenda.max_cases:
            d.tell(sender, "next_last_case")
        else:
            d.presenter = ""
            _enter(d, Phase.CASE_CALL, "/next")
    elif phase is Phase.CLOSING:
        if d.agenda.reflection_minutes:
            _enter(d, Phase.REFLECTION, "/next")
        else:
            _enter(d, Phase.ENDED, "/next", line="ended")
    elif phase is Phase.REFLECTION:
        _enter(d, Phase.ENDED, "/next", line="ended")
    else:
        _enter(d, NEXT[phase], "/next")


def _resolve(d: _Draft, sender: Person, query: str, candidates: list[Person]) -> Person | None:
    """The one candidate `query` names, or None after telling the sender the candidates.

    Tried in tiers, the first non-empty tier deciding: the exact display name; the roster
    name; then every word of the query starting the words of a display or roster name
    ("ben r" finds "Ben Ray"). Case, accents and spacing never matter.
    """
    folded = normalise_name(query)
    words = folded.split(" ")
    tiers = (
        [p for p in candidates if normalise_name(p.name) == folded],
        [p for p in candidates if p.roster_name and normalise_name(p.roster_name) == folded],
        [
            p
            for p in candidates
            if _word_prefix(p.name, words) or _word_prefix(p.roster_name, words)
        ],
    )
    for found in tiers:
        if len(found) == 1:
            return found[0]
        if found:
            d.tell(sender, "ambiguous", query=query, names=", ".join(p.name for p in found))
            return None
    names = ", ".join(p.name for p in candidates) or d.line("nobody")
    d.tell(sender, "no_match", query=query, names=names)
    return None


def _word_prefix(name: str, words: list[str]) -> bool:
    """Each query word starts the matching word of `name` ("ben r" ~ "Ben Ray")."""
    parts = normalise_name(name).split(" ")
    if not name or len(parts) < len(words):
        return False
    return all(part.startswith(word) for part, word in zip(parts, words, strict=False))


def _in_meeting(d: _Draft) -> list[Person]:
    return [p for p in sorted(d.people.values(), key=lambda p: p.seq) if p.where == "meeting"]


def _case(d: _Draft, sender: Person, name: str, *, target: str = "") -> None:
    phase = d.phase
    if phase is Phase.ENDED:
        d.tell(sender, "already_ended")
        return
    if not RULES[phase].case_allowed:
        d.tell(sender, "case_not_now", phase=_label(phase))
        return
    if phase is not Phase.PRESENTATION and d.cases >= d.agenda.max_cases:
        d.tell(sender, "cases_done", count=d.cases)
        return
    if target:
        presenter = _by_key(d, sender, target, name, _in_meeting(d))
    else:
        presenter = _resolve(d, sender, name, _in_meeting(d))
    if presenter is None:
        return
    d.presenter = presenter.key
    if phase is Phase.PRESENTATION:
        d.say("presentation_start", name=_called(presenter))
        return
    d.cases += 1
    _enter(d, Phase.PRESENTATION, "/case")


def _extend(d: _Draft, sender: Person, minutes: int) -> None:
    if d.phase not in BEFORE_CLOSING:
        d.tell(sender, "extend_after_end")
        return
    d.extension_minutes += minutes
    end = d.group_end
    d.warned = frozenset(m for m in d.warned if d.now >= end - m * _MINUTE)
    d.say("extended", minutes=minutes, time=d.clock(end))
    d.out.extend(_end_alarms(d, end))


def _by_key(
    d: _Draft, sender: Person, key: str, name: str, candidates: list[Person]
) -> Person | None:
    """The candidate whose stable key is `key` (a console button names one person), or None
    after telling the sender that they are no longer there."""
    for person in candidates:
        if person.key == key:
            return person
    names = ", ".join(p.name for p in candidates) or d.line("nobody")
    d.tell(sender, "no_match", query=name, names=names)
    return None


def _admit(d: _Draft, sender: Person, name: str, *, everyone: bool, target: str = "") -> None:
    waiting = [p for p in sorted(d.people.values(), key=lambda p: p.seq) if p.where == "waiting"]
    if not waiting:
        d.tell(sender, "nobody_waiting")
        return
    if everyone:
        chosen = waiting
    else:
        if target:
            person = _by_key(d, sender, target, name, waiting)
        else:
            person = _resolve(d, sender, name, waiting)
        if person is None:
            return
        chosen = [person]
    for person in chosen:
        if person.kind == "guest":
            d.approved = d.approved | {person.key}
        d.held = d.held - {person.key}
        d.out.append(Admit(target=_target(person)))


def _hold(d: _Draft, sender: Person, name: str, *, target: str = "") -> None:
    """`/hold NAME`: put someone in the meeting back in the waiting room. A console button
    (`target`) may also name someone already waiting: they then stay there until admitted
    (no policy lets them in, not even the end of the meditation)."""
    if target:
        waiting = [p for p in d.people.values() if p.where == "waiting"]
        person = _by_key(d, sender, target, name, _in_meeting(d) + waiting)
    else:
        person = _resolve(d, sender, name, _in_meeting(d))
    if person is None:
        return
    if person.is_facilitator:
        d.tell(sender, "facilitator_not_held", name=person.name)
        return
    d.held = d.held | {person.key}
    if person.where == "waiting":
        d.tell(sender, "kept_waiting", name=person.name)
        return
    d.out.append(PutInWaitingRoom(target=_target(person)))


def _mirror(d: _Draft, sender: Person, on: bool) -> None:
    d.mirror_on = on
    d.tell(sender, "mirror_on" if on else "mirror_off")
    if not on:
        _release_mirror(d)
    presenter = d.presenter_present()
    if on and RULES[d.phase].mirror and presenter is not None:
        _enforce_mirror(d, presenter, audio=True, video=True)


def _reflection(d: _Draft, sender: Person) -> None:
    if d.phase is Phase.ENDED:
        d.tell(sender, "already_ended")
    elif not d.agenda.reflection_minutes:
        d.tell(sender, "reflection_none")
    elif d.phase is Phase.CLOSING:
        _enter(d, Phase.REFLECTION, "/reflection")
    else:
        d.tell(sender, "reflection_not_now")


def _end(d: _Draft, sender: Person) -> None:
    if d.phase is Phase.ENDED:
        d.tell(sender, "already_ended")
    elif d.phase in BEFORE_CLOSING:
        _enter(d, Phase.CLOSING, "/end")
    else:
        _enter(d, Phase.ENDED, "/end", line="ended")


# -- the safety plan and the webcam -------------------------------------------------------------


def _ask_location(d: _Draft, person: Person) -> None:
    """Ask a member who came into the meeting, once a session, where they are joining from."""
    if (
        not d.agenda.ask_location
        or person.kind != "member"
        or person.is_facilitator
        or person.where != "meeting"
        or person.key in d.location_asked
        or d.phase is Phase.ENDED
    ):
        return
    d.location_asked = {**d.location_asked, person.key: d.now}
    d.tell(person, "location_question", name=_called(person))
    if d.agenda.location_reminder_minutes:
        at = d.now + d.agenda.location_reminder_minutes * _MINUTE
        d.out.append(ScheduleWakeup(at=at, timer=_LOCATION_TIMER + person.key))


def _private_reply(d: _Draft, event: PrivateReply) -> None:
    """A member's sealed private line to the bot: their location, if they were asked.

    A line Zoom says went to someone else in the meeting is not for the bot (the webhook
    reports private chats between participants too); a line from anyone the bot did not ask
    is not an answer. Each later answer of the same member is kept too (a correction); the
    newest counts. The text stays sealed: the engine only passes it on.
    """
    if event.message_id:
        if event.message_id in d.recent_messages:
            return
        d.recent_messages = (*d.recent_messages, event.message_id)[-RECENT_MESSAGE_IDS:]
    if event.recipient_id and any(
        p.where != "gone" and p.user_id == event.recipient_id for p in d.people.values()
    ):
        return
    sender = _known_sender(d, event.sender)
    if sender is None or sender.kind != "member" or sender.key not in d.location_asked:
        return
    entry = next((e for e in d.setup.roster if e.display_name == sender.roster_name), None)
    d.out.append(
        RecordLocation(
            person=_target(sender),
            member_id=entry.member_id if entry is not None else "",
            sealed=event.sealed,
        )
    )
    flag = _ANSWERED + sender.key
    if flag not in d.said:
        d.said = d.said | {flag}
        d.tell(sender, "location_thanks", name=_called(sender))


def _known_sender(d: _Draft, participant: Participant) -> Person | None:
    """The person a chat line's sender is: by key, else whoever is here under that user id
    (Zoom's chat webhook names the sender only by the per-join id); None if nobody is."""
    found = d.people.get(participant.key)
    if found is not None:
        return found
    return next(
        (p for p in d.people.values() if p.where != "gone" and p.user_id == participant.user_id),
        None,
    )


def _video_seen(d: _Draft, key: str, *, on: bool) -> None:
    """Zoom reported someone's video on or off: the webcam clock starts (off) or stops (on)."""
    if on:
        if key in d.video_off_since:
            d.video_off_since = {k: v for k, v in d.video_off_since.items() if k != key}
        return
    if key in d.video_off_since or not d.agenda.webcam_reminder_minutes:
        return
    d.video_off_since = {**d.video_off_since, key: d.now}
    if _WEBCAM_REMINDED + key not in d.said:
        d.out.append(ScheduleWakeup(at=_webcam_due(d, d.now), timer=_WEBCAM_TIMER + key))


def _reminders(d: _Draft) -> None:
    """Give every location and webcam reminder that is due at `d.now` (once each)."""
    if d.phase is Phase.ENDED:
        return
    agenda = d.agenda
    if agenda.location_reminder_minutes:
        for key, asked in sorted(d.location_asked.items()):
            if {_ANSWERED + key, _LOCATION_REMINDED + key} & d.said:
                continue
            person = d.people.get(key)
            if person is None or person.where != "meeting":
                continue
            if d.now >= asked + agenda.location_reminder_minutes * _MINUTE:
                d.said = d.said | {_LOCATION_REMINDED + key}
                d.tell(person, "location_reminder", name=_called(person))
    if agenda.webcam_reminder_minutes and d.phase not in _NO_WEBCAM_RULE:
        for key, since in sorted(d.video_off_since.items()):
            person = d.people.get(key)
            if (
                _WEBCAM_REMINDED + key in d.said
                or person is None
                or person.where != "meeting"
                or person.kind != "member"
                or person.is_facilitator
                or (d.phase is Phase.DISCUSSION and key == d.presenter)
                or d.now < _webcam_due(d, since)
            ):
                continue
            d.said = d.said | {_WEBCAM_REMINDED + key}
            d.tell(person, "webcam_reminder", name=_called(person))


def _may_read_safety(d: _Draft, sender: Person) -> bool:
    """Only rights Zoom vouches for: host or co-host now, or the registrant id of a roster
    facilitator (their own registration link). Never a display name."""
    if sender.zoom_role is not ZoomRole.ATTENDEE:
        return True
    return bool(sender.registrant_id) and any(
        entry.role == "facilitator" and entry.registrant_id == sender.registrant_id
        for entry in d.setup.roster
    )


def _safety(d: _Draft, sender: Person, query: str) -> None:
    """`/safety NAME`: the runtime sends the member's safety plan to the sender privately."""
    if sender.key == d.console_sender:
        d.tell(sender, "safety_console")
        return
    if not _may_read_safety(d, sender):
        d.tell(sender, "safety_refused", name=_called(sender))
        return
    entry = _roster_member(d, sender, query)
    if entry is None:
        return
    d.out.append(
        SafetyAnswer(to=_target(sender), member_id=entry.member_id, member_name=entry.display_name)
    )


def _roster_member(d: _Draft, sender: Person, query: str) -> RosterEntry | None:
    """The one roster member `query` names (by roster name, or by the name someone here shows),
    or None after telling the sender why."""
    members = [e for e in d.setup.roster if e.role == "member"]
    folded = normalise_name(query)
    words = folded.split(" ")
    shown = {
        normalise_name(p.name): p.roster_name
        for p in d.people.values()
        if p.kind == "member" and p.roster_name
    }
    tiers = (
        [e for e in members if normalise_name(e.display_name) == folded],
        [e for e in members if shown.get(folded) == e.display_name],
        [e for e in members if _word_prefix(e.display_name, words)],
    )
    for found in tiers:
        if len(found) == 1:
            return found[0]
        if found:
            names = ", ".join(e.display_name for e in found)
            d.tell(sender, "ambiguous", query=query, names=names)
            return None
    names = ", ".join(e.display_name for e in members) or d.line("nobody")
    d.tell(sender, "safety_no_member", query=query, names=names)
    return None
