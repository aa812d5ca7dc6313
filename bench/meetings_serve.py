"""`bench.meetings --mode serve`: many meetings at once through the real `balint-bot serve`.

The real command (receiver process + `[server] meeting_workers` worker processes), as a
subprocess on a migrated database: a fresh SQLite file, or with `--postgres URL` a
throwaway PostgreSQL database, served by `--replicas` `serve` processes (each its own
`instance_id`; the webhooks are spread over them in turn, as a load balancer would). The
meetings are observed only (`meeting_adapter = "none"`): each action the runtime decides is
recorded in the action log with the time it was carried out (`executed_at`, here: logged as
not executed), which is what is measured; no Zoom reacts to it, so the benchmark posts what
Zoom would: every member arriving during the social time goes to the waiting room and,
a second later, into the meeting.

The evening is `bench.meetings`'s: N instances of the group's one recurring meeting (the
receiver keeps only its meeting number) open S seconds before the start, a facilitator and
M - L members arrive over the social time, L latecomers arrive during the (1-minute)
meditation into the waiting room and must be admitted when it ends. Figures: webhook ->
action (an action naming a participant, from the POST of the latest webhook about them
before it; target p99 < 250 ms) and the latecomers' admission after the meditation's end
(target p99 < 1 s); where the pairs' time went (POST -> the receiver -> the step -> carried
out) and when the slowest 1 % were posted, beside how busy the evening's posts were then
(queueing behind a burst of its own schedule, or a stall); per replica, the acks and the
actions its workers carried out (by lease owner); and the CPU the receivers and the workers
spent from the room's opening to the last entry processed, per acked webhook: steadier than
the latencies from run to run on a shared machine, so the figure to compare two versions
by. Every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import select

from bench._common import (
    SECRET,
    BenchError,
    Connection,
    ServeProcess,
    cpu_seconds,
    family,
    family_cpu_seconds,
    free_port,
    percentile,
    unprocessed_rows,
)
from bench.meetings import GROUP, prepare_database
from bot.meeting import zoom_wire as wire
from bot.runtime.codec import decode_action
from storage.crypto import generate_key
from storage.db import make_engine, make_session_factory, session_scope
from storage.tables.journal import JournalEntry
from storage.tables.runtime import RuntimeAction

__all__ = ["run_serve_mode"]

ZONE = "America/Toronto"
MEETING_ID = "85746065432"
MEDITATION = timedelta(minutes=1)
_SENDERS = 32
#: The span in which the report counts the webhooks posted around its slowest pairs.
BUSY_WINDOW = 0.15
_WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class _Post:
    at: datetime
    meeting: int
    event: str
    handle: str  # "" for meeting events
    latecomer: bool = False


def _config(url: str, key: str, start: datetime, *, workers: int, instance: str) -> str:
    local = start.astimezone(ZoneInfo(ZONE))
    return f"""
