"""Run the Alembic migrations in `storage/migrations` against a database URL.

Alembic is configured programmatically (no `alembic.ini`): the script directory is this
package's `migrations` folder and the URL travels in the config's attributes, so URLs with
`%` in a password need no escaping. `balint-bot db upgrade` and the test fixtures call
`upgrade`; nothing here runs at import time.

`require_schema` is what every command runs before it uses a database: one line saying to
run `balint-bot db upgrade` when the schema is missing or older than this version's, instead
of a stack of SQL errors later. It reads the scripts' revisions from their text (`_chain`),
so Alembic is imported only to migrate.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine, inspect, text
from sqlalchemy.engine import make_url

from phases.errors import BalintError
from storage.db import make_engine

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "MIGRATIONS_DIR",
    "SchemaError",
    "alembic_config",
    "current_revision",
    "downgrade",
    "head_revision",
    "require_schema",
    "upgrade",
]


class SchemaError(BalintError):
    """The database's schema is missing or not the one this balint-bot needs, or a migration
    target does not exist; the message says what to run."""


MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic `Config` for `url` pointing at our migration scripts."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["url"] = url
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Upgrade the database at `url` to `revision` (default: the newest).

    Raises:
        SchemaError: `revision` is not one of our migrations.
    """
    from alembic import command
    from alembic.util.exc import CommandError

    try:
        command.upgrade(alembic_config(url), revision)
    except CommandError as unknown:
        raise SchemaError(
            f"cannot upgrade to revision {revision!r}: {_first_line(unknown)} "
            f"(the newest is {head_revision()}; `balint-bot db current` shows the database's)"
        ) from None


def downgrade(url: str, revision: str) -> None:
    """Downgrade the database at `url` to `revision` (tests use it to check the chain)."""
    from alembic import command

    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest revision id among the migration scripts."""
    chain = _chain()
    heads = sorted(set(chain).difference(chain.values()))
    if len(heads) > 1:
        raise SchemaError(f"the migration scripts have several heads: {', '.join(heads)}")
    return heads[0] if heads else None


@functools.cache
def _chain() -> dict[str, str | None]:
    """Each migration script's `revision` -> its `down_revision`, read from the scripts'
    text without running them.

    Every command checks the database's revision against the newest before it starts
    (`require_schema`); reading the two assignments here spares it importing Alembic, Mako
    and Pygments (about 6 MiB a process, `serve`'s receiver among them), which only a
    migration needs. A test compares the chain with Alembic's own reading.
    """
    chain: dict[str, str | None] = {}
    for script in sorted((MIGRATIONS_DIR / "versions").glob("*.py")):
        names: dict[str, object] = {}
        for node in ast.parse(script.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.Assign) and len(node.targets) == 1:
                target = node.targets[0]
                if isinstance(target, ast.Name) and target.id in ("revision", "down_revision"):
                    names[target.id] = ast.literal_eval(node.value)
        revision, down = names.get("revision"), names.get("down_revision")
        if not isinstance(revision, str) or not (down is None or isinstance(down, str)):
            raise SchemaError(f"{script.name}: no revision, or a revision that is not one id")
        chain[revision] = down
    return chain


def current_revision(url: str) -> str | None:
    """The revision the database at `url` is at (None for an empty database)."""
    engine = make_engine(url)
    try:
        return _revision_of(engine)
    finally:
        engine.dispose()


def require_schema(engine: Engine) -> None:
    """Make sure the database has this version's schema before a command uses it.

    Raises:
        SchemaError: no schema, an older one (run `balint-bot db upgrade`), or one this
            version does not know (made by a newer balint-bot).
        sqlalchemy.exc.SQLAlchemyError: the database cannot be reached.
    """
    found = _revision_of(engine)
    head = head_revision()
    if found == head:
        return
    where = make_url(str(engine.url)).render_as_string(hide_password=True)
    if found is None:
        raise SchemaError(
            f"the database {where} has no balint-bot schema: run `balint-bot db upgrade`"
        )
    if found not in _chain():
        raise SchemaError(
            f"the database {where} is at revision {found}, which this version of balint-bot "
            f"does not know (a newer version migrated it); its newest is {head}"
        )
    raise SchemaError(
        f"the database {where} is at revision {found}, this version needs {head}: "
        "back it up, then run `balint-bot db upgrade`"
    )


def _revision_of(engine: Engine) -> str | None:
    """The revision in `alembic_version`, read directly (Alembic's context logs at INFO)."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        found = connection.execute(text("SELECT version_num FROM alembic_version")).scalars()
        versions = list(found)
    return versions[0] if len(versions) == 1 else None


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
