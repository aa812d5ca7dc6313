"""Two groups in one service on the same evening, on the real path (issue 16, part B).

The settings are the `[[groups]]` example of docs/configuration.md (seed 000's weekly Ontario
group and seed 001's monthly group with two leaders at 90 minutes), with this test's
database and webhook secret. Each group's roster is imported with `roster import --group`;
the monthly group adds a session on the Ontario group's Wednesday with `sessions add
--group`, so the two meetings overlap. Both meetings run in one service: signed webhooks,
journal, worker, runtime, engine. Each meeting gets its own group's agenda, calendar, time
zone, roster and facilitators; a facilitator of one group is a stranger in the other's
meeting, held and without commands; attendance and billing exports stay per group, and a
session of one group named by id under the other's `--group` is refused.

Dates are fixed; the CLI and the service run on hand clocks.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import Engine

from bot.cli import main
from bot.config import Settings, load_settings
from bot.console.app import create_console_app
from bot.groups import UnknownGroup, settings_for
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.meeting.zoom_wire import MeetingIdentity
from phases.state import Phase, SessionState
from storage import console as records
from storage import runtime_state as rs
from storage.crypto import generate_key
from storage.db import make_session_factory, session_scope
from storage.health_number import generate
from storage.roster import ROSTER_HEADERS
from storage.sessions import list_sessions
from tests.clock import HandClock
from tests.scenario.serve_harness import SECRET, running

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parents[2]
TORONTO = ZoneInfo("America/Toronto")
LOS_ANGELES = ZoneInfo("America/Los_Angeles")
ONTARIO = "Online Balint Group (Ontario)"
MONTHLY = "Monthly Balint Group"
ONTARIO_MEETING = "85746065432"
MONTHLY_MEETING = "83312345678"


def _settings_file(tmp_path: Path, url: str) -> Path:
    """The docs' `[[groups]]` example with this test's database and webhook secret."""
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    (block,) = [b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "[[groups]]" in b]
    block = re.sub(r'url = "postgresql[^"]*"', f'url = "{url}"', block)
    block = block.replace("[zoom]\n", f'[zoom]\nwebhook_secret_tokens = ["{SECRET}"]\n', 1)
    path = tmp_path / "balint-bot.toml"
    path.write_text(block, encoding="utf-8")
    return path


def _roster(tmp_path: Path, name: str, people: dict[str, str]) -> Path:
    """A roster CSV: full name -> role; facilitators join by their registration links
    (`reg-<first name>`), members carry generated health numbers."""
    rng = random.Random(name)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=ROSTER_HEADERS)
    writer.writeheader()
    for full, role in people.items():
        first, last = full.split()
        row = dict.fromkeys(ROSTER_HEADERS, "")
        row.update(first_name=first, last_name=last, display_name=first, role=role)
        if role == "facilitator":
            row.update(registrant_id=f"reg-{first.casefold()}")
        else:
            row.update(health_number=generate(rng), province="ON", birth_date="1980-01-01")
            row.update(bill_ohip="yes", diagnostic_code="311")
        writer.writerow(row)
    path = tmp_path / f"{name}.csv"
    path.write_text(out.getvalue(), encoding="utf-8")
    return path


def _cli(path: Path, *argv: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """A facilitator's command, on Sunday 29 November 2026."""
    capsys.readouterr()
    code = main(["--config", str(path), *argv], clock=HandClock())
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _meeting(clock: HandClock, uuid: str, meeting_id: str) -> SimulatedMeeting:
    identity = MeetingIdentity(uuid=uuid, meeting_id=meeting_id)
    return SimulatedMeeting(MeetingOptions(identity=identity), clock=clock)


def _state(engine: Engine, uuid: str) -> SessionState:
    with session_scope(make_session_factory(engine)) as session:
        record = rs.load_meeting(session, meeting_uuid=uuid)
    assert record is not None
    return SessionState.from_json(record.state_json)


def _wakeups(engine: Engine, uuid: str) -> dict[str, datetime]:
    with session_scope(make_session_factory(engine)) as session:
        return dict(rs.pending_wakeups(session, meeting_uuid=uuid))


