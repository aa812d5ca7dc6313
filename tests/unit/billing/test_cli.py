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

from .db_world import GROUP, SCHEDULE, World, add_session, build_world
from .reports import Rejected, Section, error_report


@pytest.fixture
def setup(
    db_engine: Engine,  # noqa: F811
    db_url: str,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[list[str], Path, int, World]:
    key = generate_key()
    monkeypatch.setenv("BALINT_DATA_KEY", key)
    with Session(db_engine) as session:
        world = build_world(
            session,
            members=3,
            key=key,
            schedule=False,
            m3={"bill_ohip": "no", "diagnostic_code": ""},
        )
        session_id = add_session(session, world)
        session.commit()
    config = tmp_path / "balint-bot.toml"
    config.write_text(
        f'[storage]\nurl = "{db_url}"\n[group]\nname = "{GROUP}"\n'
        '[billing]\nprovider_number = "123456"\nmoh_office = "N"\nphysician = "Fay Leader"\n',
        encoding="utf-8",
    )
    out = tmp_path / "out"
    out.mkdir()
    return ["--config", str(config)], out, session_id, world


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args, clock=HandClock())
    captured = capsys.readouterr()
    return code, captured.out, captured.err


WINDOW = ["--from", "2026-11-01", "--to", "2026-11-30"]


def test_fees_claims_errors_correction_and_status(setup, capsys, tmp_path):
    base, out, _session_id, world = setup

    code, text, _ = run([*base, "export", "claims", *WINDOW, "--dry-run"], capsys)
    assert code == 0 and "no valid claims" in text and "fee_unverified" in text
    code, text, _ = run([*base, "billing", "fees", "list"], capsys)
    assert code == 0 and "UNVERIFIED reference" in text and "date not known" in text

    code, text, _ = run([*base, "billing", "fees", "import", str(SCHEDULE)], capsys)
    assert code == 0 and "10 fee(s) loaded" in text
    code, text, _ = run([*base, "billing", "fees", "list"], capsys)
    assert "2022-09-22  verified" in text

    code, text, _ = run([*base, "export", "claims", *WINDOW, "--out", str(out)], capsys)
    (written,) = list(out.iterdir())
    assert code == 0 and written.name == "HK123456.001"
    assert stat.S_IMODE(written.stat().st_mode) == 0o600
    assert "2 claim(s)" in text and "K020A x3 + K300A" in text and "not_billable" in text
    for number in filter(None, world.health_numbers.values()):
        assert number not in text  # summaries never print PHI

    report = tmp_path / "EK123456.001"
    number = world.health_numbers["Alex1 Sample1"]
    report.write_bytes(
        error_report(
            [
                Section("123456", [Rejected("00000001", number, [("K020A", "20261118")])]),
                Section("654321", [Rejected("00000002", number, [("K020A", "20261118")])]),
            ]
        )
    )
    code, text, _ = run([*base, "import", "claims-errors", str(report)], capsys)
    assert code == 1  # a line that is not ours
    assert "00000001  EH1" in text and "HEALTH NUMBER NOT REGISTERED" in text
    assert "00000002: sent under provider 123456" in text
    assert number not in text

    code, text, _ = run([*base, "billing", "status"], capsys)
    assert code == 0
    assert "waiting on the physician" in text and "00000001  rejected" in text
    assert "waiting on the Ministry" in text and "00000002  exported" in text

    code, _, err = run([*base, "billing", "correct", "00000001"], capsys)
    assert code == 2 and "--note" in err
    code, _, err = run([*base, "billing", "correct", "00000001", "--note", "x"], capsys)
    assert code == 1 and "exactly as it was rejected" in err
    code, text, _ = run(
        [*base, "billing", "correct", "00000001", "--diagnostic-code", "309", "--note", "revised"],
        capsys,
    )
    assert code == 0 and "corrected (diagnostic code 309)" in text
    code, text, _ = run([*base, "billing", "status"], capsys)
    assert "waiting on the next `export claims`" in text and "note: revised" in text
    code, text, _ = run([*base, "export", "claims", *WINDOW, "--out", str(out)], capsys)
    assert code == 0 and "(resubmits 00000001)" in text
    code, _, err = run([*base, "billing", "resubmit", "00000001"], capsys)
    assert code == 1 and "resubmitted, not rejected" in err


def test_the_claims_file_goes_to_the_groups_exports_folder_by_default(setup, capsys, tmp_path):
    base, out, _session_id, _world = setup
    code, _, err = run([*base, "export", "claims", *WINDOW], capsys)
    assert code == 2 and "--out DIR is required" in err and "exports_dir" in err
    config = Path(base[1])
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text.replace("[billing]", f'exports_dir = "{out}"\n[billing]'), encoding="utf-8"
    )
    assert run([*base, "billing", "fees", "import", str(SCHEDULE)], capsys)[0] == 0
    code, text, _ = run([*base, "export", "claims", *WINDOW], capsys)
    (written,) = list(out.iterdir())
    assert code == 0 and written.name == "HK123456.001" and "2 claim(s)" in text
    assert stat.S_IMODE(written.stat().st_mode) == 0o600


def test_export_billing_and_cme(setup, capsys, tmp_path):
    base, _out, session_id, world = setup
    sheet = tmp_path / "sheet.csv"
    code, text, _ = run(
        [*base, "export", "billing", "--session", str(session_id), "--out", str(sheet)], capsys
    )
    assert code == 0 and "3 rows" in text
    assert stat.S_IMODE(sheet.stat().st_mode) == 0o600
    member = world.members["Alex1 Sample1"]
    code, text, _ = run([*base, "export", "cme", "--member", str(member), "--year", "2026"], capsys)
    assert code == 0 and "total" in text
    certificates = tmp_path / "cme"
    certificates.mkdir()
    code, text, _ = run(
        [*base, "export", "cme", "--group", GROUP, "--year", "2026", "--out", str(certificates)],
        capsys,
    )
    assert code == 0 and "Alex3 Sample3" in text and "wrote 10 file(s)" in text
    code, _, err = run([*base, "export", "cme", "--group", "Other", "--year", "2026"], capsys)
    assert code == 1 and "no group called 'Other'" in err


def test_errors_are_one_line_and_non_zero(setup, capsys, tmp_path):
    base, out, _, _ = setup
    code, _, err = run([*base, "export", "claims", "--from", "2026-11-30", "--to", "2026-11-01",
                        "--out", str(out)], capsys)  # fmt: skip
    assert code == 1 and "before" in err
    assert run([*base, "export", "billing", "--from", "2026-11-01"], capsys)[0] == 2
    code, _, err = run([*base, "import", "claims-errors", str(tmp_path / "missing")], capsys)
    assert code == 1 and "cannot read" in err
    code, _, err = run([*base, "billing", "fees", "import", str(tmp_path / "missing")], capsys)
    assert code == 1 and "cannot read" in err
    code, _, err = run([*base, "billing", "resubmit", "00000042"], capsys)
    assert code == 1 and "no claim" in err and "Traceback" not in err
