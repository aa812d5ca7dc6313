"""The exports page: a group's facilitators are offered their own group's exports only."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.config import GroupSettings, Settings
from bot.console.app import create_console_app
from storage import audit
from storage.db import session_scope

from .conftest import GROUP, SECOND, sign_in_with_link

pytestmark = pytest.mark.anyio

BASE = "http://127.0.0.1:8001"


def _two_groups(settings: Settings, tmp_path: Path, *, own_folders: bool) -> Settings:
    """The service's two groups, each with a folder of its own if `own_folders`, and the
    console's folder (`[console] exports_dir`) beside them."""
    groups = [
        GroupSettings(
            name=name,
            meeting_id=number,
            exports_dir=str(tmp_path / folder) if own_folders else "",
        )
        for name, number, folder in (
            (GROUP, "85746065432", "first"),
            (SECOND, "83312345678", "second"),
        )
    ]
    console = settings.console.model_copy(update={"exports_dir": str(tmp_path / "service")})
    return Settings(storage=settings.storage, groups=groups, console=console)


def _export(folder: Path, name: str, text: str) -> None:
    """A file as the export commands write it: owner-only."""
    folder.mkdir(exist_ok=True)
    (folder / name).write_text(text, encoding="utf-8")
    (folder / name).chmod(0o600)


async def test_each_group_is_offered_its_own_exports_and_no_others(
    factory, settings, clock, tmp_path, second_group
):
    _export(tmp_path / "first", "billing-worksheet-first.csv", "first group's claims\n")
    _export(tmp_path / "second", "HA123456.001", "second group's claims\n")
    _export(tmp_path / "service", "cme-2026.csv", "every group's hours\n")
    app = create_console_app(
        _two_groups(settings, tmp_path, own_folders=True), session_factory=factory, clock=clock
    )
    for group, mine, theirs in (
        (GROUP, "billing-worksheet-first.csv", "HA123456.001"),
        (SECOND, "HA123456.001", "billing-worksheet-first.csv"),
    ):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE) as web:
            await sign_in_with_link(web, factory, clock, group)
            page = await web.get("/group/exports")
            assert page.status_code == 200 and mine in page.text, group
            assert theirs not in page.text and "cme-2026.csv" not in page.text, group
            assert (await web.get(f"/group/exports/{mine}")).status_code == 200
            # a name guessed from the other group's folder, or the console's, is not found
            for name in (theirs, "cme-2026.csv", f"..%2F{'second' if group == GROUP else 'first'}"):
                assert (await web.get(f"/group/exports/{name}")).status_code == 404, name
    with session_scope(factory) as session:
        downloads = audit.entries(session, command="console download")
    assert sorted(r for d in downloads for r in d.records) == [
        "file:HA123456.001",
        "file:billing-worksheet-first.csv",
    ]


async def test_with_several_groups_the_consoles_folder_is_offered_to_no_group(
    factory, settings, clock, tmp_path, second_group, caplog
):
    _export(tmp_path / "service", "HA123456.001", "one group's claims\n")
    two = _two_groups(settings, tmp_path, own_folders=False)
    app = create_console_app(two, session_factory=factory, clock=clock)
    assert "offered to no group" in caplog.text
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
        await sign_in_with_link(web, factory, clock, SECOND)
        page = await web.get("/group/exports")
        assert page.status_code == 200 and "HA123456.001" not in page.text
        assert "This group has no exports folder" in page.text and "[[groups]]" in page.text
        assert (await web.get("/group/exports/HA123456.001")).status_code == 404


async def test_with_one_group_the_consoles_folder_is_the_groups(factory, settings, clock, tmp_path):
    _export(tmp_path, "HA123456.001", "the group's claims\n")
    console = settings.console.model_copy(update={"exports_dir": str(tmp_path)})
    app = create_console_app(
        settings.model_copy(update={"console": console}), session_factory=factory, clock=clock
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as web:
        await sign_in_with_link(web, factory, clock, GROUP)
        assert "HA123456.001" in (await web.get("/group/exports")).text
        download = await web.get("/group/exports/HA123456.001")
        assert download.status_code == 200 and download.text == "the group's claims\n"
