"""`MeetingRuntime`: one live meeting's engine, with the database as the truth.

Theory of operation. `MeetingRuntime` is the only way events reach the engine, in every mode
(serve, the join process, simulate, the demo). A runtime step turns causes (journaled
webhooks and console commands, see `bot.runtime.inbox`; a due wake-up; or what the SDK bot
in the meeting saw, from its listener) into engine events, maps each participant to the
meeting's person key (`bot.runtime.identity`: the webhook's and the SDK's ids need not
agree), feeds them to the pure engine and then, in ONE transaction: saves the new engine
state and ordering cursors, rewrites the pending wake-ups if they changed, logs every
meeting action as `planned` under a key that names its cause, records every phase change
with its time (`storage.phase_log`: billing's therapy window), records attendance presence,
marks the journal entries processed, and checks (renews) this replica's lease on the
meeting, so a replica that lost its lease cannot write (on SQLite that first write also
serialises the step's reads).
Only after that commit are the planned actions carried out through the `MeetingControl`
port, in plan order, each one claimed (`planned` -> `executing`, a compare-and-set) before
the call and its outcome recorded after it. The claims ride on transactions that run anyway:
the step claims the first action it planned, and the transaction that records an outcome
claims the next, so a step costs one transaction and each action one more (a claim commits
only with its transaction, and the call comes right after that commit, as it did when each
claim had a transaction of its own). While the runtime knows that no action is left
planned (`_unclaimed`), a transaction that plans none does not look for one. A wake-up may
be fired with its chat lines waiting (`fire_due_timers(lines_wait=True)`, the worker's when
other meetings wait for it): the claims then pass over the lines, which stay planned, in
their order, for the next entry point called without it; every other action keeps its
place in plan order.

The view. Between steps the runtime keeps what its last committed transaction saved of the
meeting (`MeetingView`: its wake-ups, whether it ended), so that the worker need not read
them back to arm the doorbell or fire a due wake-up. It is trusted only while the lease the
runtime last took has not expired: until then no other replica can have written the
meeting. Otherwise, and after any failed transaction, they are read from the database.
A step goes further: it also takes the meeting's row (engine state, cursors) and person ids
as the runtime's last committed step saved them, without reading them, when its own take of
the lease proves no one else stepped since. The lease counts its takes
(`storage.runtime_state.acquire_lease`), so a take that returns one more than the runtime's
last committed take is that proof; another replica's take after an expiry, or a runtime of
the same owner still in flight after a restart, breaks the count and the step reads.

Batches. A meeting's pending journal entries are stepped up to `BATCH` per transaction, in
`event_ts` order, and on SQLite no more once the transaction has held the lease for
`BATCH_SECONDS` (there a worker's transaction holds the file's one write lock, and the
receiver's journal write, on Zoom's acknowledgement path, waits behind it: a backlog of 50
entries held it for 60 ms; `Worker` sets it): the lease is renewed and the engine state
loaded once, each entry is fed in turn (its presence recorded, the out-of-order rule
applied, its actions keyed by its own cause exactly as if it were stepped alone), and
state, wake-ups and processed marks are saved once: a step's cost is its transaction's
statements, not the engine (see `docs/benchmarks.md`). An undecodable entry is marked
processed and skipped inside the batch; if anything else fails, the batch is rolled back
and its entries are stepped again one per transaction, so one bad entry cannot hold back
the others' actions. Wake-ups, callback events and refusals are stepped one cause per
transaction. Hence:

- a restart resumes in the right phase (the state is in the database) and executes the
  actions planned but not yet claimed (unless planned more than `action_expiry` ago: then
  they are `expired`); an action a dead process had claimed (the next one to carry out
  when it died) is marked `interrupted` and never repeated: at most once, exactly once when
  nothing crashes;
- reprocessing a cause plans nothing twice (the action keys are unique), and a chat
  command delivered by both the webhook and the SDK runs once: by its shared message id
  (the action keys `chat:<id>:<n>` and the engine's memory of message ids), or, when the
  two sources' ids differ, by `bot.runtime.identity.match_command`.

Refusals. A meeting action Zoom refused (except a chat line, or `not_executed` in
observe-only mode; see `refusal_event`) is reported back to the engine as
`ActionRefused`: a cause of its own, keyed `refused:<action key>`, stepped like any other
cause in the transaction that records the refused outcome, so the refusal is fed exactly
when its outcome is recorded, once (an action is carried out at most once), and a crash
loses neither. The lines it plans are carried out in the same call; their own refusals are
not reported back (no loops). If the lease is lost at that point, the outcome is still
recorded and the refusal is not fed. A success is reported back the same way, as
`ActionDone` keyed `done:<action key>`, only for an action the engine marked `confirm` (an
admission, a mute, a stopped video or recording it will announce once Zoom did it; see
`confirmation_event`).

Out-of-order rule (Zoom retries arrive up to ~85 minutes late). Attendance presence is
recorded for every event, whatever its age. Engine events are fed in `event_ts` order per
meeting, and an engine event about a participant is dropped if it is older than the newest
event already fed about that participant (a late "joined" must not undo a newer "left");
meeting-level events (started/ended) likewise against the newest meeting-level event. Chat
messages are always fed: the engine runs each command once by its message id. The engine's
`now` is the event's own time, but never earlier than the last `now` it was given.

Two sources, one meeting. What the SDK bot sees (joins, leaves, the waiting room it polls,
roles, audio, video, chat) is fed at the clock's time when it was seen; only a join,
departure or waiting-room move is dropped when a webhook about the person dated as late or
later was fed already (it waited in the listener's queue while the journal was read). It
moves the participant's `seen|` cursor, so a webhook about them dated at or before that
moment is dropped (the bot sees a fact after Zoom dates it; should one still slip through,
the engine treats a repeated join, arrival or departure as the same fact), except an arrival
or join that says who the person is in a way the SDK cannot (a registrant id, a signed-in
e-mail): that one is fed as the repeat it is, so who someone is does not depend on which
source spoke first. Meeting start and
end are always fed from the journal (the engine takes them once). Attendance comes from the
journal only, and so does finalising it at the end.

No session. When the group's calendar says a meeting is no session (a cancelled evening, a
break: `start_session` returns a state with `Setup.skipped`), the runtime keeps that state,
marked ended, as its one record of the meeting, and from then on only marks the meeting's
journal entries processed: no event is fed, no attendance presence, person id, command,
cursor, wake-up or action is stored, and attendance is not finalised.

A database that hangs. Every database call runs on a database thread and is waited for at
most the deadline of `bot.runtime.database_calls.DatabaseCalls` (`[bot]
database_timeout_seconds`); past it the entry point raises `DatabaseStalled`, and until the
call returns every further call is refused without starting. The overrun call is not
abandoned, since it may still commit: the runtime keeps it, and before its next step
(`_settle`) reads what became of it, which is then certain. A claim that committed (with
the step or outcome it rode on) is carried out then, as the next action in plan order (a
claim that did not leaves the action planned, to be claimed again); an outcome that was
not recorded is recorded again; an event handed to `feed_live` waits in the runtime until a
step that feeds it has committed, so it is fed once; journal entries, wake-ups and the
actions a late commit planned are found in the database as always. So every action is
still carried out once, and a step is never taken twice. Should the runtime be dropped
meanwhile (its lease lapsed during the hang), a late claim is treated like a dead
process's: `interrupted`, never carried out.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from sqlalchemy import Connection
from sqlalchemy.orm import Session, sessionmaker

from bot.errors import DatabaseStalled, MeetingControlError
from bot.meeting.executor import (
    LINE_KIND,
    ActionOutcome,
    Aliases,
    action_kind,
    execute,
    is_meeting_action,
)
from bot.meeting.port import MeetingControl
from bot.runtime.codec import decode_action, encode_action
from bot.runtime.database_calls import DatabaseCalls
from bot.runtime.identity import (
    COMMAND_WINDOW,
    Identities,
    Source,
    aliases,
    by_id_only,
    id_report,
)
from bot.runtime.identity import match_command as match_command_once
from phases.actions import (
    Action,
    Admit,
    AllowSelfMedia,
    Mute,
    PhaseChanged,
    RecordLocation,
    SafetyAnswer,
    ScheduleWakeup,
    SendChat,
    StopRecording,
    StopVideo,
)
from phases.engine import handle
from phases.errors import BalintError
from phases.events import (
    ActionDone,
    ActionRefused,
    ArrivedInWaitingRoom,
    ChatMessage,
    Event,
    Joined,
    Left,
    LeftWaitingRoom,
    MeetingEnded,
    MeetingStarted,
    Participant,
    PrivateReply,
    RecordingStarted,
    RoleChanged,
    TimerDue,
    ZoomRole,
)
from phases.state import Person, Phase, SessionState
from storage import journal, person_keys
from storage import runtime_state as rs
from storage.attendance import PresenceEvent
from storage.db import Connectable, bound_engine, session_scope
from storage.journal import JournalEntry
from storage.person_keys import PersonId
from storage.phase_log import record_phase_change

__all__ = [
    "BATCH",
    "BATCH_SECONDS",
    "DONE_CAUSE",
    "REFUSAL_CAUSE",
    "Decoded",
    "LeaseLost",
    "MeetingHooks",
    "MeetingRuntime",
    "MeetingView",
    "RuntimeMetrics",
    "StepReport",
    "confirmation_event",
    "order_key",
    "refusal_event",
]

_log = logging.getLogger(__name__)

_T = TypeVar("_T")


class LeaseLost(BalintError):
    """This replica no longer holds the meeting's lease; the step was rolled back."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decoded:
    """A journal entry as the runtime needs it.

    Args:
        meeting_id: Zoom's meeting number ("" if the body has none).
        events: the engine events it translates to (maybe none).
        at: the event's own time (from `event_ts`), if known.
        presence: the attendance fact it carries (`storage.attendance`), if any: decoded
            here with the events, so a body is parsed once.
    """

    meeting_id: str
    events: tuple[Event, ...]
    at: datetime | None
    presence: PresenceEvent | None = None


