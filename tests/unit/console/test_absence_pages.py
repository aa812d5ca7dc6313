"""The console records a member's notice of absence or lateness and a contact, as
`balint-bot absence add` / `absence contact` do: facilitators only, CSRF-checked, the reason
sealed, audited with the facilitator as the actor; a bad form is a 400 that records nothing."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx
import pytest
from sqlalchemy import select

from bot.config import Settings
from bot.console.app import create_console_app
from storage import absences, audit
from storage.crypto import Keyring, generate_key
from storage.db import session_scope
from storage.roster import list_members
from storage.tables.clinical import Absence

from .conftest import GROUP, sign_in_with_link

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:8001"
REASON = "Zq-reason: a night shift at the hospital"


async def _signed_in(client: httpx.AsyncClient, factory, clock) -> str:
    """Fay signed in with a one-time link; the CSRF token of the Attendance page."""
    await sign_in_with_link(client, factory, clock)
    page = await client.get("/group/attendance")
    assert page.status_code == 200 and "Record a notice or a contact" in page.text
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', page.text)
    assert found is not None
    return found.group(1)


async def test_a_facilitator_records_a_notice_and_a_contact_in_the_console(
    factory, settings, clock
):
    key = generate_key()
    app = create_console_app(
        Settings(storage=settings.storage, group=settings.group, data_key=key),
        session_factory=factory,
        clock=clock,
    )
    with session_scope(factory) as session:
        member = next(m for m in list_members(session, group_name=GROUP) if m.role == "member")
    today = clock().date()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
        csrf = await _signed_in(web, factory, clock)
        form = {"csrf": csrf, "member": str(member.member_id), "module": "2026-09"}
        told = await web.post(
            "/group/absences",
            data={**form, "kind": "absence", "date": "2026-12-09", "late": "yes", "text": REASON},
        )
        assert told.status_code == 303
        assert told.headers["location"] == "/group/attendance?module=2026-09"
        contacted = await web.post(
            "/group/absences", data={**form, "kind": "contact", "date": today.isoformat()}
        )
        assert contacted.status_code == 303
        # a bad form says why and records nothing
        future = (today + timedelta(days=3)).isoformat()
        ahead = await web.post("/group/absences", data={**form, "kind": "contact", "date": future})
        assert ahead.status_code == 400 and "in the future" in ahead.text
        bad = await web.post("/group/absences", data={**form, "kind": "absence", "date": "soon"})
        assert bad.status_code == 400
        forged = await web.post(
            "/group/absences", data={"member": form["member"], "kind": "absence", "date": future}
        )
        assert forged.status_code == 403
    with session_scope(factory) as session:
        found = absences.notices(
            session, member_ids=[member.member_id], keyring=Keyring.from_text(key)
        )
        (notice,) = found.values()
        assert (notice.day, notice.late, notice.reason) == (date(2026, 12, 9), True, REASON)
        sealed = session.scalars(select(Absence.reason_enc)).one()
        assert sealed is not None and REASON.encode() not in sealed
        assert absences.last_contacts(session, member_ids=[member.member_id]) == {
            member.member_id: today
        }
        for command in ("absence add", "absence contact"):
            assert [e.actor for e in audit.entries(session, command=command)] == ["console:Fay"]


async def test_without_a_sign_in_nothing_is_recorded(factory, settings, clock):
    app = create_console_app(settings, session_factory=factory, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
        answer = await web.post(
            "/group/absences", data={"member": "1", "kind": "absence", "date": "2026-12-09"}
        )
    assert answer.status_code in (401, 403)
    with session_scope(factory) as session:
        assert session.scalars(select(Absence)).all() == []
