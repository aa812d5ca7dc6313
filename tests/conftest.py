"""Shared fixtures: every test runs with a clean `BALINT_*` and proxy environment; the
property tests draw the same examples on every run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import settings

#: Hypothesis draws new examples on each run by default, so a rare failing case could turn
#: a run red that the one before passed, with nothing changed. The suite's verdict must not
#: depend on the run: its examples are derived from each test's name. `BALINT_TEST_EXPLORE=1`
#: draws fresh ones (and keeps what fails in `.hypothesis/`), to look for new cases.
settings.register_profile("repeatable", derandomize=True, database=None)
settings.register_profile("explore")
settings.load_profile("explore" if os.environ.get("BALINT_TEST_EXPLORE") else "repeatable")

_CLEARED_PREFIXES = ("BALINT_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
#: Variables the CI harness sets for tests; they survive the clean-up.
_KEPT = {"BALINT_TEST_POSTGRES_URL", "BALINT_TEST_PG_BINDIR", "BALINT_TEST_EXPLORE"}


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in list(os.environ):
        if name in _KEPT:
            continue
        if name.upper().startswith(_CLEARED_PREFIXES):
            monkeypatch.delenv(name, raising=False)
    yield


@pytest.fixture
def anyio_backend() -> str:
    """Every async test here runs on asyncio (the service's loop), not trio."""
    return "asyncio"
