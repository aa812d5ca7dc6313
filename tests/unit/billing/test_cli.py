"""The billing commands end to end through `bot.cli.main` on a migrated database."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from bot.cli import main
from storage.crypto import generate_key
from tests.clock import HandClock
from tests.storage_fixtures import (  # noqa: F401
    db_engine,
    db_url,
    postgres_engine,
    postgres_ready,
    sqlite_engine,
    sqlite_template,
    sqlite_url,
)

from .db_world import GROUP, World, add_session, build_world


@pytest.fixture
def setup(
    db_engine: Engine,  # noqa: F811
    db_url: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[Path, Path, int, World]:
    key = generate_key()
    monkeypatch.setenv("BALINT_DATA_KEY", key)
    with Session(db_engine) as session:
        world = build_world(session, members=3, key=key, m3={"diagnostic_code": ""})
        session_id = add_session(session, world)
        session.commit()
    config = tmp_path / "balint-bot.toml"
    config.write_text(
        f'[storage]\nurl = "{db_url}"\n[group]\nname = "{GROUP}"\n'
        '[billing]\nprovider_number = "123456"\nmoh_office = "N"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    out.mkdir()
    return config, out, session_id, world


def test_export_claims_import_errors_and_status(setup, capsys, tmp_path):
    config, out, _session_id, world = setup
    base = ["--config", str(config)]
    window = ["--from", "2026-11-01", "--to", "2026-11-30"]

    assert main([*base, "export", "claims", *window, "--dry-run"], clock=HandClock()) == 0
    text = capsys.readouterr().out
    assert "would write" in text and list(out.iterdir()) == []

    assert main([*base, "export", "claims", *window, "--out", str(out)], clock=HandClock()) == 0
    text = capsys.readouterr().out
    (written,) = list(out.iterdir())
    assert written.name.startswith("H") and written.name.endswith(".001")
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert "2 claim(s)" in text and "diagnostic_code" in text
    for number in filter(None, world.health_numbers.values()):
        assert number not in text  # summaries never print PHI

    report = tmp_path / "EL123456.001"
    lines = [
        "HX1V03N" + " " * 10 + "000000" + "0000" + "123456" + "00" + "001" + "20261204",
        "HXH" + " " * 10 + "  " + "19700101" + "00000001" + "HCPP",
        "HXTK019A  0103800320261118300".ljust(64) + "EH1",
        f"HX9{1:07d}{0:07d}{1:07d}{0:07d}",
    ]
    report.write_text("".join(line.ljust(79) + "\r\n" for line in lines), "ascii")
    assert main([*base, "import", "claims-errors", str(report)], clock=HandClock()) == 0
    assert "00000001  EH1" in capsys.readouterr().out

    assert main([*base, "billing", "status"], clock=HandClock()) == 0
    status = capsys.readouterr().out
    assert "exported: 1 claim(s)" in status and "rejected: 1 claim(s)" in status
    assert "errors EH1" in status


def test_export_billing_and_cme(setup, capsys, tmp_path):
    config, _out, session_id, world = setup
    base = ["--config", str(config)]
    sheet = tmp_path / "sheet.csv"
    args = ["export", "billing", "--session", str(session_id), "--out", str(sheet)]
    assert main([*base, *args], clock=HandClock()) == 0
    assert "3 rows" in capsys.readouterr().out
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
    member = world.members["Alex1 Sample1"]
    assert (
        main([*base, "export", "cme", "--member", str(member), "--year", "2026"], clock=HandClock())
        == 0
    )
    assert "total" in capsys.readouterr().out


def test_errors_are_one_line_and_non_zero(setup, capsys, tmp_path):
    config, out, _, _ = setup
    base = ["--config", str(config)]
    assert main([*base, "export", "claims", "--from", "2026-11-30", "--to", "2026-11-01",
                 "--out", str(out)], clock=HandClock()) == 1  # fmt: skip
    assert "before" in capsys.readouterr().err
    assert main([*base, "export", "billing", "--from", "2026-11-01"], clock=HandClock()) == 2
    assert (
        main([*base, "import", "claims-errors", str(tmp_path / "missing")], clock=HandClock()) == 1
    )
    assert "cannot read" in capsys.readouterr().err
