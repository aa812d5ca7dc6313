"""`MeetingRuntime`: one live meeting's engine, with the database as the truth.

Theory of operation. A runtime step turns causes (journaled webhooks, a due wake-up, or a
chat command from the meeting's own callback) into engine events, feeds them to the pure
engine and then, in ONE transaction: saves the new engine state and ordering cursors,
rewrites the pending wake-ups if they changed, logs every meeting action as `planned` under
a key that names its cause, records attendance presence, marks the journal entries
processed, and checks (renews) this replica's lease on the meeting, so a replica that lost
its lease cannot write (on SQLite that first write also serialises the step's reads).
Only after that commit are the planned actions carried out through the `MeetingControl`
port, in plan order, each one claimed (`planned` -> `executing`, a compare-and-set) before
the call and its outcome recorded after it.

Batches. A meeting's pending journal entries are stepped up to `BATCH` per transaction, in
`event_ts` order: the lease is renewed and the engine state loaded once, each entry is fed
in turn (its presence recorded, the out-of-order rule applied, its actions keyed by its own
cause exactly as if it were stepped alone), and state, wake-ups and processed marks are
saved once: a step's cost is its transaction's statements, not the engine (see
`docs/benchmarks.md`). An undecodable entry is marked processed and skipped inside the
batch; if anything else fails, the batch is rolled back and its entries are stepped again
one per transaction, so one bad entry cannot hold back the others' actions. Wake-ups,
callback events and refusals are stepped one cause per transaction. Hence:

- a restart resumes in the right phase (the state is in the database) and executes the
  actions planned but not yet claimed (unless planned more than `action_expiry` ago: then
  they are `expired`); an action a dead process had claimed is marked `interrupted` and
  never repeated: at most once, exactly once when nothing crashes;
- reprocessing a cause plans nothing twice (the action keys are unique), and the same chat
  command from the webhook and from the meeting's callback shares its key (`chat:<id>:<n>`).

Refusals. A meeting action Zoom refused (except a chat line, or `not_executed` in
observe-only mode; see `bot.runtime.core.refusal_event`) is reported back to the engine as
`ActionRefused`: a cause of its own, keyed `refused:<action key>`, stepped like any other
cause in the transaction that records the refused outcome, so the refusal is fed exactly
when its outcome is recorded, once (an action is carried out at most once), and a crash
loses neither. The lines it plans are carried out in the same call; their own refusals are
not reported back (no loops). If the lease is lost at that point, the outcome is still
recorded and the refusal is not fed.

Out-of-order rule (Zoom retries arrive up to ~85 minutes late). Attendance presence is
recorded for every event, whatever its age. Engine events are fed in `event_ts` order per
meeting, and an engine event about a participant is dropped if it is older than the newest
event already fed about that participant (a late "joined" must not undo a newer "left");
meeting-level events (started/ended) likewise against the newest meeting-level event. Chat
messages are always fed: the engine runs each command once by its message id. The engine's
`now` is the event's own time, but never earlier than the last `now` it was given.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.orm import Session, sessionmaker

from bot.errors import MeetingControlError
from bot.meeting.executor import ActionOutcome, action_kind, execute, is_meeting_action
from bot.meeting.port import MeetingControl
from bot.runtime.codec import decode_action, encode_action
from bot.runtime.core import refusal_event
from phases.actions import Action, PhaseChanged, ScheduleWakeup
from phases.engine import handle
from phases.errors import BalintError
from phases.events import (
    AudioMuted,
    AudioUnmuted,
    ChatMessage,
    Event,
    MeetingEnded,
    MeetingStarted,
    RecordingStarted,
    TimerDue,
    VideoOff,
    VideoOn,
)
from phases.state import Phase, SessionState
from storage import journal
from storage import runtime_state as rs
from storage.db import session_scope
from storage.journal import JournalEntry

__all__ = [
    "BATCH",
    "LIVE_ONLY",
    "REFUSAL_CAUSE",
    "Decoded",
    "LeaseLost",
    "MeetingHooks",
    "MeetingRuntime",
    "RuntimeMetrics",
    "StepReport",
    "order_key",
]

_log = logging.getLogger(__name__)


class LeaseLost(BalintError):
    """This replica no longer holds the meeting's lease; the step was rolled back."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decoded:
    """A journal entry as the runtime needs it.

    Args:
        meeting_id: Zoom's meeting number ("" if the body has none).
        events: the engine events it translates to (maybe none).
        at: the event's own time (from `event_ts`), if known.
    """

    meeting_id: str
    events: tuple[Event, ...]
    at: datetime | None


