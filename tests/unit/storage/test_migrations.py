"""Migrations: head equals the models, and the chain upgrades from every earlier revision."""

from __future__ import annotations

import subprocess
import sys

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

import storage.tables  # noqa: F401
from storage.db import Base, make_engine
from storage.migrate import (
    _chain,
    alembic_config,
    current_revision,
    downgrade,
    head_revision,
    upgrade,
)


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def _revisions() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def empty_url(request: pytest.FixtureRequest) -> str:
    name = "empty_sqlite_url" if request.param == "sqlite" else "empty_postgres_url"
    url: str = request.getfixturevalue(name)
    return url


def test_chain_starts_with_core_and_is_linear() -> None:
    revisions = _revisions()
    assert revisions[0] == "0001_core"
    assert head_revision() == revisions[-1]


def test_the_chain_read_from_the_scripts_text_is_alembics() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    assert _chain() == {rev.revision: rev.down_revision for rev in script.walk_revisions()}
    assert head_revision() == script.get_current_head()


def test_checking_a_database_at_head_imports_no_alembic(sqlite_url: str) -> None:
    # every command checks the schema before it starts; only a migration needs Alembic
    probe = (
        "import sys\n"
        "from storage.db import make_engine\n"
        "from storage.migrate import require_schema\n"
        f"require_schema(make_engine({sqlite_url!r}))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_upgrade_empty_database_to_head_matches_models(empty_url: str) -> None:
    assert current_revision(empty_url) is None
    upgrade(empty_url)
    assert current_revision(empty_url) == head_revision()
    assert _diff(empty_url) == []


def test_upgrade_from_each_previous_revision(empty_url: str) -> None:
    revisions = _revisions()
    for previous in revisions[:-1]:
        upgrade(empty_url, previous)
        assert current_revision(empty_url) == previous
        upgrade(empty_url)
        assert current_revision(empty_url) == head_revision()
        downgrade(empty_url, "base")
    upgrade(empty_url)
    assert _diff(empty_url) == []