class MeetingHooks(Protocol):
    """What the runtime needs from the rest of the system, per meeting (see `bot.service`)."""

    def decode(self, entry: JournalEntry) -> Decoded:
        """Translate a journaled body into engine events."""
        ...

    def start_session(
        self, db: Session, *, meeting_uuid: str, meeting_id: str, now: datetime
    ) -> tuple[SessionState, Sequence[Action]]:
        """Open the group's session for a new meeting (stored) and its engine state."""
        ...

    def record_presence(
        self, db: Session, *, meeting_uuid: str, entry: JournalEntry, decoded: Decoded
    ) -> None:
        """Record the attendance presence an entry carries, as `decode` found it (every entry,
        late or not)."""
        ...

    def finalize(self, db: Session, *, meeting_uuid: str, now: datetime) -> None:
        """Finalise attendance when the meeting ends."""
        ...

    def seal(self, text: str) -> str | None:
        """A member's private line to the bot, sealed with the data key (None: no key)."""
        ...

    def record_location(
        self, db: Session, *, meeting_uuid: str, action: RecordLocation, at: datetime
    ) -> None:
        """Keep a member's sealed answer to the location question, in the step's transaction."""
        ...

    def safety_line(
        self, db: Session, *, meeting_uuid: str, action: SafetyAnswer, now: datetime
    ) -> SendChat:
        """The private line that answers `/safety` (the PHI read and audited here)."""
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


def refusal_event(outcome: ActionOutcome) -> ActionRefused | None:
    """The event that reports a failed outcome back to the engine, or None when there is
    nothing to report: a success, a refused chat line (reporting it by chat could loop), or
    observe-only mode's `not_executed` (nothing is carried out there by design)."""
    action = outcome.action
    if outcome.ok or outcome.code == "not_executed" or isinstance(action, SendChat):
        return None
    if isinstance(action, StopRecording | AllowSelfMedia):
        return ActionRefused(kind=action_kind(action), code=outcome.code)
    target = action.target
    return ActionRefused(
        kind=action_kind(action),
        target_key=target.key,
        target_name=target.name,
        code=outcome.code,
    )


def confirmation_event(outcome: ActionOutcome) -> ActionDone | None:
    """The event that reports a success the engine asked to hear about (`confirm`), or None."""
    action = outcome.action
    if not outcome.ok or not isinstance(action, Admit | Mute | StopVideo | StopRecording):
        return None
    if not action.confirm:
        return None
    if isinstance(action, StopRecording):
        return ActionDone(kind=action_kind(action))
    return ActionDone(
        kind=action_kind(action), target_key=action.target.key, target_name=action.target.name
    )


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


#: What the SDK bot sees of someone's presence, dropped when a journaled fact about them as
#: new or newer was fed (it may wait in the listener's queue while the journal is read).
_PRESENCE = (Joined, Left, ArrivedInWaitingRoom, LeftWaitingRoom)

#: Cursor prefix of the newest moment the SDK bot saw something of a participant: a webhook
#: about them at or before it tells nothing newer (the bot sees a fact after Zoom dates it).
_SEEN = "seen|"


def _stale(cursors: dict[str, int], key: str, event_ms: int) -> bool:
    """A journaled event older than what was fed about the same key, or (about a person) not
    newer than what the bot saw of them."""
    return cursors.get(key, -1) > event_ms or cursors.get(_SEEN + key, -1) >= event_ms


#: Where the engine has someone after each presence event it may be told twice.
_PLACE: dict[type, str] = {ArrivedInWaitingRoom: "waiting", Joined: "meeting"}


def _says_who(event: Event, state: SessionState, cursors: dict[str, int], event_ms: int) -> bool:
    """A journaled arrival or join that the SDK bot saw first (stale only by the `seen|`
    cursor, not older than a webhook already fed about them) and that tells who the person is
    in a way the SDK cannot: a registrant id or a signed-in e-mail (`phases.identity`).

    It is fed as the repeat it is, when the engine has the person in that place already (a
    repeat changes only ids and who they are), so that evidence is not lost to which source
    spoke first; the cursors stay as they are.
    """
    place = _PLACE.get(type(event))
    participant = getattr(event, "participant", None)
    if place is None or not isinstance(participant, Participant):
        return False
    if cursors.get(f"p:{participant.key}", -1) > event_ms:
        return False
    person = state.people.get(participant.key)
    if person is None or person.where != place:
        return False
    new_registrant = bool(participant.registrant_id) and (
        participant.registrant_id != person.registrant_id
    )
    new_email = participant.signed_in and (
        not person.signed_in or participant.email != person.email
    )
    return new_registrant or new_email


#: The cause key prefix of a refusal reported back to the engine (see the module docstring).
REFUSAL_CAUSE = "refused:"
#: The cause key prefix of a confirmed success reported back to the engine.
DONE_CAUSE = "done:"


def _is_command(text: str) -> bool:
    return text.strip().startswith("/")


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


#: How many journal entries one transaction steps at most.
BATCH = 50
#: Most time a batch steps entries before it commits, on SQLite (see "Batches" in the module
#: docstring); it always steps one.
BATCH_SECONDS = 0.005


