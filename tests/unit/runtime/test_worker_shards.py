"""serve's worker processes: each `Worker` steps only the meetings of its shard; what a worker
sends its receiver (status lines, metrics) arrives whole."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import ConfigError
from bot.runtime.shards import shard_of
from bot.runtime.worker import Worker
from bot.worker_channel import Status, read_message, status_line
from bot.worker_pool import WorkerPool, worker_command
from bot.worker_process import ChannelMetrics, main
from phases.events import MeetingStarted
from storage import runtime_state as rs
from storage.crypto import generate_key
from storage.db import make_session_factory, session_scope
from tests.clock import HandClock
from tests.storage_fixtures import *  # noqa: F403
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks, until
from webhooks.metrics import Metrics


def test_a_meeting_has_one_shard_the_same_in_every_process() -> None:
    uuids = [f"meeting-{n}==" for n in range(200)]
    shards = [shard_of(uuid, 3) for uuid in uuids]
    assert shard_of("4118UHIiRCAAAtBlDkcVyw==", 2) == shard_of("4118UHIiRCAAAtBlDkcVyw==", 2)
    assert set(shards) == {0, 1, 2} and min(shards.count(n) for n in range(3)) > 40
    assert {shard_of(uuid, 1) for uuid in uuids} == {0}


def test_two_shards_step_disjoint_meetings_that_cover_them_all(sqlite_engine: Engine) -> None:
    factory = make_session_factory(sqlite_engine)
    hooks, clock = ScriptedHooks(), HandClock(START - timedelta(minutes=10))
    uuids = [f"meeting-{n}==" for n in range(6)]
    for uuid in uuids:
        with session_scope(factory) as db:
            hooks.journal(db, meeting_uuid=uuid, label=uuid, at=clock(), events=(MeetingStarted(),))
    pumps = [
        Worker(
            session_factory=factory,
            control_factory=lambda _uuid: RecordingMeeting(),
            hooks=hooks,
            owner=f"serve:test:w{index}",
            clock=clock,
            sweep_interval=3600,
            shard=(index, 2),
        )
        for index in range(2)
    ]
    stepped = []
    for pump in pumps:
        before = len(hooks.started)
        asyncio.run(pump.sweep())
        stepped.append(set(hooks.started[before:]))
        assert all(shard_of(uuid, 2) == pumps.index(pump) for uuid in stepped[-1])
    assert stepped[0] | stepped[1] == set(uuids) and not stepped[0] & stepped[1]


def test_a_shard_that_does_not_exist_is_refused(sqlite_engine: Engine) -> None:
    with pytest.raises(ConfigError):
        Worker(
            session_factory=make_session_factory(sqlite_engine),
            control_factory=lambda _uuid: RecordingMeeting(),
            hooks=ScriptedHooks(),
            owner="serve:test:w2",
            clock=HandClock(START),
            shard=(2, 2),
        )


def test_a_worker_started_for_a_shard_that_does_not_exist_says_so_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--index", "2", "--count", "2", "--channel-fd", "99"]) == 2
    assert "no worker 2 among 2" in capsys.readouterr().err


def test_a_worker_that_cannot_start_says_why_in_one_line_without_a_traceback(
    tmp_path: Path,
) -> None:
    """Started by hand on a socket it was not given: the failure is the command line's
    (`bot.exit_status`), not a traceback that could quote a statement's values."""
    config = tmp_path / "worker.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n')
    # a fresh process has 0, 1 and 2 open (subprocess closes the rest): 999 is no descriptor
    command = worker_command(config, index=0, count=1, fd=999)
    ended = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert ended.returncode == 1
    assert ended.stderr.strip().splitlines() == ["balint-bot: Bad file descriptor"]


#: What a worker has no use for: the web application and the other commands, which were most
#: of its resident memory (docs/benchmarks.md, "thirteenth round"); and, until PHI is sealed
#: or opened, `cryptography` (6.5 MiB; "sixteenth round").
_NOT_IN_A_WORKER = (
    "fastapi",
    "starlette",
    "uvicorn",
    "bot.cli",
    "bot.commands",
    "bot.service",
    "cryptography",
)