data_key = "{key}"
[zoom]
webhook_secret_tokens = ["{SECRET}"]
[storage]
url = "{url}"
[server]
meeting_workers = {workers}
instance_id = "{instance}"
max_concurrent_requests = 256
[group]
name = "{GROUP}"
meeting_id = "{MEETING_ID}"
timezone = "{ZONE}"
weekday = "{_WEEKDAYS[local.weekday()]}"
start_time = "{local.strftime("%H:%M:%S")}"
[group.calendar]
breaks = []
[agenda]
meditation_minutes = 1
opens_minutes_before = 1
reflection_minutes = 0
[bot]
meeting_adapter = "none"
[log]
level = "ERROR"
[console]
enabled = false
"""


def _evening(
    meetings: int, members: int, latecomers: int, opens: datetime, start: datetime, seed: int
) -> list[_Post]:
    rng = random.Random(seed)
    social = (start - opens).total_seconds()
    posts: list[_Post] = []
    for number in range(meetings):
        posts.append(_Post(opens, number, wire.MEETING_STARTED, ""))
        arrivals = [("lead", False)] + [
            (f"m{index}", index > members - latecomers) for index in range(1, members + 1)
        ]
        for handle, late in arrivals:
            if late:  # during the meditation, not in its last five seconds
                at = start + timedelta(seconds=rng.uniform(2.0, MEDITATION.total_seconds() - 5))
                posts.append(_Post(at, number, wire.PARTICIPANT_JOINED_WAITING_ROOM, handle, True))
                continue
            at = opens + timedelta(seconds=rng.uniform(social * 0.05, social * 0.9))
            posts.append(_Post(at, number, wire.PARTICIPANT_JOINED_WAITING_ROOM, handle))
            # Zoom's side of the admission the bot decides (nothing here carries it out)
            later = at + timedelta(seconds=1)
            posts.append(_Post(later, number, wire.PARTICIPANT_ADMITTED, handle))
            posts.append(_Post(later, number, wire.PARTICIPANT_LEFT_WAITING_ROOM, handle))
            posts.append(_Post(later, number, wire.PARTICIPANT_JOINED, handle))
    return sorted(posts, key=lambda post: post.at)


def _person(handle: str) -> wire.WireParticipant:
    if handle == "lead":
        return wire.WireParticipant(
            user_id="16778240", user_name="Lead Facilitator", participant_uuid="p-lead"
        )
    index = int(handle[1:])
    return wire.WireParticipant(
        user_id=str(16778240 + 1024 * index),
        user_name=f"Member{index} Sample{index}",
        participant_uuid=f"p-{handle}",
    )


class _Senders:
    """Posts over keep-alive connections to every replica in turn; stamps each POST."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.queue: asyncio.Queue[tuple[str, str, bytes] | None] = asyncio.Queue()
        self.posted: dict[str, list[tuple[float, str]]] = defaultdict(list)  # uuid -> (t, who)
        self.statuses: dict[tuple[int, int], int] = defaultdict(int)  # (replica, status)
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        for number in range(_SENDERS):
            replica = number % len(self.ports)
            self.tasks.append(asyncio.create_task(self._run(replica)))

    async def _run(self, replica: int) -> None:
        port = self.ports[replica]
        connection = await Connection.open(port)
        try:
            while (item := await self.queue.get()) is not None:
                uuid, name, body = item
                headers = wire.signed_headers(secret=SECRET, body=body, at=datetime.now(UTC))
                self.posted[uuid].append((time.time(), name))
                status = 0
                for _attempt in range(2):  # uvicorn closes a connection idle for 5 s: reopen
                    try:
                        status = await connection.post("/zoom/webhook", body, headers)
                        break
                    except (OSError, BenchError, asyncio.IncompleteReadError):
                        connection.close()
                        connection = await Connection.open(port)
                self.statuses[(replica, status)] += 1
        finally:
            connection.close()

    async def stop(self, time_limit: float) -> None:
        for _ in self.tasks:
            self.queue.put_nowait(None)
        await asyncio.wait_for(asyncio.gather(*self.tasks), timeout=time_limit)


@dataclass(frozen=True, slots=True)
class _Landed:
    """An action in the action log, as the benchmark reads it back."""

    uuid: str
    kind: str
    #: the Zoom user id the action names ("" for none)
    target: str
    owner: str
    #: the journal entry whose step planned it (None: a timer's or a sweep's)
    entry: int | None
    #: when its step planned it, epoch seconds (the step's one clock reading)
    planned: float
    #: when it was carried out, epoch seconds
    landed: float


def _actions(url: str) -> list[_Landed]:
    """Every action in the log."""
    engine = make_engine(url)
    found = []
    try:
        with session_scope(make_session_factory(engine)) as session:
            for row in session.scalars(select(RuntimeAction)):
                action = decode_action(row.payload)
                target = getattr(getattr(action, "target", None), "user_id", "") or ""
                moment = row.executed_at or row.created_at
                cause = row.action_key.partition(":")[0]
                entry = int(cause[1:]) if cause[:1] == "j" and cause[1:].isdigit() else None
                found.append(
                    _Landed(
                        uuid=row.meeting_uuid,
                        kind=row.kind,
                        target=target,
                        owner=row.owner,
                        entry=entry,
                        planned=row.created_at.timestamp(),
                        landed=moment.timestamp(),
                    )
                )
    finally:
        engine.dispose()
    return found