class MeetingHooks(Protocol):
    """What the runtime needs from the rest of the system, per meeting (see `bot.service`)."""

    def decode(self, entry: JournalEntry) -> Decoded:
        """Translate a journaled body into engine events."""
        ...

    def start_session(
        self, session: Session, *, meeting_uuid: str, meeting_id: str, now: datetime
    ) -> tuple[SessionState, Sequence[Action]]:
        """Create the engine session (and its storage session) for a new meeting."""
        ...

    def record_presence(self, session: Session, *, meeting_uuid: str, entry: JournalEntry) -> None:
        """Record the attendance presence an entry carries (every entry, late or not)."""
        ...

    def finalize(self, session: Session, *, meeting_uuid: str, now: datetime) -> None:
        """Finalise attendance when the meeting ends."""
        ...


class RuntimeMetrics(Protocol):
    """The metrics the runtime reports (`webhooks.metrics.Metrics` has them)."""

    def observe_lag(self, seconds: float) -> None: ...

    def count_action(self, *, kind: str, result: str) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class StepReport:
    """What one call did: causes handled, engine events fed/dropped, actions carried out."""

    handled: int = 0
    fed: int = 0
    dropped: int = 0
    executed: int = 0
    #: the session's phase after the latest step ("" if no step ran)
    phase: str = ""

    def __add__(self, other: StepReport) -> StepReport:
        return StepReport(
            handled=self.handled + other.handled,
            fed=self.fed + other.fed,
            dropped=self.dropped + other.dropped,
            executed=self.executed + other.executed,
            phase=other.phase or self.phase,
        )


#: Events only the meeting's own callback reports (Zoom sends no webhook for them; its
#: `recording.started` is about a cloud recording, which the callback never reports).
LIVE_ONLY = (AudioMuted, AudioUnmuted, VideoOn, VideoOff, RecordingStarted)


def order_key(event: Event) -> str | None:
    """The cursor an event is ordered against: participant key, "" for meeting-level events,
    None for events that are never dropped (chat, timers, recording)."""
    if isinstance(event, ChatMessage | TimerDue | RecordingStarted):
        return None
    if isinstance(event, MeetingStarted | MeetingEnded):
        return ""
    participant = getattr(event, "participant", None)
    key = getattr(participant, "key", None)
    return f"p:{key}" if isinstance(key, str) and key else None


#: The cause key prefix of a refusal reported back to the engine (see the module docstring).
REFUSAL_CAUSE = "refused:"


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


#: How many journal entries one transaction steps at most.
BATCH = 50


class _Work:
    """The engine work of one transaction in progress: what `_open` loaded, what `_feed`
    changed and planned, and what `_close` saves."""

    __slots__ = (
        "cursors",
        "first",
        "last_event_ts",
        "last_now",
        "loaded_wakeups",
        "now_wall",
        "planned",
        "state",
        "wakeups",
    )

    def __init__(
        self,
        *,
        record: rs.MeetingRecord,
        state: SessionState,
        wakeups: dict[str, datetime],
        first: Sequence[Action],
        now_wall: datetime,
    ) -> None:
        self.state = state
        self.wakeups = wakeups
        self.loaded_wakeups = dict(wakeups)
        self.cursors = dict(record.cursors)
        self.last_now = record.last_now
        self.last_event_ts = record.last_event_ts
        #: a new session's initial actions, planned under the first cause fed
        self.first: Sequence[Action] = first
        self.now_wall = now_wall
        self.planned: list[rs.PlannedAction] = []


