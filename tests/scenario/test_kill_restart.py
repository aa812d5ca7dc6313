"""`kill -9` of the serve process at the worst moments, then a restart: nothing lost, nothing twice.

A real process: the serve app (`bot.service.build_service` under uvicorn, exactly as
`balint-bot serve` builds it) runs as a subprocess on a free loopback port and a SQLite file,
and is killed with SIGKILL (no shutdown hooks, no lease released, connections dropped) at
three moments of one session:

1. during the meditation, with a latecomer held in the waiting room; the restarted process
   must admit them once, when the meditation ends (its wake-up is re-armed from the database);
2. right after the facilitator's `/next` into the discussion is acked (journaled, maybe not
   yet processed); the restarted process must be in the discussion with the presenter muted
   and their video stopped once, and carry on (`/next` asks them back once);
3. right after `meeting.ended` is acked, before attendance is finalised; the restarted process
   must finalise it.

Across the run no journaled event is left unprocessed and no action is planned twice. The
test runs on SQLite, and on PostgreSQL when `BALINT_TEST_POSTGRES_URL` is set (`.ci/run`).

The last tests run the `balint-bot serve` command itself; one of them with two meeting worker
processes, killing (-9) each process on its own: the worker that steps the meeting at the
same three moments (`serve` restarts it; the receiver acks throughout), and the receiver
(its workers stop with it: no orphan). The others use a launcher with two
deliberate differences from `balint-bot serve`, both so that they take seconds:
the launcher passes `lease_ttl=2s` and `sweep_interval=0.25s` to `build_service` (serve uses
its defaults, 30 s and 5 s; a restarted serve keeps its lease owner id, `[server]
instance_id` or the host name, so it takes its dead predecessor's leases back at once
either way), and the meeting is observed only (`meeting_adapter = "simulator"` with
no simulated meeting registered in that process), so actions are logged as `not_executed`
rather than carried out: what is checked is what the runtime decided and recorded. The
agenda is shortened (1-minute meditation) and the session is placed in wall-clock time
(webhook `event_ts` in the recent past), because a separate process runs on the real clock.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from bot.meeting import zoom_wire as wire
from bot.runtime.codec import decode_action
from phases.state import SessionState
from storage import runtime_state as rs
from storage.crypto import Keyring, generate_key
from storage.db import make_engine, make_session_factory, session_scope
from storage.health_number import generate
from storage.journal import JournalEntry
from storage.roster import ROSTER_HEADERS, import_roster, parse_roster
from storage.tables.core import AttendanceRecord, SessionRecord
from storage.tables.runtime import RuntimeAction
from tests.clock import TEST_NOW
from tests.processes import alive
from tests.storage_fixtures import (  # noqa: F401 (fixtures, fetched by name below)
    postgres_engine,
    postgres_ready,
    sqlite_template,
    sqlite_url,
)

pytestmark = pytest.mark.slow

SECRET = "kill-restart-secret"
GROUP = "Kill restart group"
ROOT = Path(__file__).resolve().parents[2]

LAUNCHER = """
import sys
from datetime import timedelta
from pathlib import Path

import uvicorn

from bot.config import load_settings
from bot.logging_setup import configure_logging
from bot.service import build_service

