"""Settings: TOML file, environment overrides that win, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import load_settings
from bot.errors import ConfigError
from tests.clock import HandClock

ROOT = Path(__file__).resolve().parents[2]


def test_defaults_without_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = load_settings()
    assert settings.server.webhook_path == "/zoom/webhook"
    assert settings.agenda.meditation_minutes == 10
    assert settings.agenda.length_minutes == 105


def test_example_files_are_valid():
    for name in ("config.example.toml", "examples/monthly-two-leaders.toml"):
        load_settings(ROOT / name)


def test_environment_wins_over_the_file(tmp_path, monkeypatch):
    path = tmp_path / "c.toml"
    path.write_text('[server]\nport = 9000\n[zoom]\nwebhook_secret_tokens = ["from-file"]\n')
    monkeypatch.setenv("BALINT_SERVER__PORT", "9100")
    monkeypatch.setenv("BALINT_ZOOM__WEBHOOK_SECRET_TOKENS", '["env-a", "env-b"]')
    settings = load_settings(path)
    assert settings.server.port == 9100
    tokens = [t.get_secret_value() for t in settings.zoom.webhook_secret_tokens]
    assert tokens == ["env-a", "env-b"]


def test_invalid_value_names_file_key_and_expectation(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text('[server]\nport = "eighty"\n')
    with pytest.raises(ConfigError) as err:
        load_settings(path)
    text = str(err.value)
    assert str(path) in text
    assert "server.port" in text
    assert "integer" in text


def test_unknown_key_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[agenda]\nmeditaton_minutes = 5\n")
    with pytest.raises(ConfigError, match="agenda.meditaton_minutes"):
        load_settings(path)


def test_broken_toml_is_refused(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[server\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path)


def test_a_file_notepad_saved_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "balint-bot.toml"
    path.write_bytes(b"\xef\xbb\xbf[group]\nname = 'Zo\xc3\xab s group'\n")
    assert load_settings(path).group.name == "Zoë s group"


def test_a_file_not_in_utf8_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "balint-bot.toml"
    path.write_bytes("[group]\nname = 'Zoë'\n".encode("cp1252"))
    with pytest.raises(ConfigError, match="not UTF-8 text"):
        load_settings(path)


def test_missing_explicit_file_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="no such configuration file"):
        load_settings(tmp_path / "absent.toml")


def test_secrets_are_never_shown(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[zoom]\nclient_secret = "s3cr3t-value"\nwebhook_secret_tokens = ["tok-123"]\n')
    assert main(["--config", str(path), "config", "show"], clock=HandClock()) == 0
    out = capsys.readouterr().out
    assert "s3cr3t-value" not in out
    assert "tok-123" not in out


def test_secret_in_a_bad_value_is_not_echoed(tmp_path, capsys):
    path = tmp_path / "c.toml"
    path.write_text('[zoom]\nclient_secret = 12\nwebhook_secret_tokens = "not-a-list-secret"\n')
    assert main(["--config", str(path), "config", "check"], clock=HandClock()) == 2
    err = capsys.readouterr().err
    assert "zoom.webhook_secret_tokens" in err
    assert "not-a-list-secret" not in err


@pytest.mark.parametrize("where", ["before", "after"])
def test_config_may_come_before_or_after_the_command(tmp_path, capsys, where):
    path = tmp_path / "c.toml"
    path.write_text("[server]\nport = 9100\n")
    argv = ["config", "show"]
    argv = ["--config", str(path), *argv] if where == "before" else [*argv, "--config", str(path)]
    assert main(argv, clock=HandClock()) == 0
    assert '"port": 9100' in capsys.readouterr().out


def test_every_command_accepts_config_after_it():
    from bot.cli import build_parser

    parser = build_parser()
    for argv in (["serve"], ["attendance", "rebuild", "--session", "1"], ["db", "upgrade"]):
        args = parser.parse_args([*argv, "--config", "x.toml"])
        assert str(args.config) == "x.toml"


def test_meeting_workers_is_one_by_default_and_at_least_one(tmp_path):
    path = tmp_path / "workers.toml"
    path.write_text("[server]\n")
    assert load_settings(path).server.meeting_workers == 1
    path.write_text("[server]\nmeeting_workers = 0\n")
    with pytest.raises(ConfigError, match="server.meeting_workers"):
        load_settings(path)
    path.write_text("[server]\nmeeting_workers = 3\n")
    assert load_settings(path).server.meeting_workers == 3
