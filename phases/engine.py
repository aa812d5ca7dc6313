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
* recording is stopped at once and the facilitators are told who started it, once Zoom
  confirmed the stop.
* the bot says what it did in the meeting only after Zoom did it: an admission at the
  meditation's end ("Welcome, ..."), a stopped recording and the presenter's mute and stopped
  video are asked with `confirm=True`, and announced when the runtime reports them back
  (`ActionDone`); a refused one is left out of the line (and reported as below).
* the facilitator is in charge of the end: at the group's end the facilitators are told
  privately, and the clock closes the group only `overrun_grace_minutes` later; meanwhile
  `/next` or `/end` closes it, and `/extend N` (from then on: N minutes from now) gives
  more time. Nothing else moves by the clock in that grace, so a presenter stays behind the
  mirror until the facilitator decides.
* waiting room: during the meditation each member who arrives is told when they will be let
  in (one line per `WAITING_LINE_SECONDS` at most, covering everyone who arrived since); one
  who was already in the meeting this session and dropped is let in again at once; the
  reflection admits roster members only (no guest, even one a facilitator let in before).
* an action Zoom refused (`ActionRefused`, fed back by the runtime) is reported privately to
  the facilitators so they can do it by hand: once per person for an admission (who stays
  waiting, so `/admit` can retry), once per discussion for the presenter's mirror, once per
  kind and code otherwise; refused chat lines and observe-only refusals are not reported.