settings = load_settings(Path(sys.argv[1]))
configure_logging(settings.log)
app = build_service(settings, lease_ttl=timedelta(seconds=2), sweep_interval=0.25)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[2]), workers=1, log_config=None)
"""

FAY = wire.WireParticipant(
    user_id="16778240", user_name="Fay", participant_uuid="uuid-fay", registrant_id="reg-fay"
)
ANNA = wire.WireParticipant(user_id="16779264", user_name="Anna", participant_uuid="uuid-anna")
BEN = wire.WireParticipant(user_id="16780288", user_name="Ben", participant_uuid="uuid-ben")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Serve:
    """The serve process: start, SIGKILL, restart; all on one config and database."""

    def __init__(self, config: Path, logs: Path, *, real_command: bool = False) -> None:
        self.config = config
        self.logs = logs
        self.real_command = real_command
        self.port = _free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.client = httpx.Client(trust_env=False, timeout=5.0)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.starts += 1
        log = (self.logs / f"serve-{self.starts}.log").open("wb")
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        argv = [sys.executable, "-c", LAUNCHER, str(self.config), str(self.port)]
        if self.real_command:
            argv = [sys.executable, "-m", "bot.cli", "--config", str(self.config), "serve"]
            argv += ["--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.logs,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited: {self.output()}")
            try:
                if self.client.get(f"{self.base}/healthz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"serve did not become healthy: {self.output()}")

    def kill9(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        assert self.process.returncode == -signal.SIGKILL
        self.process = None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None
        self.client.close()

    def output(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in self.logs.glob("*.log"))

    def post(self, body: bytes) -> None:
        headers = wire.signed_headers(secret=SECRET, body=body, at=datetime.now(UTC))
        response = self.client.post(f"{self.base}/zoom/webhook", content=body, headers=headers)
        assert response.status_code == 200, response.text


class World:
    """The database the test reads while (and after) the process runs."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)
        self.factory = make_session_factory(self.engine)

    def wait(
        self, what: str, check: Callable[[], bool], serve: Serve, timeout: float = 30.0
    ) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}\n{serve.output()}")

    def state(self, uuid: str) -> SessionState | None:
        with session_scope(self.factory) as session:
            record = rs.load_meeting(session, meeting_uuid=uuid)
        return None if record is None else SessionState.from_json(record.state_json)

    def phase(self, uuid: str) -> str:
        state = self.state(uuid)
        return "" if state is None else str(state.phase)

    def journal(self) -> tuple[int, int]:
        """(entries, unprocessed entries)."""
        with session_scope(self.factory) as session:
            rows = list(session.scalars(select(JournalEntry)))
            return len(rows), sum(1 for r in rows if r.processed_at is None)

    def settled(self, posted: int) -> bool:
        """All `posted` webhooks journaled and processed, and no action planned or under way."""
        entries, unprocessed = self.journal()
        busy = [a for a in self.actions() if a["status"] in ("planned", "executing")]
        return entries == posted and unprocessed == 0 and not busy

    def actions(self) -> list[dict[str, Any]]:
        with session_scope(self.factory) as session:
            rows = list(session.scalars(select(RuntimeAction).order_by(RuntimeAction.id)))
        out = []
        for row in rows:
            action = decode_action(row.payload)
            target = getattr(getattr(action, "target", None), "name", "")
            out.append(
                {
                    "key": row.action_key,
                    "kind": row.kind,
                    "target": target,
                    "text": getattr(action, "text", ""),
                    "status": row.status,
                    "created_at": row.created_at,
                }
            )
        return out

    def finalized(self, uuid: str) -> bool:
        with session_scope(self.factory) as session:
            record = session.scalar(select(SessionRecord).where(SessionRecord.meeting_uuid == uuid))
            return record is not None and record.finalized_at is not None

    def attendance(self) -> dict[str, AttendanceRecord]:
        with session_scope(self.factory) as session:
            return {row.name: row for row in session.scalars(select(AttendanceRecord))}


def _seed_roster(url: str) -> None:
    rng = random.Random(11)
    lines = [",".join(ROSTER_HEADERS)]
    for name, role in (("Fay", "facilitator"), ("Anna", "member"), ("Ben", "member")):
        row = dict.fromkeys(ROSTER_HEADERS, "")
        row.update(first_name=name, last_name="Test", display_name=name, role=role)
        if role == "member":
            row.update(health_number=generate(rng), province="ON", birth_date="1980-01-01")
        else:  # Fay joins through her registration link: Zoom's registrant id gives her rights
            row.update(registrant_id="reg-fay")
        lines.append(",".join(row[key] for key in ROSTER_HEADERS))
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            import_roster(
                session,
                group_name=GROUP,
                rows=parse_roster("\n".join(lines) + "\n", today=TEST_NOW.date()),
                keyring=Keyring.from_text(generate_key()),
                now=TEST_NOW,
            )
    finally:
        engine.dispose()


