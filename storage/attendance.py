"""Attendance derived from presence events: who was in the meeting, for how long, and when.

Attendance is never taken from live state. Each journaled join/leave/waiting-room webhook is
translated (at the edge, `webhooks.translate.to_presence`) into a `PresenceEvent` and stored
once per (meeting uuid, journal id) with `record_presence`, so replays are harmless. The pure
function `compute_attendance` turns a meeting's presence events into per-person intervals;
it sorts and de-duplicates its input first, so any order or duplication of the same events
gives the same result (a property test checks this).

Who someone is comes from the engine's own resolver (`phases.identity.resolve`: registrant
id, vouched e-mail, exact roster display or full name, never the first word, never a phone
caller's name), overridden by what a facilitator said with `/admit NAME as ROSTER_NAME`
(read from the meeting's saved engine state). People are joined up across rejoins by
participant uuid, registrant id, e-mail (only a vouched one is recorded), that roster match
or the normalised display name (not a caller's): any shared identifier puts two join sessions
in one person. Time in the waiting room is kept apart from time in the meeting. The
facilitator-present intervals are the therapy's start and stop times (OHIP counts the time a
physician is present). `finalize` stores the result for the session; `attendance_for`
computes it on demand.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, get_args

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from phases.errors import BalintError
from phases.events import Participant
from phases.identity import resolve
from phases.roster import RosterEntry, normalise_name
from phases.state import SessionState
from storage.person_keys import person_ids
from storage.roster import roster_entries
from storage.runtime_state import load_meeting
from storage.sessions import SessionNotFound, session_by_meeting
from storage.tables.core import (
    AttendanceRecord,
    Group,
    Member,
    MemberModule,
    Module,
    PresenceRow,
    SessionRecord,
    TherapyInterval,
)

__all__ = [
    "DEFAULT_POLICY",
    "AttendancePolicy",
    "Interval",
    "MeetingAttendance",
    "ModuleStanding",
    "PersonAttendance",
    "PresenceEvent",
    "PresenceKind",
    "attendance_for",
    "compute_attendance",
    "confirmed_identities",
    "finalize",
    "module_report",
    "policy_for",
    "presence_events",
    "record_presence",
    "replace_presence",
    "session_roster",
    "stored_attendance",
]

logger = logging.getLogger(__name__)

#: The person ids (`storage.person_keys`) a presence fact can carry: it comes from a webhook.
_WEBHOOK_IDS = frozenset({"participant_uuid", "webhook_user_id"})

PresenceKind = Literal[
    "meeting_started", "meeting_ended", "waiting_joined", "waiting_left", "joined", "left"
]
PersonRole = Literal["member", "facilitator", "guest"]

#: Tie-break for events at the same instant: start, waiting room, meeting, end.
_KIND_ORDER: dict[str, int] = {
    "meeting_started": 0,
    "waiting_joined": 1,
    "waiting_left": 2,
    "joined": 3,
    "left": 4,
    "meeting_ended": 5,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class PresenceEvent:
    """One presence fact from Zoom (a webhook), already stripped of everything else.

    Args:
        kind: what happened.
        at: when Zoom says it happened (aware; stored as UTC).
        participant_key: Zoom's `participant_uuid` (or "" if Zoom sent none).
        user_id: Zoom's per-join participant id.
        name: the display name.
        email: e-mail Zoom vouches for (the participant is signed in), else "".
        registrant_id: registration id if the person joined through a registration link.
        phone: a telephone caller.
    """

    kind: PresenceKind
    at: datetime
    participant_key: str = ""
    user_id: str = ""
    name: str = ""
    email: str = ""
    registrant_id: str = ""
    phone: bool = False

    def __post_init__(self) -> None:
        if self.kind not in get_args(PresenceKind):
            raise BalintError(f"unknown presence kind {self.kind!r}")
        if self.at.tzinfo is None:
            raise BalintError("presence times must be timezone-aware")

    def sort_key(self) -> tuple[datetime, int, str, str, str, str, str, bool]:
        return (
            self.at,
            _KIND_ORDER[self.kind],
            self.participant_key,
            self.user_id,
            self.name,
            self.email,
            self.registrant_id,
            self.phone,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class AttendancePolicy:
    """When someone counts as late, early or present.

    Args:
        present_minutes: minutes in the meeting needed to count as present.
        late_minutes: grace after the scheduled start before a first join is late.
        early_minutes: grace before the scheduled (or actual, if earlier) end.
        length_minutes: the session's scheduled length (start to end of closing).
        exclude_names: display names (e.g. the bot's own) that are not people.
    """

    present_minutes: int = 60
    late_minutes: int = 5
    early_minutes: int = 5
    length_minutes: int = 105
    exclude_names: frozenset[str] = frozenset()


#: The policy used when none is given.
DEFAULT_POLICY = AttendancePolicy()


def policy_for(
    *, length_minutes: int, bot_name: str = "", present_minutes: int | None = None
) -> AttendancePolicy:
    """The policy for a group's settings: live finalising, rebuild and the CLI must share it.

    Args:
        length_minutes: the agenda's length (`[agenda] length_minutes`).
        bot_name: the bot's own display name (`[zoom] bot_name`), which is not a person.
        present_minutes: minutes needed to count as present (default 60).
    """
    return AttendancePolicy(
        present_minutes=(
            DEFAULT_POLICY.present_minutes if present_minutes is None else present_minutes
        ),
        late_minutes=DEFAULT_POLICY.late_minutes,
        early_minutes=DEFAULT_POLICY.early_minutes,
        length_minutes=length_minutes,
        exclude_names=frozenset({bot_name}) if bot_name else frozenset(),
    )


@dataclass(frozen=True, slots=True, order=True)
class Interval:
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return (self.end - self.start).total_seconds()


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonAttendance:
    """One person's attendance of one meeting."""

    person_key: str
    name: str
    member_id: str
    role: PersonRole
    intervals: tuple[Interval, ...]
    waiting: tuple[Interval, ...]
    minutes: int
    waiting_minutes: int
    first_join: datetime | None
    last_leave: datetime | None
    late: bool
    left_early: bool
    present: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingAttendance:
    """Everyone's attendance plus the facilitator-present (therapy) intervals."""

    started_at: datetime | None
    ended_at: datetime | None
    people: tuple[PersonAttendance, ...]
    therapy: tuple[Interval, ...]

    @property
    def therapy_start(self) -> datetime | None:
        return self.therapy[0].start if self.therapy else None

    @property
    def therapy_end(self) -> datetime | None:
        return self.therapy[-1].end if self.therapy else None


# ------------------------------------------------------------------------------ pure core


class _Union:
    """Union-find over identity tokens; the components do not depend on union order."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def find(self, token: str) -> str:
        self.parent.setdefault(token, token)
        root = token
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[token] != root:
            self.parent[token], token = root, self.parent[token]
        return root

    def union(self, a: str, b: str) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            # smaller token wins as root: deterministic, though components never depend on it
            low, high = sorted((ra, rb))
            self.parent[high] = low


def _roster_token(entry: RosterEntry) -> str:
    return f"member:{entry.member_id}" if entry.member_id else f"roster:{entry.display_name}"


def _instance_key(event: PresenceEvent) -> str:
    """One join session: Zoom's per-join `user_id` (always sent), else the participant uuid.

    `participant_uuid` is optional in Zoom's schemas, so a leave without it must still pair
    with its join; the person is joined up across sessions by the identity tokens.
    """
    if event.user_id:
        return f"uid:{event.user_id}"
    if event.participant_key:
        return f"pk:{event.participant_key}"
    return f"name:{normalise_name(event.name)}"


def _tokens(
    event: PresenceEvent,
    roster: Sequence[RosterEntry],
    entries: dict[str, RosterEntry],
    confirmed: Mapping[str, RosterEntry],
) -> list[str]:
    tokens = [_instance_key(event)]
    if event.participant_key:
        tokens.append(f"pk:{event.participant_key}")
    if event.registrant_id:
        tokens.append(f"reg:{event.registrant_id}")
    if event.email.strip():
        tokens.append(f"mail:{event.email.strip().casefold()}")
    if normalise_name(event.name) and not event.phone:
        tokens.append(f"name:{normalise_name(event.name)}")
    found = confirmed.get(event.participant_key or event.user_id)
    if found is None:
        found = resolve(
            roster,
            Participant(
                key=event.participant_key,
                user_id=event.user_id,
                name=event.name,
                email=event.email,
                registrant_id=event.registrant_id,
                signed_in=bool(event.email.strip()),  # only a vouched e-mail is recorded
                phone=event.phone,
            ),
        ).entry
    if found is not None:
        token = _roster_token(found)
        entries[token] = found
        tokens.append(token)
    return tokens


def _merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    merged: list[Interval] = []
    for interval in sorted(intervals):
        if merged and interval.start <= merged[-1].end:
            if interval.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, interval.end)
        else:
            merged.append(interval)
    return tuple(merged)


def _pairs(
    events: Sequence[PresenceEvent], opens: str, closes: str, start: datetime, end: datetime
) -> list[Interval]:
    """Intervals from open/close events of one join session (already in canonical order).

    A close with no open before it means the open was missed: the interval starts at the
    meeting's start. An open never closed ends at the meeting's end.
    """
    found: list[Interval] = []
    opened: datetime | None = None
    seen_open = False
    for event in events:
        if event.kind == opens and opened is None:
            opened, seen_open = event.at, True
        elif event.kind == closes or (opens == "waiting_joined" and event.kind == "joined"):
            if opened is not None:
                found.append(Interval(opened, max(opened, event.at)))
                opened = None
            elif not seen_open and event.kind == closes:
                found.append(Interval(min(start, event.at), event.at))
                seen_open = True
    if opened is not None:
        found.append(Interval(opened, max(opened, end)))
    return found


def _minutes(intervals: Iterable[Interval]) -> int:
    return int(sum(interval.seconds for interval in intervals) // 60)


def compute_attendance(
    events: Iterable[PresenceEvent],
    *,
    roster: Sequence[RosterEntry] = (),
    scheduled_start: datetime | None = None,
    policy: AttendancePolicy = DEFAULT_POLICY,
    confirmed: Mapping[str, str] | None = None,
) -> MeetingAttendance:
    """Per-person attendance of one meeting from its presence events (pure).

    Args:
        confirmed: participant key -> roster display name, as facilitators said with
            `/admit NAME as ROSTER_NAME` (`confirmed_identities`); it wins over the resolver.

    The result is the same for any order and any duplication of `events`. People are sorted
    by first join, then name.
    """
    by_name = {entry.display_name: entry for entry in roster}
    vouched = {key: by_name[name] for key, name in (confirmed or {}).items() if name in by_name}
    ordered = sorted(set(events), key=PresenceEvent.sort_key)
    excluded = {normalise_name(name) for name in policy.exclude_names}
    meeting = [e for e in ordered if e.kind in ("meeting_started", "meeting_ended")]
    people_events = [e for e in ordered if e.kind not in ("meeting_started", "meeting_ended")]
    starts = [e.at for e in meeting if e.kind == "meeting_started"]
    ends = [e.at for e in meeting if e.kind == "meeting_ended"]
    started_at = min(starts) if starts else (ordered[0].at if ordered else None)
    ended_at = max(ends) if ends else (ordered[-1].at if ordered else None)
    if started_at is None or ended_at is None:
        return MeetingAttendance(started_at=None, ended_at=None, people=(), therapy=())

    union = _Union()
    entries: dict[str, RosterEntry] = {}
    instances: dict[str, list[PresenceEvent]] = {}
    names: dict[str, list[str]] = {}
    for event in people_events:
        if normalise_name(event.name) in excluded:
            continue
        tokens = _tokens(event, roster, entries, vouched)
        key = tokens[0]
        instances.setdefault(key, []).append(event)
        if event.name.strip():
            names.setdefault(key, []).append(event.name.strip())
        for token in tokens[1:]:
            union.union(key, token)

    by_person: dict[str, list[str]] = {}
    for key in instances:
        by_person.setdefault(union.find(key), []).append(key)
    members_of: dict[str, list[str]] = {}
    for token in entries:
        members_of.setdefault(union.find(token), []).append(token)

    scheduled = scheduled_start or started_at
    scheduled_end = scheduled + timedelta(minutes=policy.length_minutes)
    due_end = min(scheduled_end, ended_at)
    late_after = scheduled + timedelta(minutes=policy.late_minutes)
    early_before = due_end - timedelta(minutes=policy.early_minutes)

    people: list[PersonAttendance] = []
    for root, keys in by_person.items():
        in_meeting: list[Interval] = []
        waiting: list[Interval] = []
        for key in keys:
            own = instances[key]
            in_meeting += _pairs(own, "joined", "left", started_at, ended_at)
            waiting += _pairs(own, "waiting_joined", "waiting_left", started_at, ended_at)
        merged = _merge(in_meeting)
        waited = _merge(waiting)
        roster_tokens = sorted(members_of.get(root, []))
        entry = entries[roster_tokens[0]] if roster_tokens else None
        if len(roster_tokens) > 1:
            logger.warning("one participant matched %d roster entries", len(roster_tokens))
        shown = sorted(name for key in keys for name in names.get(key, []))
        name = entry.display_name if entry else (shown[0] if shown else "")
        minutes = _minutes(merged)
        first_join = merged[0].start if merged else None
        last_leave = merged[-1].end if merged else None
        people.append(
            PersonAttendance(
                person_key=_roster_token(entry) if entry else root,
                name=name,
                member_id=entry.member_id if entry else "",
                role=entry.role if entry else "guest",
                intervals=merged,
                waiting=waited,
                minutes=minutes,
                waiting_minutes=_minutes(waited),
                first_join=first_join,
                last_leave=last_leave,
                late=first_join is not None and first_join > late_after,
                left_early=last_leave is not None and last_leave < early_before,
                present=minutes >= policy.present_minutes,
            )
        )
    people.sort(
        key=lambda p: (p.first_join is None, p.first_join or started_at, p.name, p.person_key)
    )
    therapy = _merge(i for p in people if p.role == "facilitator" for i in p.intervals)
    return MeetingAttendance(
        started_at=started_at, ended_at=ended_at, people=tuple(people), therapy=therapy
    )


# ------------------------------------------------------------------------------ storage


def record_presence(
    session: Session, *, meeting_uuid: str, journal_id: str | int, event: PresenceEvent
) -> bool:
    """Store one presence event derived from journal entry `journal_id`; False if already there.

    The insert is `ON CONFLICT DO NOTHING` on (meeting uuid, journal id), so a replay, or two
    replicas processing the same entry at once, stores it once and never aborts the caller's
    transaction.
    """
    values = {
        "meeting_uuid": meeting_uuid,
        "journal_id": str(journal_id),
        "kind": event.kind,
        "at": event.at,
        # Zoom's text is the participant's: cut to the columns, never refused (a 500-character
        # display name must not stop the meeting's step on PostgreSQL).
        "participant_key": event.participant_key[:128],
        "user_id": event.user_id[:64],
        "name": event.name[:200],
        "email": event.email[:254],
        "registrant_id": event.registrant_id[:64],
        "phone": event.phone,
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        statement = (
            insert(PresenceRow)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["meeting_uuid", "journal_id"])
            .returning(PresenceRow.id)
        )
        return session.execute(statement).scalar_one_or_none() is not None
    exists = session.scalar(
        select(PresenceRow.id).where(
            PresenceRow.meeting_uuid == meeting_uuid, PresenceRow.journal_id == str(journal_id)
        )
    )
    if exists is not None:
        return False
    session.add(PresenceRow(**values))
    session.flush()
    return True


def presence_events(session: Session, *, meeting_uuid: str) -> tuple[PresenceEvent, ...]:
    """The stored presence events of a meeting (in storage order; the order does not matter)."""
    rows = session.scalars(
        select(PresenceRow).where(PresenceRow.meeting_uuid == meeting_uuid).order_by(PresenceRow.id)
    )
    return tuple(
        PresenceEvent(
            kind=row.kind,  # type: ignore[arg-type]  # only PresenceKind values are stored
            at=row.at,
            participant_key=row.participant_key,
            user_id=row.user_id,
            name=row.name,
            email=row.email,
            registrant_id=row.registrant_id,
            phone=row.phone,
        )
        for row in rows
    )


def replace_presence(
    session: Session,
    *,
    meeting_uuid: str,
    events: Iterable[tuple[str | int, PresenceEvent]],
) -> int:
    """Drop a meeting's presence rows and store `(journal id, event)` pairs anew (rebuild)."""
    session.execute(delete(PresenceRow).where(PresenceRow.meeting_uuid == meeting_uuid))
    session.flush()
    stored = 0
    for journal_id, event in events:
        stored += record_presence(
            session, meeting_uuid=meeting_uuid, journal_id=journal_id, event=event
        )
    return stored


def session_roster(session: Session, record: SessionRecord | None) -> tuple[RosterEntry, ...]:
    if record is None:
        return ()
    group_name = session.scalar(select(Group.name).where(Group.id == record.group_id))
    return roster_entries(session, group_name=group_name) if group_name else ()


def confirmed_identities(session: Session, *, meeting_uuid: str) -> dict[str, str]:
    """Who the facilitators said people are (`/admit NAME as ROSTER_NAME`) in a meeting:
    participant key -> roster display name, from the meeting's saved engine state ({} when
    there is none, or it cannot be read).

    The engine keys people by the runtime's person key, which need not be the webhooks'
    participant uuid (the SDK bot may have seen them first); every webhook id recorded for
    the person (`storage.person_keys`) is given the same name, so the presence facts, which
    come from the webhooks, find it.
    """
    record = load_meeting(session, meeting_uuid=meeting_uuid)
    if record is None:
        return {}
    try:
        state = SessionState.from_json(record.state_json)
    except BalintError:
        logger.warning("engine state unreadable; attendance without confirmed identities")
        return {}
    confirmed = {
        person.key: person.roster_name
        for person in state.people.values()
        if person.evidence == "confirmed" and person.roster_name
    }
    for person_id in person_ids(session, meeting_uuid=meeting_uuid):
        if person_id.kind in _WEBHOOK_IDS and person_id.person_key in confirmed:
            confirmed.setdefault(person_id.value, confirmed[person_id.person_key])
    return confirmed


def attendance_for(
    session: Session,
    *,
    meeting_uuid: str,
    policy: AttendancePolicy = DEFAULT_POLICY,
) -> MeetingAttendance:
    """Compute a meeting's attendance now from its stored presence events and its roster."""
    record = session_by_meeting(session, meeting_uuid=meeting_uuid)
    return compute_attendance(
        presence_events(session, meeting_uuid=meeting_uuid),
        roster=session_roster(session, record),
        scheduled_start=record.scheduled_start if record else None,
        policy=policy,
        confirmed=confirmed_identities(session, meeting_uuid=meeting_uuid),
    )


def finalize(
    session: Session,
    *,
    meeting_uuid: str,
    policy: AttendancePolicy = DEFAULT_POLICY,
    now: datetime,
) -> MeetingAttendance:
    """Compute and store the session's attendance and therapy intervals (replacing earlier ones).

    Rows filled in from Zoom's report by `storage.reconcile.reconcile` are replaced too: run
    the reconciliation again after re-finalising.

    Raises:
        SessionNotFound: no session was recorded for `meeting_uuid` (see `ensure_session`).
    """
    record = session_by_meeting(session, meeting_uuid=meeting_uuid)
    if record is None:
        raise SessionNotFound(f"no session for meeting {meeting_uuid}")
    result = attendance_for(session, meeting_uuid=meeting_uuid, policy=policy)
    session.execute(delete(AttendanceRecord).where(AttendanceRecord.session_id == record.id))
    session.execute(delete(TherapyInterval).where(TherapyInterval.session_id == record.id))
    for person in result.people:
        session.add(
            AttendanceRecord(
                session_id=record.id,
                person_key=_fits(person.person_key, 200),
                name=person.name[:200],
                member_id=int(person.member_id) if person.member_id.isdigit() else None,
                role=person.role,
                minutes=person.minutes,
                waiting_minutes=person.waiting_minutes,
                first_join=person.first_join,
                last_leave=person.last_leave,
                late=person.late,
                left_early=person.left_early,
                present=person.present,
                source="journal",
            )
        )
    session.add_all(
        TherapyInterval(session_id=record.id, starts_at=i.start, ends_at=i.end)
        for i in result.therapy
    )
    record.therapy_start = result.therapy_start
    record.therapy_end = result.therapy_end
    record.finalized_at = now
    session.flush()
    logger.info("attendance finalised for session %d: %d people", record.id, len(result.people))
    return result


def _fits(key: str, longest: int) -> str:
    """`key` if it fits the column, else a stable digest of it (a very long display name)."""
    if len(key) <= longest:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def stored_attendance(session: Session, *, session_id: int) -> tuple[AttendanceRecord, ...]:
    """The finalised attendance rows of a session, by first join then name."""
    return tuple(
        session.scalars(
            select(AttendanceRecord)
            .where(AttendanceRecord.session_id == session_id)
            .order_by(AttendanceRecord.first_join, AttendanceRecord.name, AttendanceRecord.id)
        )
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModuleStanding:
    """One member's attendance over a module (the group asks for at least a third)."""

    member_id: int
    name: str
    attended: int
    held: int
    rate: float
    under_third: bool
    #: How many more absences in a row would put them under a third (0 if already under).
    absences_to_cross: int


def module_report(
    session: Session, *, module_name: str, group_name: str | None = None
) -> tuple[ModuleStanding, ...]:
    """Per member of the module: sessions attended of sessions held (finalised), rate, flag.

    Members are those enrolled in the module (roster `modules` column) plus any member who
    attended one of its sessions. A member is flagged when `attended / held < 1/3`;
    `absences_to_cross` is the smallest k with `attended / (held + k) < 1/3`.
    """
    query = (
        select(SessionRecord.id, SessionRecord.group_id)
        .join(Module, Module.id == SessionRecord.module_id)
        .join(Group, Group.id == SessionRecord.group_id)
        .where(Module.name == module_name, SessionRecord.finalized_at.is_not(None))
    )
    if group_name is not None:
        query = query.where(Group.name == group_name)
    held_sessions = session.execute(query).all()
    session_ids = [row.id for row in held_sessions]
    group_ids = {row.group_id for row in held_sessions}
    held = len(session_ids)
    attended: dict[int, int] = {}
    for member_id in session.scalars(
        select(AttendanceRecord.member_id).where(
            AttendanceRecord.session_id.in_(session_ids),
            AttendanceRecord.present.is_(True),
            AttendanceRecord.member_id.is_not(None),
        )
    ):
        if member_id is not None:
            attended[member_id] = attended.get(member_id, 0) + 1
    enrolled_query = (
        select(Member)
        .join(MemberModule, MemberModule.member_id == Member.id)
        .join(Group, Group.id == Member.group_id)
        .where(MemberModule.module_name == module_name, Member.role == "member")
    )
    if group_name is not None:
        enrolled_query = enrolled_query.where(Group.name == group_name)
    members = {m.id: m for m in session.scalars(enrolled_query)}
    if attended:
        for member in session.scalars(select(Member).where(Member.id.in_(list(attended)))):
            if member.role == "member" and (not group_ids or member.group_id in group_ids):
                members.setdefault(member.id, member)
    standings = []
    for member in sorted(members.values(), key=lambda m: (m.display_name, m.id)):
        count = attended.get(member.id, 0)
        under = 3 * count < held
        standings.append(
            ModuleStanding(
                member_id=member.id,
                name=member.display_name,
                attended=count,
                held=held,
                rate=count / held if held else 0.0,
                under_third=under,
                absences_to_cross=0 if under else 3 * count - held + 1,
            )
        )
    return tuple(standings)