def _at(zone: ZoneInfo, text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=zone).astimezone(UTC)


async def test_two_groups_on_the_same_evening_each_run_as_their_own(
    sqlite_file: tuple[str, Engine],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url, engine = sqlite_file
    monkeypatch.setenv("BALINT_DATA_KEY", generate_key())
    path = _settings_file(tmp_path, url)
    ontario_people = {"Fay Leader": "facilitator", "Anna Test": "member", "Ben Test": "member"}
    monthly_people = {
        "Hana Test": "facilitator",
        "Omar Test": "facilitator",
        "Esther Test": "member",
    }

    # several groups: a command about one group must say which
    code, _, err = _cli(path, "roster", "list", capsys=capsys)
    assert code == 1 and err.count("\n") == 1
    assert "several groups: give --group NAME" in err and ONTARIO in err and MONTHLY in err
    for group, people in ((ONTARIO, ontario_people), (MONTHLY, monthly_people)):
        roster = _roster(tmp_path, group.split()[0].lower(), people)
        assert _cli(path, "roster", "import", "--group", group, str(roster), capsys=capsys)[0] == 0
    # the monthly group meets on the Ontario group's Wednesday this once, at 16:30 its time
    # (19:30 in Toronto: inside the Ontario group's 19:00-20:45)
    code, out, _ = _cli(
        path, "sessions", "add", "--group", MONTHLY, "2026-12-02 16:30", capsys=capsys
    )
    assert code == 0, out
    code, out, _ = _cli(path, "sessions", "plan", "--group", ONTARIO, "--count", "1", capsys=capsys)
    assert code == 0 and "2026-12-02" in out and "19:00" in out

    settings = load_settings(path)
    assert [g.name for g in settings.all_groups()] == [ONTARIO, MONTHLY]
    clock = HandClock(_at(TORONTO, "2026-12-02T18:50"))
    ontario = _meeting(clock, "ontario-dec-2==", ONTARIO_MEETING)
    monthly = _meeting(clock, "monthly-dec-2==", MONTHLY_MEETING)
    stray = _meeting(clock, "someone-else==", "91234567890")  # no group's meeting
    async with running(
        settings, engine=engine, meeting=ontario, others=(monthly, stray), clock=clock
    ) as svc:
        await ontario.start()
        await ontario.person_joins("fay", name="Fay", registrant_id="reg-fay")
        await ontario.person_joins("anna", name="Anna")
        await svc.settle()
        assert [ontario.where_is(h) for h in ("fay", "anna")] == ["meeting", "meeting"]
        clock.set(_at(TORONTO, "2026-12-02T19:05"))  # the Ontario group's meditation
        await svc.settle()
        await ontario.person_joins("ben", name="Ben")
        await svc.settle()
        assert ontario.where_is("ben") == "waiting"  # held: its agenda holds latecomers

        clock.set(_at(LOS_ANGELES, "2026-12-02T16:22"))  # 19:22 in Toronto
        await monthly.start()
        for handle in ("hana", "omar"):
            await monthly.person_joins(handle, name=handle.title(), registrant_id=f"reg-{handle}")
        await monthly.person_joins("esther", name="Esther")
        # the Ontario group's facilitator and member are strangers here
        await monthly.person_joins("fay", name="Fay", registrant_id="reg-fay")
        await monthly.person_joins("anna", name="Anna")
        await stray.start()
        await stray.person_joins("zed", name="Zed")
        await svc.settle()
        assert [monthly.where_is(h) for h in ("hana", "omar", "esther")] == ["meeting"] * 3
        assert [monthly.where_is(h) for h in ("fay", "anna")] == ["waiting", "waiting"]
        told = [line for line in monthly.chat_log if "Fay" in line.text]
        assert told and {line.to for line in told} <= {"hana", "omar"}  # privately, its own
        assert not [line for line in ontario.chat_log if "Esther" in line.text]
        assert stray.where_is("zed") == "waiting" and not stray.chat_log  # ignored

        # a leader lets Fay in as a guest: she has no facilitator's rights in this meeting
        assert await monthly.host_admits("fay")
        await svc.settle()
        before = _state(engine, "monthly-dec-2==").phase
        await monthly.person_says("fay", "/end")
        await svc.settle()
        assert _state(engine, "monthly-dec-2==").phase is before is not Phase.ENDED

        ontario_state = _state(engine, "ontario-dec-2==")
        monthly_state = _state(engine, "monthly-dec-2==")
        assert ontario_state.setup.scheduled_start == _at(TORONTO, "2026-12-02T19:00")
        assert monthly_state.setup.scheduled_start == _at(LOS_ANGELES, "2026-12-02T16:30")
        assert ontario_state.setup.agenda.length_minutes == 105
        assert monthly_state.setup.agenda.length_minutes == 90
        assert ontario_state.setup.agenda.meditation_minutes == 10
        assert monthly_state.setup.agenda.meditation_minutes == 0
        assert {(e.display_name, e.role) for e in ontario_state.setup.roster} == {
            ("Fay", "facilitator"),
            ("Anna", "member"),
            ("Ben", "member"),
        }
        assert {(e.display_name, e.role) for e in monthly_state.setup.roster} == {
            ("Hana", "facilitator"),
            ("Omar", "facilitator"),
            ("Esther", "member"),
        }
        assert _wakeups(engine, "ontario-dec-2==")["group_end"] == _at(TORONTO, "2026-12-02T20:45")
        assert _wakeups(engine, "monthly-dec-2==")["group_end"] == _at(
            LOS_ANGELES, "2026-12-02T18:00"
        )

        # the console: a leader of the monthly group sees her group's meeting, not the other's
        await _console_is_per_group(settings, engine, clock, svc.app.state.wake)

        # each group's own facilitator closes their group's meeting: the same /end works
        await monthly.person_says("hana", "/end")
        await ontario.person_says("fay", "/end")
        await svc.settle()
        assert _state(engine, "monthly-dec-2==").phase is Phase.CLOSING
        assert _state(engine, "ontario-dec-2==").phase is Phase.CLOSING
        clock.set(_at(TORONTO, "2026-12-02T20:50"))
        for meeting in (ontario, monthly, stray):
            await meeting.end()
        await svc.settle()
    assert _cli(path, "sessions", "list", "--all-groups", "--jsonl", capsys=capsys)[0] == 0

    # attendance and exports per group
    listed = {}
    for group in (ONTARIO, MONTHLY):
        code, out, _ = _cli(path, "sessions", "list", "--group", group, "--jsonl", capsys=capsys)
        assert code == 0
        (only,) = [json.loads(line) for line in out.splitlines()]
        assert only["group"] == group
        listed[group] = only
    assert listed[ONTARIO]["meeting_id"] == ONTARIO_MEETING
    assert listed[MONTHLY]["meeting_id"] == MONTHLY_MEETING
    ontario_id, monthly_id = str(listed[ONTARIO]["id"]), str(listed[MONTHLY]["id"])
    code, out, _ = _cli(
        path, "attendance", "--group", ONTARIO, "--session", ontario_id, "--jsonl", capsys=capsys
    )
    assert code == 0
    assert {json.loads(line)["name"] for line in out.splitlines()} >= {"Fay", "Anna"}
    assert "Esther" not in out and "Hana" not in out
    code, out, _ = _cli(
        path, "attendance", "--group", MONTHLY, "--session", monthly_id, "--jsonl", capsys=capsys
    )
    assert code == 0 and {"Hana", "Omar", "Esther"} <= {
        json.loads(line)["name"] for line in out.splitlines()
    }
    code, _, err = _cli(
        path, "attendance", "--group", MONTHLY, "--session", ontario_id, capsys=capsys
    )
    assert code == 1 and f"is of group {ONTARIO!r}" in err
    code, _, err = _cli(path, "attendance", "--session", ontario_id, capsys=capsys)
    assert code == 1 and "give --group NAME" in err

    # the Ontario group's worksheet holds its own members only; the monthly group is not
    # billed (no [groups.billing], no [billing]) and the exports say so
    sheet = tmp_path / "ontario.csv"
    code, out, err = _cli(
        path, "export", "billing", "--group", ONTARIO, "--session", ontario_id,
        "--out", str(sheet), capsys=capsys,
    )  # fmt: skip
    assert code == 0, err
    text = sheet.read_text(encoding="utf-8")
    assert "Anna" in text and "Esther" not in text and "Hana" not in text
    code, _, err = _cli(
        path, "export", "billing", "--group", ONTARIO, "--session", monthly_id, capsys=capsys
    )
    assert code == 1 and f"is of group {MONTHLY!r}" in err
    code, _, err = _cli(
        path, "export", "billing", "--group", MONTHLY, "--session", monthly_id, capsys=capsys
    )
    assert code != 0 and "provider_number" in err


async def _console_is_per_group(
    settings: Settings, engine: Engine, clock: HandClock, nudge: Callable[[str], None]
) -> None:
    factory = make_session_factory(engine)
    with session_scope(factory) as session:
        ids = {s.group: s.id for s in list_sessions(session)}
        hana = records.facilitator_by_name(session, group_name=MONTHLY, name="Hana")
        fay_elsewhere = records.facilitator_by_name(session, group_name=MONTHLY, name="Fay")
        assert hana is not None and fay_elsewhere is None
        token = records.issue_link(
            session, member_id=hana.member_id, now=clock(), ttl=timedelta(minutes=10)
        )
    console = create_console_app(settings, session_factory=factory, clock=clock, nudge=nudge)
    transport = httpx.ASGITransport(app=console)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1:8001") as browser:
        assert (await browser.post("/signin/link", data={"token": token})).status_code == 303
        index = await browser.get("/live")
        assert index.status_code == 303 and index.headers["location"] == f"/live/{ids[MONTHLY]}"
        own = await browser.get(f"/live/{ids[MONTHLY]}")
        assert own.status_code == 200 and MONTHLY in own.text and ONTARIO not in own.text
        other = await browser.get(f"/live/{ids[ONTARIO]}")
        assert other.status_code == 404
        csrf = re.search(r'name="csrf" value="([^"]+)"', own.text)
        assert csrf is not None
        pushed = await browser.post(
            f"/live/{ids[ONTARIO]}/command",
            data={"csrf": csrf.group(1), "action": "end"},
            headers={"origin": "http://127.0.0.1:8001"},
        )
        assert pushed.status_code == 404  # no button of hers reaches the other group's meeting


def test_the_settings_refuse_groups_that_overlap(tmp_path: Path) -> None:
    """Two groups of one name, one meeting claimed twice, `[group]` with `[[groups]]`: each
    refused on load, the message naming the key."""
    cases = {
        '[[groups]]\nname = "A"\nmeeting_id = "85746065432"\n'
        '[[groups]]\nname = "a"\nmeeting_id = "83312345678"\n': "key groups.1.name",
        '[[groups]]\nname = "A"\nmeeting_id = "857 4606 5432"\n'
        '[[groups]]\nname = "B"\nmeeting_ids = ["85746065432"]\n': "key groups.1.meeting_ids",
        '[group]\nname = "A"\n[[groups]]\nname = "B"\n': "key group:",
        '[[groups]]\nname = "A"\nmeeting_id = "85746065432"\n[[groups]]\nname = "B"\n': (
            "key groups.1.meeting_id"
        ),
    }
    for text, key in cases.items():
        path = tmp_path / "bad.toml"
        path.write_text(text, encoding="utf-8")
        assert main(["--config", str(path), "config", "check"], clock=HandClock()) == 2
        with pytest.raises(Exception, match=re.escape(key)):
            load_settings(path)


def test_one_group_in_group_still_needs_no_group_flag(tmp_path: Path) -> None:
    path = tmp_path / "one.toml"
    path.write_text('[group]\nname = "Solo"\nmeeting_id = "85746065432"\n', encoding="utf-8")
    settings = load_settings(path)
    assert [g.name for g in settings.all_groups()] == ["Solo"]
    assert settings.for_group(settings.group) == settings
    assert settings_for(settings, None) == settings == settings_for(settings, " solo ")
    with pytest.raises(UnknownGroup, match="no group called 'Other' in the settings"):
        settings_for(settings, "Other")