def test_a_worker_process_loads_no_web_framework_no_command_and_no_cipher() -> None:
    """The module the pool starts, with the hooks and controls it runs meetings with, made as
    it makes them (the import-linter contract sees only the imports written down)."""
    command = worker_command(None, index=0, count=1, fd=99)
    module = command[command.index("-m") + 1]
    probe = (
        f"import importlib, sys; importlib.import_module({module!r})\n"
        "from bot.config import Settings\n"
        "from bot.service_hooks import ServiceHooks, default_controls\n"
        "settings = Settings()\n"
        "ServiceHooks(settings); default_controls(settings, {})('uuid==')\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    with_a_key = {**os.environ, "BALINT_DATA_KEY": generate_key()}
    loaded = subprocess.run(
        [sys.executable, "-c", probe], check=True, capture_output=True, text=True, env=with_a_key
    ).stdout.split()
    assert module == "bot.worker_process" and "bot.service_hooks" in loaded
    assert [
        name
        for name in loaded
        if any(name == n or name.startswith(n + ".") for n in _NOT_IN_A_WORKER)
    ] == []


def test_the_channel_reads_what_it_writes_and_skips_what_is_not_a_message() -> None:
    line = status_line(Status(running=True, stalled=False, scheduler=True))
    assert read_message(line) == {"status": {"running": True, "stalled": False, "scheduler": True}}
    assert read_message(b"not json\n") is None
    assert read_message(b"[1, 2]\n") is None


class _ThreadNotingWriter:
    """The part of a stream writer that ChannelMetrics and WorkerPool write with (its
    transport only tells how much is buffered: nothing); notes the thread of each write."""

    def __init__(self) -> None:
        self.writes: list[tuple[int, bytes]] = []
        self.transport = self

    def is_closing(self) -> bool:
        return False

    def get_write_buffer_size(self) -> int:
        return 0

    def write(self, data: bytes) -> None:
        self.writes.append((threading.get_ident(), data))


async def _turns(count: int = 3) -> None:
    """Let the loop turn a few times: enough for a line handed over with no delay."""
    for _ in range(count):
        await asyncio.sleep(0)


def test_metrics_reported_from_database_threads_are_written_by_the_event_loop() -> None:
    # The runtime observes an entry's lag on the database thread that stepped it; a stream
    # writer is not thread-safe, so every line must be written on the worker's loop.
    writer = _ThreadNotingWriter()

    async def report() -> int:
        metrics = ChannelMetrics(cast(asyncio.StreamWriter, writer), delay=0)
        for seconds in range(20):
            await asyncio.to_thread(metrics.observe_lag, seconds / 10)
        metrics.count_action(kind="admit", result="done")
        await _turns()  # the loop writes what the threads handed it
        return threading.get_ident()

    loop_thread = asyncio.run(report())
    lines = [line for _thread, data in writer.writes for line in data.splitlines(keepends=True)]
    messages = [read_message(line) for line in lines]
    assert {thread for thread, _data in writer.writes} == {loop_thread}
    assert [m["lag"] for m in messages[:20] if m] == [n / 10 for n in range(20)]
    assert messages[20] == {"action": ["admit", "done"]}


def test_lines_a_database_thread_reports_in_a_burst_wake_the_loop_once() -> None:
    writer = _ThreadNotingWriter()

    def batch(metrics: ChannelMetrics) -> None:  # a batch's commit: one lag per entry
        for seconds in range(50):
            metrics.observe_lag(seconds / 10)

    async def report() -> None:
        metrics = ChannelMetrics(cast(asyncio.StreamWriter, writer), delay=0)
        # The loop is busy (here: joining the thread) for the whole burst, as it is while it
        # runs a meeting's actions: otherwise it could write the first lines before the
        # thread has handed over the rest, and be woken again for those.
        burst = threading.Thread(target=batch, args=(metrics,))
        burst.start()
        burst.join()
        await _turns()

    asyncio.run(report())
    assert len(writer.writes) == 1
    lines = writer.writes[0][1].splitlines(keepends=True)
    assert [read_message(line) for line in lines] == [{"lag": n / 10} for n in range(50)]


def test_lines_reported_on_the_loop_in_one_turn_go_out_in_one_write_in_order() -> None:
    # A visit carries out a meeting's actions on the loop and reports one line each; a
    # database thread may hand lines over meanwhile. One write for all, in report order.
    writer = _ThreadNotingWriter()

    async def report() -> None:
        metrics = ChannelMetrics(cast(asyncio.StreamWriter, writer), delay=0)
        metrics.count_action(kind="admit", result="done")
        helper = threading.Thread(target=metrics.observe_lag, args=(0.5,))
        helper.start()
        helper.join()
        metrics.count_action(kind="send_chat", result="refused")
        assert writer.writes == []  # nothing written before the loop's next turn
        await _turns()

    asyncio.run(report())
    assert len(writer.writes) == 1
    lines = writer.writes[0][1].splitlines(keepends=True)
    assert [read_message(line) for line in lines] == [
        {"action": ["admit", "done"]},
        {"lag": 0.5},
        {"action": ["send_chat", "refused"]},
    ]


def test_lines_reported_over_several_turns_wait_for_one_write_until_flushed() -> None:
    # Each action's record is a database call, so the loop turns between a meeting's
    # actions: their lines wait (up to the delay, here longer than the test) for one write.
    writer = _ThreadNotingWriter()

    async def report() -> None:
        metrics = ChannelMetrics(cast(asyncio.StreamWriter, writer), delay=3600)
        for kind in ("send_chat", "admit", "admit"):
            metrics.count_action(kind=kind, result="not_executed")
            await asyncio.to_thread(metrics.observe_lag, 0.25)
            await _turns()
        assert writer.writes == []
        metrics.flush()
        metrics.flush()  # nothing left: nothing written

    asyncio.run(report())
    assert len(writer.writes) == 1
    lines = writer.writes[0][1].splitlines(keepends=True)
    assert [read_message(line) for line in lines] == [
        message
        for kind in ("send_chat", "admit", "admit")
        for message in ({"action": [kind, "not_executed"]}, {"lag": 0.25})
    ]


def test_the_pool_names_each_meeting_once_a_turn_in_one_write_a_worker() -> None:
    # A journal batch is acknowledged in one turn of the receiver's loop: its notices go
    # out together after it, each meeting once, one write per worker of their shards.
    first = [f"m-{n}" for n in range(40) if shard_of(f"m-{n}", 2) == 0][:2]
    second = next(f"m-{n}" for n in range(40) if shard_of(f"m-{n}", 2) == 1)
    pool = WorkerPool(2, config_path=None, metrics=Metrics())
    writers = [_ThreadNotingWriter(), _ThreadNotingWriter()]
    for slot, writer in zip(pool._slots, writers, strict=True):
        slot.writer = cast(asyncio.StreamWriter, writer)

    def named(data: bytes) -> list[str | None]:
        return [read_message(line + b"\n")["meeting"] for line in data.splitlines()]

    async def turn() -> None:
        for uuid in (first[0], first[1], first[0], second, first[1]):
            pool.notify(uuid)
        assert writers[0].writes == [] and writers[1].writes == []  # not before the turn ends
        await _turns()
        pool.notify(None)  # a sweep: every worker
        pool.notify(first[0])
        await _turns()

    asyncio.run(turn())
    assert [named(data) for _thread, data in writers[0].writes] == [first, [None, first[0]]]
    assert [named(data) for _thread, data in writers[1].writes] == [[second], [None]]


def test_while_the_journal_holds_the_workers_back_their_notices_wait_their_patience() -> None:
    # In a flood a worker can begin nothing before its patience at the turnstile runs out:
    # the notices of every turn meanwhile go out together then, or as soon as the hold ends.
    flood = [True]

    def pool_writing(patience: float) -> tuple[WorkerPool, _ThreadNotingWriter]:
        pool = WorkerPool(
            1, config_path=None, metrics=Metrics(), held=lambda: flood[0], patience=patience
        )
        writer = _ThreadNotingWriter()
        pool._slots[0].writer = cast(asyncio.StreamWriter, writer)
        return pool, writer

    def named(writer: _ThreadNotingWriter) -> list[list[str | None]]:
        return [
            [read_message(line + b"\n")["meeting"] for line in data.splitlines()]
            for _thread, data in writer.writes
        ]

    async def until_the_flood_passes() -> list[list[str | None]]:
        pool, writer = pool_writing(patience=3600)
        pool.notify("m-1")
        await _turns()
        pool.notify("m-2")
        await _turns()
        assert named(writer) == []  # held back
        flood[0] = False  # the flood passes: the next notice takes everything at once
        pool.notify("m-3")
        await _turns()
        return named(writer)

    async def until_their_patience_ran_out() -> list[list[str | None]]:
        pool, writer = pool_writing(patience=0.01)
        pool.notify("m-1")
        await _turns()
        pool.notify("m-2")
        await asyncio.sleep(0.05)  # a timer due later than the notices' own
        return named(writer)

    assert asyncio.run(until_the_flood_passes()) == [["m-1", "m-2", "m-3"]]
    flood[0] = True
    assert asyncio.run(until_their_patience_ran_out()) == [["m-1", "m-2"]]


def _serve_worker(
    factory: sessionmaker[Session], hooks: ScriptedHooks, clock: HandClock, owner: str
) -> Worker:
    return Worker(
        session_factory=factory,
        control_factory=lambda _uuid: RecordingMeeting(),
        hooks=hooks,
        owner=owner,
        clock=clock,
        sweep_interval=3600,
        shard=(0, 1),
    )


def _leases_and_new_meetings(
    factory: sessionmaker[Session],
    hooks: ScriptedHooks,
    clock: HandClock,
    held: tuple[tuple[str, str], ...],
    new: tuple[str, ...],
) -> None:
    """Leases held (meeting, owner) for five minutes, and a journaled start of each meeting
    in `new`, which no one runs yet."""
    with session_scope(factory) as db:
        for uuid, owner in held:
            assert rs.acquire_lease(
                db, meeting_uuid=uuid, owner=owner, ttl=timedelta(minutes=5), now=clock()
            )
        for uuid in new:
            hooks.journal(db, meeting_uuid=uuid, label=uuid, at=clock(), events=(MeetingStarted(),))


def test_a_busier_replica_leaves_a_new_meeting_to_a_less_busy_one_first(
    sqlite_engine: Engine,
) -> None:
    # Replica a runs two meetings, b one: a meeting no one runs yet is b's to take first;
    # a takes it only if it is still free at a's next look.
    factory = make_session_factory(sqlite_engine)
    hooks, clock = ScriptedHooks(), HandClock(START - timedelta(minutes=10))
    held = (("run-1==", "serve:a"), ("run-2==", "serve:a"), ("run-3==", "serve:b"))
    _leases_and_new_meetings(factory, hooks, clock, held, ("new-1==", "new-2=="))
    a = _serve_worker(factory, hooks, clock, "serve:a")
    b = _serve_worker(factory, hooks, clock, "serve:b")

    def owner(uuid: str) -> str | None:
        with session_scope(factory) as db:
            return rs.lease_owner(db, meeting_uuid=uuid, now=clock())

    async def evening() -> None:
        assert await a.process("new-1==", woken=True) == 0  # left to b for now
        assert owner("new-1==") is None and "new-1==" not in hooks.started
        await b.process("new-1==", woken=True)  # the least busy takes it at once
        assert owner("new-1==") == "serve:b"
        await a.process("new-1==", woken=True)  # a's look again: b runs it
        assert owner("new-1==") == "serve:b"
        # b now runs as many as a: nobody leaves the next one
        await a.process("new-2==", woken=True)
        assert owner("new-2==") == "serve:a"

    asyncio.run(evening())
    assert hooks.started.count("new-1==") == 1 and hooks.started.count("new-2==") == 1


def test_a_meeting_left_to_another_replica_is_taken_when_no_one_else_does(
    sqlite_engine: Engine,
) -> None:
    factory = make_session_factory(sqlite_engine)
    hooks, clock = ScriptedHooks(), HandClock(START - timedelta(minutes=10))
    held = (("run-1==", "serve:a"), ("run-2==", "serve:b"), ("run-3==", "serve:a"))
    _leases_and_new_meetings(factory, hooks, clock, held, ("new==",))
    a = _serve_worker(factory, hooks, clock, "serve:a")  # b is not running

    async def evening() -> None:
        await a.start()  # its first sweep finds the new meeting, and leaves it for a moment
        try:
            await until(lambda: "new==" in hooks.started)
        finally:
            await a.stop(release=False)  # keep its lease, to look at it

    asyncio.run(evening())
    with session_scope(factory) as db:
        assert rs.lease_owner(db, meeting_uuid="new==", now=clock()) == "serve:a"
