"""A member's link to their own notes: it opens their notes and nothing else.

Driven through `bot.cli.main` (`notes add`, `notes amend`, `notes link`) and the console app
over httpx's ASGI transport, as a browser would (a button press, a cookie, the PDF).
"""

from __future__ import annotations

import html
import re
import zlib
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bot.cli import main
from bot.config import Settings
from bot.console.app import create_console_app
from storage import audit
from storage import console as records
from storage.crypto import generate_key
from storage.db import session_scope
from storage.sessions import ensure_session

pytestmark = pytest.mark.anyio

START = datetime(2026, 10, 7, 23, 0, tzinfo=UTC)
BASE = "http://127.0.0.1:8001"
ANN_NOTE = "Ann brought a case of a patient with chronic pain; 9876543217 is on file"
ANN_FIX = "Correction: the case was of a patient with chronic fatigue"
BEN_NOTE = "Ben T was quiet and asked to present next time"
GROUP_NOTE = "The group as a whole stayed with the presenter's helplessness"


@pytest.fixture
def key(monkeypatch) -> str:
    made = generate_key()
    monkeypatch.setenv("BALINT_DATA_KEY", made)
    return made


@pytest.fixture
def world(factory, tmp_path, db_url, clock, key, capsys):
    """Notes on Ann (with an amendment), on Ben T and on the group; a link for Ann."""
    with session_scope(factory) as session:
        session_id = ensure_session(
            session,
            group_name="Test group",
            meeting_uuid="notes-uuid-1",
            meeting_id="111",
            scheduled_start=START,
            now=clock(),
        )
    config = tmp_path / "balint.toml"
    config.write_text(f'[storage]\nurl = "{db_url}"\n[group]\nname = "Test group"\n')

    def cli(*argv: str) -> int:
        return main(["--config", str(config), *argv], clock=clock)

    sid = str(session_id)
    assert cli("notes", "add", "--member", "ann", "--session", sid, "--text", ANN_NOTE) == 0
    assert cli("notes", "add", "--member", "Ben T", "--session", sid, "--text", BEN_NOTE) == 0
    assert cli("notes", "add", "--whole-group", "--date", "2026-10-07", "--text", GROUP_NOTE) == 0
    assert cli("notes", "amend", "--note", "1", "--text", ANN_FIX) == 0
    capsys.readouterr()
    assert cli("notes", "link", "--member", "Ann") == 0
    link = capsys.readouterr().out.splitlines()[0]
    assert link.startswith(f"{BASE}/my-notes/open/")
    return {"cli": cli, "link": link, "token": link.rsplit("/", 1)[1], "capsys": capsys}


def _app(factory, db_url, clock, key):
    settings = Settings(storage={"url": db_url}, group={"name": "Test group"}, data_key=key)
    return create_console_app(settings, session_factory=factory, clock=clock)


async def _open(client: httpx.AsyncClient, token: str) -> httpx.Response:
    page = await client.get(f"/my-notes/open/{token}")
    assert page.status_code == 200 and "Open my notes" in page.text
    return await client.post("/my-notes/open", data={"token": token})


