"""Schema (SQLAlchemy 2 + Alembic), roster, attendance, audit and the exports."""