@dataclass(frozen=True, slots=True, kw_only=True)
class _Batch:
    """What `_step_batch` did: the entries it read, and whether they must be stepped again
    one per transaction (`failed`: the batch was rolled back)."""

    entry_ids: tuple[int, ...] = ()
    failed: bool = False
    report: StepReport = StepReport()


#: The report of an entry skipped as undecodable.
_UNREADABLE = StepReport(handled=1, dropped=1)


def _entry_cause(entry: JournalEntry, decoded: Decoded) -> str:
    """A journal entry's cause key: `chat:<message id>` for a chat message (shared with the
    meeting's callback), else `j<entry id>`."""
    if len(decoded.events) == 1 and isinstance(decoded.events[0], ChatMessage):
        if decoded.events[0].message_id:
            return f"chat:{decoded.events[0].message_id}"
    return f"j{entry.id}"


class MeetingRuntime:
    """One meeting's durable runtime on this replica.

    Args:
        meeting_uuid: Zoom's meeting instance uuid.
        control: where meeting actions are carried out.
        hooks: decoding, session creation and attendance (see `MeetingHooks`).
        session_factory: database sessions.
        owner: this replica's lease owner id.
        lease_ttl: how long a lease lasts when taken or renewed.
        clock: the current time (aware); injected so tests need not wait.
        metrics: where lag and action results are counted, if anywhere.
        action_expiry: on resuming, actions planned longer ago than this are expired, not
            carried out (after a long outage they would come too late to make sense).
    """

    def __init__(
        self,
        *,
        meeting_uuid: str,
        control: MeetingControl,
        hooks: MeetingHooks,
        session_factory: sessionmaker[Session],
        owner: str,
        lease_ttl: timedelta,
        clock: Callable[[], datetime],
        metrics: RuntimeMetrics | None = None,
        action_expiry: timedelta = timedelta(minutes=10),
    ) -> None:
        self.meeting_uuid = meeting_uuid
        self._expiry = action_expiry
        self.control = control
        self._hooks = hooks
        self._factory = session_factory
        self._owner = owner
        self._ttl = lease_ttl
        self._clock = clock
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self._resumed = False

    # -- entry points --------------------------------------------------------------------

    async def process_journal(self) -> StepReport:
        """Feed every unprocessed journal entry of this meeting, then carry out actions.

        Raises:
            LeaseLost: another replica owns the meeting now.
        """
        async with self._lock:
            report = await self._resume()
            while True:
                batch = await asyncio.to_thread(self._step_batch)
                if batch.failed:  # one entry per transaction, as a poison entry must not block
                    for entry_id in batch.entry_ids:
                        report = report + await asyncio.to_thread(self._step_entry, entry_id)
                        report = report + await self._execute_planned()
                    continue
                if not batch.entry_ids:
                    return report
                report = report + batch.report + await self._execute_planned()

    async def fire_due_timers(self) -> StepReport:
        """Feed `TimerDue` for every wake-up of this meeting due by the clock."""
        async with self._lock:
            report = await self._resume()
            due = await asyncio.to_thread(self._due_wakeups)
            for _uuid, timer, due_at in due:
                report = report + await asyncio.to_thread(self._step_timer, timer, due_at)
                report = report + await self._execute_planned()
            return report

    async def feed_live(self, event: Event) -> StepReport:
        """Feed an event seen by the meeting's own callback (`set_listener`).

        Only what no webhook reports is fed: audio and video changes, recording, and chat
        (which the webhook may also bring: a command runs once, because both paths key its
        actions `chat:<message_id>:<n>` and the engine runs a message id once). Joins,
        leaves, waiting room, roles and meeting start/end come through the journal;
        feeding them twice would double-count them, so they are ignored here.
        """
        if isinstance(event, ChatMessage):
            if not event.message_id:
                return StepReport()
            cause = f"chat:{event.message_id}"
        elif isinstance(event, LIVE_ONLY):
            cause = f"live:{uuid.uuid4().hex}"
        else:
            return StepReport()
        async with self._lock:
            report = await self._resume()
            report = report + await asyncio.to_thread(
                functools.partial(
                    self._step,
                    cause=cause,
                    events=(event,),
                    at=self._clock(),
                    entry=None,
                    fired_timer=None,
                )
            )
            return report + await self._execute_planned()

    def _due_wakeups(self) -> list[tuple[str, str, datetime]]:
        with session_scope(self._factory) as session:
            return rs.due_wakeups(session, now=self._clock(), meeting_uuid=self.meeting_uuid)

    def load_state(self) -> SessionState | None:
        """The stored engine state, or None before the meeting has one."""
        with session_scope(self._factory) as session:
            record = rs.load_meeting(session, meeting_uuid=self.meeting_uuid)
        return None if record is None else SessionState.from_json(record.state_json)

    def pending_wakeups(self) -> dict[str, datetime]:
        """The stored wake-ups: timer name -> due time."""
        with session_scope(self._factory) as session:
            return rs.pending_wakeups(session, meeting_uuid=self.meeting_uuid)

    # -- steps ---------------------------------------------------------------------------
    #
    # Each step is synchronous database and engine work. The entry points run it in a worker
    # thread (`asyncio.to_thread`) so the event loop stays free to acknowledge Zoom's webhooks
    # within its 3 seconds while a busy meeting is being processed; the per-meeting lock keeps
    # one meeting's steps in order. Meeting actions are carried out back on the loop, with
    # their claims and outcomes (one short transaction each).

    async def _resume(self) -> StepReport:
        """First call on this replica: abandon actions a dead owner left half-done, then
        carry out what was planned but never claimed."""
        if self._resumed:
            return StepReport()
        interrupted, expired = await asyncio.to_thread(self._abandon_leftovers)
        if interrupted or expired:
            _log.warning(
                "actions left by a stopped process: interrupted ones are not repeated, "
                "expired ones are not carried out",
                extra={
                    "meeting_id": self.meeting_uuid,
                    "interrupted": interrupted,
                    "expired": expired,
                },
            )
        self._resumed = True
        return await self._execute_planned()

    def _abandon_leftovers(self) -> tuple[int, int]:
        """Mark what a dead owner left `executing` interrupted and what waited too long
        expired: (interrupted, expired)."""
        with session_scope(self._factory) as session:
            self._hold_lease(session)
            interrupted = rs.interrupt_executing(session, meeting_uuid=self.meeting_uuid)
            expired = rs.expire_planned(
                session,
                meeting_uuid=self.meeting_uuid,
                planned_before=self._clock() - self._expiry,
            )
        return interrupted, expired

    def _step_batch(self) -> _Batch:
        """Step up to `BATCH` pending journal entries in ONE transaction (see the module
        docstring); on an error other than a lost lease, hand their ids back for the caller
        to step one per transaction."""
        entry_ids: list[int] = []
        done: list[tuple[int, str, datetime, StepReport]] = []
        try:
            with session_scope(self._factory) as session:
                if not journal.unprocessed(session, meeting_uuid=self.meeting_uuid, limit=1):
                    return _Batch()
                self._hold_lease(session)
                session.expire_all()  # re-read under the lease: another step may have run
                entries = journal.unprocessed(session, meeting_uuid=self.meeting_uuid, limit=BATCH)
                entry_ids = [entry.id for entry in entries]
                work: _Work | None = None
                for entry in entries:
                    try:
                        decoded = self._hooks.decode(entry)
                    except Exception as unreadable:  # a poison entry must not block the meeting
                        self._skip_unreadable(session, entry, unreadable)
                        done.append((entry.id, entry.event, entry.received_at, _UNREADABLE))
                        continue
                    at = decoded.at if decoded.at is not None else self._clock()
                    self._hooks.record_presence(
                        session, meeting_uuid=self.meeting_uuid, entry=entry
                    )
                    if work is None:
                        work = self._open(session, meeting_id=decoded.meeting_id, at=at)
                    report = self._feed(
                        session,
                        work,
                        cause=_entry_cause(entry, decoded),
                        events=decoded.events,
                        at=at,
                        entry_id=entry.id,
                    )
                    journal.mark_processed(session, entry_id=entry.id, processed_at=self._clock())
                    done.append((entry.id, entry.event, entry.received_at, report))
                if work is not None:
                    self._close(session, work)
        except LeaseLost:
            raise
        except Exception as failure:
            if not entry_ids:
                raise
            _log.warning(
                "journal batch failed; stepping its entries one per transaction",
                extra={
                    "meeting_id": self.meeting_uuid,
                    "entries": len(entry_ids),
                    "error_type": type(failure).__name__,
                },
            )
            return _Batch(failed=True, entry_ids=tuple(entry_ids))
        total = StepReport()
        for entry_id, event_type, received_at, report in done:
            self._processed(entry_id, event_type, received_at, report)
            total = total + report
        return _Batch(entry_ids=tuple(entry_ids), report=total)

    def _step_entry(self, entry_id: int) -> StepReport:
        """One journal entry in its own transaction (the fallback when a batch failed)."""
        with session_scope(self._factory) as session:
            entry = journal.entry(session, entry_id=entry_id)
            if entry is None or entry.processed_at is not None:
                return StepReport()
            try:
                decoded = self._hooks.decode(entry)
            except Exception as unreadable:  # a poison entry must not block the meeting
                self._skip_unreadable(session, entry, unreadable)
                return _UNREADABLE
            at = decoded.at if decoded.at is not None else self._clock()
            report = self._step_in(
                session,
                cause=_entry_cause(entry, decoded),
                events=decoded.events,
                at=at,
                entry=entry,
                fired_timer=None,
                meeting_id=decoded.meeting_id,
            )
            journal.mark_processed(session, entry_id=entry.id, processed_at=self._clock())
        self._processed(entry.id, entry.event, entry.received_at, report)
        return report

    def _skip_unreadable(self, session: Session, entry: JournalEntry, error: Exception) -> None:
        _log.error(
            "journal entry not decodable; skipped (the raw body stays journaled)",
            extra={
                "meeting_id": self.meeting_uuid,
                "delivery_id": entry.id,
                "event_type": entry.event,
                "error_type": type(error).__name__,
            },
        )
        journal.mark_processed(session, entry_id=entry.id, processed_at=self._clock())

    def _processed(
        self, entry_id: int, event_type: str, received_at: datetime, report: StepReport
    ) -> None:
        """After the commit: the entry's lag and log line."""
        if report is _UNREADABLE:
            return
        if self._metrics is not None:
            self._metrics.observe_lag((self._clock() - received_at).total_seconds())
        _log.info(
            "journal entry processed",
            extra={
                "meeting_id": self.meeting_uuid,
                "delivery_id": entry_id,
                "event_type": event_type,
                "phase": report.phase,
                "fed": report.fed,
                "dropped": report.dropped,
            },
        )

    def _step_timer(self, timer: str, due_at: datetime) -> StepReport:
        return self._step(
            cause=f"t:{timer}@{due_at.isoformat()}",
            events=(TimerDue(timer=timer),),
            at=max(due_at, self._clock()),
            entry=None,
            fired_timer=(timer, due_at),
        )

    def _step(
        self,
        *,
        cause: str,
        events: Sequence[Event],
        at: datetime,
        entry: JournalEntry | None,
        fired_timer: tuple[str, datetime] | None,
    ) -> StepReport:
        with session_scope(self._factory) as session:
            return self._step_in(
                session,
                cause=cause,
                events=events,
                at=at,
                entry=entry,
                fired_timer=fired_timer,
                meeting_id="",
            )

    def _step_in(
        self,
        session: Session,
        *,
        cause: str,
        events: Sequence[Event],
        at: datetime,
        entry: JournalEntry | None,
        fired_timer: tuple[str, datetime] | None,
        meeting_id: str,
    ) -> StepReport:
        """One cause, inside the caller's transaction (see the module docstring)."""
        self._hold_lease(session)
        if entry is not None:
            self._hooks.record_presence(session, meeting_uuid=self.meeting_uuid, entry=entry)
        work = self._open(session, meeting_id=meeting_id, at=at)
        if fired_timer is not None:
            timer, due_at = fired_timer
            if work.wakeups.get(timer) != due_at:
                return StepReport(handled=1, dropped=1)  # re-armed or fired already
            del work.wakeups[timer]
        report = self._feed(
            session,
            work,
            cause=cause,
            events=events,
            at=at,
            entry_id=None if entry is None else entry.id,
        )
        self._close(session, work)
        return report

    def _open(self, session: Session, *, meeting_id: str, at: datetime) -> _Work:
        """Load the meeting's engine state and wake-ups (starting its session if it has
        none yet), under the lease the caller holds."""
        now_wall = self._clock()
        record = rs.load_meeting(session, meeting_uuid=self.meeting_uuid)
        if record is not None:
            return _Work(
                record=record,
                state=SessionState.from_json(record.state_json),
                wakeups=rs.pending_wakeups(session, meeting_uuid=self.meeting_uuid),
                first=(),
                now_wall=now_wall,
            )
        state, first = self._hooks.start_session(
            session, meeting_uuid=self.meeting_uuid, meeting_id=meeting_id, now=at
        )
        rs.create_meeting(
            session,
            meeting_uuid=self.meeting_uuid,
            meeting_id=meeting_id,
            state_json=state.to_json(),
            now=at,
        )
        record = rs.load_meeting(session, meeting_uuid=self.meeting_uuid)
        assert record is not None
        _log.info(
            "session started",
            extra={"meeting_id": self.meeting_uuid, "phase": str(state.phase)},
        )
        return _Work(record=record, state=state, wakeups={}, first=first, now_wall=now_wall)

    def _feed(
        self,
        session: Session,
        work: _Work,
        *,
        cause: str,
        events: Sequence[Event],
        at: datetime,
        entry_id: int | None,
    ) -> StepReport:
        """Feed one cause's events (the out-of-order rule applies to journaled ones) and
        plan its meeting actions under `<cause>:<n>`."""
        planned: list[Action] = list(work.first)
        work.first = ()
        fed = dropped = 0
        event_ms = _ms(at)
        for event in events:
            key = order_key(event)
            if key is not None and entry_id is not None and work.cursors.get(key, -1) > event_ms:
                dropped += 1
                _log.info(
                    "late event dropped",
                    extra={
                        "meeting_id": self.meeting_uuid,
                        "event_type": type(event).__name__,
                        "delivery_id": entry_id,
                    },
                )
                continue
            if key is not None and entry_id is not None:
                work.cursors[key] = event_ms
            now = max(at, work.last_now)
            work.last_now = now
            before = work.state.phase
            work.state, actions = handle(work.state, event, now)
            fed += 1
            planned.extend(actions)
            if work.state.phase != before:
                _log.info(
                    "phase changed",
                    extra={
                        "meeting_id": self.meeting_uuid,
                        "old_phase": str(before),
                        "new_phase": str(work.state.phase),
                        "event_type": type(event).__name__,
                    },
                )
            if isinstance(event, MeetingEnded):
                # Attendance reads who the facilitators said people are from the saved state.
                self._save_state(session, work)
                self._hooks.finalize(session, meeting_uuid=self.meeting_uuid, now=now)
        meeting_actions = []
        for action in planned:
            if isinstance(action, ScheduleWakeup):
                work.wakeups[action.timer] = action.at
            elif isinstance(action, PhaseChanged):
                continue
            elif is_meeting_action(action):
                meeting_actions.append(action)
        if work.state.phase == Phase.ENDED:
            work.wakeups.clear()
        work.planned.extend(
            rs.PlannedAction(
                key=f"{cause}:{index}", kind=action_kind(action), payload=encode_action(action)
            )
            for index, action in enumerate(meeting_actions)
        )
        if entry_id is not None:
            work.last_event_ts = max(work.last_event_ts, event_ms)
        return StepReport(handled=1, fed=fed, dropped=dropped, phase=str(work.state.phase))

    def _close(self, session: Session, work: _Work) -> None:
        """Save what the fed causes changed: wake-ups (only if changed), planned actions in
        plan order, the engine state and cursors."""
        if work.wakeups != work.loaded_wakeups:
            rs.replace_wakeups(session, meeting_uuid=self.meeting_uuid, wakeups=work.wakeups)
        rs.plan_actions(
            session,
            meeting_uuid=self.meeting_uuid,
            actions=work.planned,
            owner=self._owner,
            now=work.now_wall,
        )
        self._save_state(session, work)

    def _save_state(self, session: Session, work: _Work) -> None:
        rs.save_state(
            session,
            meeting_uuid=self.meeting_uuid,
            state_json=work.state.to_json(),
            last_event_ts=work.last_event_ts,
            last_now=work.last_now,
            ended=work.state.phase == Phase.ENDED,
            cursors=work.cursors,
        )

    def _hold_lease(self, session: Session) -> None:
        """Take or renew this replica's lease in `session`'s transaction (the fence).

        Raises:
            LeaseLost: another replica holds an unexpired lease.
        """
        if not rs.acquire_lease(
            session,
            meeting_uuid=self.meeting_uuid,
            owner=self._owner,
            ttl=self._ttl,
            now=self._clock(),
        ):
            self._resumed = False
            raise LeaseLost(f"meeting {self.meeting_uuid}: lease held by another replica")

    async def _execute_planned(self) -> StepReport:
        """Carry out planned actions in order, then those their refusals planned."""
        report = StepReport()
        while True:
            done, refusals = await self._execute_pending()
            report = report + done
            if not refusals:
                return report

    async def _execute_pending(self) -> tuple[StepReport, int]:
        """Carry out the actions planned now: claim, call the meeting, record the outcome
        (feeding a refusal back as its own cause). Returns the report and how many refusals
        were fed."""
        pending = self._pending_actions()
        executed = refusals = 0
        report = StepReport()
        for record in pending:
            if not self._claim(record.id):
                continue
            action = decode_action(record.payload)
            try:
                outcome = await execute(action, self.control)
            except MeetingControlError as refused:  # execute returns refusals; belt and braces
                outcome = ActionOutcome(
                    action=action, ok=False, code=refused.code, error=refused.message
                )
            status = (
                "done"
                if outcome.ok
                else ("not_executed" if outcome.code == "not_executed" else "refused")
            )
            refusal = None if record.key.startswith(REFUSAL_CAUSE) else refusal_event(outcome)
            report = report + self._record_outcome(
                record, status=status, outcome=outcome, refusal=refusal
            )
            refusals += refusal is not None
            executed += 1
            if self._metrics is not None:
                self._metrics.count_action(kind=record.kind, result=status)
            log = _log.info if outcome.ok or status == "not_executed" else _log.warning
            log(
                "meeting action %s",
                status,
                extra={"meeting_id": self.meeting_uuid, "kind": record.kind, "code": outcome.code},
            )
        return report + StepReport(executed=executed), refusals

    def _pending_actions(self) -> list[rs.ActionRecord]:
        with session_scope(self._factory) as session:
            return rs.pending_actions(session, meeting_uuid=self.meeting_uuid)

    def _claim(self, action_id: int) -> bool:
        with session_scope(self._factory) as session:
            self._hold_lease(session)
            return rs.claim_action(session, action_id=action_id, owner=self._owner)

    def _record_outcome(
        self,
        record: rs.ActionRecord,
        *,
        status: str,
        outcome: ActionOutcome,
        refusal: Event | None,
    ) -> StepReport:
        """Record a carried-out action's outcome and, in the same transaction, step its
        refusal (if any) as a cause of its own. If the lease is lost, the outcome is still
        recorded and the refusal is not fed."""

        def record_it(session: Session) -> None:
            rs.record_outcome(
                session,
                action_id=record.id,
                status=status,
                code=outcome.code,
                error=outcome.error,
                now=self._clock(),
            )

        try:
            with session_scope(self._factory) as session:
                record_it(session)
                if refusal is None:
                    return StepReport()
                return self._step_in(
                    session,
                    cause=f"{REFUSAL_CAUSE}{record.key}",
                    events=(refusal,),
                    at=self._clock(),
                    entry=None,
                    fired_timer=None,
                    meeting_id="",
                )
        except LeaseLost:
            # That transaction rolled back; the outcome must still be kept, on its own.
            with session_scope(self._factory) as session:
                record_it(session)
            raise