async def test_a_members_link_opens_their_notes_and_nothing_else(
    factory, db_url, clock, key, world
):
    app = _app(factory, db_url, clock, key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        opened = await _open(client, world["token"])
        assert opened.status_code == 303 and opened.headers["location"] == "/my-notes"
        cookie = opened.headers["set-cookie"]
        assert "Path=/my-notes" in cookie and "HttpOnly" in cookie and "SameSite=strict" in cookie
        page = await client.get("/my-notes")
        assert page.status_code == 200
        # their note, and the amendment below the original, which is kept
        assert ANN_NOTE in page.text and ANN_FIX in page.text
        assert page.text.index(ANN_NOTE) < page.text.index(ANN_FIX)
        assert "Amended" in page.text
        # never another member's notes, never the group's
        assert BEN_NOTE not in page.text and "helplessness" not in page.text
        pdf = await client.get("/my-notes/notes.pdf")
        assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
        text = _pdf_text(pdf.content)
        assert "chronic pain" in text and "chronic fatigue" in text
        assert "quiet" not in text and "helplessness" not in text
        # the console is refused: the view cookie is not a console session
        for path in ("/live", "/group", "/group/attendance", "/group/billing", "/group/exports"):
            answer = await client.get(path)
            assert answer.status_code in (401, 303, 200), path
            assert "Sign in" in answer.text and BEN_NOTE not in answer.text, path
            assert "/signout" not in answer.text, path
        refused = await client.post("/command", data={"action": "next"})
        assert refused.status_code in (401, 403, 404, 405)
    with session_scope(factory) as session:
        reads = audit.entries(session, command="notes member page")
        ann = next(r for r in reads[0].records if r.startswith("member:"))
        assert len(reads) == 1 and reads[0].actor == ann
        assert audit.entries(session, command="notes member pdf")
        assert audit.entries(session, command="notes link used")


async def test_the_link_works_once_and_expires(factory, db_url, clock, key, world):
    app = _app(factory, db_url, clock, key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as first:
        assert (await _open(first, world["token"])).status_code == 303
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as second:
        again = await _open(second, world["token"])
        assert again.status_code == 400 and "cannot open your notes" in again.text
        assert (await second.get("/my-notes")).status_code == 401
    # the view lasts a short while, then the page is refused
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as third:
        world["cli"]("notes", "link", "--member", "Ann", "--hours", "1")
        assert (await _open(third, _newest_token(world))).status_code == 303
        assert (await third.get("/my-notes")).status_code == 200
        clock.advance(minutes=31)
        assert (await third.get("/my-notes")).status_code == 401
        assert (await third.get("/my-notes/notes.pdf")).status_code == 401
    # an unused link expires
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as fourth:
        world["cli"]("notes", "link", "--member", "Ann", "--hours", "1")
        token = _newest_token(world)
        clock.advance(hours=2)
        assert (await _open(fourth, token)).status_code == 400
        assert (await fourth.get("/my-notes")).status_code == 401


async def test_a_forged_or_foreign_view_cookie_reads_nothing(factory, db_url, clock, key, world):
    app = _app(factory, db_url, clock, key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        client.cookies.set("balint_notes", "forged", path="/my-notes")
        forged = await client.get("/my-notes")
        assert forged.status_code == 401 and "/signin" not in forged.text
        client.cookies.clear()
        # a console cookie (any value) is no view cookie either
        client.cookies.set("balint_console", world["token"])
        answer = await client.get("/my-notes")
        assert answer.status_code == 401 and ANN_NOTE not in answer.text
        # from another site the button is refused
        cross = await client.post(
            "/my-notes/open",
            data={"token": world["token"]},
            headers={"sec-fetch-site": "cross-site"},
        )
        assert cross.status_code == 403
    # that refusal did not use the link up
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        assert (await _open(client, world["token"])).status_code == 303


def test_notes_link_refuses_a_facilitator_or_a_stranger(world, capsys):
    capsys.readouterr()
    assert world["cli"]("notes", "link", "--member", "Fay") == 1
    assert world["cli"]("notes", "link", "--member", "Nobody") == 1
    err = capsys.readouterr().err
    assert "not a member on the roster" in err and "Ann" in err
    assert world["cli"]("notes", "link", "--member", "Ann", "--hours", "0") == 1


def _newest_token(world) -> str:
    return world["capsys"].readouterr().out.splitlines()[0].rsplit("/", 1)[1]


def _pdf_text(body: bytes) -> str:
    """The text drawn in a PDF of `storage.billing.pdf` (its streams may be compressed)."""
    found = []
    for chunk in body.split(b"stream")[1::2]:
        raw = chunk.split(b"endstream")[0].strip(b"\r\n")
        try:
            raw = zlib.decompress(raw)
        except zlib.error:
            pass
        found.append(raw.decode("cp1252", errors="replace"))
    return "\n".join(found) if found else body.decode("latin-1")


async def _facilitator(client: httpx.AsyncClient, factory, clock) -> str:
    """Sign Fay in with a one-time link; her CSRF token."""
    with session_scope(factory) as session:
        fay = records.facilitator_by_name(session, group_name="Test group", name="Fay")
        token = records.issue_link(
            session, member_id=fay.member_id, now=clock(), ttl=timedelta(minutes=10)
        )
    assert (await client.post("/signin/link", data={"token": token})).status_code == 303
    page = await client.get("/group/notes")
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page.text).group(1)


async def test_facilitators_read_write_and_amend_notes_in_the_console(
    factory, db_url, clock, key, world
):
    app = _app(factory, db_url, clock, key)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        csrf = await _facilitator(client, factory, clock)
        page = await client.get("/group/notes")
        # every note of the session: the members' and the group's, corrections under them
        for text in (ANN_NOTE, ANN_FIX, BEN_NOTE, GROUP_NOTE):
            assert text in html.unescape(page.text)
        sid = re.search(r'name="session" value="(\d+)"', page.text).group(1)
        written = await client.post(
            "/group/notes",
            data={"csrf": csrf, "session": sid, "about": "group", "text": "Zq-a second word"},
        )
        assert written.status_code == 303
        amended = await client.post(
            "/group/notes",
            data={"csrf": csrf, "session": sid, "amends": "3", "text": "Zq-group, corrected"},
        )
        assert amended.status_code == 303
        page = await client.get(f"/group/notes?session={sid}")
        assert "Zq-a second word" in page.text and "Zq-group, corrected" in page.text
        assert GROUP_NOTE in html.unescape(page.text)  # the original is kept
        forged = await client.post(
            "/group/notes", data={"session": sid, "about": "group", "text": "x"}
        )
        assert forged.status_code == 403
        empty = await client.post(
            "/group/notes", data={"csrf": csrf, "session": sid, "about": "group", "text": " "}
        )
        assert empty.status_code == 400 and "needs some text" in empty.text
    with session_scope(factory) as session:
        shown = audit.entries(session, command="console notes")
        assert shown and all(entry.actor == "console:Fay" for entry in shown)
        assert audit.entries(session, command="notes amend")[-1].actor == "console:Fay"
    # a member's view cookie does not open the facilitators' page
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as client:
        assert (await _open(client, world["token"])).status_code == 303
        refused = await client.get("/group/notes")
        assert BEN_NOTE not in refused.text and "helplessness" not in refused.text
        assert "Sign in" in refused.text
