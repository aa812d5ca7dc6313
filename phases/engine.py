"""The phase engine: `new_session` builds a session, `handle` takes it one event further.

`handle(state, event, now) -> (state, actions)` is pure: no clock, no I/O, no mutation of
its arguments, and it does not raise on any event or chat text. The policies it applies are
described in `phases._table` (the theory of operation) and in issue 2; in short:

* who is who (`phases.identity`): a registrant id, a signed-in e-mail, the exact roster
  display name or full name (titles dropped), never the first word. Facilitator rights
  (commands, never held) come only from the Zoom role (host / co-host) or a registrant id /
  signed-in e-mail of a roster facilitator; a name alone never grants them.
* arrivals: roster members are admitted at once except during the meditation, when
  non-facilitators wait and are admitted together, in arrival order, at its end. Held and
  told to the facilitators privately, with the likely roster match, instead: people not on
  the roster, phone callers, a name that fits two roster lines, a second person showing a
  name already here, a member matched by name when the group does not admit by name
  (`Agenda.admit_by_name`), a member no longer on the roster or not enrolled in the current
  module. `/admit NAME [as ROSTER_NAME]` lets them in (and records who they are). With no
  facilitator in the meeting the person is told a facilitator will admit them; the bot never
  falls back to letting them in. Facilitators are never held. The bot ignores itself.
* the one-way mirror: during the discussion the presenter is muted without self-unmute
  (Zoom's per-person switch) and their video stopped, with restarting video forbidden
  (Zoom has that switch only meeting-wide; it binds only those whose video the host
  stopped), or only reminded, when enforcement is off; on leaving it (or `/mirror off`)
  both are allowed again (`AllowSelfMedia`) and the presenter is asked to come back. The
  bot never unmutes or starts anyone's video, and asks only the returning presenter.
* Zoom tells some facts twice (a webhook and the SDK bot in the meeting, merged by the
  runtime under one person key): an arrival of someone already waiting, a join of someone
  already in the meeting or a waiting-room exit of someone not waiting changes nothing but
  their ids, what Zoom says about who they are (`phases.identity`: the SDK reports no
  e-mail nor registrant id, which never takes them away) and a stronger role.
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
  who was already in the meeting this session and dropped is let in again at once (if the bot
  can still tell who they are: `doubt`); the reflection admits roster members only (no guest,
  even one a facilitator let in before).
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
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import fields, replace
from datetime import datetime, timedelta
from typing import TypeVar

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
    PrivateReply,
    RecordingStarted,
    RoleChanged,
    TimerDue,
    TrustedCommand,
    VideoOff,
    VideoOn,
    ZoomRole,
)
from phases.identity import EVIDENCE_RANK, NAME_ONLY, STRONG, find_entries, resolve
from phases.messages import DEFAULT_MESSAGES, Messages
from phases.roster import RosterEntry, normalise_name
from phases.state import EndMarks, Person, Phase, SessionState, Setup, Where, end_marks

__all__ = [
    "RECENT_MESSAGE_IDS",
    "WAITING_LINE_SECONDS",
    "as_participant",
    "doubt",
    "handle",
    "new_session",
    "wakeups",
]

_Value = TypeVar("_Value")
#: How many recent chat message ids are remembered to run a duplicated command once.
RECENT_MESSAGE_IDS = 64

_SlotSetters = tuple[Callable[[object, object], None], ...]


def _slot_setters(cls: type, names: Sequence[str]) -> _SlotSetters:
    """The setter of each named slot of the frozen dataclass `cls`, for `_filled`.

    Raises:
        TypeError: `cls` has a `__post_init__`, which `_filled` would skip.
    """
    if hasattr(cls, "__post_init__"):
        raise TypeError(f"{cls.__name__} checks or derives in __post_init__: build it normally")
    return tuple(getattr(cls, name).__set__ for name in names)


def _filled(cls: type[_Value], setters: _SlotSetters, values: Iterable[object]) -> _Value:
    """A new `cls` whose slots hold `values` (in `setters` order).

    The same value as `cls(**fields)`: the dataclass `__init__` of a class without
    `__post_init__` (`_slot_setters` refuses one) only assigns its fields. Filling the slots
    directly costs half as much, which counts for the state and the person records built at
    nearly every event.
    """
    made: _Value = object.__new__(cls)
    for set_slot, value in zip(setters, values, strict=True):
        set_slot(made, value)
    return made


_FIELDS = tuple(f.name for f in fields(SessionState))
#: Every field of a state (or of a `_Draft`) as one tuple, in `_FIELDS` order.
_field_values = operator.attrgetter(*_FIELDS)
_STATE_SLOTS = _slot_setters(SessionState, _FIELDS)
_PERSON_FIELDS = tuple(f.name for f in fields(Person))
#: Every field of a `Person` as one tuple, in `_PERSON_FIELDS` order.
_person_values = operator.attrgetter(*_PERSON_FIELDS)
_PERSON_SLOTS = _slot_setters(Person, _PERSON_FIELDS)
#: Where `_changed` finds the fields it changes in `_person_values`.
_USER_ID, _WHERE, _MUTED, _VIDEO = (
    _PERSON_FIELDS.index(name) for name in ("user_id", "where", "muted", "video")
)
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
#: Longest display name quoted in a chat line (a 500-character name is cut, not repeated).
_SHOWN_NAME = 60
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
#: `said` flags of the safety plan and the webcam, each followed by a person key.
_ANSWERED = "location_answered:"
_LOCATION_REMINDED = "location_reminded:"
_WEBCAM_REMINDED = "webcam_reminded:"
#: Timer names of the reminders, each followed by a person key.
_LOCATION_TIMER = "location_reminder:"
_WEBCAM_TIMER = "webcam_reminder:"
#: The phases `_catch_up` asks about, twice per event: a member read from the enum class
#: costs as much as a function call (Python 3.11's EnumType has a `__getattr__`).
_SOCIAL, _MEDITATION, _REFLECTION, _ENDED = (
    Phase.SOCIAL,
    Phase.MEDITATION,
    Phase.REFLECTION,
    Phase.ENDED,
)
#: Events whose work is all done by `_catch_up` (`_dispatch` ignores them).
_CLOCK_EVENTS = (TimerDue, MeetingStarted, MeetingEnded)
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
        _reminders(draft)
        if draft.setup.unplanned:
            _tell_unplanned(draft)
    return draft.freeze(), draft.out


class _Draft:
    """A mutable working copy of a state for the length of one `handle` call."""

    __slots__ = (
        *_FIELDS,
        "now",
        "out",
        "agenda",
        "_own_people",
        "_bot",
        "console_sender",
        "_marks_for",
        "_marks",
    )

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
    admitting: frozenset[str]
    awaiting: frozenset[str]
    location_asked: Mapping[str, datetime]
    video_off_since: Mapping[str, datetime]
    #: `end_marks` as worked out for the `extension_minutes` in `_marks_for`
    _marks_for: int | None
    _marks: EndMarks

    def __init__(self, state: SessionState, now: datetime) -> None:
        # Spelled out (one line per field, as declared above): this runs for every event, and
        # a loop of getattr / setattr over `_FIELDS` cost three times as much. A field left
        # out here fails every `freeze` (its slot is unset).
        self.setup = state.setup
        self.phase = state.phase
        self.phase_since = state.phase_since
        self.people = state.people
        self.presenter = state.presenter
        self.cases = state.cases
        self.extension_minutes = state.extension_minutes
        self.paused = state.paused
        self.meditation_ends_at = state.meditation_ends_at
        self.reflection_ends_at = state.reflection_ends_at
        self.warned = state.warned
        self.said = state.said
        self.mirror_on = state.mirror_on
        self.last_mirror_reminder = state.last_mirror_reminder
        self.announced = state.announced
        self.approved = state.approved
        self.held = state.held
        self.recent_messages = state.recent_messages
        self.arrivals = state.arrivals
        self.was_in = state.was_in
        self.waiting_told_at = state.waiting_told_at
        self.admitting = state.admitting
        self.awaiting = state.awaiting
        self.location_asked = state.location_asked
        self.video_off_since = state.video_off_since
        self.now = now
        self.out: list[Action] = []
        #: `setup.agenda` (a draft's setup never changes; read a few times per event)
        self.agenda: Agenda = state.setup.agenda
        self._marks_for = None  # `_marks` not worked out yet
        self._own_people: dict[str, Person] | None = None
        self._bot = normalise_name(state.setup.agenda.bot_name)
        #: key of the facilitator a `TrustedCommand` is being run for ("" otherwise)
        self.console_sender = ""

    def freeze(self) -> SessionState:
        """The draft as the next state (see `_filled`)."""
        return _filled(SessionState, _STATE_SLOTS, _field_values(self))

    # -- small helpers used everywhere -----------------------------------------------------

    @property
    def group_end(self) -> datetime:
        return self.end_marks()[0]

    def end_marks(self) -> EndMarks:
        """The group's end, the moment the clock closes it and each warning mark's moment
        (`phases.state.end_marks`), for the current `extension_minutes`.

        Before any `/extend` they are the setup's, worked out once a session; after one,
        once per `handle` call (`_catch_up` runs twice per event).
        """
        extension = self.extension_minutes
        if extension == 0:
            return self.setup.unextended
        if self._marks_for != extension:
            minutes = self.agenda.length_minutes + extension
            end = self.setup.scheduled_start + timedelta(minutes=minutes)
            self._marks = end_marks(self.agenda, end)
            self._marks_for = extension
        return self._marks

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
    if d.paused or d.phase is _ENDED:
        return
    now = d.now
    setup = d.setup
    if d.phase is _SOCIAL and now >= setup.scheduled_start:
        end = d.group_end
        if d.agenda.meditation_minutes:
            d.meditation_ends_at = setup.meditation_end
            quiet = now >= setup.meditation_end or now >= end
            _enter(d, Phase.MEDITATION, "clock", at=setup.scheduled_start, quiet=quiet)
        else:
            _enter(d, Phase.CASE_CALL, "clock", at=setup.scheduled_start, quiet=now >= end)
    if d.phase is _MEDITATION and d.meditation_ends_at is not None and now >= d.meditation_ends_at:
        _end_meditation(d, "clock", quiet=now >= d.group_end)
    told = d.waiting_told_at
    if d.phase is _MEDITATION and _WAITING_DUE in d.said and told is not None:
        if now >= told + timedelta(seconds=WAITING_LINE_SECONDS):
            _tell_waiting(d)
    if d.phase in BEFORE_CLOSING:
        end, close, warnings = d.end_marks()
        _warnings(d, end, warnings)
        if now >= close:
            _enter(d, Phase.CLOSING, "clock")
        elif now >= end:
            _overrun(d, end)
    if d.phase is _REFLECTION and d.reflection_ends_at is not None and now >= d.reflection_ends_at:
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


def _warnings(d: _Draft, end: datetime, marks: tuple[tuple[int, datetime], ...]) -> None:
    """Post the warnings whose `marks` (`_Draft.end_marks`) are due and not posted yet."""
    warned = d.warned
    now = d.now
    due = [mark for mark, at in marks if mark not in warned and now >= at]
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
    present = _present_names(d)
    for person in sorted(d.people.values(), key=lambda p: p.seq):
        if person.where != "waiting" or person.key in d.held:
            continue
        if _doubt(d, person, present):
            continue
        _let_in(d, person, confirm=True)
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
    if not d.paused and d.now >= d.end_marks()[1]:
        # the clock closes this discussion at once (a meeting restarted after the close
        # mark, `_reopen`): the presenter is not muted only to be asked to unmute again
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
    return _changed(person, where=where)


def _changed(
    person: Person,
    *,
    where: Where | None = None,
    user_id: str | None = None,
    muted: bool | None = None,
    video: bool | None = None,
) -> Person:
    """`person` with their place, per-join id or media changed (`_filled`, not
    `dataclasses.replace`: this runs for nearly every event and is the engine's hot path)."""
    values: list[object] = list(_person_values(person))
    if user_id is not None:
        values[_USER_ID] = user_id
    if where is not None:
        values[_WHERE] = where
    if muted is not None:
        values[_MUTED] = muted
    if video is not None:
        values[_VIDEO] = video
    return _filled(Person, _PERSON_SLOTS, values)


def _merged(participant: Participant, old: Person | None) -> Participant:
    """What Zoom has said about someone so far: an event that leaves out an identifier (a
    chat line has no registrant id, a leave may have no name) does not take it away, and an
    e-mail from an event that does not vouch for it never replaces a vouched one."""
    if old is None:
        return participant
    if participant.signed_in:  # a vouched e-mail, or none: never an earlier unvouched one
        email = participant.email or (old.email if old.signed_in else "")
    elif old.signed_in:
        email = old.email
    else:
        email = participant.email or old.email
    return Participant(
        key=participant.key,
        user_id=participant.user_id,
        name=participant.name or old.name,
        email=email,
        registrant_id=participant.registrant_id or old.registrant_id,
        signed_in=participant.signed_in or old.signed_in,
        phone=participant.phone or old.phone,
    )


def _news(old: Person, facts: Participant) -> bool:
    """Zoom says something new about `old` (so who they are is resolved again); a record
    from before identities were kept (a roster name without evidence) is resolved too."""
    said = (facts.name, facts.email, facts.registrant_id, facts.signed_in, facts.phone)
    known = (old.name, old.email, old.registrant_id, old.signed_in, old.phone)
    return said != known or (bool(old.roster_name) and not old.evidence)


def as_participant(person: Person) -> Participant:
    """`person` as the identity resolver (`phases.identity.resolve`) reads a participant."""
    return Participant(
        key=person.key,
        user_id=person.user_id,
        name=person.name,
        email=person.email,
        registrant_id=person.registrant_id,
        signed_in=person.signed_in,
        phone=person.phone,
    )


def _upsert(
    d: _Draft,
    participant: Participant,
    *,
    where: Where,
    role: ZoomRole | None = None,
    came_through: bool | None = None,
) -> Person:
    """Record what an event says about someone and return their new record.

    Who they are is resolved again only when what Zoom says about them changed, and an
    identity is replaced only by one with stronger evidence (`EVIDENCE_RANK`): a member
    matched by name who renames stays who they were, and a facilitator's `/admit ... as`
    is not undone by a later event.
    """
    old = d.people.get(participant.key)
    facts = _merged(participant, old)
    identity = old
    if old is None or _news(old, facts):
        found = resolve(d.setup.roster, facts)
        stronger = old is None or EVIDENCE_RANK[found.evidence] > EVIDENCE_RANK[old.evidence]
        # A guest, or a record kept before evidence was (perhaps a first-word match), is
        # always decided afresh.
        if old is None or not old.evidence or stronger:
            entry = found.entry
            identity = Person(
                key=facts.key,
                user_id=facts.user_id,
                name=facts.name,
                kind=entry.role if entry is not None else "guest",
                roster_name=entry.display_name if entry is not None else "",
                evidence=found.evidence,
                standing=entry.standing if entry is not None else "active",
            )
    assert identity is not None
    seq = old.seq if old is not None else 0
    if where == "waiting" and (old is None or old.where != "waiting"):
        d.arrivals += 1
        seq = d.arrivals
    fresh_join = old is None or old.where != where
    person = Person(
        key=facts.key,
        user_id=facts.user_id,
        name=facts.name,
        email=facts.email,
        registrant_id=facts.registrant_id,
        where=where,
        zoom_role=role if role is not None else (old.zoom_role if old else ZoomRole.ATTENDEE),
        kind=identity.kind,
        roster_name=identity.roster_name,
        muted=False if fresh_join or old is None else old.muted,
        video=False if fresh_join or old is None else old.video,
        came_through_waiting_room=(
            came_through
            if came_through is not None
            else (old.came_through_waiting_room if old else False)
        ),
        seq=seq,
        evidence=identity.evidence,
        standing=identity.standing,
        signed_in=facts.signed_in,
        phone=facts.phone,
    )
    d.put(person)
    return person


def _shows_more(person: Person) -> bool:
    """A member whose display name is not (just) their roster name (a caller cannot rename)."""
    return (
        person.kind == "member"
        and bool(person.roster_name)
        and not person.phone
        and normalise_name(person.name) != normalise_name(person.roster_name)
    )


def _shown(d: _Draft, name: str) -> str:
    """A display name as a chat line quotes it: cut when very long, a placeholder if empty."""
    name = " ".join(name.split())
    if not name:
        return d.line("no_name")
    return name if len(name) <= _SHOWN_NAME else name[: _SHOWN_NAME - 1] + "\u2026"


def doubt(state: SessionState, person: Person) -> str:
    """Why the engine does not let `person` in by itself ("" when it would), in one word:
    `unknown` (not on the roster), `ambiguous` (the name fits several roster lines), `phone`
    (a telephone caller), `inactive`, `not_enrolled`, `name_only` (the group does not admit
    by name) or `duplicate` (someone with the same roster name is here already). A
    facilitator's earlier decision settles every doubt. The console's live page shows it.
    """
    reason = _doubt(state, person)
    if reason == "unknown" and resolve(state.setup.roster, as_participant(person)).ambiguous:
        return "ambiguous"
    return reason


def _doubt(d: _Draft | SessionState, person: Person, present: Counter[str] | None = None) -> str:
    """Why the bot may not admit `person` by itself ("" when it may).

    `present` counts the roster names of everyone in the meeting or the waiting room (built
    here when not given); a facilitator's earlier decision (`approved`) settles every doubt.
    """
    if person.is_facilitator or person.key in d.approved:
        return ""
    if not person.roster_name:
        return "phone" if person.phone else "unknown"
    if person.standing != "active":
        return person.standing
    if person.evidence in NAME_ONLY:
        if not d.agenda.admit_by_name:
            return "name_only"
        if present is None:
            present = _present_names(d)
        if present[person.roster_name] > 1:
            return "duplicate"
    return ""


def _present_names(d: _Draft | SessionState) -> Counter[str]:
    """How many people in the meeting or the waiting room carry each roster name."""
    return Counter(p.roster_name for p in d.people.values() if p.where != "gone" and p.roster_name)


def _arrived(d: _Draft, participant: Participant) -> None:
    old = d.people.get(participant.key)
    already = old is not None and old.where == "waiting"
    doubted = old is not None and already and bool(_doubt(d, old))
    trusted = old is not None and old.is_facilitator
    person = _upsert(d, participant, where="waiting", role=ZoomRole.ATTENDEE, came_through=True)
    if not already:
        if person.key in d.admitting:
            d.admitting = d.admitting - {person.key}
        _decide_waiting(d, person)
        return
    # The same arrival told again (webhook and SDK) is decided once, unless it now says
    # better who they are (the SDK's poll gives a name; the webhook a registrant id) and
    # they are not being let in already.
    better = (person.is_facilitator and not trusted) or (doubted and not _doubt(d, person))
    if better and person.key not in d.admitting:
        _decide_waiting(d, person)


def _let_in(d: _Draft, person: Person, *, confirm: bool = False) -> None:
    """Ask Zoom to let someone in from the waiting room (once per arrival, see `_arrived`)."""
    d.out.append(Admit(target=_target(person), confirm=confirm))
    d.admitting = d.admitting | {person.key}


def _decide_waiting(d: _Draft, person: Person) -> None:
    """Admit, hold or announce someone who is in the waiting room."""
    if person.is_facilitator:
        _let_in(d, person)
        return
    rule = RULES[d.phase]
    if rule.arrivals == "none" or person.key in d.held:
        return
    if _doubt(d, person):
        _announce(d, person)
        return
    if person.kind == "guest" and rule.arrivals == "members":
        # Let in before, but the reflection is for the members: the facilitators decide.
        if any(p.where == "meeting" and p.is_facilitator for p in d.people.values()):
            d.tell_facilitators("unknown_waiting", name=_shown(d, person.name))
        return
    if d.agenda.rename_in_waiting_room and _shows_more(person):
        d.out.append(Rename(target=_target(person), new_name=person.roster_name))
    hold = rule.arrivals == "hold" and d.agenda.hold_during_meditation
    if hold and person.key not in d.was_in:  # who was in and dropped comes straight back
        _tell_waiting(d)
        return
    _let_in(d, person)


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
    """Tell the facilitators once, privately, who is held and why, with the likely roster
    match; with none in the meeting, tell the person (once) that a facilitator will come."""
    if person.key in d.announced:
        return
    if any(p.where == "meeting" and p.is_facilitator for p in d.people.values()):
        key, values = _held_line(d, person)
        d.tell_facilitators(key, **values)
        d.announced = d.announced | {person.key}
        return
    flag = f"told_wait:{person.key}"
    if flag not in d.said:
        d.said = d.said | {flag}
        d.out.append(SendChat(to=Audience.WAITING_ROOM, text=d.line("waiting_for_facilitator")))


def _held_line(d: _Draft, person: Person) -> tuple[str, dict[str, object]]:
    """The catalogue key and values telling the facilitators why `person` is held."""
    reason = _doubt(d, person) or "unknown"
    name = _shown(d, person.name)
    if reason in ("unknown", "phone"):
        found = resolve(d.setup.roster, as_participant(person))
        names = " or ".join(entry.display_name for entry in found.likely)
        if found.ambiguous:
            return "ambiguous_waiting", {"name": name, "names": names}
        hint = d.line("hint_likely", names=names) if names else ""
        return f"{reason}_waiting", {"name": name, "hint": hint}
    same = normalise_name(person.name) == normalise_name(person.roster_name)
    who = name if same else f"{name} ({person.roster_name})"
    return f"{reason}_waiting", {"name": name, "roster": person.roster_name, "who": who}


def _announce_pending(d: _Draft) -> None:
    present = _present_names(d)
    for person in sorted(d.people.values(), key=lambda p: p.seq):
        if (
            person.where == "waiting"
            and person.key not in d.held
            and person.key not in d.announced
            and _doubt(d, person, present)
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
        if _doubt(d, person):
            if not was_waiting:
                # In without passing the waiting room (it is off): held like any doubtful
                # arrival; the bot never lets in someone it cannot tell.
                d.out.append(PutInWaitingRoom(target=_target(person)))
                _announce(d, person)
                return
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
    person = _changed(
        old,
        user_id=participant.user_id,
        muted=None if audio is None else not audio,
        video=video,
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
    if event.kind == "admit" and event.code != "not_in_waiting_room":
        # Zoom did not let them in: they are not being let in any more, and the same
        # arrival told again with better evidence is decided again (see `_arrived`).
        d.admitting = d.admitting - {event.target_key}
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
    if isinstance(event, _CLOCK_EVENTS):
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
        refusal = "refused_unverified" if sender.unverified_facilitator else "refused_member"
        d.tell(sender, refusal, name=_shown(d, _called(sender)))
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
    """The session roster's facilitator entry for the command's signer, or None (also for
    a facilitator a later roster import no longer lists: `inactive`)."""
    for entry in d.setup.roster:
        if entry.role != "facilitator" or entry.standing != "active":
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
    if (
        sender is None
        or sender.user_id != participant.user_id
        or _news(sender, _merged(participant, sender))
    ):
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
        case AdmitCmd(name=name, everyone=everyone, as_name=as_name):
            if as_name:
                _admit_as(d, sender, name, as_name, target=target)
            else:
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
        waiting=", ".join(_shown(d, p.name) for p in waiting) or d.line("nobody"),
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
    """The one candidate `query` names, or None after telling the sender the candidates."""
    found = _find(query, candidates)
    if len(found) == 1:
        return found[0]
    if found:
        names = ", ".join(_shown(d, p.name) for p in found)
        d.tell(sender, "ambiguous", query=_shown(d, query), names=names)
        return None
    names = ", ".join(_shown(d, p.name) for p in candidates) or d.line("nobody")
    d.tell(sender, "no_match", query=_shown(d, query), names=names)
    return None


def _find(query: str, candidates: list[Person]) -> list[Person]:
    """The candidates `query` names ([] for none, several when it is ambiguous).

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
        if found:
            return found
    return []


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
    names = ", ".join(_shown(d, p.name) for p in candidates) or d.line("nobody")
    d.tell(sender, "no_match", query=_shown(d, name), names=names)
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
    present = _present_names(d)
    for person in chosen:
        if _doubt(d, person, present):
            d.approved = d.approved | {person.key}
        d.held = d.held - {person.key}
        _let_in(d, person)


def _admit_as(d: _Draft, sender: Person, name: str, as_name: str, *, target: str = "") -> None:
    """`/admit NAME as ROSTER_NAME`: let someone waiting in as that roster person, or record
    who someone already in the meeting is; either way for attendance, never for rights. A
    console button (`target`) names the person by key."""
    entries = find_entries(d.setup.roster, as_name)
    if not entries:
        d.tell(sender, "as_no_match", query=_shown(d, as_name))
        return
    if len(entries) > 1:
        names = ", ".join(entry.display_name for entry in entries)
        d.tell(sender, "as_ambiguous", query=_shown(d, as_name), names=names)
        return
    entry = entries[0]
    people = sorted(d.people.values(), key=lambda p: p.seq)
    waiting = [p for p in people if p.where == "waiting"]
    others = [p for p in people if p.where == "meeting" and not p.is_facilitator]
    if target:
        chosen = _by_key(d, sender, target, name, waiting + others)
        if chosen is None:
            return
        person = chosen
    else:
        found = _find(name, waiting) or _find(name, others)
        if len(found) != 1:
            _resolve(d, sender, name, waiting + others)
            return
        person = found[0]
    if person.evidence in STRONG:
        if person.roster_name != entry.display_name:
            d.tell(sender, "as_kept", name=_shown(d, person.name), roster=person.roster_name)
    else:
        person = replace(
            person,
            kind=entry.role,
            roster_name=entry.display_name,
            evidence="confirmed",
            standing=entry.standing,
        )
        d.put(person)
    line = "noted_as"
    if person.where == "waiting":
        d.approved = d.approved | {person.key}
        d.held = d.held - {person.key}
        _let_in(d, person)
        line = "admitted_as"
    if person.roster_name == entry.display_name:
        d.tell(sender, line, name=_shown(d, person.name), roster=person.roster_name)


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
        d.tell(sender, "facilitator_not_held", name=_shown(d, person.name))
        return
    d.held = d.held | {person.key}
    if person.where == "waiting":
        d.tell(sender, "kept_waiting", name=_shown(d, person.name))
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
