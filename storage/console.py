"""The console's sign-in records: one-time links, console sessions, Zoom sign-ins in progress.

Who may sign in is the group's roster: a facilitator row (by member id, display name or
e-mail). Tokens are made here from `secrets` and returned once; only their SHA-256 is stored
(`storage.tables.console`). Every check that consumes something (a link, a Zoom `state`) is
a compare-and-set or a delete in the caller's transaction, so a link signs in once even when
two requests race. Functions take the session explicitly and `now` (one clock per
operation), flush and never commit.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from phases.roster import normalise_name
from storage.roster import roster_entries
from storage.tables.console import ConsoleLink, ConsoleSession, OAuthState
from storage.tables.core import Group, Member

__all__ = [
    "ConsoleUser",
    "Facilitator",
    "ZoomSignin",
    "begin_zoom_signin",
    "end_session",
    "facilitator_by_email",
    "facilitator_by_id",
    "facilitator_by_name",
    "facilitators",
    "group_of_member",
    "group_of_session",
    "issue_link",
    "offer_groups",
    "open_session",
    "purge_expired",
    "redeem_link",
    "take_offer",
    "take_zoom_signin",
    "token_hash",
    "touch_session",
]


def token_hash(token: str) -> str:
    """The stored form of a token: hex SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Facilitator:
    """A roster facilitator: who may use the console."""

    member_id: int
    name: str
    email: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleUser:
    """A signed-in console session and the facilitator it belongs to."""

    session_id: int
    facilitator: Facilitator
    via: str
    last_seen_at: datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoomSignin:
    """A Zoom sign-in just begun: `state` and `code_challenge` go to Zoom, `binding` into a
    short-lived cookie in the browser that started it."""

    state: str
    binding: str
    code_challenge: str


def facilitators(session: Session, *, group_name: str) -> tuple[Facilitator, ...]:
    """The group's roster facilitators, in roster order (not one a later roster import no
    longer lists: an inactive facilitator can no longer sign in, and a signed-in session of
    theirs ends at its next use)."""
    return tuple(
        Facilitator(member_id=int(entry.member_id), name=entry.display_name, email=entry.email)
        for entry in roster_entries(session, group_name=group_name)
        if entry.role == "facilitator"
        and entry.member_id.isdigit()
        and entry.standing != "inactive"
    )


def facilitator_by_name(session: Session, *, group_name: str, name: str) -> Facilitator | None:
    """The facilitator whose display name is `name` (case, accents and spacing aside)."""
    wanted = normalise_name(name)
    found = [
        f for f in facilitators(session, group_name=group_name) if normalise_name(f.name) == wanted
    ]
    return found[0] if len(found) == 1 else None


def facilitator_by_email(session: Session, *, group_name: str, email: str) -> Facilitator | None:
    """The facilitator whose roster e-mail is `email` (case-insensitive), if exactly one."""
    wanted = email.strip().casefold()
    if not wanted:
        return None
    found = [
        f
        for f in facilitators(session, group_name=group_name)
        if f.email and f.email.strip().casefold() == wanted
    ]
    return found[0] if len(found) == 1 else None


def group_of_member(session: Session, *, member_id: int) -> str | None:
    """The name of the group whose roster row `member_id` is (None: no such member)."""
    return session.scalar(
        select(Group.name).join(Member, Member.group_id == Group.id).where(Member.id == member_id)
    )


def group_of_session(session: Session, *, token: str) -> str | None:
    """The group of the facilitator a console session cookie belongs to (None: unknown)."""
    member_id = session.scalar(
        select(ConsoleSession.member_id).where(ConsoleSession.token_hash == token_hash(token))
    )
    return None if member_id is None else group_of_member(session, member_id=member_id)


def facilitator_by_id(session: Session, *, group_name: str, member_id: int) -> Facilitator | None:
    """The facilitator with `member_id`, if that member is (still) a facilitator."""
    for found in facilitators(session, group_name=group_name):
        if found.member_id == member_id:
            return found
    return None


# -------------------------------------------------------------------------------- links


def issue_link(
    session: Session, *, member_id: int, now: datetime, ttl: timedelta, created_by: str = ""
) -> str:
    """A new single-use sign-in token for `member_id`, valid for `ttl`; only its hash is kept."""
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleLink(
            token_hash=token_hash(token),
            member_id=member_id,
            created_at=now,
            expires_at=now + ttl,
            created_by=created_by[:100],
        )
    )
    session.flush()
    return token


