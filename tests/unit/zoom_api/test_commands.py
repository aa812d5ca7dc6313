"""`doctor` and `registrants sync` against the stateful fake Zoom REST server."""

from __future__ import annotations

import io
import random
from pathlib import Path

import httpx
import pytest

from bot.cli import main
from bot.commands.doctor_cmd import diagnose
from bot.commands.registrants_cmd import members_from_roster, record_registrant_ids, run_sync
from bot.config import BotSettings, GroupSettings, Settings, ZoomSettings
from bot.zoom_api import RetryPolicy, ZoomClient
from bot.zoom_api.policy import NAMES_ONLY
from bot.zoom_api.registration import Member, sync_registrants
from tests.clock import TEST_NOW, HandClock
from tests.unit.zoom_api.fake_zoom import FakeZoom
from tests.unit.zoom_api.recorded import API, OAUTH, RecordingSleep

pytestmark = pytest.mark.anyio

MEETING_ID = "85746065432"
ROSTER = (
    "first_name,last_name,display_name,email,role,registrant_id,health_number\n"
    "Avery,Tester,Avery,avery.tester@example.org,member,,9876543217\n"
    "Blake,Sample,Blake,blake.sample@example.org,facilitator,,\n"
    "Casey,Example,Casey,,member,,\n"
    "Dana,Quill,Dana,not-an-email,member,,\n"
)


def make_settings(tmp_path: Path, **zoom: str) -> Settings:
    roster = tmp_path / "roster.csv"
    roster.write_text(ROSTER, encoding="utf-8")
    values = {
        "api_base_url": API,
        "oauth_url": OAUTH,
        "account_id": "acct-123",
        "client_id": "client-abc",
        "client_secret": "s3cret",
        "sdk_key": "sdk-key",
        "sdk_secret": "sdk-secret",
        "bot_user_id": "z8yBXksDSemSvy9vJZxLnQ",
        "webhook_secret_tokens": ["whsec"],
    }
    values.update(zoom)
    return Settings(
        zoom=ZoomSettings.model_validate(values),
        group=GroupSettings(meeting_id=MEETING_ID, roster=str(roster)),
        bot=BotSettings(meeting_adapter="simulator"),
    )


@pytest.fixture
def fake() -> FakeZoom:
    return FakeZoom()


@pytest.fixture
async def http(fake):
    async with httpx.AsyncClient(transport=fake.transport()) as client:
        yield client


def zoom_client(settings: Settings, http: httpx.AsyncClient) -> ZoomClient:
    return ZoomClient.from_settings(
        settings,
        http,
        policy=RetryPolicy(attempts=2),
        sleep=RecordingSleep(),
        rng=random.Random(3),
        clock=HandClock(),
    )


