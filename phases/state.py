"""The engine's state: everything `handle` needs to decide, and nothing more.

`SessionState` is a frozen value. `handle` never mutates it: it builds the next state and
shares every part that did not change (the setup, untouched people), so a step costs little
however long the session runs. The state serialises to JSON and back exactly
(`from_json(s.to_json()) == s` and the text round-trips byte for byte), which is how the
durable runtime survives a restart.

What is tracked is what the policies need: who is in the meeting or the waiting room (by
stable key, with their current per-join user id, name, roles and media), the waiting order,
the presenter, the cases so far, the clock marks, and which one-time lines were already said.
Attendance is not tracked here; storage derives it from the journal.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from phases.agenda import Agenda
from phases.errors import AgendaError, StateError
from phases.events import ZoomRole
from phases.identity import EVIDENCE_RANK, STRONG, Evidence
from phases.messages import Messages
from phases.roster import STANDINGS, RosterEntry, Standing

__all__ = ["EndMarks", "Kind", "Person", "Phase", "SessionState", "Setup", "Where", "end_marks"]

_FORMAT = 1

Where = Literal["meeting", "waiting", "gone"]
#: member / facilitator from the roster; guest = not on the roster.
Kind = Literal["member", "facilitator", "guest"]


#: A group's end, the moment the clock closes it (`Agenda.overrun_grace_minutes` later) and
#: each warning mark with its moment before the end (`end_marks`).
EndMarks = tuple[datetime, datetime, tuple[tuple[int, datetime], ...]]


def end_marks(agenda: Agenda, end: datetime) -> EndMarks:
    """The clock's marks of a group that ends at `end` (see `EndMarks`)."""
    minute = timedelta(minutes=1)
    close = end + agenda.overrun_grace_minutes * minute
    return end, close, tuple((mark, end - mark * minute) for mark in agenda.warning_minutes)


class Phase(enum.StrEnum):
    """The phases of a session, in their usual order."""

    SOCIAL = "social"
    MEDITATION = "meditation"
    CASE_CALL = "case_call"
    PRESENTATION = "presentation"
    QUESTIONS = "questions"
    DISCUSSION = "discussion"
    RETURN = "return"
    CLOSING = "closing"
    REFLECTION = "reflection"
    ENDED = "ended"


@dataclass(frozen=True, slots=True, kw_only=True)
class Setup:
    """What never changes during a session: agenda, roster, catalogue and scheduled start.

    `skipped` is set (to the calendar's reason: "cancelled", "break", ...) for a meeting the
    group's calendar says is no session (`phases.calendar.SkippedMeeting`): the engine then
    answers every event with nothing, so the bot does nothing in that meeting. `unplanned`
    marks a session the calendar did not plan (`phases.calendar.UnplannedSession`), timed
    from its actual start: the facilitators are told so once.

    `unextended` is worked out from the rest when the setup is made (it is neither compared
    nor stored): the `end_marks` of the group before any `/extend`, which the engine's clock
    reads at every event.
    """

    agenda: Agenda
    roster: tuple[RosterEntry, ...]
    messages: Messages
    scheduled_start: datetime
    skipped: str = ""
    unplanned: bool = False
    unextended: EndMarks = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.scheduled_start.tzinfo is None or self.scheduled_start.utcoffset() is None:
            raise AgendaError("scheduled_start must be timezone-aware")
        end = self.scheduled_start + timedelta(minutes=self.agenda.length_minutes)
        object.__setattr__(self, "unextended", end_marks(self.agenda, end))

    @property
    def meditation_end(self) -> datetime:
        return self.scheduled_start + timedelta(minutes=self.agenda.meditation_minutes)