def _arrivals(url: str) -> dict[int, float]:
    """Journal entry id -> when its request reached the receiver (epoch seconds)."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            rows = session.execute(select(JournalEntry.id, JournalEntry.received_at))
            return {entry: received.timestamp() for entry, received in rows}
    finally:
        engine.dispose()


def _ready(port: int) -> bool:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2.0, trust_env=False)
    except httpx.TransportError:
        return False
    return response.status_code == 200


async def _wait(predicate: object, *, time_limit: float, step: float = 0.25) -> bool:
    assert callable(predicate)
    deadline = time.perf_counter() + time_limit
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(step)
    return True


def run_serve_mode(args: argparse.Namespace) -> int:
    """The benchmark in serve mode (see the module docstring); exit status 1 if incomplete."""
    with tempfile.TemporaryDirectory(prefix="balint-bench-meetings-") as tmp:
        return asyncio.run(_run(args, Path(tmp)))


async def _run(args: argparse.Namespace, folder: Path) -> int:
    url = args.postgres or f"sqlite:///{folder / 'meetings.db'}"
    replicas = args.replicas if args.postgres else 1
    key = generate_key()
    prepare_database(url, key, args.members)
    # time to start the replicas and their workers before the room opens
    opens = datetime.now(UTC) + timedelta(seconds=args.startup)
    start = (opens + timedelta(seconds=args.social)).replace(microsecond=0)
    serves: list[ServeProcess] = []
    for replica in range(replicas):
        config = folder / f"replica-{replica}.toml"
        config.write_text(
            _config(url, key, start, workers=args.workers, instance=f"bench-{replica}")
        )
        port = free_port()
        argv = [sys.executable, "-m", "bot.cli", "--config", str(config), "serve"]
        argv += ["--host", "127.0.0.1", "--port", str(port)]
        serves.append(ServeProcess(argv, port=port, url=url))
    uuids = [
        f"bench-{n:04d}-{random.Random(n).getrandbits(40):010x}==" for n in range(args.meetings)
    ]
    identities = [
        wire.MeetingIdentity(
            meeting_id=MEETING_ID, uuid=uuid, topic=GROUP, timezone=ZONE, start_time=opens
        )
        for uuid in uuids
    ]
    posts = _evening(args.meetings, args.members, args.latecomers, opens, start, args.seed)
    held = {(uuids[p.meeting], _person(p.handle).user_id) for p in posts if p.latecomer}
    try:
        for serve in serves:
            serve.__enter__()
        ports = [serve.port for serve in serves]
        if not await _wait(lambda: all(_ready(port) for port in ports), time_limit=60):
            raise BenchError("serve did not become ready (its workers)")
        processes = [len(family(serve.pid)) for serve in serves]
        cpu_before = _cpu(serves)
        senders = _Senders(ports)
        await senders.start()
        for post in posts:
            delay = post.at.timestamp() - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            meeting = identities[post.meeting]
            if post.handle:
                person = _person(post.handle)
                body = wire.participant_body(
                    post.event, meeting=meeting, participant=person, at=post.at
                )
                name = person.user_id
            else:
                body, name = wire.meeting_body(post.event, meeting=meeting, at=post.at), ""
            senders.queue.put_nowait((uuids[post.meeting], name, body))
        meditation_end = (start + MEDITATION).timestamp()

        def admitted() -> bool:
            done = {(a.uuid, a.target) for a in _actions(url) if a.kind == "admit"}
            return held <= done

        await asyncio.sleep(max(0.0, meditation_end - time.time()))
        all_in = await _wait(admitted, time_limit=args.time_limit, step=1.0)
        for number, meeting in enumerate(identities):
            ended = wire.meeting_body(wire.MEETING_ENDED, meeting=meeting, at=datetime.now(UTC))
            senders.queue.put_nowait((uuids[number], "", ended))
        await senders.stop(time_limit=60)
        await _wait(lambda: unprocessed_rows(url) == 0, time_limit=args.time_limit, step=0.5)
        left = unprocessed_rows(url)
        receivers_cpu, workers_cpu = _cpu(serves)
        cpu = (receivers_cpu - cpu_before[0], workers_cpu - cpu_before[1])
        actions = _actions(url)
        arrivals = _arrivals(url)
    finally:
        for serve in serves:
            serve.stop()
            serve.cleanup()
    return _report(
        args,
        senders,
        actions,
        arrivals,
        held,
        (opens.timestamp(), start.timestamp(), meditation_end),
        processes,
        all_in,
        left,
        cpu,
    )


def _report(
    args: argparse.Namespace,
    senders: _Senders,
    actions: list[_Landed],
    arrivals: dict[int, float],
    held: set[tuple[str, str]],
    moments: tuple[float, float, float],
    processes: list[int],
    all_in: bool,
    left: int,
    cpu: tuple[float, float],
) -> int:
    opens, start, meditation_end = moments  # epoch seconds
    caused: list[float] = []
    admissions: list[float] = []
    by_kind: dict[str, int] = defaultdict(int)
    by_owner: dict[str, int] = defaultdict(int)
    #: of each webhook -> action pair whose action a journal entry's step planned: (the
    #: pair's time, POST -> the receiver, the receiver -> the step, the step -> carried out)
    spans: list[tuple[float, float, float, float]] = []
    #: each pair: (its time in ms, when its webhook was posted, epoch seconds)
    pairs: list[tuple[float, float]] = []
    for action in actions:
        by_kind[action.kind] += 1
        by_owner[action.owner] += 1
        if action.kind == "admit" and (action.uuid, action.target) in held:
            admissions.append((action.landed - meditation_end) * 1000)
            continue
        if not action.target:
            continue
        posts = senders.posted[action.uuid]
        causes = [t for t, name in posts if name == action.target and t <= action.landed]
        if not causes:
            continue
        posted = max(causes)
        caused.append((action.landed - posted) * 1000)
        pairs.append((caused[-1], posted))
        received = arrivals.get(action.entry) if action.entry is not None else None
        if received is not None and posted <= received:
            spans.append(
                (
                    caused[-1],
                    (received - posted) * 1000,
                    (action.planned - received) * 1000,
                    (action.landed - action.planned) * 1000,
                )
            )
    replicas = len(processes)
    store = "PostgreSQL" if args.postgres else "SQLite"
    print(
        f"serve mode on {store}: {replicas} replica(s) x {args.workers} meeting worker(s) "
        f"(processes per replica: {processes}); {args.meetings} meetings x {args.members} "
        f"members ({args.latecomers} latecomers each); journal left unprocessed={left}"
    )
    for replica in range(replicas):
        acked = senders.statuses.get((replica, 200), 0)
        total = sum(n for (r, _s), n in senders.statuses.items() if r == replica)
        others = ", ".join(
            f"{status or 'no answer'}: {n}"
            for (r, status), n in sorted(senders.statuses.items())
            if r == replica and status != 200
        )
        print(
            f"replica {replica}: webhooks posted={total} acked={acked}"
            + (f" (not acked, by status: {others}; Zoom would retry them)" if others else "")
        )
    print("actions by lease owner: " + ", ".join(f"{o}={n}" for o, n in sorted(by_owner.items())))
    print("actions: " + ", ".join(f"{kind}={count}" for kind, count in sorted(by_kind.items())))
    p99 = percentile(caused, 99)
    slowest = max(pairs, default=(0.0, 0.0))
    print(
        f"webhook -> action: pairs={len(caused)} p50={percentile(caused, 50):.1f}ms "
        f"p99={p99:.1f}ms max={slowest[0]:.1f}ms "
        f"(posted {datetime.fromtimestamp(slowest[1], UTC):%H:%M:%S.%f} UTC) "
        "(target p99 < 250 ms) "
        f"{'PASS' if caused and p99 < 250 else 'MISS'}"
    )
    _print_spans(spans)
    _print_tail_moments(pairs, senders.posted, opens=opens, start=start)
    expected = len(held)
    held_p99 = percentile(admissions, 99)
    print(
        f"admission at the meditation's end: admitted={len(admissions)}/{expected} "
        f"p50={percentile(admissions, 50):.1f}ms p99={held_p99:.1f}ms "
        f"max={max(admissions, default=0.0):.1f}ms (target p99 < 1 s) "
        f"{'PASS' if admissions and held_p99 < 1000 else 'MISS'} all_in={all_in}"
    )
    acked = sum(n for (_r, status), n in senders.statuses.items() if status == 200)
    receivers, workers = cpu
    print(
        f"CPU over the evening: receiver(s) {receivers:.1f} s, meeting worker(s) {workers:.1f} s; "
        f"per acked webhook: receiver {1000 * receivers / max(acked, 1):.2f} ms, "
        f"workers {1000 * workers / max(acked, 1):.2f} ms"
    )
    return 0 if all_in and len(admissions) == expected and left == 0 else 1


def _print_spans(spans: list[tuple[float, float, float, float]]) -> None:
    """Where webhook -> action's time went: its median pair and the mean of its slowest 1 %,
    each cut into POST -> the receiver (the request's arrival, `received_at`), the receiver
    -> the step that planned the action (its clock reading: the journal's commit, the
    worker's wake-up and the steps before it) and the step -> carried out (the step itself,
    its commit and the claim)."""
    if not spans:
        return
    ordered = sorted(spans)
    slowest = ordered[-max(1, len(ordered) // 100) :]
    median = ordered[(len(ordered) - 1) // 2]

    def cut(label: str, parts: tuple[float, float, float, float]) -> str:
        total, posted, waited, carried = parts
        return (
            f"{label} {total:.1f}ms = POST -> receiver {posted:.1f} + receiver -> step "
            f"{waited:.1f} + step -> carried out {carried:.1f}"
        )

    columns = zip(*slowest, strict=True)
    total, posted, waited, carried = (sum(column) / len(slowest) for column in columns)
    print(
        f"webhook -> action by stage ({len(spans)} pairs whose action a webhook's step "
        f"planned): {cut('median pair', median)}; slowest 1 % ({len(slowest)} pairs): "
        + cut("mean", (total, posted, waited, carried))
    )


def _print_tail_moments(
    pairs: list[tuple[float, float]],
    posted: dict[str, list[tuple[float, str]]],
    *,
    opens: float,
    start: float,
) -> None:
    """When the slowest 1 % of webhook -> action pairs were posted (seconds after the room
    opened; pairs posted within half a second of each other make one moment), and how busy
    the evening's posts were then: the most webhooks posted in any `BUSY_WINDOW` seconds from
    half a second before the moment to its end, beside the median of the same count taken
    every quarter second of the social time. Queueing behind a burst of the evening's own
    schedule shows as a moment busier than that median; a stall of the service, as one that
    is not.
    """
    if not pairs:
        return
    ordered = sorted(pairs)
    tail = sorted(when for _ms, when in ordered[-max(1, len(ordered) // 100) :])
    moments: list[list[float]] = []
    for when in tail:
        if moments and when - moments[-1][-1] <= 0.5:
            moments[-1].append(when)
        else:
            moments.append([when])
    times = sorted(when for items in posted.values() for when, _name in items)

    def busiest(first: float, last: float) -> int:
        low, high = bisect.bisect_left(times, first), bisect.bisect_right(times, last)
        return max(
            (bisect.bisect_left(times, times[i] + BUSY_WINDOW) - i for i in range(low, high)),
            default=0,
        )

    # the social time after the meetings' own start (every meeting's `meeting.started` at once)
    quarters = int((start - opens - 1.5) / 0.25)
    typical = statistics.median(
        [busiest(opens + 1.0 + 0.25 * n, opens + 1.5 + 0.25 * n) for n in range(quarters)] or [0]
    )
    print(
        f"slowest 1 % of pairs by when posted (s after the room opened: pairs, most webhooks "
        f"posted in {BUSY_WINDOW * 1000:.0f} ms from 0.5 s before; the social time's median: "
        f"{typical:g}): "
        + "; ".join(
            f"+{moment[0] - opens:.1f}: {len(moment)}, {busiest(moment[0] - 0.5, moment[-1])}"
            for moment in moments
        )
    )


def _cpu(serves: list[ServeProcess]) -> tuple[float, float]:
    """CPU seconds so far of the replicas' receiver processes and of their meeting workers
    (the live ones: a worker restarted meanwhile loses its predecessor's)."""
    receivers = sum(cpu_seconds(serve.pid) for serve in serves)
    return receivers, sum(family_cpu_seconds(serve.pid) for serve in serves) - receivers