class TestDoctor:
    async def test_reports_every_failing_meeting_setting(self, tmp_path, fake, http):
        settings = make_settings(tmp_path)
        out = io.StringIO()
        status = await diagnose(settings, zoom_client(settings, http), fix=False, out=out)
        text = out.getvalue()
        assert status == 1
        for line in (
            "FAIL  waiting room on",
            "FAIL  join before host off",
            "FAIL  automatic recording off",
            "FAIL  registration required, approved automatically",
            "FAIL  mute on entry",
            "FAIL  bot user is an alternative host",
            "PASS  bot user is a licensed user",
            "PASS  meeting type accepts registration",
            "PASS  REST credentials set",
        ):
            assert line in text
        assert "fix: turn on Waiting Room" in text
        assert fake.patches == []

    async def test_warns_with_what_the_group_gives_up_when_zoom_cannot_say_who_is_who(
        self, tmp_path, fake, http
    ):
        identity = "Zoom says who people are (registration or sign-in required)"
        settings = make_settings(tmp_path)
        out = io.StringIO()
        await diagnose(settings, zoom_client(settings, http), fix=False, out=out)
        assert f"WARN  {identity}" in out.getvalue()
        assert f"the group gives up: {NAMES_ONLY}" in out.getvalue()
        fixed = io.StringIO()
        assert await diagnose(settings, zoom_client(settings, http), fix=True, out=fixed) == 0
        assert f"PASS  {identity}" in fixed.getvalue()

    async def test_fix_patches_once_and_then_passes(self, tmp_path, fake, http):
        settings = make_settings(tmp_path)
        out = io.StringIO()
        status = await diagnose(settings, zoom_client(settings, http), fix=True, out=out)
        assert status == 0, out.getvalue()
        assert len(fake.patches) == 1
        applied = fake.settings_of(MEETING_ID)
        assert applied["waiting_room"] is True
        assert applied["join_before_host"] is False
        assert applied["auto_recording"] == "none"
        assert applied["approval_type"] == 0
        assert applied["registration_type"] == 1
        assert applied["mute_upon_entry"] is True
        assert applied["alternative_hosts"] == "co-facilitator@example.org;balint-bot@example.org"
        assert "FAIL" not in out.getvalue()
        again = io.StringIO()
        assert await diagnose(settings, zoom_client(settings, http), fix=True, out=again) == 0
        assert len(fake.patches) == 1  # nothing left to fix: no second PATCH

    async def test_unlicensed_bot_user_cannot_be_fixed(self, tmp_path, fake, http):
        fake.users["z8yBXksDSemSvy9vJZxLnQ"]["type"] = 1
        settings = make_settings(tmp_path)
        out = io.StringIO()
        assert await diagnose(settings, zoom_client(settings, http), fix=True, out=out) == 1
        text = out.getvalue()
        assert "FAIL  bot user is a licensed user" in text
        assert "FAIL  bot user is an alternative host" in text
        assert "alternative_hosts" not in fake.patches[0]["settings"]

    async def test_unknown_meeting(self, tmp_path, fake, http):
        settings = make_settings(tmp_path)
        fake.meetings.clear()
        out = io.StringIO()
        assert await diagnose(settings, zoom_client(settings, http), fix=False, out=out) == 1
        assert "FAIL  meeting and bot user exist: Meeting does not exist" in out.getvalue()

    async def test_wrong_credentials(self, tmp_path, fake, http):
        settings = make_settings(tmp_path, client_secret="wrong")
        out = io.StringIO()
        assert await diagnose(settings, zoom_client(settings, http), fix=False, out=out) == 1
        assert "FAIL  Zoom accepts the credentials" in out.getvalue()

    def test_without_credentials_only_the_config_is_checked(self, tmp_path, capsys):
        config = tmp_path / "balint.toml"
        config.write_text('[group]\nroster = "absent.csv"\n', encoding="utf-8")
        assert main(["--config", str(config), "doctor", "--offline"], clock=HandClock()) == 1
        text = capsys.readouterr().out
        assert "FAIL  REST credentials set" in text
        assert "FAIL  roster file exists" in text
        assert "meeting: skipped" in text
        assert "network" not in text

    async def test_a_machine_that_cannot_reach_zoom_is_told_to_check_the_network_first(
        self, tmp_path
    ):
        settings = make_settings(tmp_path)
        tried: list[tuple[str, int]] = []

        async def firewalled(host: str, port: int) -> None:
            tried.append((host, port))
            if host == "zoom.us":
                raise TimeoutError
            if host == "api.zoom.us":
                raise OSError("Temporary failure in name resolution")

        out = io.StringIO()
        assert await diagnose(settings, None, fix=False, out=out, reach=firewalled) == 1
        text = out.getvalue()
        assert tried == [("zoom.us", 443), ("api.zoom.us", 443)]
        assert "FAIL  zoom.us:443 reachable: no answer from Zoom (TimeoutError): check the " in text
        assert "network and firewall first" in text and "FAIL  api.zoom.us:443" in text

        async def open_line(host: str, port: int) -> None:
            return None

        out = io.StringIO()
        await diagnose(settings, None, fix=False, out=out, reach=open_line)
        assert "PASS  zoom.us:443 reachable" in out.getvalue()

    def test_an_unknown_time_zone_is_refused_before_any_check(self, tmp_path, capsys):
        config = tmp_path / "balint.toml"
        config.write_text('[group]\ntimezone = "Mars/Olympus"\n', encoding="utf-8")
        assert main(["--config", str(config), "doctor"], clock=HandClock()) == 2
        assert "key group.timezone" in capsys.readouterr().err


