"""A member's way to read their own notes: a single-use, expiring link and the view it opens.

`balint-bot notes link --member NAME` issues a link token (`issue`); the member opens it in
the console's member page (`bot.console.member_notes`), which uses it once (`redeem`, a
compare-and-set, so two racing requests cannot both use it) and gets a view token in a
cookie for a short while (`VIEW_LIFETIME`); `viewer` turns that cookie back into the one
member it was issued for. Nothing here names another member, the group notes or the
console: a view token answers only "whose own notes". Tokens come from `secrets` and are
returned once; only their SHA-256 is stored (`storage.tables.clinical.NoteLink`).

Functions take the session explicitly and `now`, flush and never commit.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from storage.tables.clinical import NoteLink
from storage.tables.core import Member

__all__ = ["MAX_LINK_LIFETIME", "VIEW_LIFETIME", "issue", "purge_expired", "redeem", "viewer"]

#: How long the page stays readable after the link was used (the PDF is fetched within it).
VIEW_LIFETIME = timedelta(minutes=30)
#: The longest a link may wait to be opened.
MAX_LINK_LIFETIME = timedelta(days=14)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def issue(
    session: Session, *, member_id: int, now: datetime, ttl: timedelta, created_by: str
) -> str:
    """A new single-use link token for `member_id`, valid for `ttl`; only its hash is kept."""
    token = secrets.token_urlsafe(32)
    session.add(
        NoteLink(
            token_hash=_hash(token),
            member_id=member_id,
            created_at=now,
            expires_at=now + min(ttl, MAX_LINK_LIFETIME),
            created_by=created_by[:200],
        )
    )
    session.flush()
    return token


def redeem(session: Session, *, token: str, now: datetime) -> tuple[int, str] | None:
    """Use a link token once: (member id, view token), or None when it is unknown, expired,
    used already, or its member is no longer a member (removed, or now a facilitator)."""
    view = secrets.token_urlsafe(32)
    hashed = _hash(token)
    result = session.execute(
        update(NoteLink)
        .where(NoteLink.token_hash == hashed, NoteLink.used_at.is_(None), NoteLink.expires_at > now)
        .values(used_at=now, view_hash=_hash(view), view_expires_at=now + VIEW_LIFETIME)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    member_id = session.scalar(select(NoteLink.member_id).where(NoteLink.token_hash == hashed))
    if member_id is None or _member_role(session, member_id) != "member":
        return None
    return member_id, view


def viewer(session: Session, *, view_token: str, now: datetime) -> int | None:
    """The member a view token was issued for, while it lasts and they are still a member."""
    member_id = session.scalar(
        select(NoteLink.member_id).where(
            NoteLink.view_hash == _hash(view_token), NoteLink.view_expires_at > now
        )
    )
    if member_id is None or _member_role(session, member_id) != "member":
        return None
    return member_id


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete links whose time to be opened and whose view are both over; the count."""
    result = session.execute(
        delete(NoteLink)
        .where(
            NoteLink.expires_at <= now,
            (NoteLink.view_expires_at.is_(None)) | (NoteLink.view_expires_at <= now),
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def _member_role(session: Session, member_id: int) -> str | None:
    return session.scalar(select(Member.role).where(Member.id == member_id))
