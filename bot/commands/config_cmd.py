"""`balint-bot config check|show`: validate the settings and show them with secrets hidden.

`config check` runs the one validation (`bot.validation`): the checks `serve`, `simulate`
and the exports run before they start, each problem with its key and the commands it
stops. It exits 0 only when nothing is found (`--for COMMAND`: only what stops COMMAND).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.calendar import calendar_from_settings
from bot.config import Settings
from bot.validation import COMMANDS, problems

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="check or show the settings")
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    check = actions.add_parser(
        "check", help="exit 0 if serve, simulate and the exports accept the settings"
    )
    check.add_argument(
        "--for",
        dest="command",
        choices=COMMANDS,
        default=None,
        help="only what stops this command",
    )
    check.set_defaults(handler=_check)
    show = actions.add_parser("show", help="print the settings as JSON, secrets hidden")
    show.set_defaults(handler=_show)


def _check(args: argparse.Namespace, settings: Settings) -> int:
    found = problems(settings, args.command)
    which = args.command or ", ".join(COMMANDS)
    if not found:
        # the calendars serve follows, from settings checked on load (see bot.validation)
        described = []
        for group in settings.all_groups():
            own = settings.for_group(group)
            calendar = calendar_from_settings(own.group, own.agenda)
            described.append(f"group {group.name!r}, {calendar.describe()}")
        print(f"configuration ok for {which} ({'; '.join(described)})")
        return 0
    for problem in found:
        print(f"{problem}  [stops {', '.join(problem.commands)}]")
    print(f"{len(found)} problem(s) for {which}")
    return 1


def _show(_args: argparse.Namespace, settings: Settings) -> int:
    # SecretStr serialises as '**********' in JSON mode, so nothing secret is printed.
    print(json.dumps(settings.model_dump(mode="json"), indent=2, sort_keys=True))
    return 0
