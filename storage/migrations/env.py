"""Alembic environment, configured programmatically by `storage.migrate` (no alembic.ini).

The database URL comes from `config.attributes["url"]`; the target metadata is
`storage.db.Base.metadata` with every table module imported. SQLite runs in batch mode so
later revisions can alter tables.
"""

from __future__ import annotations

from alembic import context

import storage.tables  # noqa: F401  (registers every table on Base.metadata)
from storage.db import Base, make_engine

config = context.config
url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
if not url:
    raise RuntimeError("storage.migrate sets the database URL; run `balint-bot db upgrade`")

engine = make_engine(url, statement_seconds=0)  # a migration may take its time
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
