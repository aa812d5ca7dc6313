"""Fixtures of the hostile suite: migrated databases, one shared serve, and the report table."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.migrate import upgrade
from tests.hostile.harness import RESULTS, Serve


@pytest.fixture(scope="session")
def hostile_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def migrated_copy(template: Path, directory: Path) -> str:
    """A migrated SQLite database of its own in `directory`, as a URL."""
    path = directory / "balint.db"
    shutil.copyfile(template, path)
    path.chmod(0o600)
    return f"sqlite:///{path}"


@pytest.fixture(scope="module")
def served(hostile_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Serve]:
    """One serve for a module's attacks (few requests in progress allowed, short deadlines)."""
    directory = tmp_path_factory.mktemp("served")
    serve = Serve(
        directory,
        url=migrated_copy(hostile_template, directory),
        server={"max_concurrent_requests": 8},
    )
    serve.start()
    yield serve
    serve.stop()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not RESULTS:
        return
    terminalreporter.section("hostile suite: attacks and faults")
    terminalreporter.write_line("| attack or fault | answered | recovered in | acked and lost |")
    terminalreporter.write_line("|---|---|---|---|")
    for case, answered, recovery, lost in RESULTS:
        terminalreporter.write_line(f"| {case} | {answered} | {recovery} | {lost} |")