def _config(path: Path, url: str, start: datetime, *, server: str = "") -> None:
    weekday = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    path.write_text(
        f"""
[zoom]
webhook_secret_tokens = ["{SECRET}"]

[storage]
url = "{url}"

[console]
enabled = false

[server]
{server}

[group]
name = "{GROUP}"
meeting_id = "85746065432"
timezone = "UTC"
weekday = "{weekday[start.weekday()]}"
start_time = "{start.strftime("%H:%M:%S")}"

[group.calendar]
# the test runs on the real clock: a session on any day of the year, July's included
breaks = []

[agenda]
meditation_minutes = 1
length_minutes = 60
reflection_minutes = 0
opens_minutes_before = 15
warning_minutes = [5]
presentation_budget_minutes = 0
questions_budget_minutes = 0
discussion_budget_minutes = 0

[bot]
meeting_adapter = "simulator"

[log]
level = "WARNING"
""",
        encoding="utf-8",
    )


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def session_world(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Serve, World, datetime]]:
    """A migrated database (SQLite; PostgreSQL under .ci/run) with the roster."""
    if request.param == "sqlite":
        url = str(request.getfixturevalue("sqlite_url"))
    else:
        engine = request.getfixturevalue("postgres_engine")
        url = engine.url.render_as_string(hide_password=False)
    _seed_roster(url)
    # The meditation started 30 s ago and ends 30 s from now (1-minute meditation): the test
    # must reach its first kill -9 before the end, also on a loaded machine.
    start = (datetime.now(UTC) - timedelta(seconds=30)).replace(microsecond=0)
    config = tmp_path / "balint-bot.toml"
    _config(config, url, start)
    serve = Serve(config, tmp_path)
    world = World(url)
    try:
        yield serve, world, start
    finally:
        serve.stop()
        world.engine.dispose()


def _of(actions: list[dict[str, Any]], kind: str, target: str = "") -> list[dict[str, Any]]:
    return [a for a in actions if a["kind"] == kind and (not target or a["target"] == target)]


