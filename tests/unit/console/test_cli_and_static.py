"""`balint-bot console link`, the vendored scripts, the headers, the exports folder."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx
import pytest

from bot.cli import main
from bot.console.app import create_console_app
from bot.console.downloads import DownloadError, list_exports, read_export
from bot.console.security import CSP
from storage import audit
from storage import console as records
from storage.db import session_scope

STATIC = Path(__file__).parents[3] / "bot" / "console" / "static"


def _config(tmp_path: Path, db_url: str) -> Path:
    path = tmp_path / "balint.toml"
    path.write_text(f'[storage]\nurl = "{db_url}"\n[group]\nname = "Test group"\n')
    return path


def test_console_link_prints_a_one_time_link_for_a_roster_facilitator(
    factory, tmp_path, db_url, clock, capsys
):
    config = _config(tmp_path, db_url)
    assert (
        main(["--config", str(config), "console", "link", "--facilitator", "FAY"], clock=clock) == 0
    )
    out = capsys.readouterr().out
    link = out.splitlines()[0]
    assert link.startswith("http://127.0.0.1:8001/signin/link/")
    with session_scope(factory) as session:
        assert records.redeem_link(session, token=link.rsplit("/", 1)[1], now=clock()) is not None
        assert audit.entries(session, command="console link")


@pytest.mark.parametrize("name", ["Ann", "Nobody"])
def test_console_link_refuses_anyone_who_is_not_a_facilitator(
    factory, tmp_path, db_url, clock, capsys, name
):
    config = _config(tmp_path, db_url)
    assert (
        main(["--config", str(config), "console", "link", "--facilitator", name], clock=clock) == 1
    )
    err = capsys.readouterr().err
    assert "not a facilitator" in err and "facilitators: Fay" in err


@pytest.mark.parametrize(
    ("name", "sha256"),
    [
        ("htmx.min.js", "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717"),
        ("htmx-ext-sse.min.js", "98a46496de0c3605fbffdce9167ba427bdd9553184f83f149c261891a92c0136"),
    ],
)
def test_the_vendored_scripts_are_the_published_ones(name, sha256):
    assert hashlib.sha256((STATIC / name).read_bytes()).hexdigest() == sha256
    assert (STATIC / name.replace(".min.js", ".LICENSE.txt")).exists()
    assert sha256 in (STATIC / "VENDORED.md").read_text()


@pytest.mark.anyio
async def test_every_answer_carries_the_strict_headers(factory, settings, clock):
    app = create_console_app(settings, session_factory=factory, clock=clock)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as client:
        for path in ("/", "/live", "/group/attendance", "/static/console.css", "/nope"):
            answer = await client.get(path)
            assert answer.headers["content-security-policy"] == CSP, path
            assert answer.headers["x-frame-options"] == "DENY"
            assert answer.headers["x-content-type-options"] == "nosniff"
        page = await client.get("/group/billing")
        assert page.status_code == 401 and page.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in CSP and "unsafe" not in CSP


def test_only_owner_only_export_files_are_offered(tmp_path):
    good = tmp_path / "billing-worksheet-1.csv"
    good.write_text("a,b\n")
    good.chmod(0o600)
    loose = tmp_path / "cme-2026.csv"
    loose.write_text("x\n")
    loose.chmod(0o644)
    (tmp_path / "balint.db").write_text("not an export")
    (tmp_path / "link.csv").symlink_to(good)
    listed = {f.name: f for f in list_exports(tmp_path)}
    assert set(listed) == {"billing-worksheet-1.csv", "cme-2026.csv", "link.csv"}
    assert listed["billing-worksheet-1.csv"].offered
    assert "chmod 600" in listed["cme-2026.csv"].why_not
    assert listed["link.csv"].why_not == "a symbolic link"
    assert read_export(tmp_path, "billing-worksheet-1.csv") == b"a,b\n"
    for name in ("cme-2026.csv", "link.csv", "balint.db", "../etc/passwd", "missing.csv"):
        with pytest.raises(DownloadError):
            read_export(tmp_path, name)
    assert os.stat(good).st_mode & 0o777 == 0o600
