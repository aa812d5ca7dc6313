"""`[[groups]]`: each group's own view of the settings, and the checks that name its keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.commands.join_cmd import join_target
from bot.config import load_settings
from bot.errors import ConfigError
from bot.groups import UnknownGroup, group_of_meeting, settings_for
from bot.validation import problems
from tests.clock import HandClock

TWO = """
[agenda]
length_minutes = 105
[billing]
provider_number = "123456"
moh_office = "N"
physician = "Fay Leader"
[[groups]]
name = "Weekly"
meeting_id = "857 4606 5432"
[[groups]]
name = "Monthly"
meeting_ids = ["83312345678", "83312345679"]
timezone = "America/Los_Angeles"
[groups.calendar]
cadence = "monthly"
day = "first thursday"
[groups.agenda]
length_minutes = 90
meditation_minutes = 0
[groups.billing]
provider_number = "12345"
"""


@pytest.fixture
def two(tmp_path: Path) -> Path:
    path = tmp_path / "two.toml"
    path.write_text(TWO, encoding="utf-8")
    return path


def test_each_group_sees_its_own_agenda_billing_and_calendar(two: Path) -> None:
    settings = load_settings(two)
    weekly, monthly = settings_for(settings, "Weekly"), settings_for(settings, "monthly")
    assert (weekly.agenda.length_minutes, monthly.agenda.length_minutes) == (105, 90)
    assert (weekly.billing.provider_number, monthly.billing.provider_number) == ("123456", "12345")
    assert monthly.group.timezone == "America/Los_Angeles" and monthly.all_groups() == (
        monthly.group,
    )
    assert group_of_meeting(settings, "83312345679") == monthly.group
    assert group_of_meeting(settings, "85746065432") == weekly.group
    assert group_of_meeting(settings, "91234567890") is None
    with pytest.raises(UnknownGroup, match="several groups: give --group NAME"):
        settings_for(settings, None)


def test_the_checks_name_a_groups_own_keys(two: Path, capsys: pytest.CaptureFixture[str]) -> None:
    found = {p.key for p in problems(load_settings(two), "exports")}
    assert "groups.1.billing.provider_number" in found
    assert not any(key.startswith("groups.0.") for key in found)  # the shared [billing] is fine
    assert main(["--config", str(two), "config", "check"], clock=HandClock()) == 1
    assert "groups.1.billing.provider_number" in capsys.readouterr().out


def test_config_check_says_when_each_group_meets(tmp_path: Path, capsys) -> None:
    path = tmp_path / "ok.toml"
    path.write_text(
        '[zoom]\nwebhook_secret_tokens = ["0123456789abcdefghij"]\n'
        '[[groups]]\nname = "A"\nmeeting_id = "85746065432"\n'
        '[[groups]]\nname = "B"\nmeeting_id = "83312345678"\nweekday = "thursday"\n',
        encoding="utf-8",
    )
    assert (
        main(["--config", str(path), "config", "check", "--for", "serve"], clock=HandClock()) == 0
    )
    out = capsys.readouterr().out
    assert "group 'A', weekly on Wednesday" in out and "group 'B', weekly on Thursday" in out


def test_a_groups_own_table_is_checked_on_load(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(
        '[[groups]]\nname = "A"\n[groups.billing]\nspecialty = "19"\n', encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"key groups\.0\.billing: .*fee_codes"):
        load_settings(path)


@pytest.mark.parametrize(
    ("second", "key"),
    [
        ('meeting_id = "857 4606 5432"', "groups.1.meeting_id"),
        ('meeting_ids = ["83312345678", "85746065432"]', r"groups.1.meeting_ids\[1\]"),
    ],
)
def test_a_meeting_number_given_twice_is_refused_at_the_key_that_repeats_it(
    tmp_path: Path, second: str, key: str
) -> None:
    path = tmp_path / "twice.toml"
    path.write_text(
        f'[[groups]]\nname = "A"\nmeeting_id = "85746065432"\n[[groups]]\nname = "B"\n{second}\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=rf"key {key}: meeting 85746065432 already belongs"):
        load_settings(path)


def test_two_groups_may_not_share_an_exports_folder(tmp_path: Path) -> None:
    """Each group's claims are offered to its own facilitators only (`exports_dir`), so one
    folder, however it is written, cannot be two groups'."""
    path = tmp_path / "shared.toml"
    path.write_text(
        f'[[groups]]\nname = "A"\nmeeting_id = "85746065432"\nexports_dir = "{tmp_path}/out"\n'
        f'[[groups]]\nname = "B"\nmeeting_id = "83312345678"\n'
        f'exports_dir = "{tmp_path}/x/../out/"\n',
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"key groups.1.exports_dir: .* group 'A' \(groups.0\)"):
        load_settings(path)
    (tmp_path / "out").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "out")
    path.write_text(path.read_text(encoding="utf-8").replace("x/../out/", "link"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"key groups.1.exports_dir: .* group 'A' \(groups.0\)"):
        load_settings(path)
    path.write_text(path.read_text(encoding="utf-8").replace("/link", "/out-b"), encoding="utf-8")
    first, second = load_settings(path).all_groups()
    assert (first.exports_dir, second.exports_dir) == (f"{tmp_path}/out", f"{tmp_path}/out-b")


def test_a_group_sees_its_own_exports_folder_and_no_one_elses(tmp_path: Path) -> None:
    """`Settings.for_group` narrows `[console] exports_dir` to the group's own folder; with
    several groups the console's folder is no group's, with one group it is that group's."""
    path = tmp_path / "folders.toml"
    path.write_text(
        f'[console]\nexports_dir = "{tmp_path}/service"\n'
        f'[[groups]]\nname = "A"\nmeeting_id = "85746065432"\nexports_dir = "{tmp_path}/a"\n'
        '[[groups]]\nname = "B"\nmeeting_id = "83312345678"\n',
        encoding="utf-8",
    )
    settings = load_settings(path)
    a, b = settings_for(settings, "A"), settings_for(settings, "B")
    assert (a.console.exports_dir, b.console.exports_dir) == (f"{tmp_path}/a", "")
    assert settings_for(a, "A").console.exports_dir == f"{tmp_path}/a"  # narrowing again
    one = tmp_path / "one.toml"
    one.write_text(
        f'[console]\nexports_dir = "{tmp_path}/service"\n[group]\nname = "A"\n',
        encoding="utf-8",
    )
    assert settings_for(load_settings(one), None).console.exports_dir == f"{tmp_path}/service"


def test_serve_needs_each_groups_meeting_number(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text('[[groups]]\nname = "A"\nmeeting_ids = ["12"]\n', encoding="utf-8")
    keys = {p.key for p in problems(load_settings(path), "serve")}
    assert "groups.0.meeting_ids[0]" in keys


def test_join_finds_the_group_of_its_meeting(two: Path, tmp_path: Path) -> None:
    settings = load_settings(two)
    own, meeting = join_target(settings, meeting="83312345679", group=None)
    assert (own.group.name, meeting, own.agenda.length_minutes) == ("Monthly", "83312345679", 90)
    own, meeting = join_target(settings, meeting="", group="Weekly")
    assert (own.group.name, meeting) == ("Weekly", "85746065432")
    with pytest.raises(UnknownGroup, match="belongs to group 'Monthly', not 'Weekly'"):
        join_target(settings, meeting="83312345678", group="Weekly")
    with pytest.raises(UnknownGroup, match="no configured group's"):
        join_target(settings, meeting="91234567890", group=None)
    with pytest.raises(UnknownGroup, match="several groups"):
        join_target(settings, meeting="", group=None)
    one = tmp_path / "one.toml"
    one.write_text('[group]\nname = "Solo"\nmeeting_id = "85746065432"\n', encoding="utf-8")
    solo = load_settings(one)
    assert join_target(solo, meeting="91234567890", group=None)[1] == "91234567890"
