"""`balint-bot join --meeting ID`: one Meeting SDK bot in one meeting, as its own process.

Fetches the meeting's passcode and the bot user's ZAK through REST, signs the SDK JWT,
joins with `SdkMeeting`, and runs the same `Worker` and `MeetingRuntime` as every other mode,
for the instances of that one meeting number (`Worker(meeting_id=...)`), with the bot as the
control, until the meeting ends or the process is asked to stop (SIGTERM/SIGINT; `serve`'s
supervisor does that at the end). The webhooks keep arriving through `serve` into the
shared database and this worker reads them from the journal (woken by the journal's
notices on PostgreSQL, as serve's workers are; on SQLite by the doorbell serve's
supervisor gives it, `bot.join_doorbell`, and by its sweep); what the bot sees
in the meeting reaches the same runtime through its listener (`Worker.attach`), and the engine's
actions are carried out here. Exit status 0 when the meeting ended, the process was stopped
or the host removed the bot; 1 when the bot dropped out of the running meeting; a failed
join prints why (stuck connecting, host absent, a Zoom fail code) and exits 1. The
supervisor restarts it after a 1.

Secrets: the bindings print the join parameters, the ZAK and the meeting passcode included,
to the process's standard output (file descriptor 1, from C++). This process therefore
points descriptor 1 at /dev/null for as long as the SDK lives (`binding_output_discarded`);
its own logs go to standard error, and `serve`'s supervisor discards the child's stdout too.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import stat
import sys
from collections.abc import Awaitable, Callable, Iterable, Iterator
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from bot.commands.db_cmd import check_schema
from bot.config import Settings
from bot.errors import ConfigError, DatabaseStalled
from bot.groups import (
    UnknownGroup,
    add_group_option,
    group_for,
    settings_for,
    settings_for_meeting,
)
from bot.heap import freeze_start_up
from bot.join_doorbell import listen
from bot.meeting.sdk import SdkMeeting, open_sdk_meeting
from bot.runtime.durable import MeetingHooks
from bot.runtime.worker import Worker, journal_notices
from bot.zoom_api.client import ZoomClient, open_http_client
from storage.clock import Clock, system_clock
from storage.db import make_engine, make_session_factory
from storage.turnstile import yield_to_receiver

__all__ = ["binding_output_discarded", "join_owner", "join_target", "register", "run_join"]

logger = logging.getLogger(__name__)

Connect = Callable[..., Awaitable[SdkMeeting]]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "join", help="run the Meeting SDK bot in one meeting (its own process)"
    )
    parser.add_argument(
        "--meeting", default="", help="meeting number (default: the group's meeting_id)"
    )
    parser.add_argument(
        "--doorbell-fd",
        type=int,
        default=None,
        help="set by serve's supervisor on SQLite: the descriptor serve rings for each "
        "journaled webhook (bot.join_doorbell)",
    )
    add_group_option(parser)
    # the group follows from --meeting (the group that lists it); --group only without it
    parser.set_defaults(handler=_handle, group_scoped=False)


def _handle(args: argparse.Namespace, settings: Settings) -> int:
    settings, meeting_id = join_target(
        settings, meeting=args.meeting, group=getattr(args, "group", None)
    )
    if not meeting_id:
        raise ConfigError("group.meeting_id is empty and no --meeting was given")
    if args.doorbell_fd is not None and not _is_socket(args.doorbell_fd):
        raise ConfigError(
            f"--doorbell-fd {args.doorbell_fd} is not an open socket "
            "(serve's supervisor sets it; leave it out when starting join by hand)"
        )
    check_schema(settings)
    freeze_start_up()
    return asyncio.run(run_join(settings, meeting_id, doorbell_fd=args.doorbell_fd))


def _is_socket(fd: int) -> bool:
    try:
        return stat.S_ISSOCK(os.fstat(fd).st_mode)
    except OSError:
        return False


def join_target(settings: Settings, *, meeting: str, group: str | None) -> tuple[Settings, str]:
    """The settings of the group the bot joins for, and the meeting number ("" if none).

    With several groups `--meeting` picks the group that lists it (`--group`, if also given,
    must agree); without it, `--group` picks the group and its first meeting number. With one
    group, any `--meeting` is that group's, as before several groups existed.

    Raises:
        UnknownGroup: the meeting is no group's, `--group` disagrees or names no group, or
            several groups and neither option.
    """
    if meeting and len(settings.all_groups()) > 1:
        owner = settings_for_meeting(settings, meeting)
        if group is not None and group_for(settings, group).name != owner.group.name:
            raise UnknownGroup(
                f"meeting {meeting} belongs to group {owner.group.name!r}, not {group!r}"
            )
        return owner, meeting
    own = settings_for(settings, group)
    return own, meeting or next(iter(own.group.meeting_numbers()), "")


@contextlib.contextmanager
def binding_output_discarded() -> Iterator[None]:
    """Point file descriptor 1 at /dev/null while the SDK lives, and put it back after.

    The bindings write the join parameters (ZAK, passcode) with C++ streams, below Python's
    `sys.stdout`, so only the descriptor itself can keep them out of any log.
    """
    sys.stdout.flush()
    saved = os.dup(1)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(devnull)


async def run_join(
    settings: Settings,
    meeting_id: str,
    *,
    connect: Connect = open_sdk_meeting,
    database: Engine | None = None,
    hooks: MeetingHooks | None = None,
    clock: Clock = system_clock,
    stop: asyncio.Event | None = None,
    interval: float = 2.0,
    lease_ttl: timedelta = timedelta(seconds=30),
    doorbell_fd: int | None = None,
) -> int:
    """Join `meeting_id` and drive it until it ends or `stop` is set; returns the exit status.

    `interval`: seconds between the worker's sweeps of the journal (serve journals in
    another process: on PostgreSQL the journal's notices wake this one at once, as they wake
    serve's workers; on SQLite serve's supervisor passes `doorbell_fd`, which its receiver
    rings for each webhook (`bot.join_doorbell`); either way the sweep is the safety net,
    and the only way for a `join` started by hand on SQLite). `database`: the
    engine to use (default: one made from the settings); either way, on SQLite its
    transactions give serve's receiver the right of way (`storage.turnstile`).

    Raises:
        SdkJoinError: the bot could not join (the message says why).
        ZoomApiError: the passcode or ZAK could not be fetched.
    """
    db = database if database is not None else make_engine(settings.storage.url)
    yield_to_receiver(db)  # serve's receiver journals into the same file
    stop = stop if stop is not None else asyncio.Event()
    _on_signals(stop, (signal.SIGTERM, signal.SIGINT))
    try:
        if hooks is None:
            from bot.service_hooks import ServiceHooks  # the receiver's models, only when serving

            hooks = ServiceHooks(settings)
        with binding_output_discarded():
            async with open_http_client() as http:
                rest = ZoomClient.from_settings(settings, http)
                bot = await connect(settings, rest, meeting_id=meeting_id)
                worker = Worker(
                    session_factory=make_session_factory(db),
                    control_factory=lambda _uuid: bot,
                    hooks=hooks,
                    owner=join_owner(settings, meeting_id),
                    clock=clock,
                    lease_ttl=lease_ttl,
                    sweep_interval=interval,
                    meeting_id=meeting_id,
                    database_timeout=settings.bot.database_timeout_seconds,
                )
                worker.attach(bot)
                await worker.start()
                listening = journal_notices(db, worker)
                ringing = None if doorbell_fd is None else listen(doorbell_fd, worker.notify)
                until = asyncio.Event()
                watch = asyncio.create_task(_first_of(bot.closed, stop, then=until))
                try:
                    logger.info("SDK bot in meeting %s", meeting_id)
                    await until.wait()
                    try:
                        await worker.sweep()  # the closing webhooks journaled meanwhile
                    except DatabaseStalled:  # they stay journaled for the next worker
                        logger.warning("database hangs: the last sweep was skipped")
                finally:
                    for task in (watch, listening, ringing):
                        if task is not None:
                            task.cancel()
                            with contextlib.suppress(asyncio.CancelledError):
                                await task
                    await worker.stop(release=True)
                    await bot.leave()
        if bot.failure is not None and not bot.removed_by_host:
            logger.error("SDK bot dropped out of meeting %s: %s", meeting_id, bot.failure.message)
            return 1  # the supervisor rejoins
        logger.info("SDK bot left meeting %s", meeting_id)
        return 0
    finally:
        if database is None:
            db.dispose()


async def _first_of(*events: asyncio.Event, then: asyncio.Event) -> None:
    waiters = [asyncio.create_task(event.wait()) for event in events]
    try:
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    then.set()


def _on_signals(stop: asyncio.Event, signals: Iterable[signal.Signals]) -> None:
    loop = asyncio.get_running_loop()
    for number in signals:
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(number, stop.set)


def join_owner(settings: Settings, meeting_id: str) -> str:
    """The join process's lease owner id, stable across restarts of the same bot.

    The supervisor restarts a `join` that died; with the same id the new process takes the
    dead one's lease back at once instead of waiting for it to expire. That is safe for the
    reason `bot.owners.replica_owner` gives: every action is claimed before it is
    carried out.
    """
    return f"join:{settings.server.instance_id or socket.gethostname()}:{meeting_id}"
