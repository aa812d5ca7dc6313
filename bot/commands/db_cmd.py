"""`balint-bot db upgrade|current`: migrate the database named by `[storage] url`.

Also home of the small helpers the storage commands share: opening the configured database
and building the PHI keyring from `BALINT_DATA_KEY` / `BALINT_DATA_KEY_PREVIOUS`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session

from bot.config import Settings
from storage.crypto import Keyring
from storage.db import make_engine, make_session_factory, session_scope
from storage.migrate import current_revision, head_revision, upgrade

__all__ = ["keyring_from", "open_session", "register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("db", help="database schema (Alembic migrations)")
    actions = parser.add_subparsers(dest="db_action", metavar="ACTION", required=True)
    up = actions.add_parser("upgrade", help="upgrade the schema (default: to the newest)")
    up.add_argument("--revision", default="head", help="target revision (default head)")
    up.set_defaults(handler=_upgrade)
    now = actions.add_parser("current", help="print the schema revision of the database")
    now.set_defaults(handler=_current)


@contextmanager
def open_session(settings: Settings) -> Iterator[Session]:
    """A session on `[storage] url` that commits on success; the engine is disposed after."""
    engine = make_engine(settings.storage.url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            yield session
    finally:
        engine.dispose()


def keyring_from(settings: Settings) -> Keyring:
    """The data keys from the environment (`Settings.data_key`, `data_key_previous`)."""
    current = settings.data_key.get_secret_value() if settings.data_key else None
    previous = settings.data_key_previous.get_secret_value() if settings.data_key_previous else None
    return Keyring.from_text(current, previous)


def _upgrade(args: argparse.Namespace, settings: Settings) -> int:
    upgrade(settings.storage.url, args.revision)
    print(f"database at revision {current_revision(settings.storage.url)}")
    return 0


def _current(_args: argparse.Namespace, settings: Settings) -> int:
    found = current_revision(settings.storage.url)
    print(f"database revision: {found or '(empty)'}; newest: {head_revision()}")
    return 0 if found == head_revision() else 1
