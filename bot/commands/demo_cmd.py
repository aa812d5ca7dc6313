"""`balint-bot demo [--scenario FILE] [--speed X] [--out DIR]`: a whole session, end to end.

Runs the built-in scenario (or `--scenario FILE`) on the real path (see `bot.demo`): the
simulated Zoom posts signed webhooks over HTTP to the receiver on loopback, the runtime
drives the engine and acts on the simulated meeting, attendance is stored and a billing
worksheet written. Prints the timeline as it happens, then the attendance table and where the
files are. Needs no configuration: the settings, database and roster are made for the run.
A bad scenario exits 2 before anything runs.

With `--console` the facilitator's console opens on loopback beside the service and the run
prints a one-time sign-in link for the scenario's facilitator: the evening then runs at 20
times real time unless `--speed` says otherwise (about seven minutes), the buttons act on the
simulated meeting, and after the evening the console stays open (attendance, billing, the
worksheet to download) until Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import os
import signal
import sys
import tempfile
from collections.abc import Callable
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.commands.export_cmd import parse_day
from bot.config import Settings
from bot.demo import BUILTIN_SCENARIO
from bot.demo.report import Palette, render_attendance, render_records, render_summary
from bot.demo.session import DemoReport, run_demo
from bot.errors import BalintError
from bot.simulation.scenario import Scenario, ScenarioError, load_scenario
from storage.clock import Clock

if TYPE_CHECKING:
    from fastapi import FastAPI

    from bot.simulation.world import ServiceWorld

__all__ = ["register"]


def _speed(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if value < 0 or value != value:
        raise argparse.ArgumentTypeError("must be 0 (as fast as possible) or more")
    return value


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run a whole simulated session end to end (webhooks over HTTP, storage, billing)",
        description=__doc__.split("\n\n")[1] if __doc__ else None,
    )
    parser.add_argument(
        "--scenario",
        type=Path,
        default=None,
        help="a scenario TOML file (default: the built-in evening, see bot/demo/scenario.toml)",
    )
    parser.add_argument(
        "--speed",
        type=_speed,
        default=None,
        help="0 = as fast as possible (default; 20 with --console); 60 = sixty times real time",
    )
    parser.add_argument(
        "--console",
        action="store_true",
        help="open the facilitator's console on loopback and print its sign-in link; the "
        "evening runs at --speed 20 and the console stays open until Ctrl-C",
    )
    parser.add_argument(
        "--console-port",
        type=int,
        default=8001,
        help="the console's port with --console (default 8001; 0 = any free port)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="directory for the database and the worksheet (default: a new temporary one)",
    )
    parser.add_argument(
        "--date",
        type=parse_day,
        default=None,
        help="hold the evening on this date, YYYY-MM-DD (default: the built-in evening is held "
        "on the latest past day of its weekday, so its claims are not future-dated; a "
        "--scenario file keeps its own date)",
    )
    parser.add_argument(
        "--webhooks", action="store_true", help="also list every webhook Zoom sends"
    )
    colour = parser.add_mutually_exclusive_group()
    colour.add_argument("--color", dest="color", action="store_true", default=None)
    colour.add_argument("--no-color", dest="color", action="store_false")
    parser.set_defaults(handler=_demo)


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    path: Path = args.scenario or BUILTIN_SCENARIO
    try:
        scenario = load_scenario(path, settings=settings)
    except ScenarioError as bad:
        print(f"balint-bot: bad scenario: {bad}", file=sys.stderr)
        return 2
    clock: Clock = args.clock
    held_on: date | None = args.date
    if held_on is None and args.scenario is None:
        today = clock().astimezone(scenario.start.tzinfo).date()
        held_on = latest_past(scenario.start.weekday(), before=today)
    if held_on is not None:
        scenario = on_date(scenario, held_on)
    out_dir: Path = args.out or Path(tempfile.mkdtemp(prefix="balint-demo-"))
    color = args.color if args.color is not None else _wants_colour()
    palette = Palette(color)
    print(palette("head", f"balint-bot demo: {path.name}"))
    print(
        f"  scheduled start {scenario.start.isoformat()}; times below are minutes:seconds "
        "from the start"
    )
    print()

    def progress(records: list[dict[str, Any]]) -> None:
        for line in render_records(records, palette=palette, webhooks=args.webhooks):
            print(line, flush=True)

    speed = args.speed if args.speed is not None else (20.0 if args.console else 0.0)
    console = (
        DemoConsole(port=args.console_port, clock=clock, palette=palette) if args.console else None
    )
    try:
        return asyncio.run(
            _run(
                scenario,
                out_dir=out_dir,
                speed=speed,
                progress=progress,
                clock=clock,
                palette=palette,
                console=console,
            )
        )
    except KeyboardInterrupt:
        if console is not None and console.finished:
            print("\nconsole closed", file=sys.stderr)
            return console.status
        print(f"\ninterrupted; the files so far are in {out_dir}", file=sys.stderr)
        return 130


def _show(report: DemoReport, palette: Palette) -> int:
    """Print the attendance and the files; the exit status (1 if anything failed)."""
    zoom_minutes = {
        r["name"]: float(r["minutes"])
        for r in report.run.timeline.records
        if r["kind"] == "attendance"
    }
    print()
    for line in render_attendance(
        report.attendance,
        palette=palette,
        zoom_minutes=zoom_minutes,
        leave_out=(report.settings.zoom.bot_name,),
    ):
        print(line)
    print()
    for line in render_summary(report, palette=palette):
        print(line)
    failed = report.run.webhooks_failed > 0 or report.worksheet is None
    return 1 if failed else 0


async def _run(
    scenario: Scenario,
    *,
    out_dir: Path,
    speed: float,
    progress: Any,
    clock: Clock,
    palette: Palette,
    console: DemoConsole | None,
) -> int:
    report = await run_demo(
        scenario,
        out_dir=out_dir,
        speed=speed,
        on_progress=progress,
        clock=clock,
        companion=console.start if console is not None else None,
    )
    status = _show(report, palette)
    if console is not None:
        console.status = status
        await console.hold()
    return status


class DemoConsole:
    """The console of `demo --console`: started beside the demo's service, on loopback, with
    the demo's database; its sign-in link printed; kept open after the evening until Ctrl-C
    (the caller prints the report first, then `hold` waits)."""

    def __init__(self, *, port: int, clock: Clock, palette: Palette) -> None:
        self.port = port
        self.clock = clock
        self.palette = palette
        self.finished = False
        self.status = 0
        #: the one-time sign-in link, once started
        self.link = ""
        self._server: Any = None
        self._task: asyncio.Task[None] | None = None
        self._database: Any = None

    async def start(
        self, app: FastAPI, world: ServiceWorld, meeting_clock: Callable[[], datetime]
    ) -> None:
        """The run's `Companion`: bind, issue the facilitator's link, serve, print it."""
        from bot.config import ConsoleSettings
        from bot.console import server as console_server
        from bot.console.app import create_console_app
        from bot.console.context import public_url
        from storage import console as records
        from storage.db import make_engine, make_session_factory, session_scope

        try:
            listener = console_server.bind("127.0.0.1", self.port)
        except BalintError:
            listener = console_server.bind("127.0.0.1", 0)
        port = listener.getsockname()[1]
        settings = world.settings.model_copy(
            update={"console": ConsoleSettings(port=port, exports_dir=str(world.database.parent))}
        )
        self._database = make_engine(settings.storage.url)
        factory = make_session_factory(self._database)
        with session_scope(factory) as db:
            found = records.facilitators(db, group_name=settings.group.name)
            if not found:
                raise BalintError("demo --console: the scenario has no facilitator to sign in")
            token = records.issue_link(
                db,
                member_id=found[0].member_id,
                now=self.clock(),
                ttl=timedelta(minutes=settings.console.link_minutes),
            )
        console_app = create_console_app(
            settings,
            session_factory=factory,
            clock=self.clock,
            meeting_clock=meeting_clock,
            nudge=app.state.wake,
        )
        self._server = console_server.console_server(console_app)
        self._task = asyncio.create_task(self._server.serve(sockets=[listener]))
        self.link = f"{public_url(settings)}/signin/link/{token}"
        print(self.palette("head", "facilitator's console"))
        print(f"  open {self.link}")
        print(
            f"  signs in as {found[0].name}, once, within {settings.console.link_minutes} "
            "minutes; the console stays open after the evening until Ctrl-C"
        )
        print(flush=True)

    async def hold(self) -> None:
        """Keep the console open until Ctrl-C (or SIGTERM), then stop it."""
        self.finished = True
        print(self.palette("head", "the console stays open: Ctrl-C to stop"), flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await self.close()
        print("\nconsole closed", file=sys.stderr)

    async def close(self) -> None:
        """Stop the console's server and let go of its database."""
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        if self._database is not None:
            self._database.dispose()


def latest_past(weekday: int, *, before: date) -> date:
    """The latest date strictly before `before` that falls on `weekday` (Monday = 0)."""
    back = (before.weekday() - weekday) % 7 or 7
    return before - timedelta(days=back)


def on_date(scenario: Scenario, day: date) -> Scenario:
    """The same scenario held on `day`, at the same wall-clock time and UTC offset.

    Event times are offsets from the start, so only the start moves.
    """
    start = datetime.combine(day, scenario.start.timetz())
    return dataclasses.replace(scenario, start=start)


def _wants_colour() -> bool:
    if os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()
