"""Fixtures shared by the scenario tests that run the real service."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from storage.db import make_engine
from storage.migrate import upgrade


@pytest.fixture
def sqlite_file(tmp_path: Path) -> tuple[str, Engine]:
    """A migrated SQLite file for one test: its URL and an engine on it."""
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    upgrade(url)
    return url, make_engine(url)
