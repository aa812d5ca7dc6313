"""All table modules, imported so that `Base.metadata` knows every table (Alembic needs it).

Each area owns one module: `core` (groups, modules, sessions, roster, attendance, audit),
`journal` (webhook journal, runtime state, leases), `billing` (claims, files, sequences).
"""
