"""The command line imports only the command it runs (`bot.cli.command_modules`)."""

from __future__ import annotations

import argparse
import importlib
import subprocess
import sys

import pytest

from bot.cli import COMMAND_MODULES, command_modules, main


@pytest.mark.parametrize("module", COMMAND_MODULES)
def test_each_command_module_registers_the_command_its_name_says(module: str) -> None:
    parser = argparse.ArgumentParser()
    subparsers = parser.add_subparsers(dest="command")
    importlib.import_module(module).register(subparsers)
    name = module.rpartition(".")[2].removesuffix("_cmd")
    assert set(subparsers.choices) == {name}


@pytest.mark.parametrize(
    ("argv", "wanted"),
    [
        (["serve", "--port", "8081"], ("bot.commands.serve_cmd",)),
        (["--config", "demo", "export", "claims"], ("bot.commands.export_cmd",)),
        (["--config=a.toml", "db", "upgrade"], ("bot.commands.db_cmd",)),
        ([], COMMAND_MODULES),
        (["--help"], COMMAND_MODULES),
        (["--config", "a.toml", "-h", "serve"], COMMAND_MODULES),
        (["srve"], COMMAND_MODULES),  # argparse then names the commands there are
    ],
)
def test_the_modules_a_command_line_needs(argv: list[str], wanted: tuple[str, ...]) -> None:
    assert command_modules(argv) == wanted


def test_a_mistyped_command_is_told_the_commands_there_are(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["srve"])
    err = capsys.readouterr().err
    assert "invalid choice: 'srve'" in err and "serve" in err and "export" in err


def test_serve_starts_without_the_other_commands_or_the_runtime() -> None:
    # what `balint-bot serve` imports before it runs: its receiver steps no meeting
    probe = (
        "import sys\n"
        "from bot.cli import start_up\n"
        "start_up(['serve'])\n"
        # and what its handler imports to run the receiver, beside the console's server
        "import bot.commands.db_cmd, bot.console.server, bot.listener, bot.receiver\n"
        "import bot.validation\n"
        "mine = ('bot.', 'phases.', 'apscheduler')\n"
        "print(' '.join(sorted(m for m in sys.modules if m.startswith(mine))))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    loaded = set(done.stdout.split())
    assert "bot.commands.serve_cmd" in loaded and "bot.receiver" in loaded
    for unwanted in (
        "bot.commands.demo_cmd",
        "bot.commands.export_cmd",
        "bot.simulation.driver",
        "bot.service",
        "bot.runtime.worker",
        "bot.runtime.durable",
        "phases.engine",
        "apscheduler",
    ):
        assert unwanted not in loaded, unwanted