class _Work:
    """The engine work of one transaction in progress: what `_open` loaded, what `_feed`
    changed and planned, and what `_close` saves."""

    __slots__ = (
        "cursors",
        "first",
        "identities",
        "last_event_ts",
        "last_now",
        "loaded_ended",
        "loaded_wakeups",
        "meeting_id",
        "now_wall",
        "planned",
        "skipped",
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
        identities: Identities,
    ) -> None:
        self.identities = identities
        self.state = state
        #: the calendar said this meeting is no session (`Setup.skipped`): nothing is stored
        self.skipped = bool(state.setup.skipped)
        self.wakeups = wakeups
        self.loaded_wakeups = dict(wakeups)
        self.meeting_id = record.meeting_id
        self.cursors = dict(record.cursors)
        self.last_now = record.last_now
        self.last_event_ts = record.last_event_ts
        #: a new session's initial actions, planned under the first cause fed
        self.first: Sequence[Action] = first
        self.now_wall = now_wall
        self.loaded_ended = record.ended
        self.planned: list[rs.PlannedAction] = []


@dataclass(frozen=True, slots=True, kw_only=True)
class _Batch:
    """What `_step_batch` did: the entries it read, and whether they must be stepped again
    one per transaction (`failed`: the batch was rolled back)."""

    entry_ids: tuple[int, ...] = ()
    failed: bool = False
    report: StepReport = StepReport()
    #: the batch stopped short of what is pending (full, or out of time): look again
    more: bool = False


#: The report of an entry skipped as undecodable.
_UNREADABLE = StepReport(handled=1, dropped=1)


def _entry_cause(entry: JournalEntry, decoded: Decoded) -> str:
    """A journal entry's cause key: `chat:<message id>` for a chat message (shared with the
    meeting's callback), else `j<entry id>`."""
    if len(decoded.events) == 1 and isinstance(decoded.events[0], ChatMessage | PrivateReply):
        if decoded.events[0].message_id:
            return f"chat:{decoded.events[0].message_id}"
    return f"j{entry.id}"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Told:
    """An event handed to `feed_live`, waiting to be fed (its own cause)."""

    cause: str
    event: Event
    at: datetime
    source: Source


@dataclass(frozen=True, slots=True)
class _Whom:
    """How the executor finds the people actions name: every id recorded for each person
    (`aliases`), and who must be found by an id to be admitted (`by_id_only`)."""

    aliases: Aliases
    by_id_only: frozenset[str]


#: An action this runtime has claimed, and how to find the people it names.
_Claimed = tuple[rs.ActionRecord, _Whom]


@dataclass(frozen=True, slots=True, kw_only=True)
class _InDoubt:
    """A database call of this runtime that overran its deadline, and what it was doing:
    `_settle` reads its outcome once it has returned, and finishes the work."""

    #: None: it was refused without starting (another call hung)
    call: concurrent.futures.Future[Any] | None
    claimed: _Claimed | None = None
    told: _Told | None = None
    redo: Callable[[], StepReport] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class MeetingView:
    """What the runtime's last committed step saved of its meeting: whether it ended, and
    its pending wake-ups (timer name -> due time)."""

    ended: bool
    wakeups: Mapping[str, datetime]