@dataclass(frozen=True, slots=True, kw_only=True)
class Person:
    """Someone the bot has seen in this meeting (never the bot itself).

    Args:
        key: stable meeting key; user_id: current per-join id; name: current display name.
        email, registrant_id: as Zoom gave them (for roster matching).
        where: in the meeting, in the waiting room, or gone.
        zoom_role: host / co-host / attendee.
        kind: roster member, roster facilitator, or guest (not on the roster).
        roster_name: the matched roster display name ("" for a guest).
        muted, video: last known media state (unknown = muted False, video False).
        came_through_waiting_room: seen in the waiting room before this join, so a join
            the bot did not make was a facilitator's own admission. For someone gone: they
            left from the waiting room, so a join with no new arrival is their admission.
        seq: arrival order in the waiting room.
        evidence: how the roster match is known (`phases.identity.Evidence`; "" for a guest).
        standing: the matched roster line's standing ("active" for a guest).
        signed_in, phone: as Zoom reported them (see `phases.events.Participant`).
    """

    key: str
    user_id: str
    name: str
    email: str = ""
    registrant_id: str = ""
    where: Where = "waiting"
    zoom_role: ZoomRole = ZoomRole.ATTENDEE
    kind: Kind = "guest"
    roster_name: str = ""
    muted: bool = False
    video: bool = False
    came_through_waiting_room: bool = False
    seq: int = 0
    evidence: Evidence = ""
    standing: Standing = "active"
    signed_in: bool = False
    phone: bool = False

    @property
    def is_facilitator(self) -> bool:
        """Has facilitator rights (commands; never held).

        Only from Zoom (host or co-host now) or from evidence Zoom vouches for (registrant
        id, signed-in e-mail) of a roster facilitator still on the roster; never from a name.
        """
        if self.zoom_role != ZoomRole.ATTENDEE:
            return True
        return self.kind == "facilitator" and self.evidence in STRONG and self.standing == "active"

    @property
    def unverified_facilitator(self) -> bool:
        """Matched to a roster facilitator by weaker evidence: no rights (see `is_facilitator`)."""
        return self.kind == "facilitator" and not self.is_facilitator


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionState:
    """The whole state of one session (see the module docstring).

    Args:
        setup: the unchanging part.
        phase: the current phase; phase_since: when it was entered.
        people: key -> Person (treated as immutable; replaced, never mutated).
        presenter: key of the current presenter ("" if none); cases: cases named so far.
        extension_minutes: total `/extend` so far (moves the group's end).
        paused: `/pause` is in force.
        meditation_ends_at: when the meditation ends (set on entering it).
        reflection_ends_at: when the reflection ends (set on entering it).
        warned: warning marks already posted (or skipped) for the current end.
        said: one-time lines already said (e.g. "told_waiting_room", "nudged").
        mirror_on: the one-way mirror is enforced now.
        last_mirror_reminder: when the presenter was last reminded.
        announced: guests the facilitators were told about.
        approved: guests a facilitator admitted; admitted again if they come back.
        held: people a facilitator sent to the waiting room; not admitted by policy.
        recent_messages: last chat message ids (a command arriving twice runs once).
        arrivals: counter for Person.seq.
        was_in: people who have been in the meeting proper this session (not just put out
            again by the meditation's hold): one who drops and comes back is let in at once.
        waiting_told_at: when the waiting room was last told when the meditation ends (one
            line per `phases.engine.WAITING_LINE_SECONDS` at most).
        admitting: people the bot has asked Zoom to admit since they last arrived in the
            waiting room: the same arrival told again (the webhook after the SDK's poll) with
            better evidence of who they are is not admitted a second time. An admission
            Zoom refused (for another reason than their not waiting) takes them out of it.
        awaiting: what the bot will announce once Zoom confirms the action it is about
            (`phases.events.ActionDone`): "welcome:KEY" / "welcomed:KEY" for the admissions
            at the meditation's end, "recording:NAME" for a stopped recording,
            "mirror:mute" / "mirror:stop_video" for the presenter's one-way mirror.
        location_asked: person key -> when the bot asked them for their location (the
            safety plan); whether they answered or were reminded is in `said`.
        video_off_since: person key -> since when their video has been off, as reported
            (the webcam reminder; only what Zoom reported counts, never "unknown").
    """

    setup: Setup
    phase: Phase = Phase.SOCIAL
    phase_since: datetime
    people: Mapping[str, Person] = field(default_factory=dict)
    presenter: str = ""
    cases: int = 0
    extension_minutes: int = 0
    paused: bool = False
    meditation_ends_at: datetime | None = None
    reflection_ends_at: datetime | None = None
    warned: frozenset[int] = frozenset()
    said: frozenset[str] = frozenset()
    mirror_on: bool = True
    last_mirror_reminder: datetime | None = None
    announced: frozenset[str] = frozenset()
    approved: frozenset[str] = frozenset()
    held: frozenset[str] = frozenset()
    recent_messages: tuple[str, ...] = ()
    arrivals: int = 0
    was_in: frozenset[str] = frozenset()
    waiting_told_at: datetime | None = None
    admitting: frozenset[str] = frozenset()
    awaiting: frozenset[str] = frozenset()
    location_asked: Mapping[str, datetime] = field(default_factory=dict)
    video_off_since: Mapping[str, datetime] = field(default_factory=dict)

    @property
    def agenda(self) -> Agenda:
        return self.setup.agenda

    @property
    def group_end(self) -> datetime:
        """The group's end: scheduled start + length + every `/extend`."""
        minutes = self.setup.agenda.length_minutes + self.extension_minutes
        return self.setup.scheduled_start + timedelta(minutes=minutes)

    def waiting(self) -> list[Person]:
        """Everyone in the waiting room, in arrival order."""
        return sorted(
            (p for p in self.people.values() if p.where == "waiting"), key=lambda p: p.seq
        )

    def facilitators_present(self) -> list[Person]:
        """Facilitators in the meeting proper (where a private line can reach them)."""
        return [p for p in self.people.values() if p.where == "meeting" and p.is_facilitator]

    # -- JSON -----------------------------------------------------------------------------

    def to_json(self) -> str:
        """The state as compact JSON (deterministic: same state, same text)."""
        return json.dumps(_encode(self), separators=(",", ":"), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> SessionState:
        """Rebuild a state from `to_json` output.

        Raises:
            StateError: the text is not a state this version can read.
        """
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise StateError("not a balint-bot session state (format 1)")
            return _decode(data)
        except StateError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError, AgendaError) as bad:
            raise StateError(f"unreadable session state: {bad}") from None


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _moment(text: Any) -> datetime | None:
    if text is None:
        return None
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise StateError("a time in the state is not timezone-aware")
    return moment


