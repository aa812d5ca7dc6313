"""`balint-bot config check|show`: validate the settings and show them with secrets hidden."""

from __future__ import annotations

import argparse
import json
from typing import Any

from bot.calendar import calendar_from_settings
from bot.config import Settings

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("config", help="check or show the settings")
    actions = parser.add_subparsers(dest="config_action", metavar="ACTION", required=True)
    check = actions.add_parser("check", help="exit 0 if the settings are valid")
    check.set_defaults(handler=_check)
    show = actions.add_parser("show", help="print the settings as JSON, secrets hidden")
    show.set_defaults(handler=_show)


def _check(_args: argparse.Namespace, settings: Settings) -> int:
    calendar = calendar_from_settings(settings.group, settings.agenda)  # its zone and parts
    print(f"configuration ok (group {settings.group.name!r}, {calendar.describe()})")
    return 0


def _show(_args: argparse.Namespace, settings: Settings) -> int:
    # SecretStr serialises as '**********' in JSON mode, so nothing secret is printed.
    print(json.dumps(settings.model_dump(mode="json"), indent=2, sort_keys=True))
    return 0
