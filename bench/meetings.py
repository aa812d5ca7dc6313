"""Benchmark: many simulated meetings at once through the real receiver and runtime.

`python -m bench.meetings [--mode serve|in-process] [--meetings N] [--members M]
[--latecomers L] [--social S] [--workers W] [--postgres URL --replicas R]
[--speed X] [--sweep-interval I]`

`--mode serve` (the default) runs the real `balint-bot serve` command, its receiver and
meeting worker processes, on SQLite or (`--postgres`) on a throwaway PostgreSQL database
with R replicas: see `bench.meetings_serve`. `--mode in-process` is the run described
below, the whole service in the benchmark's own process with simulated meetings reacting
to every action (it measures the runtime alone, not the process split).

Theory of operation (in-process). One asyncio loop holds the whole `balint-bot serve` app
(`bot.service.build_service`: receiver, journal, worker, APScheduler doorbell, leases) under
uvicorn on a loopback port with a fresh, migrated SQLite file, and N `SimulatedMeeting`s
(one per Zoom meeting uuid, the simulator's wire-format webhooks signed with the app's
secret). Every webhook a meeting produces is POSTed over HTTP by a pool of keep-alive
senders; the service's `control_factory` hands the worker, for each meeting uuid, a
recording wrapper around that meeting, so each action the runtime carries out is stamped
with the wall clock as it lands on the meeting. A subprocess could not be observed this way,
hence in process, as `bot.demo` does.

The evening, the same for every meeting (an organisation whose groups all meet at the same
hour): the room opens S seconds before the scheduled start (the social time), a
facilitator and M - L members arrive spread over it, and L latecomers arrive during the
meditation (1 minute, the shortest the agenda allows), are held in the waiting room, and
must be admitted when it ends. The meetings end a few seconds later.

Figures: p50/p99 from a webhook's POST to the action it causes (an action naming a
participant is paired with the latest webhook about that participant posted before it;
target p99 < 250 ms), and the admission delay of the held latecomers after the meditation's
end (from the moment it ends to their `admit`). With `--speed X` > 1 the service's clock runs
X times faster than the wall clock (for quick runs and the smoke test); the doorbell then
rings late (it waits on the wall clock) and the worker's sweep (`--sweep-interval`) fires
the due wake-up instead, so at speed > 1 the admission delay measures the sweep, not the
doorbell. Every wait is bounded in time.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import random
import socket
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args
from zoneinfo import ZoneInfo

import uvicorn
from pydantic import SecretStr
from sqlalchemy import func, select

from bench._common import (
    SECRET,
    BenchError,
    Connection,
    percentile,
    stop_on_sigterm,
    unprocessed_rows,
)
from bench.export import roster_csv
from bot.config import (
    AgendaSettings,
    BotSettings,
    CalendarSettings,
    GroupSettings,
    Settings,
    StorageSettings,
    Weekday,
    ZoomSettings,
)
from bot.meeting import zoom_wire as wire
from bot.meeting.port import Addressee, ChatTo, EventListener, MeetingControl, ParticipantInfo
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.service import build_service
from storage.clock import system_clock
from storage.crypto import Keyring, generate_key
from storage.db import make_engine, make_session_factory, session_scope
from storage.migrate import upgrade
from storage.roster import import_roster, parse_roster
from storage.tables.journal import JournalEntry

__all__ = ["GROUP", "ScaledClock", "main", "prepare_database"]

GROUP = "Bench Balint group"
ZONE = "America/Toronto"
MEDITATION = timedelta(minutes=1)
_SENDERS = 32


class ScaledClock:
    """Aware UTC time that runs `speed` times faster than the wall clock from now on."""

    def __init__(self, speed: float) -> None:
        self.speed = speed
        self.origin = datetime.now(UTC)
        self.wall_origin = time.perf_counter()

    def __call__(self) -> datetime:
        return self.origin + timedelta(
            seconds=(time.perf_counter() - self.wall_origin) * self.speed
        )

    def wall_at(self, moment: datetime) -> float:
        """The `perf_counter` reading at which this clock shows `moment`."""
        return self.wall_origin + (moment - self.origin).total_seconds() / self.speed


@dataclass(slots=True)
class Stamps:
    """What happened when, by meeting uuid (wall clock, `perf_counter` seconds)."""

    webhooks: dict[str, list[tuple[float, str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # (posted, event, user_id)
    actions: dict[str, list[tuple[float, str, str]]] = field(
        default_factory=lambda: defaultdict(list)
    )  # (landed, kind, user_id)
    failures: int = 0
    statuses: dict[int, int] = field(default_factory=lambda: defaultdict(int))


class Recording:
    """A `MeetingControl` that stamps each call with the wall clock, then delegates."""

    def __init__(self, meeting: SimulatedMeeting, uuid: str, stamps: Stamps) -> None:
        self.meeting, self.uuid, self.stamps = meeting, uuid, stamps

    def _stamp(self, kind: str, user_id: str = "") -> None:
        self.stamps.actions[self.uuid].append((time.perf_counter(), kind, user_id))

    async def admit(self, user_id: str) -> None:
        self._stamp("admit", user_id)
        await self.meeting.admit(user_id)

    async def admit_all(self) -> None:
        self._stamp("admit_all")
        await self.meeting.admit_all()

    async def put_in_waiting_room(self, user_id: str) -> None:
        self._stamp("put_in_waiting_room", user_id)
        await self.meeting.put_in_waiting_room(user_id)

    async def rename(self, user_id: str, new_name: str) -> None:
        self._stamp("rename", user_id)
        await self.meeting.rename(user_id, new_name)

    async def mute(self, user_id: str, *, allow_self_unmute: bool = True) -> None:
        self._stamp("mute", user_id)
        await self.meeting.mute(user_id, allow_self_unmute=allow_self_unmute)

    async def stop_video(self, user_id: str) -> None:
        self._stamp("stop_video", user_id)
        await self.meeting.stop_video(user_id)

    async def ask_unmute(self, user_id: str) -> None:
        self._stamp("ask_unmute", user_id)
        await self.meeting.ask_unmute(user_id)

    async def ask_start_video(self, user_id: str) -> None:
        self._stamp("ask_start_video", user_id)
        await self.meeting.ask_start_video(user_id)

    async def allow_self_unmute(self, allowed: bool) -> None:
        self._stamp("allow_self_unmute")
        await self.meeting.allow_self_unmute(allowed)

    async def allow_self_video(self, allowed: bool) -> None:
        self._stamp("allow_self_video")
        await self.meeting.allow_self_video(allowed)

    async def stop_recording(self) -> None:
        self._stamp("stop_recording")
        await self.meeting.stop_recording()

    async def send_chat(self, text: str, *, to: ChatTo, user_id: str = "") -> None:
        self._stamp(f"send_chat:{to}", user_id)
        await self.meeting.send_chat(text, to=to, user_id=user_id)

    async def resolve(self, who: Addressee) -> str:
        return await self.meeting.resolve(who)

    async def list_participants(self) -> list[ParticipantInfo]:
        return await self.meeting.list_participants()

    async def list_waiting_room(self) -> list[ParticipantInfo]:
        return await self.meeting.list_waiting_room()

    def set_listener(self, listener: EventListener | None) -> None:
        self.meeting.set_listener(listener)


@dataclass(frozen=True, slots=True)
class Arrival:
    at: datetime
    meeting: int
    handle: str
    name: str
    latecomer: bool


def _settings(url: str, key: str, start: datetime) -> Settings:
    local = start.astimezone(ZoneInfo(ZONE))
    weekday: Weekday = get_args(Weekday)[local.weekday()]
    return Settings(
        zoom=ZoomSettings(webhook_secret_tokens=[SecretStr(SECRET)]),
        storage=StorageSettings(url=url),
        group=GroupSettings(
            name=GROUP,
            timezone=ZONE,
            weekday=weekday,
            start_time=local.time().replace(tzinfo=None, microsecond=0),
            # the benchmark runs any day of the year: a calendar without the summer break
            calendar=CalendarSettings(breaks=[]),
        ),
        agenda=AgendaSettings(meditation_minutes=1, opens_minutes_before=1, reflection_minutes=0),
        bot=BotSettings(meeting_adapter="simulator"),
        data_key=SecretStr(key),
    )


def _arrivals(
    meetings: int, members: int, latecomers: int, opens: datetime, start: datetime, seed: int
) -> list[Arrival]:
    rng = random.Random(seed)
    social = (start - opens).total_seconds()
    arrivals: list[Arrival] = []
    for number in range(meetings):
        arrivals.append(
            Arrival(
                opens + timedelta(seconds=rng.uniform(0.0, social * 0.2)),
                number,
                "lead",
                "Lead Facilitator",
                False,
            )
        )
        for index in range(1, members + 1):
            late = index > members - latecomers
            if late:  # during the meditation, not in its last five seconds
                offset = rng.uniform(2.0, MEDITATION.total_seconds() - 5.0)
                at = start + timedelta(seconds=offset)
            else:
                at = opens + timedelta(seconds=rng.uniform(social * 0.1, social * 0.95))
            arrivals.append(Arrival(at, number, f"m{index}", f"Member{index} Sample{index}", late))
    return sorted(arrivals, key=lambda arrival: arrival.at)


def prepare_database(url: str, key: str, members: int) -> None:
    """Migrate the database at `url` and import a roster of `members` for `GROUP`.

    Raises:
        BenchError: the database holds a journal already (an earlier run's: its meetings
            have this run's uuids, so its actions would be counted as this run's).
    """
    upgrade(url)
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            earlier = session.scalar(select(func.count()).select_from(JournalEntry))
        if earlier:
            raise BenchError(
                f"the database is not a throwaway one: it holds {earlier} journal entries "
                "(give an empty database)"
            )
        now = system_clock()
        rows = parse_roster(roster_csv(members, [], seed=7), today=now.date())
        with session_scope(make_session_factory(engine)) as session:
            import_roster(
                session, group_name=GROUP, rows=rows, keyring=Keyring.from_text(key), now=now
            )
    finally:
        engine.dispose()


class _Senders:
    """Posts queued webhooks over a pool of keep-alive connections, stamping each POST."""

    def __init__(self, port: int, stamps: Stamps) -> None:
        self.port, self.stamps = port, stamps
        self.queue: asyncio.Queue[tuple[str, wire.Webhook] | None] = asyncio.Queue()
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, count: int) -> None:
        for _ in range(count):
            connection = await Connection.open(self.port)
            self.tasks.append(asyncio.create_task(self._run(connection)))

    def submit(self, uuid: str, webhook: wire.Webhook) -> None:
        self.queue.put_nowait((uuid, webhook))

    async def _run(self, connection: Connection) -> None:
        try:
            while (item := await self.queue.get()) is not None:
                uuid, webhook = item
                user_id = str(
                    webhook.json()["payload"]["object"].get("participant", {}).get("user_id", "")
                )
                self.stamps.webhooks[uuid].append((time.perf_counter(), webhook.event, user_id))
                status = 0
                for _attempt in range(2):  # uvicorn closes a connection idle for 5 s: reopen
                    try:
                        status = await connection.post(
                            "/zoom/webhook", webhook.body, webhook.headers
                        )
                        break
                    except (OSError, BenchError, asyncio.IncompleteReadError):
                        connection.close()
                        connection = await Connection.open(self.port)
                if status:
                    self.stamps.statuses[status] += 1
                else:
                    self.stamps.failures += 1
        finally:
            connection.close()

    async def stop(self, time_limit: float) -> None:
        for _ in self.tasks:
            self.queue.put_nowait(None)
        await asyncio.wait_for(asyncio.gather(*self.tasks), timeout=time_limit)


async def _wait(predicate: Callable[[], bool], *, time_limit: float, step: float = 0.1) -> bool:
    deadline = time.perf_counter() + time_limit
    while not predicate():
        if time.perf_counter() > deadline:
            return False
        await asyncio.sleep(step)
    return True


async def _sleep_until(clock: ScaledClock, moment: datetime) -> None:
    delay = clock.wall_at(moment) - time.perf_counter()
    if delay > 0:
        await asyncio.sleep(delay)


async def run(args: argparse.Namespace, folder: Path) -> int:
    url = f"sqlite:///{folder / 'meetings.db'}"
    key = generate_key()
    clock = ScaledClock(args.speed)
    opens = clock() + timedelta(seconds=2 * args.speed)  # time to start the server first
    start = (opens + timedelta(seconds=args.social)).replace(microsecond=0)
    settings = _settings(url, key, start)
    prepare_database(url, key, args.members)
    stamps = Stamps()
    meetings: dict[str, SimulatedMeeting] = {}
    controls: dict[str, Recording] = {}
    uuids: list[str] = []
    senders: _Senders | None = None
    held: dict[str, set[str]] = defaultdict(set)  # latecomers' user ids, by meeting uuid

    def control(meeting_uuid: str) -> MeetingControl:
        return controls[meeting_uuid]

    for number in range(args.meetings):
        uuid = f"bench-{number:04d}-{random.Random(number).getrandbits(40):010x}=="
        identity = wire.MeetingIdentity(
            meeting_id=f"8{number:010d}", uuid=uuid, topic=GROUP, timezone=ZONE, start_time=opens
        )
        meeting = SimulatedMeeting(
            MeetingOptions(webhook_secret=SECRET, identity=identity, seed=number), clock=clock
        )

        def sink(webhook: wire.Webhook, uuid: str = uuid) -> None:
            assert senders is not None
            senders.submit(uuid, webhook)

        async def async_sink(
            webhook: wire.Webhook, deliver: Callable[[wire.Webhook], None] = sink
        ) -> None:
            deliver(webhook)

        meeting.set_webhook_sink(async_sink)
        meetings[uuid] = meeting
        controls[uuid] = Recording(meeting, uuid, stamps)
        uuids.append(uuid)

    app = build_service(
        settings, control_factory=control, clock=clock, sweep_interval=args.sweep_interval
    )
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(app, log_config=None, log_level="warning", proxy_headers=True, lifespan="on")
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        if not await _wait(lambda: server.started or serving.done(), time_limit=30):
            raise TimeoutError("the service did not start")
        senders = _Senders(port, stamps)
        await senders.start(_SENDERS)
        arrivals = _arrivals(
            args.meetings, args.members, args.latecomers, opens, start, seed=args.seed
        )
        await _sleep_until(clock, opens)
        for uuid in uuids:
            await meetings[uuid].start()
        for arrival in arrivals:
            await _sleep_until(clock, arrival.at)
            uuid = uuids[arrival.meeting]
            user_id = await meetings[uuid].person_joins(arrival.handle, name=arrival.name)
            if arrival.latecomer:
                held[uuid].add(user_id)
        meditation_end = start + MEDITATION
        wall_end = clock.wall_at(meditation_end)
        await _sleep_until(clock, meditation_end + timedelta(seconds=args.after * args.speed))

        def admitted() -> bool:
            return all(
                meetings[uuids[a.meeting]].where_is(a.handle) == "meeting"
                for a in arrivals
                if a.latecomer
            )

        all_in = await _wait(admitted, time_limit=args.time_limit)
        for uuid in uuids:
            await meetings[uuid].end()
        # Every webhook posted and answered first (an empty queue still has posts in flight),
        # then the journal drained.
        await senders.stop(time_limit=60)
        await _wait(lambda: unprocessed_rows(url) == 0, time_limit=args.time_limit, step=0.5)
        left = unprocessed_rows(url)
    finally:
        server.should_exit = True
        await asyncio.wait_for(serving, timeout=60)
        listener.close()
    return _report(args, stamps, held, wall_end, all_in=all_in, left=left)


def _report(
    args: argparse.Namespace,
    stamps: Stamps,
    held: dict[str, set[str]],
    wall_end: float,
    *,
    all_in: bool,
    left: int,
) -> int:
    caused: list[float] = []
    admissions: list[float] = []
    by_kind: dict[str, int] = defaultdict(int)
    uncaused = 0
    for uuid, actions in stamps.actions.items():
        webhooks = sorted(stamps.webhooks[uuid])
        for landed, kind, user_id in actions:
            by_kind[kind] += 1
            if kind == "admit" and user_id in held[uuid]:
                admissions.append(landed - wall_end)
                continue
            if not user_id:
                uncaused += 1
                continue
            causes = [posted for posted, _e, who in webhooks if who == user_id and posted <= landed]
            if causes:
                caused.append(landed - causes[-1])
            else:
                uncaused += 1
    sent = sum(len(items) for items in stamps.webhooks.values())
    ok = stamps.statuses.get(200, 0) + stamps.statuses.get(204, 0)
    print(
        f"{args.meetings} meetings x {args.members} members ({args.latecomers} latecomers each), "
        f"speed={args.speed:g}, sweep={args.sweep_interval:g}s: webhooks posted={sent} "
        f"acked={ok} failed={sent - ok} journal_left_unprocessed={left}"
    )
    print("actions: " + ", ".join(f"{kind}={count}" for kind, count in sorted(by_kind.items())))
    ms = [value * 1000 for value in caused]
    p99 = percentile(ms, 99)
    print(
        f"webhook -> action: pairs={len(ms)} p50={percentile(ms, 50):.1f}ms p99={p99:.1f}ms "
        f"max={max(ms, default=0.0):.1f}ms (target p99 < 250 ms) "
        f"{'PASS' if ms and p99 < 250 else 'MISS'}"
    )
    held_ms = [value * 1000 for value in admissions]
    expected = args.meetings * args.latecomers
    print(
        f"admission at the meditation's end: admitted={len(held_ms)}/{expected} "
        f"p50={percentile(held_ms, 50):.1f}ms p99={percentile(held_ms, 99):.1f}ms "
        f"max={max(held_ms, default=0.0):.1f}ms all_in={all_in}"
    )
    print(f"timer-driven and meeting-wide actions (no participant): {uncaused}")
    return 0 if all_in and len(held_ms) == expected and left == 0 else 1


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--mode", choices=("serve", "in-process"), default="serve")
    parser.add_argument("--workers", type=int, default=1, help="serve mode: meeting_workers")
    parser.add_argument(
        "--postgres", default="", help="serve mode: a THROWAWAY PostgreSQL database URL"
    )
    parser.add_argument("--replicas", type=int, default=2, help="serve mode with --postgres")
    parser.add_argument(
        "--startup", type=float, default=20.0, help="serve mode: seconds to start serve"
    )
    parser.add_argument("--meetings", type=int, default=200)
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--latecomers", type=int, default=3, help="per meeting, in meditation")
    parser.add_argument("--social", type=float, default=30.0, help="seconds before the start")
    parser.add_argument("--after", type=float, default=5.0, help="seconds after the meditation")
    parser.add_argument("--speed", type=float, default=1.0, help="service clock / wall clock")
    parser.add_argument("--sweep-interval", type=float, default=5.0, help="worker sweep, s")
    parser.add_argument("--time-limit", type=float, default=300.0, help="per wait, seconds")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if not 0 <= args.latecomers <= args.members:
        parser.error("--latecomers must be between 0 and --members")
    # Every meeting here is a session of one configured group, so storage's "module has more
    # than 13 sessions" warning would fire once per meeting; it says nothing about speed.
    logging.getLogger("storage.sessions").setLevel(logging.ERROR)
    try:
        if args.mode == "serve":
            from bench.meetings_serve import run_serve_mode

            if args.speed != 1.0:
                parser.error("--speed is for --mode in-process (serve runs on the real clock)")
            return run_serve_mode(args)
        with tempfile.TemporaryDirectory(prefix="balint-bench-meetings-") as tmp:
            return asyncio.run(run(args, Path(tmp)))
    except BenchError as failure:
        print(f"bench.meetings: {failure}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