def _encode(state: SessionState) -> dict[str, Any]:
    setup = state.setup
    return {
        "format": _FORMAT,
        "agenda": setup.agenda.to_dict(),
        "roster": [
            {
                "display_name": e.display_name,
                "role": e.role,
                "email": e.email,
                "registrant_id": e.registrant_id,
                "member_id": e.member_id,
                "first_name": e.first_name,
                "last_name": e.last_name,
                "standing": e.standing,
            }
            for e in setup.roster
        ],
        "messages": dict(sorted(setup.messages.overrides.items())),
        "scheduled_start": _when(setup.scheduled_start),
        **({"skipped": setup.skipped} if setup.skipped else {}),
        **({"unplanned": True} if setup.unplanned else {}),
        "phase": state.phase.value,
        "phase_since": _when(state.phase_since),
        "people": [
            [
                p.key,
                p.user_id,
                p.name,
                p.email,
                p.registrant_id,
                p.where,
                p.zoom_role.value,
                p.kind,
                p.roster_name,
                p.muted,
                p.video,
                p.came_through_waiting_room,
                p.seq,
                p.evidence,
                p.standing,
                p.signed_in,
                p.phone,
            ]
            for p in state.people.values()
        ],
        "presenter": state.presenter,
        "cases": state.cases,
        "extension_minutes": state.extension_minutes,
        "paused": state.paused,
        "meditation_ends_at": _when(state.meditation_ends_at),
        "reflection_ends_at": _when(state.reflection_ends_at),
        "warned": sorted(state.warned),
        "said": sorted(state.said),
        "mirror_on": state.mirror_on,
        "last_mirror_reminder": _when(state.last_mirror_reminder),
        "announced": sorted(state.announced),
        "approved": sorted(state.approved),
        "held": sorted(state.held),
        "recent_messages": list(state.recent_messages),
        "arrivals": state.arrivals,
        # Written only when set, so a state without them reads and writes as before.
        **({"was_in": sorted(state.was_in)} if state.was_in else {}),
        **(
            {"waiting_told_at": _when(state.waiting_told_at)}
            if state.waiting_told_at is not None
            else {}
        ),
        **({"admitting": sorted(state.admitting)} if state.admitting else {}),
        **({"awaiting": sorted(state.awaiting)} if state.awaiting else {}),
        "location_asked": _moments(state.location_asked),
        "video_off_since": _moments(state.video_off_since),
    }


