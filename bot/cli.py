"""The `balint-bot` command line.

Every sub-command lives in its own module under `bot.commands` and registers itself with
`register(subparsers)`, setting `handler(args, settings) -> int`. A failure it can expect
(ours, the configuration's, the database's, a file's, Ctrl-C) ends it with one clear line
and an exit status, never a traceback (`bot.exit_status`).

A command about one group registers `--group NAME` (`bot.groups.add_group_option`); `main`
narrows the settings to that group before the handler runs, so with several groups
(`[[groups]]`) every such command reads its own group's settings, and a missing or unknown
`--group` is one clear line naming the groups.

The clock is chosen here, once: `main` puts it on `args.clock`, and a command reads "now" from
it (once per operation) instead of from the wall clock, so tests run any command on any day.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from bot.config import load_settings
from bot.exit_status import exit_status
from bot.groups import settings_for
from bot.heap import freeze_imports
from storage.clock import Clock, system_clock

__all__ = ["COMMAND_MODULES", "build_parser", "command_modules", "main", "run", "start_up"]

#: Modules that contribute sub-commands, in the order `--help` lists them.
COMMAND_MODULES: tuple[str, ...] = (
    "bot.commands.demo_cmd",
    "bot.commands.config_cmd",
    "bot.commands.doctor_cmd",
    "bot.commands.registrants_cmd",
    "bot.commands.serve_cmd",
    "bot.commands.simulate_cmd",
    "bot.commands.export_cmd",
    "bot.commands.import_cmd",
    "bot.commands.billing_cmd",
    "bot.commands.db_cmd",
    "bot.commands.sessions_cmd",
    "bot.commands.roster_cmd",
    "bot.commands.keys_cmd",
    "bot.commands.attendance_cmd",
    "bot.commands.purge_cmd",
    "bot.commands.join_cmd",
    "bot.commands.console_cmd",
    "bot.commands.notes_cmd",
    "bot.commands.absence_cmd",
)


def command_modules(argv: Sequence[str]) -> tuple[str, ...]:
    """The command modules `argv` needs: the module of the command it names, alone, or every
    one when it names none (no command, `--help` before it, a mistyped name: argparse then
    lists them all). Each module registers the command its name says (`serve_cmd`: `serve`).

    A process imports only its own command: `serve`'s receiver has no use for the demo's
    simulator, the exports or the runtime the other commands bring (docs/benchmarks.md,
    "fourteenth round").
    """
    by_name = {name.rpartition(".")[2].removesuffix("_cmd"): name for name in COMMAND_MODULES}
    tokens = iter(argv)
    for token in tokens:
        if token == "--config":
            next(tokens, None)  # its value
        elif token in ("-h", "--help"):
            return COMMAND_MODULES
        elif not token.startswith("-"):
            named = by_name.get(token)
            return COMMAND_MODULES if named is None else (named,)
    return COMMAND_MODULES


def build_parser(modules: Sequence[str] = COMMAND_MODULES) -> argparse.ArgumentParser:
    """The parser, with the commands of `modules` (default: all)."""
    parser = argparse.ArgumentParser(
        prog="balint-bot",
        description="Runs a Balint group's Zoom sessions, logs attendance, exports OHIP billing.",
    )
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="settings file (default ./balint-bot.toml if present, else built-in defaults)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in modules:
        importlib.import_module(name).register(subparsers)
    _accept_config_after_command(parser)
    return parser


def _accept_config_after_command(parser: argparse.ArgumentParser) -> None:
    """Let `--config FILE` also follow the command (`balint-bot serve --config FILE`).

    Operators and scripts write it either way; the one given last wins.
    """
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        for command in action.choices.values():
            try:
                command.add_argument(
                    "--config",
                    type=Path,
                    default=argparse.SUPPRESS,
                    help="settings file (may also come before the command)",
                )
            except argparse.ArgumentError:
                pass  # the command defines its own --config
            _accept_config_after_command(command)


def start_up(argv: Sequence[str] | None = None) -> None:
    """Import the commands `argv` needs (default: the process's arguments; see
    `command_modules`), then freeze what the imports built (`bot.heap.freeze_imports`).

    The console script does this before `main`; tests call `main` alone, so the test
    process is never frozen.
    """
    for name in command_modules(sys.argv[1:] if argv is None else argv):
        importlib.import_module(name)
    freeze_imports()


def run() -> NoReturn:
    """The `balint-bot` console script: `start_up`, then `main`'s exit status."""
    start_up()
    raise SystemExit(main())


def main(argv: Sequence[str] | None = None, *, clock: Clock = system_clock) -> int:
    """The commands: parses `argv` and runs one; returns the exit status.

    Args:
        argv: the arguments (default: the process's).
        clock: where every command reads the current time; tests pass a fixed one.
    """
    parser = build_parser(command_modules(sys.argv[1:] if argv is None else argv))
    args = parser.parse_args(argv)
    args.clock = clock

    def run_command() -> int:
        settings = load_settings(args.config)
        if getattr(args, "group_scoped", False):
            # a command about one group sees that group's settings (`bot.groups`)
            settings = settings_for(settings, getattr(args, "group", None))
        status: int = args.handler(args, settings)
        return status

    return exit_status(run_command)


if __name__ == "__main__":
    run()
