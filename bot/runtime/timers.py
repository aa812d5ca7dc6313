"""The wake-up doorbell: APScheduler 3's `AsyncIOScheduler`, ringing the worker on time.

The database is the truth for wake-ups (`runtime_wakeups`); the scheduler only holds one
date job per pending timer so the worker looks at the right moment. A lost job costs
nothing but latency, because the worker's periodic sweep also fires whatever is due, and on
start-up (or lease takeover) the jobs are re-armed from the database. A job never feeds the
engine itself: it rings `ring(meeting_uuid)`, and the worker checks the stored due time.

Due times are on the injected clock; the job runs after the same delay on APScheduler's own
time line, which is the wall clock (`system_clock`: the scheduler compares its run dates with
it), so a test's frozen clock simply never rings and the test drives the sweep instead.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import JobLookupError  # type: ignore[import-untyped]
from apscheduler.schedulers.asyncio import AsyncIOScheduler  # type: ignore[import-untyped]
from apscheduler.triggers.date import DateTrigger  # type: ignore[import-untyped]

from storage.clock import system_clock

__all__ = ["Doorbell"]

_log = logging.getLogger(__name__)

Ring = Callable[[str], Awaitable[None]]


class Doorbell:
    """One scheduler job per pending wake-up (`<meeting_uuid>/<timer>`).

    Args:
        ring: awaited with the meeting uuid when one of its wake-ups is due.
        clock: the clock the due times are on (aware).
    """

    def __init__(self, *, ring: Ring, clock: Callable[[], datetime]) -> None:
        self._ring = ring
        self._clock = clock
        self._scheduler = AsyncIOScheduler(
            timezone=UTC,
            job_defaults={"coalesce": True, "misfire_grace_time": None, "max_instances": 1},
        )
        self._armed: dict[str, dict[str, datetime]] = {}
        self._started = False

    @property
    def running(self) -> bool:
        return self._started and bool(self._scheduler.running)

    def start(self) -> None:
        """Start the scheduler (needs a running asyncio loop)."""
        if not self._scheduler.running:
            self._scheduler.start()
        self._started = True

    def shutdown(self) -> None:
        """Stop the scheduler and forget every job (the database keeps the wake-ups).

        `AsyncIOScheduler.shutdown` completes on the loop's next turn; `running` is False
        at once. Idempotent: a second call in the same loop turn schedules no second stop
        (the scheduler would raise on it from the loop).
        """
        started, self._started = self._started, False
        if started and self._scheduler.running:
            self._scheduler.remove_all_jobs()
            self._scheduler.shutdown(wait=False)
        self._armed.clear()

    def armed(self, meeting_uuid: str) -> dict[str, datetime]:
        """The wake-ups currently armed for a meeting (timer -> due time on the clock)."""
        return dict(self._armed.get(meeting_uuid, {}))

    def rearm(self, meeting_uuid: str, wakeups: Mapping[str, datetime]) -> None:
        """Make the meeting's jobs match `wakeups` exactly (timer name -> due time)."""
        current = self._armed.setdefault(meeting_uuid, {})
        for timer in [t for t in current if t not in wakeups]:
            self._remove(meeting_uuid, timer)
            del current[timer]
        for timer, due in wakeups.items():
            if current.get(timer) == due:
                continue
            delay = due - self._clock()
            run_date = system_clock() + max(delay, timedelta(0))
            self._scheduler.add_job(
                self._ring,
                DateTrigger(run_date=run_date, timezone=UTC),
                args=[meeting_uuid],
                id=f"{meeting_uuid}/{timer}",
                replace_existing=True,
            )
            current[timer] = due
        if not current:
            del self._armed[meeting_uuid]

    def disarm(self, meeting_uuid: str) -> None:
        """Drop every job of a meeting (it ended, or another replica owns it now)."""
        for timer in list(self._armed.pop(meeting_uuid, {})):
            self._remove(meeting_uuid, timer)

    def _remove(self, meeting_uuid: str, timer: str) -> None:
        try:
            self._scheduler.remove_job(f"{meeting_uuid}/{timer}")
        except JobLookupError:
            pass  # it already rang
