"""The facilitators' changes to a group's calendar.

The calendar itself is configuration (`phases.calendar`, built from `[group.calendar]`);
what a facilitator changes with `balint-bot sessions cancel|move|add` is stored here as
`phases.calendar.Override` values, per group (by name). `apply_change` writes a
`CalendarChange` the pure calendar computed, so every rule about what may change lives in
`phases.calendar` and this module only stores. Functions flush, never commit: the caller
owns the transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, bindparam, delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session

from phases.calendar import CalendarError, Override
from phases.calendar_changes import CalendarChange
from storage.sessions import ensure_group
from storage.tables.calendar import CalendarOverride
from storage.tables.core import Group

__all__ = ["apply_change", "overrides"]


#: What `overrides` reads, built once: every meeting's session opens with it.
_OVERRIDES = (
    select(CalendarOverride)
    .join(Group, Group.id == CalendarOverride.group_id)
    .where(Group.name == bindparam("name"))
    .order_by(CalendarOverride.id)
)


def overrides(session: Session, *, group_name: str) -> tuple[Override, ...]:
    """The group's current changes (none for a group never recorded), oldest first."""
    rows = session.scalars(_OVERRIDES, {"name": group_name})
    found: list[Override] = []
    for row in rows:
        if row.kind == "cancel":
            found.append(Override(kind="cancel", slot=row.slot_start))
        elif row.kind == "move":
            found.append(Override(kind="move", slot=row.slot_start, to=row.new_start))
        else:
            found.append(Override(kind="add", to=row.new_start))
    return tuple(found)


def apply_change(
    session: Session, *, group_name: str, change: CalendarChange, now: datetime, actor: str
) -> None:
    """Store a change: delete the overrides it drops, then insert the ones it puts.

    Raises:
        CalendarError: an override to drop is no longer there, or one to put collides with
            a stored one (someone changed the calendar meanwhile); nothing is written.
    """
    group_id = ensure_group(session, name=group_name, now=now)
    for gone in change.drop:
        removed = session.execute(
            delete(CalendarOverride).where(
                CalendarOverride.group_id == group_id,
                CalendarOverride.kind == gone.kind,
                _same(CalendarOverride.slot_start, gone.slot),
                _same(CalendarOverride.new_start, gone.to),
            )
        )
        if getattr(removed, "rowcount", 0) != 1:
            raise CalendarError("the calendar changed meanwhile: run the command again")
    for new in change.put:
        session.add(
            CalendarOverride(
                group_id=group_id,
                kind=new.kind,
                slot_start=new.slot,
                new_start=new.to,
                created_at=now,
                actor=actor[:100],
            )
        )
    try:
        session.flush()
    except IntegrityError:
        raise CalendarError("the calendar changed meanwhile: run the command again") from None


def _same(
    column: InstrumentedAttribute[datetime | None], moment: datetime | None
) -> ColumnElement[bool]:
    return column.is_(None) if moment is None else column == moment
