"""`balint-bot demo [--scenario FILE] [--speed X] [--out DIR]`: a whole session, end to end.

Runs the built-in scenario (or `--scenario FILE`) on the real path (see `bot.demo`): the
simulated Zoom posts signed webhooks over HTTP to the receiver on loopback, the runtime
drives the engine and acts on the simulated meeting, attendance is stored and a billing
worksheet written. Prints the timeline as it happens, then the attendance table and where the
files are. Needs no configuration: the settings, database and roster are made for the run.
A bad scenario exits 2 before anything runs.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.commands.export_cmd import parse_day
from bot.config import Settings
from bot.demo import BUILTIN_SCENARIO
from bot.demo.report import Palette, render_attendance, render_records, render_summary
from bot.demo.session import run_demo
from bot.simulation.scenario import Scenario, ScenarioError, load_scenario
from storage.clock import Clock

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
        default=0.0,
        help="0 = as fast as possible (default); 60 = sixty times real time",
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

    try:
        report = asyncio.run(
            run_demo(
                scenario,
                out_dir=out_dir,
                speed=args.speed,
                on_progress=progress,
                clock=clock,
            )
        )
    except KeyboardInterrupt:
        print(f"\ninterrupted; the files so far are in {out_dir}", file=sys.stderr)
        return 130
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
