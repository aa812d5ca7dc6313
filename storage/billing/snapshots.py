"""From the tables to the pure billing snapshots: windows, claimable time, group size, PHI.

For each finished session this reads what was stored and nothing else: the phase changes
(`storage.phase_log`) and the engine's stored state (the group's end after every `/extend`)
give the therapy window (`storage.attendance.therapy_window`); the attendance spans give each
person's time and modality; the billing physician named by `[billing] physician` is found on
the roster and their own spans bound every claim; the group size is counted by the
`[billing] group_size` rule. PHI is decrypted through `storage.roster.read_phi`, which
audits the read. The result is `SessionAttendance` snapshots for `claims.build_claims`, and
`MemberTime` rows for the CME hours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple, Protocol
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from phases.errors import BalintError
from phases.roster import normalise_name
from phases.state import SessionState
from storage.attendance import (
    Span,
    TherapyWindow,
    counts_for_group_size,
    intersect,
    stored_spans,
    therapy_window,
    time_within,
    whole_minutes,
)
from storage.billing.claims import (
    BillableAttendance,
    BillingOptions,
    BillingSettingsLike,
    MemberBilling,
    Problem,
    ProposedClaim,
    SessionAttendance,
    build_claims,
)
from storage.billing.errors import BillingError
from storage.billing.fees import FeeTable
from storage.crypto import Keyring
from storage.phase_log import phase_changes_of
from storage.roster import MemberPHI, read_phi
from storage.tables.core import AttendanceRecord, Group, Member, Module, SessionRecord
from storage.tables.runtime import RuntimeMeeting

__all__ = [
    "ExportSettingsLike",
    "HeldSession",
    "MemberTime",
    "held_sessions",
    "keyring_for",
    "member_times",
    "physician_for",
    "proposed_claims",
    "service_date",
    "sessions_between",
]


class _GroupLike(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def timezone(self) -> str: ...


class _AgendaLike(Protocol):
    @property
    def length_minutes(self) -> int: ...


class ExportSettingsLike(Protocol):
    """The parts of `bot.config.Settings` the billing exports read."""

    @property
    def billing(self) -> BillingSettingsLike: ...
    @property
    def group(self) -> _GroupLike: ...
    @property
    def agenda(self) -> _AgendaLike: ...
    @property
    def data_key(self) -> SecretStr | None: ...
    @property
    def data_key_previous(self) -> SecretStr | None: ...


class _Attended(NamedTuple):
    """The columns of an attendance row that billing reads.

    Read as plain rows, not ORM objects: an export over years reads thousands of them, and
    building each as a mapped object cost more than everything billing then did with it.
    """

    id: int
    session_id: int
    member_id: int | None
    role: str
    minutes: int
    first_join: datetime | None
    last_leave: datetime | None


@dataclass(frozen=True, slots=True)
class _Person:
    row: _Attended
    spans: tuple[Span, ...]

    @property
    def outdated(self) -> bool:
        """Finalised before spans were kept: minutes without the join sessions behind them."""
        return self.row.minutes > 0 and not self.spans


@dataclass(frozen=True, slots=True)
class HeldSession:
    """A finished session as stored: its window and everyone's attendance with spans."""

    record: SessionRecord
    window: TherapyWindow
    people: tuple[_Person, ...]


@dataclass(frozen=True, slots=True)
class MemberTime:
    """A member's minutes in one session's therapy window and reflection (for CME)."""

    member_id: int
    session_id: int
    service_date: date
    minutes: int
    #: of which in the optional reflection (counted in `minutes` only when it counts for them)
    reflection_minutes: int = 0


def keyring_for(settings: ExportSettingsLike, keyring: Keyring | None) -> Keyring:
    """The keyring given, else the one from the settings' data keys."""
    if keyring is not None:
        return keyring
    current, previous = settings.data_key, settings.data_key_previous
    return Keyring.from_text(
        current.get_secret_value() if current is not None else None,
        previous.get_secret_value() if previous is not None else None,
    )


def service_date(record: SessionRecord, timezone: str) -> date:
    """The session's local date: the service date of its claims."""
    return record.scheduled_start.astimezone(ZoneInfo(timezone)).date()


def sessions_between(
    session: Session, *, settings: ExportSettingsLike, date_from: date, date_to: date
) -> list[SessionRecord]:
    """The group's sessions whose local date is within [date_from, date_to]."""
    lower = datetime.combine(date_from - timedelta(days=1), datetime.min.time(), UTC)
    upper = datetime.combine(date_to + timedelta(days=2), datetime.min.time(), UTC)
    candidates = session.scalars(
        select(SessionRecord)
        .join(Group, Group.id == SessionRecord.group_id)
        .where(
            Group.name == settings.group.name,
            SessionRecord.scheduled_start >= lower,
            SessionRecord.scheduled_start < upper,
        )
        .order_by(SessionRecord.scheduled_start, SessionRecord.id)
    )
    return [
        record
        for record in candidates
        if date_from <= service_date(record, settings.group.timezone) <= date_to
    ]


