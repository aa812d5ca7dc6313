"""Benchmark: resident memory of `balint-bot serve`, idle and with 200 meetings under way.

`python -m bench.memory [--meetings N] [--members M] [--concurrency C] [--workers W]
[--location-answers]`

Starts the real `balint-bot serve` process (fresh, migrated SQLite file; `meeting_adapter =
"none"`, so the runtime keeps every meeting's state and plans its actions but drives no
Zoom) with `W` meeting worker processes, and reads the `VmRSS` of all its processes
together (the receiver and its workers) from `/proc` once it is idle. Then it posts, in Zoom's wire
format (`bot.meeting.zoom_wire`), N meetings' evenings as webhooks: each meeting's
`meeting.started` and its M members arriving in the waiting room, admitted and joining,
then half of them leaving and coming back, over C keep-alive connections; and samples the
resident memory every 50 ms until the background worker has processed every journaled
event (exit status 1 if some is left unprocessed). Prints idle, peak and settled RSS in
MiB, all processes summed (the receiver's own beside it; and their PSS, shared pages
counted once); target under 250 MiB.

`--location-answers` runs the evening of a group with a safety plan: `[agenda]
ask_location` on, a data key made for the run, and each member answering the bot's question
privately once admitted, which the receiver seals before the journal sees it (so `serve`
loads `cryptography`, which it otherwise never needs; `storage.crypto`). The people are not
on a roster, and the engine keeps only a member's answer, so none is kept: what this adds to
the evening is the receiver sealing every answer.
Loopback only; the load is bounded in count and every wait in time.
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bench._common import (
    ServeProcess,
    closed_loop,
    family,
    family_pss_mib,
    family_rss_mib,
    rss_mib,
    stop_on_sigterm,
    summary,
    unprocessed_rows,
)
from bot.meeting import zoom_wire as wire
from storage.crypto import generate_key
from storage.db import make_engine, make_session_factory, session_scope
from storage.tables.journal import JournalEntry
from webhooks.sealing import SEALED_FIELD

__all__ = ["evening_bodies", "main"]

_TARGET_MIB = 250.0


#: The bot's display name (`[zoom] bot_name`'s default): a private line to it is sealed.
_BOT = wire.ChatParty(session_id="bot-session", name="Balint Companion", party_type="host")


def evening_bodies(meetings: int, members: int, *, answers: bool = False) -> list[bytes]:
    """Webhook bodies for `meetings` meetings of `members` members, interleaved in time;
    with `answers`, each member tells the bot privately where they are joining from."""
    start = datetime.now(UTC) - timedelta(minutes=5)
    per_meeting: list[list[bytes]] = []
    for number in range(meetings):
        meeting = wire.MeetingIdentity(
            meeting_id="85746065432",  # the group's one meeting: serve keeps no other
            uuid=f"bench-memory-{number:04d}==",
            start_time=start,
        )
        bodies = [wire.meeting_body(wire.MEETING_STARTED, meeting=meeting, at=start)]
        for index in range(members):
            person = wire.WireParticipant(
                user_id=str(16778240 + 1024 * index),
                user_name=f"Member{index} Sample",
                participant_uuid=f"p-{number}-{index}",
            )
            at = start + timedelta(seconds=5 + index)
            for event in (
                wire.PARTICIPANT_JOINED_WAITING_ROOM,
                wire.PARTICIPANT_ADMITTED,
                wire.PARTICIPANT_LEFT_WAITING_ROOM,
                wire.PARTICIPANT_JOINED,
            ):
                bodies.append(
                    wire.participant_body(event, meeting=meeting, participant=person, at=at)
                )
            if answers:
                sender = wire.ChatParty(session_id=person.participant_uuid, name=person.user_name)
                bodies.append(
                    wire.chat_body(
                        meeting=meeting,
                        sender=sender,
                        recipient=_BOT,
                        message_id=f"m-{number}-{index}",
                        text=f"Sample Clinic, room {index}, 555-0100",
                        at=at + timedelta(seconds=30),
                    )
                )
            if index % 2:
                later = at + timedelta(seconds=60)
                bodies.append(
                    wire.participant_body(
                        wire.PARTICIPANT_LEFT, meeting=meeting, participant=person, at=later
                    )
                )
                back = wire.WireParticipant(
                    user_id=str(int(person.user_id) + 512),
                    user_name=person.user_name,
                    participant_uuid=person.participant_uuid,
                )
                bodies.append(
                    wire.participant_body(
                        wire.PARTICIPANT_JOINED,
                        meeting=meeting,
                        participant=back,
                        at=later + timedelta(seconds=20),
                    )
                )
        per_meeting.append(bodies)
    interleaved: list[bytes] = []
    for step in range(max(len(bodies) for bodies in per_meeting)):
        interleaved.extend(bodies[step] for bodies in per_meeting if step < len(bodies))
    return interleaved


def sealed_answers(url: str) -> int:
    """How many webhooks the journal at `url` holds with a line the receiver sealed."""
    engine = make_engine(url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            bodies = session.scalars(select(JournalEntry.body))
            return sum(1 for body in bodies if SEALED_FIELD.encode() in body)
    finally:
        engine.dispose()


class _Sampler:
    """Reads the RSS of a process and its children every `period` seconds on a thread;
    keeps the largest sum."""

    def __init__(self, pid: int, period: float = 0.05) -> None:
        self.pid, self.period = pid, period
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, family_rss_mib(self.pid))
            except OSError:
                return
            self._stop.wait(self.period)

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def main(argv: list[str] | None = None) -> int:
    stop_on_sigterm()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--meetings", type=int, default=200)
    parser.add_argument("--members", type=int, default=12)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--time-limit", type=float, default=300.0, help="seconds per stage")
    parser.add_argument("--workers", type=int, default=1, help="serve's meeting_workers")
    parser.add_argument(
        "--location-answers",
        action="store_true",
        help="a group with a safety plan: each member answers the bot privately",
    )
    args = parser.parse_args(argv)
    bodies = evening_bodies(args.meetings, args.members, answers=args.location_answers)
    serve = ServeProcess.serve(
        server={"meeting_workers": args.workers},
        agenda={"ask_location": True} if args.location_answers else None,
        env={"BALINT_DATA_KEY": generate_key()} if args.location_answers else None,
    )
    try:
        with serve:
            started = time.perf_counter()
            while len(family(serve.pid)) < 1 + args.workers:
                if time.perf_counter() - started > args.time_limit:
                    break
                time.sleep(0.1)
            time.sleep(4.0)  # let start-up allocations settle (the workers' included)
            idle = family_rss_mib(serve.pid)
            receiver_idle, _ = rss_mib(serve.pid)
            processes = len(family(serve.pid))
            print(
                f"serve idle: rss={idle:.1f} MiB in {processes} processes "
                f"(receiver {receiver_idle:.1f} MiB)"
            )
            print(f"serve idle: pss={family_pss_mib(serve.pid):.1f} MiB (shared pages once)")
            with _Sampler(serve.pid) as sampler:
                load = asyncio.run(
                    closed_loop(
                        serve.port,
                        bodies,
                        concurrency=args.concurrency,
                        time_limit=args.time_limit,
                    )
                )
                shape = f"{args.meetings} meetings x {args.members} members"
                print(f"webhooks of {shape}: {summary(load)}")
                started = time.perf_counter()
                left = unprocessed_rows(serve.url)
                while left and time.perf_counter() - started < args.time_limit:
                    time.sleep(0.5)
                    left = unprocessed_rows(serve.url)
                drained = time.perf_counter() - started
            settled = family_rss_mib(serve.pid)
            settled_pss = family_pss_mib(serve.pid)
            peak = max(settled, sampler.peak)
            print(f"worker processed the backlog {drained:.1f}s after the last ack (left={left})")
            if args.location_answers:
                sealed, answers = sealed_answers(serve.url), args.meetings * args.members
                print(f"location answers sealed by the receiver: {sealed} of {answers}")
            print(
                f"serve under load (all processes): peak rss={peak:.1f} MiB, "
                f"after processing={settled:.1f} MiB "
                f"(target < {_TARGET_MIB:.0f} MiB) {'PASS' if peak < _TARGET_MIB else 'MISS'}"
            )
            print(f"serve after processing: pss={settled_pss:.1f} MiB (shared pages once)")
    finally:
        serve.cleanup()
    return 0 if left == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