* facilitator commands (`phases.commands`) steer the session; members get a polite refusal.
  A `TrustedCommand` (the console) runs the same command for a roster facilitator who is not
  speaking in the chat: its answers go back to the console (`Audience.CONSOLE`), and a button
  that names one person (`target_key`: `/admit`, `/hold`, `/case`) acts on exactly them.
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
    Rename,
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
    StatusCmd,
    Unknown,
    parse,
)
from phases.events import (
    ActionDone,
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

__all__ = ["RECENT_MESSAGE_IDS", "WAITING_LINE_SECONDS", "handle", "new_session", "wakeups"]

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
#: The `said` flag of the private line that the group's end has passed (cleared by /extend).
_OVERRUN_TOLD = "told_overrun"
#: The `said` flag of members held since the last waiting-room line, who are due one.
_WAITING_DUE = "waiting_line_due"
#: Least time between two lines to the waiting room about the meditation's end: a crowd
#: arriving together gets one line, not one each (Zoom shows the waiting room's chat to
#: everyone in it); whoever arrives within it is told by one line when it has passed.
WAITING_LINE_SECONDS = 30
#: `SessionState.awaiting` tokens (see there).
_WELCOME, _WELCOMED, _RECORDING, _MIRROR = "welcome:", "welcomed:", "recording:", "mirror:"


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
        if _WAITING_DUE in state.said and state.waiting_told_at is not None:
            at = state.waiting_told_at + timedelta(seconds=WAITING_LINE_SECONDS)
            alarms.append(ScheduleWakeup(at=at, timer="waiting_line"))
    if state.phase in BEFORE_CLOSING:
        alarms.extend(_end_alarms(state, state.group_end))
    if state.phase is Phase.REFLECTION and state.reflection_ends_at is not None:
        alarms.append(ScheduleWakeup(at=state.reflection_ends_at, timer="reflection_end"))
    rule = RULES[state.phase]
    if rule.budget is not None and rule.budget(agenda) and "nudged" not in state.said:
        at = state.phase_since + timedelta(minutes=rule.budget(agenda))
        alarms.append(ScheduleWakeup(at=at, timer=f"budget_{state.phase.value}"))
    return sorted(alarms, key=lambda alarm: alarm.at)


def _end_alarms(state: SessionState | _Draft, end: datetime) -> list[ScheduleWakeup]:
    alarms = [
        ScheduleWakeup(at=end - mark * _MINUTE, timer=f"warning_{mark}")
        for mark in state.setup.agenda.warning_minutes
        if mark not in state.warned
    ]
    alarms.append(ScheduleWakeup(at=end, timer="group_end"))
    grace = state.setup.agenda.overrun_grace_minutes
    if grace:
        alarms.append(ScheduleWakeup(at=end + grace * _MINUTE, timer="group_close"))
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
    was_in: frozenset[str]
    waiting_told_at: datetime | None
    awaiting: frozenset[str]

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
    told = d.waiting_told_at
    if d.phase is Phase.MEDITATION and _WAITING_DUE in d.said and told is not None:
        if now >= told + timedelta(seconds=WAITING_LINE_SECONDS):
            _tell_waiting(d)
    if d.phase in BEFORE_CLOSING:
        _warnings(d, end)
        if now >= end + d.agenda.overrun_grace_minutes * _MINUTE:
            _enter(d, Phase.CLOSING, "clock")
        elif now >= end:
            _overrun(d, end)
    if (
        d.phase is Phase.REFLECTION
        and d.reflection_ends_at is not None
        and now >= d.reflection_ends_at
    ):
        _enter(d, Phase.ENDED, "clock", line="reflection_end")
    _budget(d)


def _overrun(d: _Draft, end: datetime) -> None:
    """The group's end has passed and its grace runs: tell the facilitators, once (as soon
    as one is there). The clock closes the group when the grace is over (`_catch_up`)."""
    if _OVERRUN_TOLD in d.said:
        return
    if not any(p.where == "meeting" and p.is_facilitator for p in d.people.values()):
        return
    close = end + d.agenda.overrun_grace_minutes * _MINUTE
    d.tell_facilitators("overrun", time=d.clock(end), close=d.clock(close))
    d.said = d.said | {_OVERRUN_TOLD}


def _overrunning(d: _Draft) -> bool:
    """The group's end has passed and the clock has not closed it yet (its grace)."""
    return d.phase in BEFORE_CLOSING and d.now >= d.group_end


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
    if old is Phase.DISCUSSION:
        d.awaiting = frozenset(t for t in d.awaiting if not t.startswith(_MIRROR))
    if old is Phase.DISCUSSION and phase is not Phase.ENDED:
        _release_mirror(d)
        presenter = d.presenter_present()
        if presenter is not None:
            d.out.append(AskUnmute(target=_target(presenter)))
            d.out.append(AskStartVideo(target=_target(presenter)))
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
        d.waiting_told_at = None
    elif old is Phase.MEDITATION:
        d.said = d.said - {_WAITING_DUE}
    if phase is Phase.DISCUSSION:
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
    """Admit everyone held for the meditation, in arrival order. One welcome line follows
    once Zoom has answered every one of these admissions, naming those it carried out
    (`_confirmed`)."""
    for person in sorted(d.people.values(), key=lambda p: p.seq):
        if person.where != "waiting" or person.key in d.held:
            continue
        if person.kind == "guest" and person.key not in d.approved:
            continue
        d.out.append(Admit(target=_target(person), confirm=True))
        d.awaiting = d.awaiting | {_WELCOME + person.key}


def _confirmed(d: _Draft, kind: str, key: str, *, ok: bool) -> None:
    """Zoom answered an action the bot means to announce (`SessionState.awaiting`): say
    what it did, and nothing of what it refused."""
    awaiting = d.awaiting
    if kind == "admit" and _WELCOME + key in awaiting:
        awaiting = awaiting - {_WELCOME + key} | ({_WELCOMED + key} if ok else set())
        if not any(token.startswith(_WELCOME) for token in awaiting):
            welcomed = [
                person
                for person in sorted(d.people.values(), key=lambda p: p.seq)
                if _WELCOMED + person.key in awaiting
            ]
            awaiting = frozenset(t for t in awaiting if not t.startswith(_WELCOMED))
            if welcomed:
                d.say("welcome_after_meditation", names=", ".join(_called(p) for p in welcomed))
    elif kind == "stop_recording":
        starters = sorted(t.removeprefix(_RECORDING) for t in awaiting if t.startswith(_RECORDING))
        awaiting = frozenset(t for t in awaiting if not t.startswith(_RECORDING))
        if ok and starters:
            d.tell_facilitators("recording_stopped", name=", ".join(starters))
    elif kind in ("mute", "stop_video") and _MIRROR + kind in awaiting:
        presenter = d.presenter_present()
        if not ok:
            awaiting = awaiting - {_MIRROR + "mute", _MIRROR + "stop_video"}
            if presenter is not None and presenter.key == key:
                d.tell(presenter, "mirror_self", name=_called(presenter))
        else:
            awaiting = awaiting - {_MIRROR + kind}
            done = not any(t.startswith(_MIRROR) for t in awaiting)
            if done and presenter is not None and presenter.key == key:
                d.tell(presenter, "mirror_explained", name=_called(presenter))
    d.awaiting = awaiting


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
        # "I have muted you and stopped your video" is told once Zoom did both (`_confirmed`).
        _enforce_mirror(d, presenter, audio=True, video=True, confirm=True)
        d.awaiting = d.awaiting | {_MIRROR + "mute", _MIRROR + "stop_video"}
    else:
        d.tell(presenter, "mirror_self", name=_called(presenter))


def _enforce_mirror(
    d: _Draft, presenter: Person, *, audio: bool, video: bool, confirm: bool = False
) -> None:
    if _MIRROR_LOCKED not in d.said:
        d.said = d.said | {_MIRROR_LOCKED}
        d.out.append(AllowSelfMedia(video=False))
    if audio:
        d.out.append(Mute(target=_target(presenter), allow_self_unmute=False, confirm=confirm))
    if video:
        d.out.append(StopVideo(target=_target(presenter), confirm=confirm))


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
    if person.kind == "guest" and rule.arrivals == "members":
        # Let in before, but the reflection is for the members: the facilitators decide.
        if any(p.where == "meeting" and p.is_facilitator for p in d.people.values()):
            d.tell_facilitators("unknown_waiting", name=person.name)
        return
    if d.agenda.rename_in_waiting_room and _shows_more(person):
        d.out.append(Rename(target=_target(person), new_name=person.roster_name))
    hold = rule.arrivals == "hold" and d.agenda.hold_during_meditation
    if hold and person.key not in d.was_in:  # who was in and dropped comes straight back
        _tell_waiting(d)
        return
    d.out.append(Admit(target=_target(person)))


def _tell_waiting(d: _Draft) -> None:
    """Tell the waiting room when the meditation ends, for the members held since the last
    such line: at once, or when `WAITING_LINE_SECONDS` have passed since the last one (a
    wake-up then; the line covers everyone who arrived meanwhile)."""
    last = d.waiting_told_at
    gap = timedelta(seconds=WAITING_LINE_SECONDS)
    if last is not None and d.now < last + gap:
        if _WAITING_DUE not in d.said:
            d.out.append(ScheduleWakeup(at=last + gap, timer="waiting_line"))
        d.said = d.said | {_WAITING_DUE}
        return
    d.said = d.said - {_WAITING_DUE}
    meditation_end = d.meditation_ends_at or d.setup.meditation_end
    if d.now >= meditation_end:
        return  # paused past its end: the time would be wrong; /resume lets them in
    d.waiting_told_at = d.now
    d.out.append(
        SendChat(
            to=Audience.WAITING_ROOM,
            text=d.line("waiting_meditation", time=d.clock(meditation_end)),
        )
    )


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
            back = person.key in d.was_in  # dropped, and back: not a latecomer
            if d.agenda.hold_during_meditation and not was_waiting and not back:
                d.out.append(PutInWaitingRoom(target=_target(person)))
                return
            d.out.append(Mute(target=_target(person)))
    d.was_in = d.was_in | {person.key}
    if RULES[d.phase].mirror and person.key == d.presenter and d.mirror_on:
        # Also when the presenter is a co-host: the mirror is about the case, not the role.
        _enforce_mirror(d, person, audio=True, video=True)
    if _shows_more(person):
        flag = f"name_reminded:{person.key}"
        if flag not in d.said:
            d.said = d.said | {flag}
            d.tell(person, "name_reminder", name=person.roster_name)


def _left(d: _Draft, participant: Participant) -> None:
    """Someone is gone; `came_through_waiting_room` then says whether they left from the
    waiting room (see `_joined`)."""
    old = d.people.get(participant.key)
    if old is not None and old.where != "gone":
        d.put(replace(_moved(old, "gone"), came_through_waiting_room=old.where == "waiting"))


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
    # "I stopped a recording" is told once Zoom stopped it (`_confirmed`).
    d.out.append(StopRecording(started_by=starter, confirm=True))
    d.awaiting = d.awaiting | {_RECORDING + name}


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
    _confirmed(d, event.kind, event.target_key, ok=False)
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
    if isinstance(event, ActionDone):
        _confirmed(d, event.kind, event.target_key, ok=True)
        return
    if isinstance(event, TrustedCommand):
        _trusted_command(d, event)
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
    elif _overrunning(d):
        _enter(d, Phase.CLOSING, "/next")  # past the group's end, /next closes (see _overrun)
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
    """Move the group's end `minutes` later; past the end (its grace), `minutes` from now."""
    if d.phase not in BEFORE_CLOSING:
        d.tell(sender, "extend_after_end")
        return
    if _overrunning(d):
        behind = math.ceil((d.now - d.group_end).total_seconds() / 60)
        d.extension_minutes += behind + minutes
        d.said = d.said - {_OVERRUN_TOLD}
    else:
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