def physician_for(session: Session, *, group_name: str, name: str) -> Member:
    """The roster facilitator `[billing] physician` names (display name or full name).

    Raises:
        BillingError: nobody, or more than one facilitator, answers to `name`, or it names a
            member (only a facilitator's presence can bound the claims).
    """
    wanted = normalise_name(name)
    people = session.scalars(
        select(Member)
        .join(Group, Group.id == Member.group_id)
        .where(Group.name == group_name)
        .order_by(Member.id)
    ).all()
    found = [
        person
        for person in people
        if wanted
        and wanted
        in {
            normalise_name(person.display_name),
            normalise_name(f"{person.first_name} {person.last_name}"),
        }
    ]
    leaders = [person for person in found if person.role == "facilitator"]
    if len(leaders) == 1:
        return leaders[0]
    names = ", ".join(p.display_name for p in people if p.role == "facilitator") or "none"
    if found and not leaders:
        raise BillingError(
            f"[billing] physician {name!r} is a member on the roster, not a facilitator "
            f"(facilitators: {names})"
        )
    if len(leaders) > 1:
        raise BillingError(f"[billing] physician {name!r} fits several facilitators: {names}")
    raise BillingError(
        f"[billing] physician {name!r} is not a facilitator on the roster of "
        f"{group_name!r} (facilitators: {names})"
    )


def held_sessions(
    session: Session, *, records: Sequence[SessionRecord], length_minutes: int
) -> list[HeldSession]:
    """Each record with its therapy window and its people's attendance and spans."""
    if not records:
        return []
    ids = [record.id for record in records]
    rows: dict[int, list[_Attended]] = defaultdict(list)
    for columns in session.execute(
        select(
            AttendanceRecord.id,
            AttendanceRecord.session_id,
            AttendanceRecord.member_id,
            AttendanceRecord.role,
            AttendanceRecord.minutes,
            AttendanceRecord.first_join,
            AttendanceRecord.last_leave,
        )
        .where(AttendanceRecord.session_id.in_(ids))
        .order_by(AttendanceRecord.id)
    ):
        row = _Attended._make(columns)
        rows[row.session_id].append(row)
    spans = stored_spans(session, session_ids=ids)
    uuids = [record.meeting_uuid for record in records]
    changes = phase_changes_of(session, meeting_uuids=uuids)
    ends = _group_ends(session, meeting_uuids=uuids)
    held: list[HeldSession] = []
    for record in records:
        window = therapy_window(
            changes.get(record.meeting_uuid, ()),
            scheduled_start=record.scheduled_start,
            scheduled_end=record.scheduled_start + timedelta(minutes=length_minutes),
            group_end=ends.get(record.meeting_uuid),
        )
        people = tuple(_Person(row, spans.get(row.id, ())) for row in rows.get(record.id, []))
        held.append(HeldSession(record=record, window=window, people=people))
    return held


def _group_ends(session: Session, *, meeting_uuids: Sequence[str]) -> dict[str, datetime]:
    """Each meeting's group end after every `/extend`, from the engine's stored state."""
    found: dict[str, datetime] = {}
    for uuid, state_json in session.execute(
        select(RuntimeMeeting.meeting_uuid, RuntimeMeeting.state_json).where(
            RuntimeMeeting.meeting_uuid.in_(list(meeting_uuids))
        )
    ):
        try:
            found[uuid] = SessionState.from_json(state_json).group_end
        except BalintError:
            continue  # unreadable: the phase log alone decides
    return found


def proposed_claims(
    session: Session,
    *,
    settings: ExportSettingsLike,
    options: BillingOptions,
    records: Sequence[SessionRecord],
    keyring: Keyring | None,
    fee_table: FeeTable,
    today: date,
    now: datetime,
    command: str,
    overrides: Mapping[tuple[int, int], str] | None = None,
) -> list[ProposedClaim]:
    """One proposed claim per member who attended each of `records`.

    Args:
        overrides: a diagnostic code per (session id, member id) from `billing correct`.

    Raises:
        BillingError: `[billing] physician` does not name one roster facilitator.
        DataKeyError: PHI cannot be decrypted with the keyring.
    """
    physician = physician_for(session, group_name=settings.group.name, name=options.physician)
    held = held_sessions(session, records=records, length_minutes=settings.agenda.length_minutes)
    member_ids = sorted(
        {
            person.row.member_id
            for one in held
            for person in one.people
            if person.row.member_id is not None
        }
    )
    members = {
        member.id: member
        for member in session.scalars(select(Member).where(Member.id.in_(member_ids)))
    }
    billed_ids = sorted(
        member_id
        for member_id in member_ids
        if member_id in members and members[member_id].role == "member"
    )
    phi = (
        read_phi(
            session,
            member_ids=billed_ids,
            keyring=keyring_for(settings, keyring),
            command=command,
            now=now,
            detail="billing export",
        )
        if billed_ids
        else {}
    )
    modules = {
        module.id: module.name
        for module in session.scalars(
            select(Module).where(
                Module.id.in_(sorted({r.module_id for r in records if r.module_id is not None}))
            )
        )
    }
    proposed: list[ProposedClaim] = []
    # each member's facts with their PHI, built once for all their sessions
    billing = {
        member_id: _member(members[member_id], phi.get(member_id)) for member_id in billed_ids
    }
    cards: dict[MemberBilling, tuple[Problem, ...]] = {}  # each card checked once
    for one in held:
        snapshot = _snapshot(
            one,
            options=options,
            physician_id=physician.id,
            members=members,
            billing=billing,
            module=modules.get(one.record.module_id or 0, ""),
            timezone=settings.group.timezone,
            overrides=overrides or {},
        )
        proposed.extend(
            build_claims(snapshot, options=options, fee_table=fee_table, today=today, cards=cards)
        )
    return proposed


