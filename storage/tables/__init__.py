"""All table modules, imported so that `Base.metadata` knows every table (Alembic needs it).

Each area owns one module: `core` (groups, modules, sessions, roster, attendance, audit),
`journal` (webhook journal), `runtime` (engine state, wake-ups, action log, leases),
`billing` (claims, files, sequences), `calendar` (the facilitators' changes to a group's
calendar), `console` (sign-in links, console sessions), `clinical` (notes, the safety plan,
absences, contacts).
"""

from storage.tables import billing as billing
from storage.tables import calendar as calendar
from storage.tables import clinical as clinical
from storage.tables import console as console
from storage.tables import core as core
from storage.tables import journal as journal
from storage.tables import runtime as runtime