class TestRegistrantsSync:
    async def test_adds_reports_and_is_idempotent(self, tmp_path, fake, http):
        settings = make_settings(tmp_path)
        fake.settings_of(MEETING_ID)["approval_type"] = 0
        fake.registrants[MEETING_ID].append(
            {
                "id": "old1",
                "email": "Blake.Sample@example.org",
                "first_name": "Blake",
                "status": "approved",
                "join_url": "https://zoom.us/w/x?tk=old",
            }
        )
        members = [
            Member(first_name="Avery", email="avery.tester@example.org"),
            Member(first_name="Blake", email="blake.sample@example.org"),
            Member(first_name="Casey", email=""),
            Member(first_name="Dana", email="not-an-email"),
        ]
        out = io.StringIO()
        status = await run_sync(zoom_client(settings, http), MEETING_ID, members, out)
        text = out.getvalue()
        assert status == 1
        assert "added    Avery" in text
        assert "already  Blake" in text
        assert "FAILED   Casey: no e-mail on the roster" in text
        assert "FAILED   Dana: Validation Failed." in text
        assert "1 added, 1 already registered, 2 failed" in text
        registered = {p["email"] for p in fake.registrants[MEETING_ID]}
        assert registered == {"avery.tester@example.org", "Blake.Sample@example.org"}
        assert all(p["status"] == "approved" for p in fake.registrants[MEETING_ID])
        calls = fake.add_calls
        second = io.StringIO()
        await run_sync(zoom_client(settings, http), MEETING_ID, members, second)
        assert "0 added, 2 already registered, 2 failed" in second.getvalue()
        assert fake.add_calls == calls + 1  # only the invalid e-mail is tried again

    async def test_lists_every_page_before_adding(self, tmp_path, fake, http):
        settings = make_settings(tmp_path)
        fake.settings_of(MEETING_ID)["approval_type"] = 0
        fake.registrants[MEETING_ID].extend(
            {"id": f"r{n}", "email": f"p{n}@example.org", "first_name": f"P{n}"} for n in range(650)
        )
        members = [Member(first_name="P649", email="p649@example.org")]
        out = io.StringIO()
        assert await run_sync(zoom_client(settings, http), MEETING_ID, members, out) == 0
        assert "already  P649" in out.getvalue()
        assert fake.add_calls == 0

    async def test_registration_not_enabled(self, tmp_path, fake, http):
        settings = make_settings(tmp_path)
        out = io.StringIO()
        members = [Member(first_name="Eli", email="eli@example.org")]
        assert await run_sync(zoom_client(settings, http), MEETING_ID, members, out) == 1
        assert "Registration has not been enabled" in out.getvalue()


ROSTER_CSV_ROWS = (
    "Avery,Tester,Avery,avery.tester@example.org,facilitator,,,,,,,,,,,,,\n"
    "Blake,Sample,Blake,blake.sample@example.org,facilitator,,,,,,,,,,,,,\n"
)


class TestStoredRoster:
    async def test_registrant_ids_are_stored_on_the_roster(self, tmp_path, fake, http, db_session):
        from storage.crypto import Keyring
        from storage.roster import ROSTER_HEADERS, import_roster, parse_roster, roster_entries

        rows = parse_roster(
            ",".join(ROSTER_HEADERS) + "\n" + ROSTER_CSV_ROWS, today=TEST_NOW.date()
        )
        import_roster(
            db_session, group_name="G", rows=rows, keyring=Keyring.from_text(None), now=TEST_NOW
        )
        members = members_from_roster(db_session, group_name="G")
        assert [(m.first_name, m.email) for m in members] == [
            ("Avery", "avery.tester@example.org"),
            ("Blake", "blake.sample@example.org"),
        ]
        settings = make_settings(tmp_path)
        fake.settings_of(MEETING_ID)["approval_type"] = 0
        report = await sync_registrants(zoom_client(settings, http), MEETING_ID, members)
        assert record_registrant_ids(db_session, outcomes=report.added) == 2
        assert record_registrant_ids(db_session, outcomes=report.added) == 0
        ids = {p["email"]: p["id"] for p in fake.registrants[MEETING_ID]}
        entries = roster_entries(db_session, group_name="G")
        assert {e.email: e.registrant_id for e in entries} == ids
        # A later import that no longer lists Blake: not registered again.
        rows = parse_roster(
            ",".join(ROSTER_HEADERS) + "\n" + ROSTER_CSV_ROWS.splitlines()[0] + "\n",
            today=TEST_NOW.date(),
        )
        import_roster(
            db_session, group_name="G", rows=rows, keyring=Keyring.from_text(None), now=TEST_NOW
        )
        assert [m.first_name for m in members_from_roster(db_session, group_name="G")] == ["Avery"]
        # ... and Avery keeps the registrant id the sync stored, though the file has none.
        assert (
            roster_entries(db_session, group_name="G")[0].registrant_id
            == ids["avery.tester@example.org"]
        )
