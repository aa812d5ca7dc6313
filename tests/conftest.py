"""Shared fixtures: every test runs with a clean `BALINT_*` and proxy environment."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

_CLEARED_PREFIXES = ("BALINT_", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")
#: Variables the CI harness sets for tests; they survive the clean-up.
_KEPT = {"BALINT_TEST_POSTGRES_URL", "BALINT_TEST_PG_BINDIR"}


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