def _snapshot(
    held: HeldSession,
    *,
    options: BillingOptions,
    physician_id: int,
    members: Mapping[int, Member],
    billing: Mapping[int, MemberBilling],
    module: str,
    timezone: str,
    overrides: Mapping[tuple[int, int], str],
) -> SessionAttendance:
    window = held.window
    counted = window.counted(reflection=options.count_reflection)
    leader = [p for p in held.people if p.row.member_id == physician_id]
    leader_time = [span.interval for p in leader for span in p.spans]
    bounds = intersect(counted, leader_time)  # the same for every member: computed once
    physician_minutes = whole_minutes(bounds)
    size = sum(
        1
        for person in held.people
        if counts_for_group_size(
            role=person.row.role,
            billable=_billable(person.row, members),
            spans=person.spans,
            window=window.therapy,
            rule=options.group_size,
        )
    )
    attendees = []
    for person in held.people:
        row = person.row
        if row.role != "member" or row.member_id is None or row.member_id not in billing:
            continue
        time = time_within(person.spans, bounds)
        attendees.append(
            BillableAttendance(
                member=billing[row.member_id],
                claimable_minutes=time.minutes,
                modality=time.modality,
                minutes_in_meeting=row.minutes,
                first_join=row.first_join,
                last_leave=row.last_leave,
                diagnostic_override=overrides.get((held.record.id, row.member_id), ""),
            )
        )
    return SessionAttendance(
        session_id=str(held.record.id),
        service_date=service_date(held.record, timezone),
        window_start=window.start,
        window_end=window.end,
        window_minutes=window.minutes,
        reflection_minutes=whole_minutes(window.reflection),
        window_basis=window.basis,
        physician_minutes=physician_minutes,
        group_size=size,
        group_size_rule=options.group_size,
        attendees=tuple(attendees),
        attendee_count=sum(1 for person in held.people if person.row.minutes > 0 or person.spans),
        module=module,
        outdated=any(person.outdated for person in held.people),
    )


def member_times(
    held: Sequence[HeldSession],
    *,
    timezone: str,
    reflection_counts: Callable[[int], bool] = lambda _member_id: True,
) -> list[MemberTime]:
    """Each member's minutes inside each session's therapy window and, for the members
    `reflection_counts` names (`[billing] cme_reflection`), its reflection (for CME).

    Not bounded by the billing physician: continuing education counts the time in the group.
    Who attended the reflection, and how long, is in `reflection_minutes` either way.
    """
    found: list[MemberTime] = []
    for one in held:
        day = service_date(one.record, timezone)
        for person in one.people:
            if person.row.role != "member" or person.row.member_id is None:
                continue
            counts = reflection_counts(person.row.member_id)
            window = one.window.counted(reflection=counts)
            minutes = whole_minutes(intersect((s.interval for s in person.spans), window))
            reflection = whole_minutes(
                intersect((s.interval for s in person.spans), one.window.reflection)
            )
            found.append(
                MemberTime(
                    member_id=person.row.member_id,
                    session_id=one.record.id,
                    service_date=day,
                    minutes=minutes,
                    reflection_minutes=reflection,
                )
            )
    return found


def _billable(row: _Attended, members: Mapping[int, Member]) -> bool:
    member = members.get(row.member_id) if row.member_id is not None else None
    return member is not None and member.bill_ohip is True


def _member(row: Member, phi: MemberPHI | None) -> MemberBilling:
    return MemberBilling(
        member_id=str(row.id),
        first_name=row.first_name,
        last_name=row.last_name,
        bill_ohip=row.bill_ohip,
        health_number=phi.health_number if phi is not None else "",
        version_code=phi.version_code if phi is not None else "",
        province=row.province or "ON",
        birth_date=phi.birth_date if phi is not None else None,
        sex=row.sex,
        referring_name=row.referring_name,
        referring_number=row.referring_number,
        diagnostic_code=row.diagnostic_code,
        relationship_basis=row.relationship_basis,
        relationship_date=row.relationship_date,
        consent_date=row.consent_date,
    )