def _moments(table: Mapping[str, datetime]) -> dict[str, str]:
    return {key: moment.isoformat() for key, moment in sorted(table.items())}


def _read_moments(raw: Any) -> dict[str, datetime]:
    """A key -> time table (absent from states saved before it existed: empty)."""
    found: dict[str, datetime] = {}
    for key, text in dict(raw or {}).items():
        moment = _moment(text)
        if moment is not None:
            found[str(key)] = moment
    return found


def _decode(data: dict[str, Any]) -> SessionState:
    start = _moment(data["scheduled_start"])
    since = _moment(data["phase_since"])
    if start is None or since is None:
        raise StateError("scheduled_start and phase_since are required")
    setup = Setup(
        agenda=Agenda.from_dict(data["agenda"]),
        roster=tuple(RosterEntry(**entry) for entry in data["roster"]),
        messages=Messages(dict(data["messages"])),
        scheduled_start=start,
        skipped=str(data.get("skipped", "")),
        unplanned=bool(data.get("unplanned", False)),
    )
    people: dict[str, Person] = {}
    for row in data["people"]:
        (key, user_id, name, email, reg, where, role, kind, roster_name, muted, video, cwr, seq) = (
            row[:13]
        )
        # States saved before identities were recorded have 13 fields: no evidence then.
        extra: list[Any] = list(row[13:]) or ["", "active", False, False]
        evidence, standing, signed_in, phone = extra
        if (
            where not in ("meeting", "waiting", "gone")
            or kind not in ("member", "facilitator", "guest")
            or evidence not in EVIDENCE_RANK
            or standing not in STANDINGS
        ):
            raise StateError(f"bad person record for key {key!r}")
        people[str(key)] = Person(
            key=str(key),
            user_id=str(user_id),
            name=str(name),
            email=str(email),
            registrant_id=str(reg),
            where=where,
            zoom_role=ZoomRole(role),
            kind=kind,
            roster_name=str(roster_name),
            muted=bool(muted),
            video=bool(video),
            came_through_waiting_room=bool(cwr),
            seq=int(seq),
            evidence=evidence,
            standing=standing,
            signed_in=bool(signed_in),
            phone=bool(phone),
        )
    return SessionState(
        setup=setup,
        phase=Phase(data["phase"]),
        phase_since=since,
        people=people,
        presenter=str(data["presenter"]),
        cases=int(data["cases"]),
        extension_minutes=int(data["extension_minutes"]),
        paused=bool(data["paused"]),
        meditation_ends_at=_moment(data["meditation_ends_at"]),
        reflection_ends_at=_moment(data["reflection_ends_at"]),
        warned=frozenset(int(m) for m in data["warned"]),
        said=frozenset(str(s) for s in data["said"]),
        mirror_on=bool(data["mirror_on"]),
        last_mirror_reminder=_moment(data["last_mirror_reminder"]),
        announced=frozenset(str(k) for k in data["announced"]),
        approved=frozenset(str(k) for k in data["approved"]),
        held=frozenset(str(k) for k in data["held"]),
        recent_messages=tuple(str(m) for m in data["recent_messages"]),
        arrivals=int(data["arrivals"]),
        was_in=frozenset(str(k) for k in data.get("was_in", ())),
        waiting_told_at=_moment(data.get("waiting_told_at")),
        admitting=frozenset(str(k) for k in data.get("admitting", ())),
        awaiting=frozenset(str(k) for k in data.get("awaiting", ())),
        location_asked=_read_moments(data.get("location_asked")),
        video_off_since=_read_moments(data.get("video_off_since")),
    )
