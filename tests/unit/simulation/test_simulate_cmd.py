"""`balint-bot simulate`: JSON lines, the readable timeline, and exit 2 for a bad scenario."""

from __future__ import annotations

import json
from pathlib import Path

from bot.cli import main
from tests.clock import HandClock

EXAMPLES = Path(__file__).resolve().parents[3] / "examples" / "scenarios"


def test_jsonl_prints_one_object_per_line_ending_with_attendance_and_summary(capsys):
    assert (
        main(["simulate", str(EXAMPLES / "normal-session.toml"), "--jsonl"], clock=HandClock()) == 0
    )
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [line["kind"] for line in lines]
    assert kinds[0] == "zoom" and kinds[-1] == "summary"
    assert kinds.count("attendance") == 5
    assert set(kinds) == {"zoom", "person", "action", "phase", "attendance", "summary"}
    first_phase = next(line for line in lines if line["kind"] == "phase")
    assert first_phase == {"t": 0.0, "kind": "phase", "from": "social", "to": "meditation"}


def test_without_jsonl_it_prints_a_readable_timeline(capsys):
    assert main(["simulate", str(EXAMPLES / "normal-session.toml")], clock=HandClock()) == 0
    out = capsys.readouterr().out
    assert "social -> meditation" in out
    assert "Attendance (minutes in the meeting" in out


def test_a_bad_scenario_exits_2_naming_field_and_event_and_runs_nothing(tmp_path, capsys):
    path = tmp_path / "bad.toml"
    path.write_text(
        '[meeting]\nstart = "2026-12-02T19:00:00-05:00"\n\n'
        '[[person]]\nname = "Anna"\n\n'
        '[[event]]\nat = "-5m"\nwho = "Anna"\ndo = "join"\n\n'
        '[[event]]\nat = "5m"\nwho = "Anna"\ndo = "fly"\n'
    )
    assert main(["simulate", str(path), "--jsonl"], clock=HandClock()) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "event 2 field 'do'" in captured.err and "'fly'" in captured.err


def test_a_missing_scenario_file_exits_2(tmp_path, capsys):
    assert main(["simulate", str(tmp_path / "nope.toml")], clock=HandClock()) == 2
    assert "cannot read" in capsys.readouterr().err