def test_kill_9_during_meditation_discussion_and_before_finalisation(
    session_world: tuple[Serve, World, datetime],
) -> None:
    serve, world, start = session_world
    meeting = wire.MeetingIdentity(
        meeting_id="85746065432", uuid="kill9-meeting==", start_time=start, duration=60
    )
    uuid = meeting.uuid
    posted = 0

    def post(body: bytes) -> None:
        nonlocal posted
        serve.post(body)
        posted += 1

    def joined(who: wire.WireParticipant, at: datetime, event: str) -> bytes:
        return wire.participant_body(event, meeting=meeting, participant=who, at=at)

    message = 0

    def say(text: str) -> bytes:
        nonlocal message
        message += 1
        return wire.chat_body(
            meeting=meeting,
            sender=wire.ChatParty(session_id=FAY.user_id, name="Fay", party_type="host"),
            recipient=None,
            message_id=f"msg-{message}",
            text=text,
            at=datetime.now(UTC),
        )

    def settled() -> bool:
        return world.settled(posted)

    # -- 1. the meditation, a latecomer held; kill -9; restart; admitted once at its end ----
    serve.start()
    post(wire.meeting_body(wire.MEETING_STARTED, meeting=meeting, at=start - timedelta(minutes=10)))
    post(joined(FAY, start - timedelta(minutes=9), wire.PARTICIPANT_JOINED))
    post(joined(ANNA, start - timedelta(minutes=8), wire.PARTICIPANT_JOINED))
    post(joined(BEN, start + timedelta(seconds=20), wire.PARTICIPANT_JOINED_WAITING_ROOM))
    world.wait("the arrivals to be processed", settled, serve)
    assert world.phase(uuid) == "meditation"
    state = world.state(uuid)
    assert state is not None
    assert {p.name: p.where for p in state.people.values()}["Ben"] == "waiting"
    assert _of(world.actions(), "admit", "Ben") == []
    meditation_end = start + timedelta(minutes=1)
    assert datetime.now(UTC) < meditation_end - timedelta(seconds=5), "too slow to test"
    serve.kill9()
    serve.start()
    world.wait("the meditation to end", lambda: world.phase(uuid) == "case_call", serve)
    world.wait("the admission to be recorded", settled, serve)
    admits = _of(world.actions(), "admit", "Ben")
    assert len(admits) == 1, admits
    assert admits[0]["key"].startswith("t:meditation_end@")
    assert meditation_end <= admits[0]["created_at"] < meditation_end + timedelta(seconds=10)

    # -- 2. into the discussion; kill -9 right after the ack; restart ----------------------
    post(say("/case Anna"))
    post(say("/next"))
    post(say("/next"))
    serve.kill9()
    serve.start()
    world.wait("the discussion", lambda: world.phase(uuid) == "discussion", serve)
    world.wait("the journal to be processed", settled, serve)
    actions = world.actions()
    assert len(_of(actions, "mute", "Anna")) == 1
    assert len(_of(actions, "stop_video", "Anna")) == 1
    post(say("/next"))
    world.wait("the return", lambda: world.phase(uuid) == "return", serve)
    world.wait("the return's actions", settled, serve)
    actions = world.actions()
    assert len(_of(actions, "ask_unmute", "Anna")) == 1
    assert len(_of(actions, "ask_start_video", "Anna")) == 1

    # -- 3. the meeting ends; kill -9 before finalisation can be relied on; restart --------
    post(joined(ANNA, datetime.now(UTC), wire.PARTICIPANT_LEFT))
    post(wire.meeting_body(wire.MEETING_ENDED, meeting=meeting, at=datetime.now(UTC)))
    serve.kill9()
    serve.start()
    world.wait("the session to be finalised", lambda: world.finalized(uuid), serve)
    world.wait("the journal to be processed", settled, serve)
    assert world.phase(uuid) == "ended"
    attendance = world.attendance()
    # Fay joined at -9:00 and Anna at -8:00; Anna left just before the end (about 1:30).
    assert attendance["Fay"].minutes >= attendance["Anna"].minutes >= 9
    assert attendance["Anna"].first_join == start - timedelta(minutes=8)
    assert attendance["Ben"].minutes == 0 and attendance["Ben"].first_join is None

    # -- across the run: nothing lost, nothing planned twice --------------------------------
    assert world.journal() == (posted, 0)
    actions = world.actions()
    assert len({a["key"] for a in actions}) == len(actions)
    chats = [a["text"] for a in _of(actions, "send_chat")]
    assert len(chats) == len(set(chats)), chats
    assert {a["status"] for a in actions} <= {"done", "not_executed", "interrupted", "refused"}
    assert serve.starts == 4