def redeem_link(session: Session, *, token: str, now: datetime) -> int | None:
    """Use a sign-in token: the member id it was issued for, or None when it is unknown,
    expired or used already. A token is used once, also when two requests race."""
    hashed = token_hash(token)
    result = session.execute(
        update(ConsoleLink)
        .where(
            ConsoleLink.token_hash == hashed,
            ConsoleLink.used_at.is_(None),
            ConsoleLink.expires_at > now,
            ConsoleLink.created_by.not_like(f"{_OFFER}%"),  # an offer's is `take_offer`'s
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return session.scalar(select(ConsoleLink.member_id).where(ConsoleLink.token_hash == hashed))


#: `created_by` of the tokens a Zoom sign-in offers, before the Zoom user's id (`offer_groups`);
#: an operator's links carry their user name, which has no colon
_OFFER = "zoom:"


def offer_groups(
    session: Session, *, member_ids: Sequence[int], zoom_user: str, now: datetime, ttl: timedelta
) -> dict[int, str]:
    """One single-use token per facilitator row of a Zoom user who leads several groups (a
    console session is one group's, so they choose which): member id -> token. Using one
    uses up the others (`take_offer`); a sign-in link cannot use them (`redeem_link`)."""
    return {
        member_id: issue_link(
            session, member_id=member_id, now=now, ttl=ttl, created_by=f"{_OFFER}{zoom_user}"
        )
        for member_id in member_ids
    }


def take_offer(session: Session, *, token: str, now: datetime) -> tuple[int, str] | None:
    """Use a token `offer_groups` made: its member id and the Zoom user it was offered to,
    or None when it is unknown, expired or used, or not an offer's. The Zoom user's other
    offered tokens are used up with it, so one offer opens one console session, also when
    two requests race."""
    row = session.scalar(select(ConsoleLink).where(ConsoleLink.token_hash == token_hash(token)))
    if (
        row is None
        or row.used_at is not None
        or now >= row.expires_at
        or not row.created_by.startswith(_OFFER)
    ):
        return None
    member_id, offered_by = row.member_id, row.created_by
    taken = session.execute(
        update(ConsoleLink)
        .where(
            ConsoleLink.created_by == offered_by,
            ConsoleLink.used_at.is_(None),
            ConsoleLink.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(taken, "rowcount", 0):  # a request with a sibling token was first
        return None
    return member_id, offered_by.removeprefix(_OFFER)


# ----------------------------------------------------------------------------- sessions


def open_session(
    session: Session, *, member_id: int, via: str, now: datetime, lifetime: timedelta
) -> str:
    """A new console session for `member_id`; returns its cookie token (stored hashed)."""
    token = secrets.token_urlsafe(32)
    session.add(
        ConsoleSession(
            token_hash=token_hash(token),
            member_id=member_id,
            via=via,
            created_at=now,
            last_seen_at=now,
            expires_at=now + lifetime,
        )
    )
    session.flush()
    return token


def touch_session(
    session: Session,
    *,
    token: str,
    group_name: str,
    now: datetime,
    idle: timedelta,
    extend: bool = True,
) -> ConsoleUser | None:
    """The signed-in user behind a cookie token, or None.

    None when the token is unknown, signed out, past its absolute expiry, idle longer than
    `idle`, or its member is no longer a facilitator of the group (removed from the roster or
    made a member): rights are checked on every request, not only at sign-in. With `extend`
    (any page or button) the idle clock restarts; the live stream reads without extending.
    """
    row = session.scalar(
        select(ConsoleSession).where(ConsoleSession.token_hash == token_hash(token))
    )
    if row is None or row.ended_at is not None or now >= row.expires_at:
        return None
    if now - row.last_seen_at > idle:
        row.ended_at = now
        session.flush()
        return None
    facilitator = facilitator_by_id(session, group_name=group_name, member_id=row.member_id)
    if facilitator is None:
        row.ended_at = now
        session.flush()
        return None
    if extend and now > row.last_seen_at:
        row.last_seen_at = now
        session.flush()
    return ConsoleUser(
        session_id=row.id, facilitator=facilitator, via=row.via, last_seen_at=row.last_seen_at
    )


def end_session(session: Session, *, token: str, now: datetime) -> bool:
    """Sign a console session out; False if there was none open."""
    result = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.token_hash == token_hash(token), ConsoleSession.ended_at.is_(None))
        .values(ended_at=now)
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0) == 1)


# ------------------------------------------------------------------------ Zoom sign-in


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def begin_zoom_signin(session: Session, *, now: datetime, ttl: timedelta) -> ZoomSignin:
    """Start a "Sign in with Zoom": a fresh `state`, a browser binding and a PKCE pair
    (RFC 7636, S256); the verifier stays here until the callback."""
    state = secrets.token_urlsafe(32)
    binding = secrets.token_urlsafe(32)
    verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43-128
    session.add(
        OAuthState(
            state_hash=token_hash(state),
            binding_hash=token_hash(binding),
            code_verifier=verifier,
            created_at=now,
            expires_at=now + ttl,
        )
    )
    session.flush()
    return ZoomSignin(state=state, binding=binding, code_challenge=_challenge(verifier))


def take_zoom_signin(session: Session, *, state: str, binding: str, now: datetime) -> str | None:
    """Consume a Zoom sign-in in progress: its PKCE code verifier, or None when the `state`
    is unknown, expired or used, or the browser is not the one that began it."""
    row = session.scalar(select(OAuthState).where(OAuthState.state_hash == token_hash(state)))
    if row is None:
        return None
    session.delete(row)
    session.flush()
    if now >= row.expires_at or not hmac.compare_digest(row.binding_hash, token_hash(binding)):
        return None
    return row.code_verifier


def purge_expired(session: Session, *, now: datetime) -> int:
    """Delete expired links and Zoom sign-ins, and sessions that can no longer be used."""
    removed = 0
    for statement in (
        delete(ConsoleLink).where(ConsoleLink.expires_at <= now),
        delete(OAuthState).where(OAuthState.expires_at <= now),
        delete(ConsoleSession).where(ConsoleSession.expires_at <= now),
    ):
        result = session.execute(statement.execution_options(synchronize_session=False))
        removed += int(getattr(result, "rowcount", 0) or 0)
    return removed
