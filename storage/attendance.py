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
physician is present). `finalize` stores the result for the session, each person's join
sessions (`Span`s, with how Zoom says each join came in: video or telephone) beside the
aggregate row; `attendance_for` computes it on demand.

Billing's time rules are pure functions here too: `therapy_window` (from the stored phase
changes: meditation to closing, every `/extend` inside), `claimable_time` (present in the
window while the billing physician was, absences subtracted, and the modality held for most
of it) and `counts_for_group_size` (the `[billing] group_size` rule). `docs/billing.md` gives
their sources.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from operator import attrgetter
from typing import Final, Literal, Protocol, cast, get_args
from zoneinfo import ZoneInfo

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from phases.errors import BalintError
from phases.events import Participant
from phases.identity import resolve
from phases.roster import RosterEntry, normalise_name
from phases.state import SessionState
from storage import absences
from storage.db import insert_or_skip
from storage.person_keys import person_ids
from storage.roster import roster_entries
from storage.runtime_state import load_meeting
from storage.sessions import SessionNotFound, session_by_meeting
from storage.tables.core import (
    AttendanceRecord,
    AttendanceSpan,
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
    "GROUP_SIZE_RULES",
    "MODALITIES",
    "THERAPY_PHASES",
    "ClaimableTime",
    "GroupSizeRule",
    "PhaseChangeLike",
    "TherapyWindow",
    "AttendancePolicy",
    "Interval",
    "MeetingAttendance",
    "ModuleStanding",
    "PersonAttendance",
    "PresenceEvent",
    "PresenceKind",
    "Span",
    "attendance_for",
    "claimable_time",
    "counts_for_group_size",
    "compute_attendance",
    "drop_attendance",
    "confirmed_identities",
    "finalize",
    "intersect",
    "module_report",
    "policy_for",
    "presence_events",
    "record_presence",
    "replace_presence",
    "session_roster",
    "store_person",
    "stored_attendance",
    "stored_spans",
    "subtract",
    "therapy_window",
    "time_within",
    "whole_minutes",
]

logger = logging.getLogger(__name__)

#: The person ids (`storage.person_keys`) a presence fact can carry: it comes from a webhook.
_WEBHOOK_IDS = frozenset({"participant_uuid", "webhook_user_id"})

