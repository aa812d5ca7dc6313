"""`balint-bot simulate SCENARIO.toml [--jsonl]`: run one session against the Zoom simulator.

Nothing leaves the process, but nothing is skipped either: the scenario's people act in a
`SimulatedMeeting`, which produces only what Zoom produces (signed webhooks, posted in
process to the real receiver; SDK-shaped notices for the bot in the meeting), and the same
worker and durable runtime as `serve` drive the engine, on a throw-away SQLite database in
a temporary directory. The run is printed as a readable timeline or, with `--jsonl`, as one
JSON object per line (see `bot.simulation.timeline`). A bad scenario prints one line naming
the field and the event and exits 2, before anything runs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.groups import add_group_option
from bot.simulation.driver import run_scenario
from bot.simulation.scenario import ScenarioError, load_scenario

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "simulate", help="run a scenario against the Zoom simulator and print the timeline"
    )
    parser.add_argument("scenario", type=Path, help="the scenario TOML file")
    parser.add_argument(
        "--jsonl", action="store_true", help="print one JSON object per line instead of text"
    )
    add_group_option(parser)  # whose agenda and bot name a scenario without its own uses
    parser.set_defaults(handler=_simulate)


def _simulate(args: argparse.Namespace, settings: Settings) -> int:
    try:
        scenario = load_scenario(args.scenario, settings=settings)
    except ScenarioError as bad:
        print(f"balint-bot: bad scenario: {bad}", file=sys.stderr)
        return 2
    result = asyncio.run(run_scenario(scenario, clock=args.clock))
    timeline = result.timeline
    sys.stdout.write(timeline.to_jsonl() if args.jsonl else timeline.to_text())
    return 0