def test_the_serve_command_itself_resumes_after_kill_9(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """`balint-bot serve` as shipped (its own lease length and sweep interval): an event
    posted after a kill -9 and restart is journaled at once and processed promptly: the
    restarted process has the same lease owner id (the host name), so it does not wait for
    its dead predecessor's 30 s lease to expire. Nothing is done twice."""
    url = str(request.getfixturevalue("sqlite_url"))
    _seed_roster(url)
    start = (datetime.now(UTC) + timedelta(minutes=10)).replace(microsecond=0)  # social
    config = tmp_path / "balint-bot.toml"
    _config(config, url, start)
    serve = Serve(config, tmp_path, real_command=True)
    world = World(url)
    meeting = wire.MeetingIdentity(uuid="serve-kill9==", start_time=start, duration=60)
    uuid = meeting.uuid

    def arrives(who: wire.WireParticipant) -> bytes:
        return wire.participant_body(
            wire.PARTICIPANT_JOINED_WAITING_ROOM, meeting=meeting, participant=who, at=now()
        )

    def now() -> datetime:
        return datetime.now(UTC)

    def processed(count: int) -> Callable[[], bool]:
        return lambda: world.journal() == (count, 0)

    try:
        serve.start()
        serve.post(wire.meeting_body(wire.MEETING_STARTED, meeting=meeting, at=now()))
        serve.post(arrives(ANNA))
        world.wait("the first events", processed(2), serve)
        world.wait(
            "Anna's admission", lambda: len(_of(world.actions(), "admit", "Anna")) == 1, serve
        )
        serve.kill9()
        serve.start()
        posted_at = time.monotonic()
        serve.post(arrives(BEN))
        assert world.journal() == (3, 1)  # journaled before the ack, not yet processed
        world.wait("Ben's arrival after the restart", processed(3), serve)
        waited = time.monotonic() - posted_at
        world.wait("Ben's admission", lambda: bool(_of(world.actions(), "admit", "Ben")), serve)
        actions = world.actions()
        assert len(_of(actions, "admit", "Ben")) == 1
        assert len(_of(actions, "admit", "Anna")) == 1
        assert world.phase(uuid) == "social"
        assert waited < 45
    finally:
        serve.stop()
        world.engine.dispose()


def _children(pid: int) -> dict[int, str]:
    """The live child processes of `pid`: {pid: command line}."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            found[int(entry.name)] = command
    return found


@pytest.mark.parametrize("store", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_kill_9_of_each_process_of_serve_with_two_workers(
    request: pytest.FixtureRequest, tmp_path: Path, store: str
) -> None:
    """`balint-bot serve` with `meeting_workers = 2`: the worker stepping the meeting is
    killed with SIGKILL during the meditation (a latecomer held), right after `/next` into
    the discussion is acked, and right after `meeting.ended` is acked; each time serve
    starts it again, the receiver acks meanwhile, and the latecomer is admitted once at the
    meditation's end, the presenter muted once, attendance finalised. The receiver killed
    with SIGKILL takes its workers with it; a new serve carries on. Nothing is lost or
    planned twice. On PostgreSQL the workers are woken by the journal's NOTIFY."""
    from bot.runtime.shards import shard_of

    if store == "sqlite":
        url = str(request.getfixturevalue("sqlite_url"))
    else:
        engine = request.getfixturevalue("postgres_engine")
        url = engine.url.render_as_string(hide_password=False)
    _seed_roster(url)
    # The meditation started 30 s ago and ends 30 s from now (1-minute meditation).
    start = (datetime.now(UTC) - timedelta(seconds=30)).replace(microsecond=0)
    config = tmp_path / "balint-bot.toml"
    _config(config, url, start, server="meeting_workers = 2")
    serve = Serve(config, tmp_path, real_command=True)
    world = World(url)
    meeting = wire.MeetingIdentity(
        meeting_id="85746065432", uuid="kill9-workers==", start_time=start, duration=60
    )
    uuid = meeting.uuid
    posted = 0
    message = 0

    def post(body: bytes) -> None:
        nonlocal posted
        serve.post(body)
        posted += 1

    def joined(who: wire.WireParticipant, at: datetime, event: str) -> bytes:
        return wire.participant_body(event, meeting=meeting, participant=who, at=at)

    def say(text: str, sender: wire.WireParticipant = FAY) -> bytes:
        nonlocal message
        message += 1
        role = "host" if sender is FAY else "guest"
        return wire.chat_body(
            meeting=meeting,
            sender=wire.ChatParty(
                session_id=sender.user_id, name=sender.user_name, party_type=role
            ),
            recipient=None,
            message_id=f"msg-{message}",
            text=text,
            at=datetime.now(UTC),
        )

    def settled() -> bool:
        return world.settled(posted)

    def workers() -> dict[int, str]:
        assert serve.process is not None
        return {
            pid: command
            for pid, command in _children(serve.process.pid).items()
            if "bot.worker_process" in command
        }

    def stepping_worker() -> int:
        """The pid of the worker of the meeting's shard, once serve runs both."""
        index = f"--index {shard_of(uuid, 2)} "
        world.wait("both workers", lambda: len(workers()) == 2, serve)
        return next(pid for pid, command in workers().items() if index in command)

    def kill_worker() -> int:
        """SIGKILL the meeting's worker; wait for its successor; returns the successor."""
        victim = stepping_worker()
        os.kill(victim, signal.SIGKILL)
        world.wait("the worker to die", lambda: victim not in workers(), serve)
        post(say("thank you", sender=ANNA))  # acked while the worker is dead
        post(say("see you soon", sender=ANNA))
        world.wait(
            "the worker's restart",
            lambda: len(workers()) == 2 and victim not in workers(),
            serve,
        )
        ready = lambda: serve.client.get(f"{serve.base}/readyz").status_code == 200  # noqa: E731
        world.wait("the restarted worker to be ready", ready, serve)
        health = serve.client.get(f"{serve.base}/healthz").json()["workers"]
        assert health["configured"] == health["alive"] == 2 and health["restarts"] >= 1
        return stepping_worker()

    try:
        # -- 1. the meditation, a latecomer held; the worker killed; admitted once at its end
        serve.start()
        post(
            wire.meeting_body(
                wire.MEETING_STARTED, meeting=meeting, at=start - timedelta(minutes=10)
            )
        )
        post(joined(FAY, start - timedelta(minutes=9), wire.PARTICIPANT_JOINED))
        post(joined(ANNA, start - timedelta(minutes=8), wire.PARTICIPANT_JOINED))
        post(joined(BEN, start + timedelta(seconds=20), wire.PARTICIPANT_JOINED_WAITING_ROOM))
        world.wait("the arrivals to be processed", settled, serve)
        assert world.phase(uuid) == "meditation"
        assert _of(world.actions(), "admit", "Ben") == []
        meditation_end = start + timedelta(minutes=1)
        assert datetime.now(UTC) < meditation_end - timedelta(seconds=5), "too slow to test"
        kill_worker()
        world.wait("the meditation to end", lambda: world.phase(uuid) == "case_call", serve)
        world.wait("the admission to be recorded", settled, serve)
        admits = _of(world.actions(), "admit", "Ben")
        assert len(admits) == 1, admits
        assert admits[0]["key"].startswith("t:meditation_end@")

        # -- 2. into the discussion; the worker killed right after the acks ---------------
        post(say("/case Anna"))
        post(say("/next"))
        post(say("/next"))
        os.kill(stepping_worker(), signal.SIGKILL)
        world.wait("the discussion", lambda: world.phase(uuid) == "discussion", serve)
        world.wait("the journal to be processed", settled, serve)
        actions = world.actions()
        assert len(_of(actions, "mute", "Anna")) == 1
        assert len(_of(actions, "stop_video", "Anna")) == 1

        # -- 3. the receiver killed: its workers stop with it; a new serve carries on -----
        orphans = list(workers())
        post(say("/next"))
        serve.kill9()
        world.wait("no orphan worker", lambda: not any(alive(pid) for pid in orphans), serve)
        serve.start()
        world.wait("the return", lambda: world.phase(uuid) == "return", serve)
        world.wait("the return's actions", settled, serve)
        actions = world.actions()
        assert len(_of(actions, "ask_unmute", "Anna")) == 1
        assert len(_of(actions, "ask_start_video", "Anna")) == 1

        # -- 4. the meeting ends; the worker killed before finalisation can be relied on --
        post(joined(ANNA, datetime.now(UTC), wire.PARTICIPANT_LEFT))
        post(wire.meeting_body(wire.MEETING_ENDED, meeting=meeting, at=datetime.now(UTC)))
        os.kill(stepping_worker(), signal.SIGKILL)
        world.wait("the session to be finalised", lambda: world.finalized(uuid), serve)
        world.wait("the journal to be processed", settled, serve)
        assert world.phase(uuid) == "ended"

        # -- across the run: nothing lost, nothing planned twice ----------------------------
        assert world.journal() == (posted, 0)
        actions = world.actions()
        assert len({a["key"] for a in actions}) == len(actions)
        chats = [a["text"] for a in _of(actions, "send_chat")]
        assert len(chats) == len(set(chats)), chats
        assert {a["status"] for a in actions} <= {"done", "not_executed", "interrupted", "refused"}
        assert len(_of(actions, "admit", "Ben")) == 1
    finally:
        serve.stop()
        world.engine.dispose()