class _Staged:
    """What a transaction in progress changes of the runtime's picture of its meeting: its
    view, the record it saved (`saved`: it wrote the meeting's row; None then: unknown), the
    action it claimed (`looked`: it looked for one) and how to find the people it names, the
    lease's count of takes and when the lease it took expires, and whether it abandoned what
    a stopped process left (`resumed`). It becomes the runtime's only once the transaction
    has committed (`_commit`). `unbroken`: its takes of the lease followed the runtime's own
    last one (see `_hold_lease`)."""

    __slots__ = (
        "claimed",
        "ids",
        "lease_until",
        "lines_left",
        "looked",
        "record",
        "resumed",
        "saved",
        "takes",
        "unbroken",
        "unclaimed",
        "view",
        "whom",
    )

    def __init__(self, unclaimed: int | None) -> None:
        self.view: MeetingView | None = None
        self.ids: tuple[PersonId, ...] | None = None
        self.looked = False
        self.claimed: _Claimed | None = None
        #: its look passed over chat lines and found nothing else to claim
        self.lines_left = False
        self.whom: _Whom | None = None
        self.lease_until: datetime | None = None
        self.takes: int | None = None
        self.unbroken = False
        self.saved = False
        self.record: rs.MeetingRecord | None = None
        #: it abandoned what a stopped process left (`_resume_in`): (interrupted, expired)
        self.resumed: tuple[int, int] | None = None
        #: at least how many of the meeting's actions are planned and not yet claimed
        #: (None: unknown; see `MeetingRuntime._unclaimed`)
        self.unclaimed = unclaimed


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
        calls: where its database calls run, with their deadline (the worker shares one
            among its runtimes; default: its own, with the default deadline).
        batch_seconds: how long a batch of journal entries may step before it commits
            (None: up to `BATCH` entries, however long they take; the worker gives
            `BATCH_SECONDS` on SQLite).
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
        calls: DatabaseCalls | None = None,
        batch_seconds: float | None = None,
    ) -> None:
        self.meeting_uuid = meeting_uuid
        self.batch_seconds = batch_seconds
        #: how many entries the last batch stepped before its time ran out (None: it did not)
        self._fitted: int | None = None
        self._expiry = action_expiry
        self.control = control
        self._hooks = hooks
        self._factory = session_factory
        self._engine = bound_engine(session_factory)
        self._owner = owner
        self._ttl = lease_ttl
        self._clock = clock
        self._metrics = metrics
        self._lock = asyncio.Lock()
        self._resumed = False
        self._calls = calls if calls is not None else DatabaseCalls()
        #: events handed to `feed_live` and not yet fed
        self._waiting: deque[_Told] = deque()
        #: the call that overran its deadline, until `_settle` has finished its work
        self._in_doubt: _InDoubt | None = None
        #: the engine state this runtime last decoded or saved, with its stored text
        self._known: tuple[str, SessionState] | None = None
        #: the transaction in progress (`_staging`), and what it changes
        self._staged: _Staged | None = None
        #: the meeting as the last committed step saved it (None: unknown, read it)
        self._view: MeetingView | None = None
        #: when the lease this runtime last took expires (the view is trusted until then)
        self._lease_until: datetime | None = None
        #: a committed transaction looked for the next action to carry out, and claimed it
        #: (`claimed`, None if there was none); `_execute_planned` carries it out
        self._looked = False
        self._claimed: _Claimed | None = None
        #: while set (`fire_due_timers(lines_wait=True)`), a look for the next action passes
        #: over chat lines; `_lines_left`: the last committed look did so and found nothing
        #: else, so only a look made without it can claim something (the lines)
        self._lines_wait = False
        self._lines_left = False
        #: how to find the people actions name, as of the last committed step (None: read it)
        self._whom: _Whom | None = None
        #: the person ids recorded for the meeting as the last committed transaction left
        #: them (None: read them; see `_person_ids`)
        self._ids: tuple[PersonId, ...] | None = None
        #: the meeting's row as the last committed step saved it (None: read it), and the
        #: lease's count of takes after this runtime's last committed take (see `_hold_lease`)
        self._record: rs.MeetingRecord | None = None
        self._takes: int | None = None
        #: at least how many of the meeting's actions were planned and not yet claimed as
        #: the last committed transaction left them (None: unknown). At 0 a transaction that
        #: plans nothing need not look for an action to claim (`_claim_next`): a step that
        #: plans none, and the outcome of the last action a step planned. Only this
        #: runtime's transactions plan and claim while its lease is unbroken; anyone else's
        #: take makes it unknown (`_hold_lease`). A transaction without a take of the lease
        #: (an outcome's) trusts it too: nothing else of this owner but a runtime still in
        #: flight after a restart could have planned meanwhile, and that one claims its own.
        self._unclaimed: int | None = None

    # -- entry points --------------------------------------------------------------------

    async def process_journal(self) -> StepReport:
        """Feed every unprocessed journal entry of this meeting, then carry out actions.

        It stops once a batch took all that was pending: an entry journaled after that
        batch's read comes with a notice of its own (serve's: the receiver's
        `on_journaled`, the journal listener, which the join process runs too) or with the
        next sweep (the join process on SQLite, which sweeps every 2 seconds and hears what
        the bot sees at once), so looking again
        only costs a transaction.

        Raises:
            LeaseLost: another replica owns the meeting now.
            DatabaseStalled: a database call did not finish in time (see "A database that
                hangs" in the module docstring); the next call picks up where this one
                stopped.
        """
        async with self._lock:
            report = await self._begin()
            while True:
                batch = await self._call(self._step_batch)
                if batch.failed:  # one entry per transaction, as a poison entry must not block
                    for entry_id in batch.entry_ids:
                        step = functools.partial(self._step_entry, entry_id)
                        report = report + await self._call(step)
                        report = report + await self._execute_planned()
                    continue
                if not batch.entry_ids:
                    break
                report = report + batch.report + await self._execute_planned()
                if not batch.more:
                    break
            return report + await self._resume()

    async def fire_due_timers(self, *, lines_wait: bool = False) -> StepReport:
        """Feed `TimerDue` for every wake-up of this meeting due by the clock.

        `lines_wait`: carry out the meeting's actions in plan order, but pass over its chat
        lines, which stay planned (in their order) for a later call made without it
        (`lines_waiting` says some may be left). The worker asks for it when other meetings
        wait for it, so that a wake-up many meetings share (the meditation's end of every
        group of an evening) lets every meeting's held members in before any meeting's
        lines are posted.
        """
        async with self._lock:
            self._lines_wait = lines_wait
            try:
                report = await self._begin()
                due = self._due_by_view()
                if due is None:
                    due = await self._call(self._due_wakeups)
                for _uuid, timer, due_at in due:
                    step = functools.partial(self._step_timer, timer, due_at)
                    report = report + await self._call(step)
                    report = report + await self._execute_planned()
                return report + await self._resume()
            finally:
                self._lines_wait = False

    async def feed_live(self, event: Event, *, at: datetime | None = None) -> StepReport:
        """Feed an event the SDK bot in the meeting saw (its listener, `set_listener`).

        Everything it sees is fed at the clock's time (see "Two sources, one meeting" in the
        module docstring): joins and leaves, the waiting room, roles, audio, video, chat.
        A chat line's cause is `chat:<message_id>`, as its webhook's is, so a command both
        deliver under one id plans its actions once. `at`: when it was seen (default now).
        Once handed over, the event is the runtime's: if the database stalls it waits, and
        is fed once, by a later call.
        """
        if isinstance(event, ChatMessage) and event.private and not _is_command(event.text):
            # a member's private line to the bot: sealed here, before anything keeps it
            sealed = self._hooks.seal(event.text.strip()) if event.text.strip() else None
            if sealed is None:
                return StepReport(handled=1, dropped=1)
            event = PrivateReply(sender=event.sender, sealed=sealed, message_id=event.message_id)
        if isinstance(event, ChatMessage | PrivateReply) and event.message_id:
            cause = f"chat:{event.message_id}"
        else:
            cause = f"live:{uuid.uuid4().hex}"
        seen_at = at if at is not None else self._clock()
        async with self._lock:
            self._waiting.append(_Told(cause=cause, event=event, at=seen_at, source="sdk"))
            report = await self._begin()
            return report + await self._resume()

    @property
    def idle(self) -> bool:
        """Whether only the database can give this runtime work: no call of its overran
        (`_settle` finishes it), no event handed to `feed_live` waits to be fed, and no
        action its steps planned is left to claim or carry out (one whose call failed
        leaves the rest planned). A sweep need not visit an idle runtime whose meeting has
        no journal entry and no wake-up due (`Worker.sweep`)."""
        return (
            self._in_doubt is None
            and not self._waiting
            and self._claimed is None
            and self._unclaimed == 0
        )

    @property
    def lines_waiting(self) -> bool:
        """Whether chat lines may be left planned by `fire_due_timers(lines_wait=True)`: the
        next call made without it carries them out."""
        return self._lines_left

    def lease_renewed(self, until: datetime) -> None:
        """The worker renewed this runtime's lease (an unexpired lease of the same owner,
        committed) until `until`: it has been held without a break, so the view holds."""
        if self._lease_until is not None and until > self._lease_until:
            self._lease_until = until

    def view(self) -> MeetingView | None:
        """The meeting as this runtime's last committed step saved it, or None when that is
        not certain (no step yet, a step failed, or the lease this runtime took has expired
        since: another replica may have stepped it). Trusted while the lease is: no one else
        can write the meeting meanwhile."""
        view = self._view
        until = self._lease_until
        if view is None or until is None or self._clock() >= until:
            return None
        return view

    def _due_by_view(self) -> list[tuple[str, str, datetime]] | None:
        """`storage.runtime_state.due_wakeups` for this meeting, from the view (None: unknown)."""
        view = self.view()
        if view is None:
            return None
        now = self._clock()
        due = [(self.meeting_uuid, timer, at) for timer, at in view.wakeups.items() if at <= now]
        return sorted(due, key=lambda item: (item[2], item[1]))

    def _due_wakeups(self) -> list[tuple[str, str, datetime]]:
        with session_scope(self._factory) as db:
            return rs.due_wakeups(db, now=self._clock(), meeting_uuid=self.meeting_uuid)

    def load_state(self) -> SessionState | None:
        """The stored engine state, or None before the meeting has one."""
        with session_scope(self._factory) as db:
            record = rs.load_meeting(db, meeting_uuid=self.meeting_uuid)
        return None if record is None else SessionState.from_json(record.state_json)

    def pending_wakeups(self) -> dict[str, datetime]:
        """The stored wake-ups: timer name -> due time."""
        with session_scope(self._factory) as db:
            return rs.pending_wakeups(db, meeting_uuid=self.meeting_uuid)

    # -- steps ---------------------------------------------------------------------------
    #
    # Each step is synchronous database and engine work. The entry points run it on a
    # database thread (`_call`, through `bot.runtime.database_calls`) so the event loop stays
    # free to acknowledge Zoom's webhooks within its 3 seconds while a busy meeting is being
    # processed; the per-meeting lock keeps one meeting's steps in order. Meeting actions are
    # carried out back on the loop, with their claims and outcomes (one short transaction
    # each).

    async def _call(
        self,
        function: Callable[[], _T],
        *,
        claimed: _Claimed | None = None,
        told: _Told | None = None,
        redo: Callable[[], StepReport] | None = None,
    ) -> _T:
        """Run `function` on a database thread, waiting at most the calls' deadline.

        If it overruns, what it was doing is kept (`_InDoubt`) for `_settle` to finish once
        it has returned: `claimed`, the action a claim was for; `told`, the event a step fed;
        `redo`, the call to make again if it failed or never started (an outcome to record:
        the action has been carried out, so its outcome must not be lost).

        Raises:
            DatabaseStalled: see `bot.runtime.database_calls`.
        """
        try:
            return await self._calls.run(function)
        except DatabaseStalled as stalled:
            if stalled.call is not None or redo is not None:
                self._in_doubt = _InDoubt(call=stalled.call, claimed=claimed, told=told, redo=redo)
            raise

    async def _begin(self) -> StepReport:
        """What every entry point does first: settle a call that overran, and feed the
        events waiting to be fed. (What a stopped process left is abandoned by the first
        transaction that takes the lease, `_resume_in`; `_resume` after it, if none did.)"""
        report = await self._settle()
        return report + await self._feed_waiting()

    async def _settle(self) -> StepReport:
        """Finish what this runtime's overrun call was doing, now that it has returned (see
        "A database that hangs" in the module docstring).

        Raises:
            DatabaseStalled: it has not returned yet.
            LeaseLost: it found the lease lost.
        """
        doubt = self._in_doubt
        if doubt is None:
            return StepReport()
        call = doubt.call
        if call is not None and not call.done():
            raise DatabaseStalled(f"meeting {self.meeting_uuid}: a database call still hangs")
        self._in_doubt = None
        failure = None if call is None else call.exception()
        if isinstance(failure, LeaseLost):
            raise LeaseLost(str(failure))
        report = StepReport()
        if call is None or failure is not None:  # it never started, or it rolled back
            if doubt.redo is not None:  # the outcome is not recorded: record it now
                report = report + await self._call(doubt.redo, redo=doubt.redo)
        elif doubt.claimed is not None:  # the action's `/safety` line was read late
            report = report + await self._carry_out(*doubt.claimed)
        elif doubt.told is not None:
            if self._waiting and self._waiting[0] is doubt.told:
                self._waiting.popleft()  # it was fed: do not feed it again
                report = report + call.result()
        if self._claimed is not None:
            _log.info(
                "a claim committed after its deadline; carrying the action out now",
                extra={"meeting_id": self.meeting_uuid, "kind": self._claimed[0].kind},
            )
        return report + await self._execute_planned()

    async def _feed_waiting(self) -> StepReport:
        """Feed the events handed to `feed_live`, in order, each in its own step, and carry
        out what each plans."""
        report = StepReport()
        while self._waiting:
            told = self._waiting[0]
            step = functools.partial(
                self._step,
                cause=told.cause,
                events=(told.event,),
                at=told.at,
                fired_timer=None,
                source=told.source,
            )
            try:
                report = report + await self._call(step, told=told)
            except (DatabaseStalled, LeaseLost):
                raise  # it waits (or the runtime is dropped with the lease)
            except Exception:
                self._waiting.popleft()  # a step that fails is not retried for ever
                raise
            self._waiting.popleft()
            report = report + await self._execute_planned()
        return report

    async def _resume(self) -> StepReport:
        """The end of every entry point. If its calls took the lease in no transaction
        (nothing to step): abandon what a stopped process left in a transaction of its own,
        then carry out what was planned but never claimed. Usually the entry point's first
        step has done that already (`_resume_in`), and this costs nothing. Afterwards: carry
        out what a failed call left planned (an action whose call raised stops the actions
        after it; the next visit, a sweep's if nothing else comes, carries them out)."""
        if not self._resumed:
            await self._call(self._abandon_leftovers)
        elif self.idle:
            return StepReport()
        return await self._execute_planned()

    def _abandon_leftovers(self) -> None:
        """`_resume_in` in a transaction of its own; claim the first action left to carry
        out."""
        with self._claims_transaction() as connection:
            self._hold_lease(connection)
            self._resume_in(connection)
            self._claim_next(connection, lease_held=True)

    def _resume_in(self, db: Connectable) -> None:
        """Once per runtime (and again after a lost lease), in the first transaction that
        takes the lease, before it claims anything: mark what a stopped process left
        `executing` interrupted and what waited too long planned expired (see
        `storage.runtime_state.abandon_leftovers`). Done inside the step that needs the
        lease anyway, it costs a meeting's first visit no transaction of its own; what was
        planned and not claimed is then claimed first, in plan order, by that step."""
        staged = self._staged
        assert staged is not None, "leftovers are abandoned in a transaction of the runtime's"
        if self._resumed or staged.resumed is not None:
            return
        staged.resumed = rs.abandon_leftovers(
            db, meeting_uuid=self.meeting_uuid, planned_before=self._clock() - self._expiry
        )

    def _step_batch(self) -> _Batch:
        """Step up to `BATCH` pending journal entries in ONE transaction, for at most
        `batch_seconds` (see the module docstring); on an error other than a lost lease,
        hand their ids back for the caller to step one per transaction."""
        entry_ids: list[int] = []
        done: list[tuple[int, str, datetime, StepReport]] = []
        try:
            with self._transaction() as db:
                if not journal.has_unprocessed(db, meeting_uuid=self.meeting_uuid):
                    return _Batch()
                self._hold_lease(db)
                self._resume_in(db)
                started = time.monotonic()
                db.expire_all()  # re-read under the lease: another step may have run
                # after a batch cut short by time, read about as many as fitted in it
                fitted = self._fitted
                limit = BATCH if fitted is None else min(BATCH, 2 * fitted)
                entries = journal.unprocessed(db, meeting_uuid=self.meeting_uuid, limit=limit)
                more = len(entries) == limit
                self._fitted = None
                work: _Work | None = None
                for entry in entries:
                    if entry_ids and self._out_of_time(started):
                        more = True
                        self._fitted = len(entry_ids)
                        break
                    entry_ids.append(entry.id)
                    try:
                        decoded = self._hooks.decode(entry)
                    except Exception as unreadable:  # a poison entry must not block the meeting
                        self._skip_unreadable(db, entry, unreadable)
                        done.append((entry.id, entry.event, entry.received_at, _UNREADABLE))
                        continue
                    at = decoded.at if decoded.at is not None else self._clock()
                    if work is None:
                        work = self._open(db, meeting_id=decoded.meeting_id, at=at)
                    if not work.skipped:
                        self._hooks.record_presence(
                            db, meeting_uuid=self.meeting_uuid, entry=entry, decoded=decoded
                        )
                    report = self._feed(
                        db,
                        work,
                        cause=_entry_cause(entry, decoded),
                        events=decoded.events,
                        at=at,
                        entry_id=entry.id,
                        source="webhook",
                    )
                    journal.mark_processed(db, entry_id=entry.id, processed_at=self._clock())
                    done.append((entry.id, entry.event, entry.received_at, report))
                if work is not None:
                    self._close(db, work)
                people = None if work is None else work.state.people
                self._claim_next(db, people=people, lease_held=True)
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
        return _Batch(entry_ids=tuple(entry_ids), report=total, more=more)

    def _out_of_time(self, started: float) -> bool:
        budget = self.batch_seconds
        return budget is not None and time.monotonic() - started >= budget

    def _step_entry(self, entry_id: int) -> StepReport:
        """One journal entry in its own transaction (the fallback when a batch failed)."""
        with self._transaction() as db:
            entry = journal.entry(db, entry_id=entry_id)
            if entry is None or entry.processed_at is not None:
                return StepReport()
            try:
                decoded = self._hooks.decode(entry)
            except Exception as unreadable:  # a poison entry must not block the meeting
                self._skip_unreadable(db, entry, unreadable)
                return _UNREADABLE
            at = decoded.at if decoded.at is not None else self._clock()
            report = self._step_in(
                db,
                cause=_entry_cause(entry, decoded),
                events=decoded.events,
                at=at,
                entry=(entry, decoded),
                fired_timer=None,
                meeting_id=decoded.meeting_id,
                source="webhook",
            )
            journal.mark_processed(db, entry_id=entry.id, processed_at=self._clock())
        self._processed(entry.id, entry.event, entry.received_at, report)
        return report

    def _skip_unreadable(self, db: Session, entry: JournalEntry, error: Exception) -> None:
        """Mark an entry the hooks cannot decode unparsed and processed. Our errors say why
        without payload values (a body that does not fit its event's model names the
        fields); anything else is named by its type only."""
        reason = str(error) if isinstance(error, BalintError) else type(error).__name__
        _log.error(
            "journal entry not decodable; marked unparsed and skipped (the body stays journaled)",
            extra={
                "meeting_id": self.meeting_uuid,
                "delivery_id": entry.id,
                "event_type": entry.event,
                "error_type": type(error).__name__,
                "parse_error": reason,
            },
        )
        journal.mark_unreadable(db, entry_id=entry.id, reason=reason, processed_at=self._clock())

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
            fired_timer=(timer, due_at),
        )

    def _step(
        self,
        *,
        cause: str,
        events: Sequence[Event],
        at: datetime,
        fired_timer: tuple[str, datetime] | None,
        source: Source | None = None,
    ) -> StepReport:
        with self._transaction() as db:
            return self._step_in(
                db,
                cause=cause,
                events=events,
                at=at,
                entry=None,
                fired_timer=fired_timer,
                meeting_id="",
                source=source,
            )

    def _step_in(
        self,
        db: Session,
        *,
        cause: str,
        events: Sequence[Event],
        at: datetime,
        entry: tuple[JournalEntry, Decoded] | None,
        fired_timer: tuple[str, datetime] | None,
        meeting_id: str,
        source: Source | None,
        lease_held: bool = False,
    ) -> StepReport:
        """One cause, inside the caller's transaction (see the module docstring), then the
        claim of the first action to carry out; `entry`: the journal entry the cause is, with
        its decoding (None for a timer or a live event); `source` says where its
        participants' ids come from (None: no participants, e.g. a timer); `lease_held`: the
        caller has taken the lease in this transaction already."""
        if not lease_held:
            self._hold_lease(db)
        self._resume_in(db)
        work = self._open(db, meeting_id=meeting_id, at=at)
        if entry is not None and not work.skipped:
            journaled, decoded = entry
            self._hooks.record_presence(
                db, meeting_uuid=self.meeting_uuid, entry=journaled, decoded=decoded
            )
        if fired_timer is not None:
            timer, due_at = fired_timer
            if work.wakeups.get(timer) != due_at:
                self._claim_next(db, people=work.state.people, lease_held=True)
                return StepReport(handled=1, dropped=1)  # re-armed or fired already
            del work.wakeups[timer]
        report = self._feed(
            db,
            work,
            cause=cause,
            events=events,
            at=at,
            entry_id=None if entry is None else entry[0].id,
            source=source,
        )
        self._close(db, work)
        self._claim_next(db, people=work.state.people, lease_held=True)
        return report

    def _open(self, db: Session, *, meeting_id: str, at: datetime) -> _Work:
        """Load the meeting's engine state and wake-ups (starting its session if it has
        none yet), under the lease the caller holds: as its last committed step saved them
        when the lease proves them current (`_kept`), else from the database."""
        now_wall = self._clock()
        known = self._person_ids(db)
        kept = self._kept()
        record = (
            kept[0] if kept is not None else rs.load_meeting(db, meeting_uuid=self.meeting_uuid)
        )
        if record is not None:
            state = self._decoded(record.state_json)
            return _Work(
                record=record,
                state=state,
                wakeups=(
                    kept[1]
                    if kept is not None
                    else rs.pending_wakeups(db, meeting_uuid=self.meeting_uuid)
                ),
                first=(),
                now_wall=now_wall,
                identities=Identities(known, state.people),
            )
        state, first = self._hooks.start_session(
            db, meeting_uuid=self.meeting_uuid, meeting_id=meeting_id, now=at
        )
        record = rs.create_meeting(
            db,
            meeting_uuid=self.meeting_uuid,
            meeting_id=meeting_id,
            state_json=state.to_json(),
            now=at,
        ) or rs.load_meeting(db, meeting_uuid=self.meeting_uuid)
        assert record is not None
        if state.setup.skipped:
            _log.info(
                "meeting is no session: its events are not fed and nothing of it is stored",
                extra={"meeting_id": self.meeting_uuid, "reason": state.setup.skipped},
            )
        else:
            _log.info(
                "session started",
                extra={"meeting_id": self.meeting_uuid, "phase": str(state.phase)},
            )
        return _Work(
            record=record,
            state=state,
            wakeups={},
            first=first,
            now_wall=now_wall,
            identities=Identities(known, state.people),
        )

    def _kept(self) -> tuple[rs.MeetingRecord, dict[str, datetime]] | None:
        """The meeting's row and wake-ups as this runtime's last committed step saved them,
        if this transaction's take of the lease proves them current (no one has taken the
        lease since that step: `_hold_lease`); else None, and they are read."""
        staged = self._staged
        record, view = self._record, self._view
        if staged is None or not staged.unbroken or record is None or view is None:
            return None
        return record, dict(view.wakeups)

    def _feed(
        self,
        db: Session,
        work: _Work,
        *,
        cause: str,
        events: Sequence[Event],
        at: datetime,
        entry_id: int | None,
        source: Source | None,
    ) -> StepReport:
        """Feed one cause's events, each mapped to its person key, under the out-of-order
        rules (see "Two sources, one meeting" in the module docstring), and plan its meeting
        actions under `<cause>:<n>`. A meeting the calendar skipped takes none of them (see
        "No session" in the module docstring)."""
        if work.skipped:
            return StepReport(handled=1, dropped=len(events), phase=str(work.state.phase))
        planned: list[Action] = list(work.first)
        work.first = ()
        fed = dropped = 0
        event_ms = _ms(at)
        for original in events:
            event = self._as_person(db, work, original, source=source, at=at)
            key = order_key(event)
            if (
                key
                and source == "sdk"
                and isinstance(event, _PRESENCE)
                and work.cursors.get(key, -1) >= event_ms
            ):
                dropped += 1  # the journal already told a fact about them as new or newer
                continue
            if key and source == "sdk":
                # what the bot saw of someone covers webhooks about them up to that moment
                seen = _SEEN + key
                work.cursors[seen] = max(work.cursors.get(seen, -1), event_ms)
            elif (
                key is not None
                and entry_id is not None
                and _stale(work.cursors, key, event_ms)
                and not _says_who(event, work.state, work.cursors, event_ms)
            ):
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
            work.identities.set_people(work.state.people)
            if isinstance(event, MeetingEnded) and source == "webhook":
                # Attendance comes from the journal: finalised on the webhook's end. It reads
                # who the facilitators said people are (`/admit ... as`) from the saved
                # state, and their webhook ids from the person keys: both saved first.
                self._save_people(db, work)
                self._hooks.finalize(db, meeting_uuid=self.meeting_uuid, now=now)
        meeting_actions = []
        for action in planned:
            if isinstance(action, ScheduleWakeup):
                work.wakeups[action.timer] = action.at
            elif isinstance(action, RecordLocation):
                self._hooks.record_location(
                    db, meeting_uuid=self.meeting_uuid, action=action, at=work.last_now
                )
            elif isinstance(action, PhaseChanged):
                # the therapy window billing claims is derived from these records
                record_phase_change(
                    db,
                    meeting_uuid=self.meeting_uuid,
                    at=action.at,
                    from_phase=action.from_phase,
                    to_phase=action.to_phase,
                    reason=action.reason,
                )
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

    def _as_person(
        self, db: Session, work: _Work, event: Event, *, source: Source | None, at: datetime
    ) -> Event:
        """`event` with its participant mapped to the meeting's person key and, for a
        command both sources deliver, one message id (see `bot.runtime.identity`)."""
        if source is None:  # no participant from Zoom (a timer, a refusal)
            return event
        if isinstance(event, ChatMessage):
            sender = work.identities.person(event.sender, source)
            chat = dataclasses.replace(event, sender=sender)
            seen = person_keys.commands_seen(
                db, meeting_uuid=self.meeting_uuid, since=at - COMMAND_WINDOW
            )
            # across two keys only between people with a facilitator's rights (`match_command`)
            names = {
                key: person.name
                for key, person in work.state.people.items()
                if person.is_facilitator
            }
            chat, record, twin = match_command_once(
                chat, source=source, at=at, seen=seen, names=names
            )
            if record is not None and person_keys.record_command(
                db, meeting_uuid=self.meeting_uuid, command=record
            ):
                if twin is not None:
                    person_keys.match_command(
                        db,
                        meeting_uuid=self.meeting_uuid,
                        source=twin.source,
                        message_id=twin.message_id,
                        matched=record.message_id,
                    )
                    _log.info(
                        "command delivered by both sources; run once",
                        extra={"meeting_id": self.meeting_uuid, "source": source},
                    )
            return chat
        if isinstance(event, PrivateReply):
            return dataclasses.replace(event, sender=work.identities.person(event.sender, source))
        participant = getattr(event, "participant", None)
        if not isinstance(participant, Participant):
            return event
        # the Zoom role an event states (a webhook's join says "attendee" for anyone but
        # the host: only a stronger one there is a statement)
        role = event.role if isinstance(event, RoleChanged) else None
        if isinstance(event, Joined) and event.role is not ZoomRole.ATTENDEE:
            role = event.role
        person = work.identities.person(participant, source, role=role)
        changed: Event = dataclasses.replace(event, participant=person)  # type: ignore[arg-type]
        return changed

    def _close(self, db: Session, work: _Work) -> None:
        """Save what the fed causes changed: person ids first seen, wake-ups (only if
        changed), planned actions in plan order, the engine state and cursors. A skipped
        meeting's record is only marked ended, once. What it saves becomes the runtime's view
        once the transaction has committed."""
        staged = self._staged
        if staged is not None:
            ended = work.skipped or work.state.phase == Phase.ENDED
            staged.view = MeetingView(ended=ended, wakeups=dict(work.wakeups))
        if work.skipped:
            if not work.loaded_ended:
                if staged is not None:
                    staged.saved, staged.record = True, None
                rs.save_state(
                    db,
                    meeting_uuid=self.meeting_uuid,
                    state_json=work.state.to_json(),
                    last_event_ts=work.last_event_ts,
                    last_now=work.last_now,
                    ended=True,
                )
            return
        self._save_ids(db, work)
        if work.state.phase == Phase.ENDED and not work.loaded_ended:
            _log.info(
                "person ids compared",
                extra={
                    "meeting_id": self.meeting_uuid,
                    **id_report(person_keys.person_ids(db, meeting_uuid=self.meeting_uuid)),
                },
            )
        if work.wakeups != work.loaded_wakeups:
            rs.replace_wakeups(
                db,
                meeting_uuid=self.meeting_uuid,
                wakeups=work.wakeups,
                stored=work.loaded_wakeups,
            )
        rs.plan_actions(
            db,
            meeting_uuid=self.meeting_uuid,
            actions=work.planned,
            owner=self._owner,
            now=work.now_wall,
        )
        if staged is not None and staged.unclaimed is not None:
            staged.unclaimed += len(work.planned)  # more than are new, if some were logged
        self._save_state(db, work)

    def _save_ids(self, db: Session, work: _Work) -> None:
        if work.identities.new:
            person_keys.record_person_ids(
                db,
                meeting_uuid=self.meeting_uuid,
                ids=work.identities.new,
                now=work.now_wall,
            )
            staged = self._staged
            if staged is not None and staged.ids is not None:
                staged.ids += tuple(work.identities.new)
            work.identities.new = []

    def _person_ids(self, db: Connectable) -> tuple[PersonId, ...]:
        """The ids recorded for the meeting's people (`storage.person_keys.person_ids`):
        as this transaction has them, or as the last committed one left them if the table
        still holds as many, else read. Ids are only ever added, by the step that holds the
        lease, so the count tells whether another runtime of this owner added some since;
        it is not even counted when this transaction's take of the lease followed this
        runtime's own last one (`_hold_lease`). Reading them all is a step's largest cost
        once hundreds have joined.

        Ids first seen at the same moment in different transactions may be in another
        order than a read would give; they are sets to every reader (`Identities`,
        `aliases`)."""
        staged = self._staged
        if staged is not None and staged.ids is not None:
            return staged.ids
        ids = self._ids
        unbroken = staged is not None and staged.unbroken
        if ids is None or (
            not unbroken and person_keys.id_count(db, meeting_uuid=self.meeting_uuid) != len(ids)
        ):
            ids = tuple(person_keys.person_ids(db, meeting_uuid=self.meeting_uuid))
        if staged is not None:
            staged.ids = ids
        return ids

    def _save_people(self, db: Session, work: _Work) -> None:
        """The person ids and the engine state as they are now (before attendance reads them)."""
        self._save_ids(db, work)
        self._save_state(db, work)

    def _decoded(self, state_json: str) -> SessionState:
        """The engine state stored as `state_json`. The state this runtime saved or read
        last is not decoded again: the same text is the same state (the JSON round trip is
        exact), whether or not the transaction that saved it committed."""
        known = self._known
        if known is not None and known[0] == state_json:
            return known[1]
        state = SessionState.from_json(state_json)
        self._known = (state_json, state)
        return state

    def _save_state(self, db: Session, work: _Work) -> None:
        # the ids that find each person (saved with it, `_save_ids`) and who must be
        # admitted by id may change with the state
        self._whom = None
        state_json = work.state.to_json()
        self._known = (state_json, work.state)
        ended = work.state.phase == Phase.ENDED
        staged = self._staged
        if staged is not None:
            staged.saved = True
            staged.record = rs.MeetingRecord(
                meeting_uuid=self.meeting_uuid,
                meeting_id=work.meeting_id,
                state_json=state_json,
                last_event_ts=work.last_event_ts,
                last_now=work.last_now,
                ended=ended,
                cursors=dict(work.cursors),
            )
        rs.save_state(
            db,
            meeting_uuid=self.meeting_uuid,
            state_json=state_json,
            last_event_ts=work.last_event_ts,
            last_now=work.last_now,
            ended=ended,
            cursors=work.cursors,
        )

    def _hold_lease(self, db: Connectable, *, unless_held: bool = False) -> None:
        """Take or renew this replica's lease in `db`'s transaction (the fence).

        `unless_held`: not written while the lease this runtime holds has more than half its
        time left, since no other replica can take it before it expires. Only for a
        transaction that takes no step (it records outcomes and claims actions, each a
        compare-and-set on the action's row): a step needs the write, which serialises it
        against a stale runtime of the same owner (on PostgreSQL) and makes it the first
        write (on SQLite).

        The take also says whether anyone else took the lease since this runtime's own last
        committed take (the lease counts its takes, `storage.runtime_state.acquire_lease`).
        If no one did and the lease has not expired meanwhile, the transaction is `unbroken`:
        what this runtime's last committed step saved of the meeting (its row, wake-ups and
        person ids) is still what the database holds, and a step need not read it. Anyone
        else's take (another replica's after the lease expired, or a runtime of the same
        owner still in flight after a restart) breaks it, and the step reads.

        Raises:
            LeaseLost: another replica holds an unexpired lease.
        """
        now = self._clock()
        until = self._lease_until
        if unless_held and until is not None and until - now > self._ttl / 2:
            return
        takes = rs.acquire_lease(
            db, meeting_uuid=self.meeting_uuid, owner=self._owner, ttl=self._ttl, now=now
        )
        if takes is None:
            self._resumed = False
            raise LeaseLost(f"meeting {self.meeting_uuid}: lease held by another replica")
        staged = self._staged
        expired = until is None or now >= until
        if expired:
            # this runtime's lease had expired: another replica may have stepped the meeting
            self._ids = None
        last = self._takes if staged is None or staged.takes is None else staged.takes
        first = staged is None or staged.takes is None
        unbroken = not expired and last is not None and takes == last + 1
        if not unbroken:
            self._view = None
            self._whom = None
            self._record = None
            self._unclaimed = None
        if staged is not None:
            if not unbroken:
                staged.unclaimed = None
            staged.unbroken = unbroken and (first or staged.unbroken)
            staged.takes = takes
            staged.lease_until = now + self._ttl

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Session]:
        """A transaction of this runtime's, in an ORM session: one that steps the engine
        (its hooks record attendance and sessions through the ORM)."""
        with self._staging(), session_scope(self._factory) as db:
            yield db

    @contextlib.contextmanager
    def _claims_transaction(self) -> Iterator[Connection]:
        """A transaction of this runtime's on a Core connection, without an ORM session: one
        that only takes the lease, records an outcome, abandons leftovers and claims. It is
        the one a worker runs after every action, and a session's bookkeeping would cost
        about as much as its statements (`storage.db.Connectable`)."""
        with self._staging(), self._engine.begin() as connection:
            yield connection

    @contextlib.contextmanager
    def _staging(self) -> Iterator[None]:
        """Around one transaction of this runtime's: what it stages (`_Staged`) becomes the
        runtime's once it has committed, on the thread that ran it, even if the caller
        stopped waiting (see "A database that hangs" in the module docstring). After a
        failure the view is unknown, and read from the database again."""
        staged = self._staged = _Staged(self._unclaimed)
        try:
            yield
        except BaseException:
            self._unclaimed = None
            self._view = None
            self._whom = None
            self._ids = None
            self._record = None
            raise
        finally:
            self._staged = None
        self._commit(staged)

    def _commit(self, staged: _Staged) -> None:
        """Take what a committed transaction staged."""
        if staged.lease_until is not None:
            self._lease_until = staged.lease_until
        if staged.view is not None:
            self._view = staged.view
        if staged.whom is not None:
            self._whom = staged.whom
        if staged.ids is not None:
            self._ids = staged.ids
        if staged.takes is not None:
            self._takes = staged.takes
        if staged.saved:
            self._record = staged.record
        if staged.looked:
            self._looked = True
            self._claimed = staged.claimed
            self._lines_left = staged.lines_left
        self._unclaimed = staged.unclaimed
        if staged.resumed is not None:
            self._resumed = True
            interrupted, expired = staged.resumed
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

    def _claim_next(
        self, db: Connectable, *, people: Mapping[str, Person] | None = None, lease_held: bool
    ) -> None:
        """Claim the first action planned and not yet claimed, in the caller's transaction
        (`planned` -> `executing`, under the lease: taken here if the caller has not and
        it is not held for long yet, see `_hold_lease`), so that it is carried out once the
        transaction has committed (`_execute_planned`); while `_lines_wait` is set, the
        first planned one that is not a chat line. `people`: the engine's, as this
        transaction leaves them (None: read them)."""
        staged = self._staged
        assert staged is not None, "claims are made in a transaction of the runtime's"
        staged.looked = True
        if not lease_held:
            self._hold_lease(db, unless_held=self._resumed)
            self._resume_in(db)
        if staged.unclaimed == 0:
            return  # none planned and not claimed: nothing to look for
        passing = LINE_KIND if self._lines_wait else None
        record = rs.claim_next_action(
            db, meeting_uuid=self.meeting_uuid, owner=self._owner, passing=passing
        )
        if record is None:
            if passing is None:
                staged.unclaimed = 0
            else:  # what is left unclaimed (if anything: the count may be unknown) is lines
                staged.lines_left = True
            return
        if staged.unclaimed is not None:
            staged.unclaimed -= 1
        whom = self._whom
        if whom is None:
            if people is None:
                meeting = rs.load_meeting(db, meeting_uuid=self.meeting_uuid)
                people = {} if meeting is None else self._decoded(meeting.state_json).people
            known = aliases(self._person_ids(db))
            whom = staged.whom = _Whom(known, by_id_only(people))
        staged.claimed = (record, whom)

    def _claim_first(self) -> None:
        """Look for the first action to carry out in a transaction of its own (when no
        committed transaction has: after a failed or overrun one)."""
        with self._claims_transaction() as connection:
            self._claim_next(connection, lease_held=False)

    async def _execute_planned(self) -> StepReport:
        """Carry out the planned actions in plan order (those their refusals and
        confirmations plan included), each claimed before its call: by the transaction that
        planned it or recorded the previous outcome, else by one of its own."""
        report = StepReport()
        while True:
            if not self._looked:
                if self._lines_wait and self._lines_left:
                    return report  # only chat lines are left, and they wait
                await self._call(self._claim_first)
            claimed, self._claimed, self._looked = self._claimed, None, False
            if claimed is None:
                return report
            report = report + await self._carry_out(*claimed)

    async def _carry_out(self, record: rs.ActionRecord, known: _Whom) -> StepReport:
        """Carry out one action this runtime has claimed and record its outcome (the
        transaction that records it claims the next action)."""
        stored = decode_action(record.payload)
        action = (
            await self._call(functools.partial(self._safety_line, stored), claimed=(record, known))
            if isinstance(stored, SafetyAnswer)
            else stored
        )
        try:
            outcome = await execute(
                action, self.control, aliases=known.aliases, by_id_only=known.by_id_only
            )
        except MeetingControlError as refused:  # execute returns refusals; belt and braces
            outcome = ActionOutcome(
                action=action, ok=False, code=refused.code, error=refused.message
            )
        status = (
            "done"
            if outcome.ok
            else ("not_executed" if outcome.code == "not_executed" else "refused")
        )
        if self._metrics is not None:
            self._metrics.count_action(kind=record.kind, result=status)
        log = _log.info if outcome.ok or status == "not_executed" else _log.warning
        log(
            "meeting action %s",
            status,
            extra={"meeting_id": self.meeting_uuid, "kind": record.kind, "code": outcome.code},
        )
        refusal = None if record.key.startswith(REFUSAL_CAUSE) else refusal_event(outcome)
        feedback: tuple[str, Event] | None = None
        if refusal is not None:
            feedback = (REFUSAL_CAUSE, refusal)
        elif (done := confirmation_event(outcome)) is not None:
            feedback = (DONE_CAUSE, done)
        record_it = functools.partial(
            self._record_outcome, record, status=status, outcome=outcome, feedback=feedback
        )
        report = await self._call(record_it, redo=record_it)
        return report + StepReport(executed=1)

    def _safety_line(self, action: SafetyAnswer) -> SendChat:
        """The `/safety` answer, read (and audited) when it is carried out, never stored."""
        with session_scope(self._factory) as db:
            return self._hooks.safety_line(
                db, meeting_uuid=self.meeting_uuid, action=action, now=self._clock()
            )

    def _record_outcome(
        self,
        record: rs.ActionRecord,
        *,
        status: str,
        outcome: ActionOutcome,
        feedback: tuple[str, Event] | None,
    ) -> StepReport:
        """Record a carried-out action's outcome and, in the same transaction, step what is
        reported back of it (a refusal, or a success the engine asked for; cause prefix and
        event) as a cause of its own, and claim the next action. If the lease is lost, the
        outcome is still recorded and nothing is fed or claimed."""

        def record_it(db: Connectable) -> None:
            rs.record_outcome(
                db,
                action_id=record.id,
                status=status,
                code=outcome.code,
                error=outcome.error,
                now=self._clock(),
            )

        # The lease before the action's row, the order every other transaction takes them
        # in (the steps, `_abandon_leftovers`): the other order deadlocks on PostgreSQL
        # against a restarted runtime of the same owner abandoning leftovers.
        try:
            if feedback is None:
                with self._claims_transaction() as connection:
                    # Without a step to take, the lease is written only when due
                    # (`_hold_lease`): the transaction then touches the actions' rows alone.
                    self._hold_lease(connection, unless_held=True)
                    record_it(connection)
                    self._claim_next(connection, lease_held=True)
                return StepReport()
            prefix, event = feedback
            with self._transaction() as db:
                self._hold_lease(db)
                record_it(db)
                return self._step_in(
                    db,
                    cause=f"{prefix}{record.key}",
                    events=(event,),
                    at=self._clock(),
                    entry=None,
                    fired_timer=None,
                    meeting_id="",
                    source=None,
                    lease_held=True,
                )
        except LeaseLost:
            # That transaction rolled back; the outcome must still be kept, on its own.
            with self._engine.begin() as connection:
                record_it(connection)
            raise
