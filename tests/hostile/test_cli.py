"""The command line against the wrong database or the wrong settings: one line, never a traceback.

Every command that opens the database says, in one line, to run `balint-bot db upgrade` when
the schema is missing; `serve` creates and migrates the embedded default database itself,
owner-only. `config check` names the key of every problem `serve`, `simulate` and the
exports would refuse, and `serve` refuses the same file with the same keys.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bot.cli import main
from storage.crypto import generate_key
from tests.clock import HandClock
from tests.hostile.conftest import migrated_copy
from tests.hostile.harness import MEETING_ID, ROOT, SECRET, Serve, record, toml
from tests.waiting import wait_until


def _sections(**changes: dict[str, Any]) -> dict[str, dict[str, Any]]:
    sections: dict[str, dict[str, Any]] = {
        "zoom": {"webhook_secret_tokens": [SECRET]},
        "group": {"meeting_id": MEETING_ID},
        # what every export needs since issue 17: the Ministry office and the billing physician
        "billing": {"provider_number": "123456", "moh_office": "N", "physician": "Fay Leader"},
        "storage": {"url": "sqlite:///balint.db"},
    }
    for name, values in changes.items():
        sections[name] = {**sections.get(name, {}), **values}
    return sections


def _config(tmp_path: Path, url: str, **changes: dict[str, Any]) -> Path:
    path = tmp_path / "balint-bot.toml"
    path.write_text(toml(_sections(storage={"url": url}, **changes)), encoding="utf-8")
    return path


def _commands(tmp_path: Path) -> list[list[str]]:
    report = tmp_path / "EL123456.001"
    report.write_text("HX1...\n", encoding="utf-8")
    return [
        ["roster", "list"],
        ["roster", "import", str(ROOT / "tests/fixtures/roster/good.csv")],
        ["sessions", "list"],
        ["billing", "status"],
        ["attendance", "report", "--module", "2026-09"],
        ["attendance", "rebuild", "--session", "1"],
        ["keys", "rotate"],
        ["export", "billing", "--module", "2026-09", "--out", str(tmp_path / "w.csv")],
        ["export", "claims", "--from", "2026-09-01", "--to", "2026-09-30", "--dry-run"],
        ["export", "cme", "--member", "1", "--year", "2026"],
        ["import", "claims-errors", str(report)],
        ["purge", "--before", "2010-01-01", "--dry-run"],
        ["registrants", "sync"],
    ]


def test_every_command_on_a_database_without_schema_says_to_upgrade_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BALINT_DATA_KEY", generate_key())
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'never-migrated.db'}")
    commands = _commands(tmp_path)
    for command in commands:
        assert main(["--config", str(config), *command], clock=HandClock()) == 1, command
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "run `balint-bot db upgrade`" in err, (command, err)
    record(
        f"{len(commands) + 1} commands (and serve) on a database without its schema",
        "one line: run `balint-bot db upgrade`",
    )


def test_an_unreachable_database_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config(tmp_path, "postgresql+psycopg://balint@127.0.0.1:9/balint")
    assert main(["--config", str(config), "sessions", "list"], clock=HandClock()) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("balint-bot: database error:"), err


def test_a_bogus_migration_target_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], hostile_template: Path
) -> None:
    config = _config(tmp_path, migrated_copy(hostile_template, tmp_path))
    status = main(["--config", str(config), "db", "upgrade", "--revision", "bogus"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and "'bogus'" in err, err
    record("`db upgrade --revision bogus`", "one line naming the newest revision")


BAD = _sections(
    zoom={"webhook_secret_tokens": ["tiny-s3cret"]},
    group={"meeting_id": "my meeting"},
    agenda={"meditation_minutes": 60, "length_minutes": 45},
    billing={"provider_number": "12345A"},
    server={"trusted_proxies": ["*"]},
    storage={"url": "postgres://balint@db/balint"},
)
KEYS = [
    "agenda.meditation_minutes",
    "zoom.webhook_secret_tokens[0]",
    "group.meeting_id",
    "server.trusted_proxies[0]",
    "storage.url",
    "billing.provider_number",
]


def test_config_check_names_every_key_serve_and_the_exports_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(toml(BAD), encoding="utf-8")
    assert main(["--config", str(path), "config", "check"]) == 1
    out = capsys.readouterr().out
    for key in KEYS:
        assert f"key {key}:" in out, (key, out)
    assert "tiny-s3cret" not in out  # a secret is never echoed

    assert main(["--config", str(path), "serve"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    for key in KEYS[:-1]:
        assert f"key {key}:" in err, (key, err)
    assert "billing" not in err  # billing stops the exports, not the meeting bot
    claims = ["export", "claims", "--from", "2026-09-01", "--to", "2026-09-30", "--dry-run"]
    assert main(["--config", str(path), *claims]) == 2
    assert "key billing.provider_number:" in capsys.readouterr().err
    record(
        "settings the runtime refuses (agenda, secret, meeting, proxies, URL, provider number)",
        "`config check` names each key; serve and the exports refuse the same keys",
    )


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"agenda": {"warning_minutes": [10, 200]}}, "agenda.warning_minutes"),
        ({"agenda": {"messages": {"no_such_line": "x"}}}, "agenda.messages.no_such_line"),
        ({"zoom": {"webhook_secret_tokens": [""]}}, "zoom.webhook_secret_tokens[0]"),
        ({"zoom": {"webhook_secret_tokens": None}}, "zoom.webhook_secret_tokens"),
        ({"billing": {"provider_number": None}}, "billing.provider_number"),
        ({"group": {"meeting_id": None}}, "group.meeting_id"),
    ],
)
def test_config_check_names_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: dict[str, Any], key: str
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml(_sections(**changes)), encoding="utf-8")
    assert main(["--config", str(path), "config", "check"]) == 1
    assert f"key {key}:" in capsys.readouterr().out


def test_config_check_passes_a_good_file_and_a_time_zone_is_checked_on_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml(_sections()), encoding="utf-8")
    assert main(["--config", str(path), "config", "check"]) == 0
    assert "configuration ok" in capsys.readouterr().out
    path.write_text(toml(_sections(group={"timezone": "Mars/Olympus_Mons"})), encoding="utf-8")
    for command in (["config", "check"], ["sessions", "list"], ["serve"]):
        assert main(["--config", str(path), *command]) == 2
        assert "key group.timezone" in capsys.readouterr().err


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BALINT_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.slow
def test_serve_on_a_database_without_schema_is_one_line(tmp_path: Path) -> None:
    config = _config(tmp_path, f"sqlite:///{tmp_path / 'never-migrated.db'}")
    done = _run("--config", str(config), "serve", "--port", "9", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0 and "balint-bot db upgrade" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


@pytest.mark.slow
def test_serve_creates_the_embedded_database_owner_only(tmp_path: Path) -> None:
    serve = Serve(tmp_path, url="sqlite:///balint-bot.db")  # the default, in its folder
    serve.start()
    names = ("balint-bot.db", "balint-bot.db-wal", "balint-bot.db-shm")
    try:
        # the WAL appears with the first connection in WAL mode (the meeting workers')
        assert wait_until(lambda: (tmp_path / "balint-bot.db-wal").exists(), 30)
        modes = {
            name: stat.S_IMODE((tmp_path / name).stat().st_mode)
            for name in names
            if (tmp_path / name).exists()
        }
    finally:
        serve.stop()
    assert set(modes) >= {"balint-bot.db", "balint-bot.db-wal"}
    assert set(modes.values()) == {0o600}, modes
    record("database, WAL and SHM files", "created owner-only (0600)")
