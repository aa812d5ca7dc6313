"""The wake-up doorbell: APScheduler 3's `AsyncIOScheduler`, ringing the worker on time.

The database is the truth for wake-ups (`runtime_wakeups`); the scheduler only holds date
jobs so that the worker looks at the right moment, and as few as that takes:

- a meeting is rung at the earliest of its pending wake-ups only. The ring makes the worker
  visit the meeting, which fires every wake-up due by then and re-arms the doorbell with
  those left, whose earliest it is rung at next. A meeting has several wake-ups pending
  from its opening on (the meditation's end, the warnings, the end);
- one job rings every meeting due at the same moment. Groups that meet at the same hour
  with the same agenda have their meditations end at the same moment.

So 200 meetings opening at once add one job to the scheduler, not 1,200, and their
meditations' end is one job that rings all 200 (adding a job costs the scheduler more than
ringing a meeting: it builds a `Job`, inspects the callable and wakes itself up). A lost
job costs nothing but latency, because the worker's periodic sweep also fires whatever is
due, and on start-up (or lease takeover) the jobs are re-armed from the database. A job
never feeds the engine itself: it rings `ring(meeting_uuid)`, and the worker checks the
stored due times.

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
    """Rings each meeting at its earliest pending wake-up; one scheduler job per moment.

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
        #: meeting uuid -> its pending wake-ups (timer -> due time), as last re-armed
        self._armed: dict[str, dict[str, datetime]] = {}
        #: meeting uuid -> the moment it is to be rung at (absent: none, or it has rung)
        self._rings: dict[str, datetime] = {}
        #: moment -> the meetings its job rings, in the order they were armed
        self._due: dict[datetime, dict[str, None]] = {}
        #: meeting uuid -> the moment it was last rung at
        self._rung: dict[str, datetime] = {}
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
        self._rings.clear()
        self._due.clear()
        self._rung.clear()

    def armed(self, meeting_uuid: str) -> dict[str, datetime]:
        """The wake-ups currently armed for a meeting (timer -> due time on the clock)."""
        return dict(self._armed.get(meeting_uuid, {}))

    def rings_at(self, meeting_uuid: str) -> datetime | None:
        """When the meeting is to be rung (on the clock), or None."""
        return self._rings.get(meeting_uuid)

    @property
    def jobs(self) -> int:
        """How many jobs the scheduler holds (one per moment a meeting is to be rung at)."""
        return len(self._scheduler.get_jobs())

    def rearm(self, meeting_uuid: str, wakeups: Mapping[str, datetime]) -> None:
        """Make `wakeups` (timer name -> due time) the meeting's pending wake-ups: it is rung
        at the earliest of them (none: it is not rung)."""
        if not wakeups:
            self.disarm(meeting_uuid)
            return
        self._armed[meeting_uuid] = dict(wakeups)
        earliest = min(wakeups.values())
        current = self._rings.get(meeting_uuid)
        if current == earliest:
            return
        if current is not None:
            self._leave(meeting_uuid, current)
            del self._rings[meeting_uuid]
        delay = earliest - self._clock()
        if delay <= timedelta(0) and self._rung.get(meeting_uuid) == earliest:
            # rung for it already, and the visit left it due: ringing again at once would
            # only repeat that visit; the sweep fires what is due
            return
        self._rings[meeting_uuid] = earliest
        meetings = self._due.get(earliest)
        if meetings is None:
            meetings = self._due[earliest] = {}
            self._scheduler.add_job(
                self._rang,
                DateTrigger(run_date=system_clock() + max(delay, timedelta(0)), timezone=UTC),
                args=[earliest],
                id=_job_id(earliest),
            )
        meetings[meeting_uuid] = None

    def disarm(self, meeting_uuid: str) -> None:
        """Ring the meeting no more (it ended, or another replica owns it now)."""
        self._armed.pop(meeting_uuid, None)
        self._rung.pop(meeting_uuid, None)
        due = self._rings.pop(meeting_uuid, None)
        if due is not None:
            self._leave(meeting_uuid, due)

    def _leave(self, meeting_uuid: str, due: datetime) -> None:
        """Take the meeting off the job at `due`, and the job off the scheduler if it rang
        no one else."""
        meetings = self._due.get(due)
        if meetings is None:
            return  # it has rung
        meetings.pop(meeting_uuid, None)
        if meetings:
            return
        del self._due[due]
        try:
            self._scheduler.remove_job(_job_id(due))
        except JobLookupError:
            pass  # it has run, and its ring is on its way

    async def _rang(self, due: datetime) -> None:
        """The job at `due`: ring its meetings. Its date job is done, so each meeting's next
        `rearm` arms it again, even for the same moment (a visit may find the wake-up not
        due yet: the scheduler's time line is the wall clock's)."""
        for meeting_uuid in self._due.pop(due, {}):
            if self._rings.get(meeting_uuid) == due:
                del self._rings[meeting_uuid]
            self._rung[meeting_uuid] = due
            await self._ring(meeting_uuid)


def _job_id(due: datetime) -> str:
    """The scheduler's id of the job at `due` (one instant, one id, whatever its offset)."""
    return due.astimezone(UTC).isoformat()
