"""One whole demo: build the world, run the scenario on the real path, read back the records.

`run_demo` is what `balint-bot demo` and the scenario test call. After the run it reads what
the service stored (the finalised attendance of the session) and writes the billing
worksheet through the billing exports, as the physician would with `balint-bot export`.
The result names every file it wrote.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bot.config import Settings
from bot.errors import BalintError
from bot.simulation.driver import MEETING_ID, ScenarioRun, run_scenario
from bot.simulation.scenario import Scenario
from bot.simulation.world import build_world
from storage import sessions
from storage.attendance import stored_attendance
from storage.billing.exports import export_worksheet
from storage.clock import Clock, system_clock
from storage.db import make_engine, make_session_factory, session_scope

__all__ = ["AttendanceRow", "DemoError", "DemoReport", "run_demo"]

_log = logging.getLogger(__name__)

WORKSHEET_NAME = "billing-worksheet.csv"


class DemoError(BalintError):
    """The demo ran, but the service stored no finalised session for it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class AttendanceRow:
    """One person's finalised attendance as the service stored it (offsets from the start).

    Args:
        name: display name; role: member, facilitator or guest.
        minutes: minutes in the meeting proper (rejoins summed); waiting_minutes: in the
            waiting room.
        first_join, last_leave: seconds from the scheduled start (None if never admitted).
        late: arrived after the start; present: counts as present for billing.
    """

    name: str
    role: str
    minutes: int
    waiting_minutes: int
    first_join: float | None
    last_leave: float | None
    late: bool
    present: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoReport:
    """Everything a demo run produced.

    Args:
        run: the timeline and delivery figures (see `ScenarioRun`).
        attendance: the stored attendance, one row per person the service saw.
        out_dir: the output directory; database: the SQLite file; worksheet: the billing
            worksheet CSV (None if it could not be written, see `worksheet_error`).
        settings: the settings the service ran with.
        generated_key: True when a throw-away data key was made for this run.
        session_id: the stored session's id.
    """

    run: ScenarioRun
    attendance: tuple[AttendanceRow, ...]
    out_dir: Path
    database: Path
    worksheet: Path | None
    worksheet_rows: int
    worksheet_error: str
    settings: Settings
    generated_key: bool
    session_id: int


def _offset(at: datetime | None, start: datetime) -> float | None:
    return None if at is None else round((at - start).total_seconds(), 3)


async def run_demo(
    scenario: Scenario,
    *,
    out_dir: Path,
    speed: float = 0.0,
    data_key: str | None = None,
    on_progress: Callable[[list[dict[str, Any]]], None] | None = None,
    clock: Clock = system_clock,
) -> DemoReport:
    """Run `scenario` end to end and write its files under `out_dir`.

    Args:
        scenario: a validated scenario (`bot.simulation.scenario.load_scenario`).
        out_dir: created if missing; a previous demo database in it is replaced.
        speed: 0 = as fast as possible, X = X times real time.
        data_key: the PHI key; default `BALINT_DATA_KEY`, else a throw-away key.
        on_progress: live timeline records, moment by moment.
        clock: the real time of the run (the evening itself runs on a virtual clock): it
            stamps the roster import and the worksheet export, and decides what is "future".

    Raises:
        SimulationError: the run did not complete.
        DemoError: the service stored no finalised session.
    """
    key = data_key if data_key is not None else os.environ.get("BALINT_DATA_KEY") or None
    world = build_world(scenario, out_dir=out_dir, data_key=key, meeting_id=MEETING_ID, now=clock())
    run = await run_scenario(
        scenario, world=world, over_http=True, speed=speed, on_progress=on_progress
    )
    database = make_engine(world.settings.storage.url)
    try:
        factory = make_session_factory(database)
        with session_scope(factory) as db:
            record = sessions.session_by_meeting(db, meeting_uuid=run.meeting_uuid)
            if record is None:
                raise DemoError("the service stored no session for the demo meeting")
            session_id = record.id
            if record.finalized_at is None:
                raise DemoError("the service did not finalise the session's attendance")
            rows = tuple(
                AttendanceRow(
                    name=row.name,
                    role=row.role,
                    minutes=row.minutes,
                    waiting_minutes=row.waiting_minutes,
                    first_join=_offset(row.first_join, scenario.start),
                    last_leave=_offset(row.last_leave, scenario.start),
                    late=row.late,
                    present=row.present,
                )
                for row in stored_attendance(db, session_id=session_id)
            )
        worksheet: Path | None = out_dir / WORKSHEET_NAME
        assert worksheet is not None
        worksheet.unlink(missing_ok=True)
        written = 0
        error = ""
        try:
            with session_scope(factory) as db:
                result = export_worksheet(
                    db,
                    settings=world.settings,
                    out=worksheet,
                    session_id=session_id,
                    now=clock(),
                )
                written = result.rows
        except BalintError as failed:  # the run itself succeeded; say why there is no file
            _log.warning(
                "billing worksheet not written", extra={"error_type": type(failed).__name__}
            )
            error = f"{type(failed).__name__}: {failed}"
            worksheet = None
    finally:
        database.dispose()
    return DemoReport(
        run=run,
        attendance=rows,
        out_dir=out_dir,
        database=world.database,
        worksheet=worksheet,
        worksheet_rows=written,
        worksheet_error=error,
        settings=world.settings,
        generated_key=world.generated_key,
        session_id=session_id,
    )