PresenceKind = Literal[
    "meeting_started", "meeting_ended", "waiting_joined", "waiting_left", "joined", "left"
]
PersonRole = Literal["member", "facilitator", "guest"]
#: How a join came in, as Zoom reports it at the edge; "" when the source does not say.
MODALITIES = ("", "video", "telephone")

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
        modality: `video` or `telephone` for a join (from Zoom's join payload), else "".
        phone: a telephone caller (on every fact Zoom sends with a `phone_number`, not only
            the join). Both come from one test, `webhooks.translate.dialed_in`, and cannot
            disagree: a `telephone` join is always a phone one (set here when left out), a
            `video` join never (refused).
    """

    kind: PresenceKind
    at: datetime
    participant_key: str = ""
    user_id: str = ""
    name: str = ""
    email: str = ""
    registrant_id: str = ""
    modality: str = ""
    phone: bool = False

    def __post_init__(self) -> None:
        if self.kind not in get_args(PresenceKind):
            raise BalintError(f"unknown presence kind {self.kind!r}")
        if self.at.tzinfo is None:
            raise BalintError("presence times must be timezone-aware")
        if self.modality not in MODALITIES:
            raise BalintError(f"unknown modality {self.modality!r}")
        if self.modality == "telephone" and not self.phone:
            object.__setattr__(self, "phone", True)  # a telephone join is a phone caller's
        if self.modality == "video" and self.phone:
            raise BalintError("a video join cannot be a telephone caller's")

    def sort_key(self) -> tuple[datetime, int, str, str, str, str, str, str, bool]:
        return (
            self.at,
            _KIND_ORDER[self.kind],
            self.participant_key,
            self.user_id,
            self.name,
            self.email,
            self.registrant_id,
            self.modality,
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


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """One join session: in the meeting from `start` to `end`, by `modality` ("" = unsaid)."""

    start: datetime
    end: datetime
    modality: str = ""

    @property
    def interval(self) -> Interval:
        return Interval(self.start, self.end)


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonAttendance:
    """One person's attendance of one meeting.

    `intervals` is the merged time in the meeting; `spans` keeps each join session apart,
    with how it came in (billing needs both the gaps and the modality).
    """

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
    spans: tuple[Span, ...] = ()


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
    callers: frozenset[str],
) -> list[str]:
    tokens = [_instance_key(event)]
    # A caller's every fact is a caller's, also one that leaves `phone_number` out (a leave)
    phone = event.phone or bool({tokens[0], f"pk:{event.participant_key}"} & callers)
    if event.participant_key:
        tokens.append(f"pk:{event.participant_key}")
    if event.registrant_id:
        tokens.append(f"reg:{event.registrant_id}")
    if event.email.strip():
        tokens.append(f"mail:{event.email.strip().casefold()}")
    if normalise_name(event.name) and not phone:
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
                phone=phone,
            ),
        ).entry
    if found is not None:
        token = _roster_token(found)
        entries[token] = found
        tokens.append(token)
    return tokens


_bounds = attrgetter("start", "end")  # sorts as `order=True` does, without a call per comparison


def _merge(intervals: Iterable[Interval]) -> tuple[Interval, ...]:
    given = tuple(intervals)
    if len(given) < 2:  # one join session, one window: the usual case, already merged
        return given
    merged: list[Interval] = []
    for interval in sorted(given, key=_bounds):
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


def whole_minutes(intervals: Iterable[Interval]) -> int:
    """Whole minutes in `intervals` (assumed not to overlap), rounded down."""
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

    callers = frozenset(
        key
        for e in people_events
        if e.phone
        for key in (_instance_key(e), f"pk:{e.participant_key}" if e.participant_key else "")
        if key
    )
    union = _Union()
    entries: dict[str, RosterEntry] = {}
    instances: dict[str, list[PresenceEvent]] = {}
    names: dict[str, list[str]] = {}
    for event in people_events:
        if normalise_name(event.name) in excluded:
            continue
        tokens = _tokens(event, roster, entries, vouched, callers)
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
        spans: list[Span] = []
        for key in keys:
            own = instances[key]
            joined = _pairs(own, "joined", "left", started_at, ended_at)
            in_meeting += joined
            waiting += _pairs(own, "waiting_joined", "waiting_left", started_at, ended_at)
            modality = next((e.modality for e in own if e.modality), "")
            spans += (Span(i.start, i.end, modality) for i in joined if i.end > i.start)
        merged = _merge(in_meeting)
        waited = _merge(waiting)
        roster_tokens = sorted(members_of.get(root, []))
        entry = entries[roster_tokens[0]] if roster_tokens else None
        if len(roster_tokens) > 1:
            logger.warning("one participant matched %d roster entries", len(roster_tokens))
        shown = sorted(name for key in keys for name in names.get(key, []))
        name = entry.display_name if entry else (shown[0] if shown else "")
        minutes = whole_minutes(merged)
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
                waiting_minutes=whole_minutes(waited),
                first_join=first_join,
                last_leave=last_leave,
                late=first_join is not None and first_join > late_after,
                left_early=last_leave is not None and last_leave < early_before,
                present=minutes >= policy.present_minutes,
                spans=tuple(sorted(spans)),
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
        "modality": event.modality,
        "phone": event.phone,
    }
    statement = insert_or_skip(
        _PRESENCE, session.get_bind().dialect.name, ("meeting_uuid", "journal_id"), ("id",)
    )
    return session.connection().execute(statement, values).scalar_one_or_none() is not None


_PRESENCE = cast(Table, PresenceRow.__table__)


def presence_events(session: Session, *, meeting_uuid: str) -> tuple[PresenceEvent, ...]:
    """The stored presence events of a meeting (in storage order; the order does not matter)."""
    rows = session.scalars(
        select(PresenceRow).where(PresenceRow.meeting_uuid == meeting_uuid).order_by(PresenceRow.id)
    )
    return tuple(_presence(row) for row in rows)


def _presence(row: PresenceRow) -> PresenceEvent:
    modality = row.modality if row.modality in MODALITIES else ""
    return PresenceEvent(
        kind=row.kind,  # type: ignore[arg-type]  # only PresenceKind values are stored
        at=row.at,
        participant_key=row.participant_key,
        user_id=row.user_id,
        name=row.name,
        email=row.email,
        registrant_id=row.registrant_id,
        modality=modality,
        # A join's modality is the stored word for the same test; it wins over the flag.
        phone=modality == "telephone" if modality else row.phone,
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
    drop_attendance(session, session_id=record.id)
    session.execute(delete(TherapyInterval).where(TherapyInterval.session_id == record.id))
    for person in result.people:
        store_person(session, session_id=record.id, person=person, source="journal")
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


def store_person(
    session: Session, *, session_id: int, person: PersonAttendance, source: str
) -> AttendanceRecord:
    """Store one person's attendance row and its spans (`source` journal or report)."""
    row = AttendanceRecord(
        session_id=session_id,
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
        source=source,
    )
    session.add(row)
    session.flush()
    session.add_all(
        AttendanceSpan(
            attendance_id=row.id, starts_at=span.start, ends_at=span.end, modality=span.modality
        )
        for span in person.spans
    )
    return row


def _fits(key: str, longest: int) -> str:
    """`key` if it fits the column, else a stable digest of it (a very long display name)."""
    if len(key) <= longest:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8")).hexdigest()


def drop_attendance(session: Session, *, session_id: int, source: str | None = None) -> None:
    """Delete a session's attendance rows (of one source, or all) and their spans."""
    rows = select(AttendanceRecord.id).where(AttendanceRecord.session_id == session_id)
    if source is not None:
        rows = rows.where(AttendanceRecord.source == source)
    session.execute(delete(AttendanceSpan).where(AttendanceSpan.attendance_id.in_(rows)))
    dropped = delete(AttendanceRecord).where(AttendanceRecord.session_id == session_id)
    if source is not None:
        dropped = dropped.where(AttendanceRecord.source == source)
    session.execute(dropped)


def stored_spans(session: Session, *, session_ids: Sequence[int]) -> dict[int, tuple[Span, ...]]:
    """The stored spans of the attendance rows of `session_ids`, by attendance row id."""
    found: dict[int, list[Span]] = {}
    if not session_ids:
        return {}
    rows = session.execute(
        select(
            AttendanceSpan.attendance_id,
            AttendanceSpan.starts_at,
            AttendanceSpan.ends_at,
            AttendanceSpan.modality,
        )
        .join(AttendanceRecord, AttendanceRecord.id == AttendanceSpan.attendance_id)
        .where(AttendanceRecord.session_id.in_(list(session_ids)))
        .order_by(AttendanceSpan.starts_at, AttendanceSpan.id)
    )
    for attendance_id, starts_at, ends_at, modality in rows:
        found.setdefault(attendance_id, []).append(Span(starts_at, ends_at, modality))
    return {key: tuple(spans) for key, spans in found.items()}


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
    """One member's attendance over a module (the group asks for at least a third).

    `notified` absences are held sessions the member missed after telling the facilitators
    (`storage.absences`: absent or late); `unexplained` are the others they missed.
    `last_contact` is the day a facilitator last contacted them (None: never).
    """

    member_id: int
    name: str
    attended: int
    held: int
    rate: float
    under_third: bool
    #: How many more absences in a row would put them under a third (0 if already under).
    absences_to_cross: int
    notified: int = 0
    unexplained: int = 0
    last_contact: date | None = None


def module_report(
    session: Session, *, module_name: str, group_name: str | None = None
) -> tuple[ModuleStanding, ...]:
    """Per member of the module: sessions attended of sessions held (finalised), rate, flag.

    Members are those enrolled in the module (roster `modules` column; those who never came
    included) plus any member who attended one of its sessions. A member is flagged when
    `attended / held < 1/3`; `absences_to_cross` is the smallest k with
    `attended / (held + k) < 1/3`. Each missed session is notified or unexplained, by the
    notices of the session's local date; the last contact is any contact ever recorded.
    """
    query = (
        select(SessionRecord.id, SessionRecord.group_id, SessionRecord.scheduled_start)
        .join(Module, Module.id == SessionRecord.module_id)
        .join(Group, Group.id == SessionRecord.group_id)
        .where(Module.name == module_name, SessionRecord.finalized_at.is_not(None))
    )
    if group_name is not None:
        query = query.where(Group.name == group_name)
    held_sessions = session.execute(query).all()
    session_ids = [row.id for row in held_sessions]
    group_ids = {row.group_id for row in held_sessions}
    zones = {
        group_id: ZoneInfo(zone)
        for group_id, zone in session.execute(
            select(Group.id, Group.timezone).where(Group.id.in_(list(group_ids)))
        ).all()
    }
    days = {
        row.id: row.scheduled_start.astimezone(zones[row.group_id]).date() for row in held_sessions
    }
    held = len(session_ids)
    attended: dict[int, int] = {}
    present_at: set[tuple[int, int]] = set()
    for member_id, session_id in session.execute(
        select(AttendanceRecord.member_id, AttendanceRecord.session_id).where(
            AttendanceRecord.session_id.in_(session_ids),
            AttendanceRecord.present.is_(True),
            AttendanceRecord.member_id.is_not(None),
        )
    ).all():
        if member_id is not None:
            attended[member_id] = attended.get(member_id, 0) + 1
            present_at.add((member_id, session_id))
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
    told = absences.notices(session, member_ids=list(members))
    contacted = absences.last_contacts(session, member_ids=list(members))
    standings = []
    for member in sorted(members.values(), key=lambda m: (m.display_name, m.id)):
        count = attended.get(member.id, 0)
        under = 3 * count < held
        missed = [sid for sid in session_ids if (member.id, sid) not in present_at]
        notified = sum(1 for sid in missed if (member.id, days[sid]) in told)
        standings.append(
            ModuleStanding(
                member_id=member.id,
                name=member.display_name,
                attended=count,
                held=held,
                rate=count / held if held else 0.0,
                under_third=under,
                absences_to_cross=0 if under else 3 * count - held + 1,
                notified=notified,
                unexplained=len(missed) - notified,
                last_contact=contacted.get(member.id),
            )
        )
    return tuple(standings)


# ------------------------------------------------------------------------- claimable time

#: The phases of the therapy proper: from the meditation's start to the group's closing.
THERAPY_PHASES: Final = frozenset(
    {"meditation", "case_call", "presentation", "questions", "discussion", "return"}
)
#: Who counts towards the group size that picks the fee band (`[billing] group_size`).
GroupSizeRule = Literal["members", "billable_members", "members_and_guests", "everyone"]
GROUP_SIZE_RULES: Final = get_args(GroupSizeRule)


class PhaseChangeLike(Protocol):
    """A stored phase change (`storage.phase_log.PhaseRecord`)."""

    @property
    def at(self) -> datetime: ...
    @property
    def from_phase(self) -> str: ...
    @property
    def to_phase(self) -> str: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class TherapyWindow:
    """When the therapy of a session ran, and what that rests on.

    Args:
        therapy: the intervals in a therapy phase (meditation to closing, every `/extend`
            included), never past the group's end.
        reflection: the intervals in the optional reflection after it.
        basis: `phases` (from the stored phase changes) or `schedule` (none were stored:
            the scheduled start to the group's end).
    """

    therapy: tuple[Interval, ...]
    reflection: tuple[Interval, ...]
    basis: Literal["phases", "schedule"]

    @property
    def start(self) -> datetime | None:
        return self.therapy[0].start if self.therapy else None

    @property
    def end(self) -> datetime | None:
        return self.therapy[-1].end if self.therapy else None

    @property
    def minutes(self) -> int:
        return whole_minutes(self.therapy)

    def counted(self, *, reflection: bool) -> tuple[Interval, ...]:
        """The therapy, plus the reflection when it counts."""
        return _merge(self.therapy + self.reflection) if reflection else self.therapy


@dataclass(frozen=True, slots=True, kw_only=True)
class ClaimableTime:
    """A member's time that a claim may count, and how they were connected for it.

    Args:
        minutes: whole minutes present inside the window while the billing physician was
            present too (absences subtracted).
        video_minutes / telephone_minutes / unknown_minutes: the same time split by how they
            were connected (a minute with both a video and a phone connection is video).
    """

    minutes: int
    video_minutes: int
    telephone_minutes: int
    unknown_minutes: int

    @property
    def modality(self) -> str:
        """`video`, `telephone`, or "" (unknown): the one held for most of the minutes.

        Video only when it covers more than half of the claimable time; telephone when the
        rest is all telephone; unknown when minutes of unknown connection could decide it.
        """
        if self.video_minutes * 2 > self.minutes:
            return "video"
        if self.unknown_minutes == 0 and self.minutes > 0:
            return "telephone"
        return ""


def therapy_window(
    changes: Sequence[PhaseChangeLike],
    *,
    scheduled_start: datetime,
    scheduled_end: datetime,
    group_end: datetime | None = None,
) -> TherapyWindow:
    """The therapy window of a session from its stored phase changes (pure).

    A phase runs from the change that entered it to the next change. The therapy is every
    stretch in a therapy phase (meditation to closing, so every `/extend` is inside it). It
    is cut at `group_end` when the engine's state gives it (the scheduled start plus the
    agenda's length plus every `/extend`): a closing the bot reached late (a timer after a
    restart) does not lengthen a claim. A log that stops in a therapy phase runs to
    `group_end`, else to `scheduled_end`. With no changes stored, the window is the
    schedule: `scheduled_start` to `group_end` (or `scheduled_end`).
    """
    end = group_end if group_end is not None else scheduled_end
    if not changes:
        return TherapyWindow(
            therapy=(Interval(scheduled_start, end),) if end > scheduled_start else (),
            reflection=(),
            basis="schedule",
        )
    ordered = list(changes)
    therapy: list[Interval] = []
    reflection: list[Interval] = []
    for index, change in enumerate(ordered):
        ends = ordered[index + 1].at if index + 1 < len(ordered) else end
        if group_end is not None and change.to_phase in THERAPY_PHASES:
            ends = min(ends, group_end)
        if ends <= change.at:
            continue
        if change.to_phase in THERAPY_PHASES:
            therapy.append(Interval(change.at, ends))
        elif change.to_phase == "reflection":
            reflection.append(Interval(change.at, ends))
    return TherapyWindow(therapy=_merge(therapy), reflection=_merge(reflection), basis="phases")


def intersect(a: Iterable[Interval], b: Iterable[Interval]) -> tuple[Interval, ...]:
    """The time in both `a` and `b` (each merged first)."""
    left, right = _merge(a), _merge(b)
    found: list[Interval] = []
    i = j = 0
    while i < len(left) and j < len(right):
        start = max(left[i].start, right[j].start)
        end = min(left[i].end, right[j].end)
        if end > start:
            found.append(Interval(start, end))
        if left[i].end < right[j].end:
            i += 1
        else:
            j += 1
    return tuple(found)


def subtract(a: Iterable[Interval], b: Iterable[Interval]) -> tuple[Interval, ...]:
    """The time in `a` and not in `b`."""
    remaining: list[Interval] = []
    cuts = _merge(b)
    for piece in _merge(a):
        start = piece.start
        for cut in cuts:
            if cut.end <= start or cut.start >= piece.end:
                continue
            if cut.start > start:
                remaining.append(Interval(start, cut.start))
            start = max(start, cut.end)
        if start < piece.end:
            remaining.append(Interval(start, piece.end))
    return tuple(remaining)


def claimable_time(
    spans: Iterable[Span], *, window: Iterable[Interval], physician: Iterable[Interval]
) -> ClaimableTime:
    """A member's claimable time: present inside `window` while the physician was present.

    Args:
        spans: the member's join sessions (gaps between them are absences).
        window: the therapy window (plus the reflection, when it counts).
        physician: the billing physician's own time in the meeting.
    """
    return time_within(spans, intersect(window, physician))


def time_within(spans: Iterable[Span], bounds: Sequence[Interval]) -> ClaimableTime:
    """The time of `spans` inside `bounds` (merged), split by modality.

    `claimable_time` with the bounds computed once (the window while the physician was
    present is the same for every member of a session).
    """
    own = list(spans)
    modalities = {span.modality for span in own}
    if len(modalities) <= 1:  # one way in all evening (the usual case): nothing to split
        minutes = whole_minutes(intersect((s.interval for s in own), bounds))
        way = modalities.pop() if modalities else ""
        return ClaimableTime(
            minutes=minutes,
            video_minutes=minutes if way == "video" else 0,
            telephone_minutes=minutes if way == "telephone" else 0,
            unknown_minutes=0 if way in ("video", "telephone") else minutes,
        )
    video = intersect((s.interval for s in own if s.modality == "video"), bounds)
    phone = subtract(
        intersect((s.interval for s in own if s.modality == "telephone"), bounds), video
    )
    present = intersect((s.interval for s in own), bounds)
    unknown = subtract(subtract(present, video), phone) if present else ()
    return ClaimableTime(
        minutes=whole_minutes(present),
        video_minutes=whole_minutes(video),
        telephone_minutes=whole_minutes(phone),
        unknown_minutes=whole_minutes(unknown),
    )


def counts_for_group_size(
    *, role: str, billable: bool, spans: Iterable[Span], window: Iterable[Interval], rule: str
) -> bool:
    """Whether one person counts towards the session's group size under `rule`.

    Everyone counted must have been in the meeting at some moment of the therapy window.
    `members` (default): roster members, billable or not. `billable_members`: only members
    the physician bills. `members_and_guests`: members and people not on the roster.
    `everyone`: facilitators too.

    Raises:
        BalintError: `rule` is not one of `GROUP_SIZE_RULES`.
    """
    if rule not in GROUP_SIZE_RULES:
        raise BalintError(f"unknown group size rule {rule!r}")
    if rule == "everyone":
        counted = True
    elif rule == "members_and_guests":
        counted = role in ("member", "guest")
    elif rule == "billable_members":
        counted = role == "member" and billable
    else:
        counted = role == "member"
    return counted and _overlaps(spans, window)


def _overlaps(spans: Iterable[Span], window: Iterable[Interval]) -> bool:
    """Whether `spans` and `window` share some time: `intersect` is not empty (a union of
    intervals meets another's in some time only if two of them do), without building it."""
    parts = tuple(window)
    return any(
        max(span.start, part.start) < min(span.end, part.end) for span in spans for part in parts
    )
