"""storage.console: who may sign in, one-time links, console sessions, Zoom sign-ins."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from storage import console as records
from storage.db import session_scope
from storage.tables.console import ConsoleLink, ConsoleSession, OAuthState
from storage.tables.core import Member
from tests.clock import TEST_NOW

from .conftest import GROUP

IDLE = timedelta(minutes=30)


def _fay(factory) -> records.Facilitator:
    with session_scope(factory) as session:
        found = records.facilitator_by_name(session, group_name=GROUP, name="fay")
    assert found is not None
    return found


def test_only_roster_facilitators_may_sign_in(factory):
    with session_scope(factory) as session:
        names = [f.name for f in records.facilitators(session, group_name=GROUP)]
        assert names == ["Fay"]
        assert records.facilitator_by_name(session, group_name=GROUP, name="Ann") is None
        assert records.facilitator_by_name(session, group_name="Other", name="Fay") is None
        by_mail = records.facilitator_by_email(
            session, group_name=GROUP, email=" FAY.Facilitator@example.org "
        )
        assert by_mail is not None and by_mail.name == "Fay"
        assert (
            records.facilitator_by_email(session, group_name=GROUP, email="ann@example.org") is None
        )
        assert records.facilitator_by_email(session, group_name=GROUP, email="") is None


def test_a_link_is_stored_hashed_works_once_and_expires(factory):
    fay = _fay(factory)
    with session_scope(factory) as session:
        token = records.issue_link(
            session, member_id=fay.member_id, now=TEST_NOW, ttl=timedelta(minutes=10)
        )
        late = records.issue_link(
            session, member_id=fay.member_id, now=TEST_NOW, ttl=timedelta(minutes=10)
        )
        stored = session.scalars(select(ConsoleLink.token_hash)).all()
        assert token not in stored and records.token_hash(token) in stored
    with session_scope(factory) as session:
        assert records.redeem_link(session, token=token, now=TEST_NOW) == fay.member_id
    with session_scope(factory) as session:
        assert records.redeem_link(session, token=token, now=TEST_NOW) is None
        assert records.redeem_link(session, token="made-up", now=TEST_NOW) is None
        assert (
            records.redeem_link(session, token=late, now=TEST_NOW + timedelta(minutes=10)) is None
        )


def test_a_session_expires_when_idle_and_is_extended_by_use(factory):
    fay = _fay(factory)
    with session_scope(factory) as session:
        token = records.open_session(
            session, member_id=fay.member_id, via="link", now=TEST_NOW, lifetime=timedelta(hours=12)
        )
        assert token not in session.scalars(select(ConsoleSession.token_hash)).all()
    at = TEST_NOW
    for _ in range(4):  # used every 20 minutes: stays signed in past the idle time
        at += timedelta(minutes=20)
        with session_scope(factory) as session:
            user = records.touch_session(session, token=token, group_name=GROUP, now=at, idle=IDLE)
            assert user is not None and user.facilitator == fay
    with session_scope(factory) as session:  # reading without extending
        records.touch_session(
            session,
            token=token,
            group_name=GROUP,
            now=at + timedelta(minutes=29),
            idle=IDLE,
            extend=False,
        )
    with session_scope(factory) as session:
        gone = records.touch_session(
            session, token=token, group_name=GROUP, now=at + timedelta(minutes=31), idle=IDLE
        )
        assert gone is None
    with session_scope(factory) as session:  # and stays signed out
        assert (
            records.touch_session(session, token=token, group_name=GROUP, now=at, idle=IDLE) is None
        )


def test_a_session_ends_at_its_absolute_expiry_at_sign_out_and_when_no_longer_facilitator(factory):
    fay = _fay(factory)
    with session_scope(factory) as session:
        short = records.open_session(
            session,
            member_id=fay.member_id,
            via="link",
            now=TEST_NOW,
            lifetime=timedelta(minutes=5),
        )
        signed_out = records.open_session(
            session, member_id=fay.member_id, via="zoom", now=TEST_NOW, lifetime=timedelta(hours=1)
        )
        demoted = records.open_session(
            session, member_id=fay.member_id, via="zoom", now=TEST_NOW, lifetime=timedelta(hours=1)
        )
    later = TEST_NOW + timedelta(minutes=5)
    with session_scope(factory) as session:
        assert (
            records.touch_session(session, token=short, group_name=GROUP, now=later, idle=IDLE)
            is None
        )
        assert records.end_session(session, token=signed_out, now=later)
        assert not records.end_session(session, token=signed_out, now=later)
        assert (
            records.touch_session(session, token=signed_out, group_name=GROUP, now=later, idle=IDLE)
            is None
        )
        member = session.get(Member, fay.member_id)
        member.role = "member"
    with session_scope(factory) as session:
        assert (
            records.touch_session(session, token=demoted, group_name=GROUP, now=later, idle=IDLE)
            is None
        )


def test_a_zoom_sign_in_is_bound_to_its_browser_used_once_and_expires(factory):
    with session_scope(factory) as session:
        begun = records.begin_zoom_signin(session, now=TEST_NOW, ttl=timedelta(minutes=10))
        row = session.scalars(select(OAuthState)).one()
        assert begun.state not in row.state_hash and begun.binding not in row.binding_hash
        assert 43 <= len(row.code_verifier) <= 128
    with session_scope(factory) as session:  # another browser: refused, and used up
        assert (
            records.take_zoom_signin(session, state=begun.state, binding="other", now=TEST_NOW)
            is None
        )
    with session_scope(factory) as session:
        again = records.begin_zoom_signin(session, now=TEST_NOW, ttl=timedelta(minutes=10))
    with session_scope(factory) as session:
        verifier = records.take_zoom_signin(
            session, state=again.state, binding=again.binding, now=TEST_NOW
        )
        assert verifier is not None
    with session_scope(factory) as session:
        assert (
            records.take_zoom_signin(
                session, state=again.state, binding=again.binding, now=TEST_NOW
            )
            is None
        )
        late = records.begin_zoom_signin(session, now=TEST_NOW, ttl=timedelta(minutes=10))
    with session_scope(factory) as session:
        assert (
            records.take_zoom_signin(
                session,
                state=late.state,
                binding=late.binding,
                now=TEST_NOW + timedelta(minutes=10),
            )
            is None
        )


def test_the_code_challenge_is_s256_of_the_verifier(factory):
    import base64
    import hashlib

    with session_scope(factory) as session:
        begun = records.begin_zoom_signin(session, now=TEST_NOW, ttl=timedelta(minutes=10))
        verifier = records.take_zoom_signin(
            session, state=begun.state, binding=begun.binding, now=TEST_NOW
        )
    assert verifier is not None
    digest = hashlib.sha256(verifier.encode()).digest()
    assert begun.code_challenge == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def test_purge_removes_what_can_no_longer_be_used(factory):
    fay = _fay(factory)
    with session_scope(factory) as session:
        records.issue_link(session, member_id=fay.member_id, now=TEST_NOW, ttl=timedelta(minutes=1))
        records.begin_zoom_signin(session, now=TEST_NOW, ttl=timedelta(minutes=1))
        records.open_session(
            session,
            member_id=fay.member_id,
            via="link",
            now=TEST_NOW,
            lifetime=timedelta(minutes=1),
        )
        keep = records.issue_link(
            session, member_id=fay.member_id, now=TEST_NOW, ttl=timedelta(hours=1)
        )
    with session_scope(factory) as session:
        assert records.purge_expired(session, now=TEST_NOW + timedelta(minutes=2)) == 3
    with session_scope(factory) as session:
        assert records.redeem_link(session, token=keep, now=TEST_NOW) == fay.member_id
