"""Storage of the durable runtime: state round trip, wake-ups, the action log, leases."""

from __future__ import annotations

import functools
import threading
from datetime import UTC, datetime, timedelta, timezone

from sqlalchemy import event
from sqlalchemy.orm import Session, sessionmaker

from storage import runtime_state as rs
from storage.db import bound_engine, session_scope
from storage.journal import Delivery, record_many

T0 = datetime(2026, 3, 4, 23, 45, tzinfo=UTC)
TTL = timedelta(seconds=10)


def test_meeting_state_round_trip_and_cursor(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        assert rs.load_meeting(s, meeting_uuid="m1") is None
        assert rs.create_meeting(s, meeting_uuid="m1", meeting_id="857", state_json="{}", now=T0)
        assert not rs.create_meeting(s, meeting_uuid="m1", meeting_id="857", state_json="x", now=T0)
    with session_scope(factory) as s:
        rs.save_state(
            s,
            meeting_uuid="m1",
            state_json='{"phase": "meditation"}',
            last_event_ts=1772643521734,
            last_now=T0 + timedelta(minutes=1),
            ended=False,
            cursors={"": 1772643521734, "p1": 1772643521000},
        )
    with session_scope(factory) as s:
        record = rs.load_meeting(s, meeting_uuid="m1")
        assert record is not None
        assert record.state_json == '{"phase": "meditation"}'
        assert record.last_event_ts == 1772643521734
        assert record.last_now == T0 + timedelta(minutes=1)
        assert record.last_now.tzinfo is not None
        assert record.cursors == {"": 1772643521734, "p1": 1772643521000}
        assert rs.live_meetings(s) == ["m1"]
        rs.save_state(
            s, meeting_uuid="m1", state_json="{}", last_event_ts=1, last_now=T0, ended=True
        )
        assert rs.live_meetings(s) == []


def test_wakeups_replace_and_due(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        rs.replace_wakeups(
            s, meeting_uuid="m1", wakeups={"a": T0, "b": T0 + timedelta(minutes=5)}, stored={}
        )
        soon = {"a": T0 + timedelta(minutes=1)}
        rs.replace_wakeups(s, meeting_uuid="m2", wakeups=soon, stored={})
    with session_scope(factory) as s:
        assert rs.pending_wakeups(s, meeting_uuid="m1") == {
            "a": T0,
            "b": T0 + timedelta(minutes=5),
        }
        assert rs.due_wakeups(s, now=T0 + timedelta(minutes=1)) == [
            ("m1", "a", T0),
            ("m2", "a", T0 + timedelta(minutes=1)),
        ]
        assert rs.due_wakeups(s, now=T0 + timedelta(minutes=1), meeting_uuid="m2") == [
            ("m2", "a", T0 + timedelta(minutes=1))
        ]
        rs.replace_wakeups(
            s,
            meeting_uuid="m1",
            wakeups={"b": T0 + timedelta(minutes=9)},
            stored={"a": T0, "b": T0 + timedelta(minutes=5)},
        )
    with session_scope(factory) as s:
        assert rs.pending_wakeups(s, meeting_uuid="m1") == {"b": T0 + timedelta(minutes=9)}


def test_wakeups_replaced_from_the_stored_set_change_only_what_moved(
    factory: sessionmaker[Session],
) -> None:
    statements: list[str] = []
    engine = bound_engine(factory)
    stored = {"a": T0, "b": T0 + timedelta(minutes=5), "c": T0 + timedelta(minutes=7)}
    wanted = {"b": T0 + timedelta(minutes=6), "c": stored["c"], "d": T0 + timedelta(minutes=8)}

    def seen(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        statements.append(statement.split()[0])

    with session_scope(factory) as s:
        rs.replace_wakeups(s, meeting_uuid="m1", wakeups=stored, stored={})
        rs.replace_wakeups(s, meeting_uuid="m2", wakeups={"a": T0}, stored={})
    event.listen(engine, "before_cursor_execute", seen)
    try:
        with session_scope(factory) as s:
            rs.replace_wakeups(s, meeting_uuid="m1", wakeups=wanted, stored=stored)
            rs.replace_wakeups(s, meeting_uuid="m1", wakeups=wanted, stored=wanted)
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    with session_scope(factory) as s:
        assert rs.pending_wakeups(s, meeting_uuid="m1") == wanted
        assert rs.pending_wakeups(s, meeting_uuid="m2") == {"a": T0}
    # a went and b moved: one delete of both; b and d: one insert; nothing for no change
    assert statements == ["DELETE", "INSERT"]


def test_a_claim_passing_a_kind_takes_the_first_other_and_leaves_that_kind_planned(
    factory: sessionmaker[Session],
) -> None:
    planned = [
        rs.PlannedAction(key="t:0", kind="send_chat", payload="{}"),
        rs.PlannedAction(key="t:1", kind="admit", payload="{}"),
        rs.PlannedAction(key="t:2", kind="send_chat", payload="{}"),
        rs.PlannedAction(key="t:3", kind="admit", payload="{}"),
    ]
    with session_scope(factory) as s:
        rs.plan_actions(s, meeting_uuid="m1", actions=planned, owner="a", now=T0)
        rs.plan_actions(s, meeting_uuid="m2", actions=planned[:1], owner="a", now=T0)
    claimed = []
    with session_scope(factory) as s:
        while (
            record := rs.claim_next_action(s, meeting_uuid="m1", owner="a", passing="send_chat")
        ) is not None:
            claimed.append((record.key, record.status))
        # only lines are left (another meeting's are not this one's)
        assert [a.key for a in rs.pending_actions(s, meeting_uuid="m1")] == ["t:0", "t:2"]
        assert rs.claim_next_action(s, meeting_uuid="m2", owner="a", passing="admit")
    assert claimed == [("t:1", "executing"), ("t:3", "executing")]
    with session_scope(factory) as s:  # a claim passing nothing takes the lines, in order
        first = rs.claim_next_action(s, meeting_uuid="m1", owner="a")
        second = rs.claim_next_action(s, meeting_uuid="m1", owner="a")
        assert (first and first.key, second and second.key) == ("t:0", "t:2")
        assert rs.claim_next_action(s, meeting_uuid="m1", owner="a") is None


def test_action_log_never_plans_a_key_twice_and_claims_once(
    factory: sessionmaker[Session],
) -> None:
    first = [
        rs.PlannedAction(key="j1:0", kind="admit", payload="{}"),
        rs.PlannedAction(key="j1:1", kind="send_chat", payload="{}"),
    ]
    with session_scope(factory) as s:
        rs.plan_actions(s, meeting_uuid="m1", actions=first, owner="a", now=T0)
        ids = [a.id for a in rs.pending_actions(s, meeting_uuid="m1")]
        assert len(ids) == 2 and ids[0] < ids[1]  # in the order given
    with session_scope(factory) as s:
        rs.plan_actions(s, meeting_uuid="m1", actions=first, owner="b", now=T0)
        rs.plan_actions(s, meeting_uuid="m1", actions=[], owner="b", now=T0)
        pending = rs.pending_actions(s, meeting_uuid="m1")
        assert [(a.id, a.key) for a in pending] == list(zip(ids, ["j1:0", "j1:1"], strict=True))
        assert len(rs.actions_for_meeting(s, meeting_uuid="m1")) == 2  # nothing logged twice
        claimed = rs.claim_next_action(s, meeting_uuid="m1", owner="a")
        assert claimed is not None and (claimed.id, claimed.status) == (ids[0], "executing")
        rs.record_outcome(s, action_id=ids[0], status="done", code="", error="", now=T0)
        claimed = rs.claim_next_action(s, meeting_uuid="m1", owner="a")
        assert claimed is not None and claimed.id == ids[1]
        assert rs.claim_next_action(s, meeting_uuid="m1", owner="b") is None  # nothing left
    with session_scope(factory) as s:
        later = [rs.PlannedAction(key="j2:0", kind="send_chat", payload="{}")]
        rs.plan_actions(s, meeting_uuid="m1", actions=later, owner="a", now=T0)
        rs.plan_actions(s, meeting_uuid="m2", actions=later, owner="a", now=T0)
    with session_scope(factory) as s:
        # executing -> interrupted; planned before the cut-off -> expired; other meetings alone
        left = rs.abandon_leftovers(s, meeting_uuid="m1", planned_before=T0 + timedelta(1))
        assert left == (1, 1)
        assert rs.abandon_leftovers(s, meeting_uuid="m1", planned_before=T0) == (0, 0)
        log = rs.actions_for_meeting(s, meeting_uuid="m1")
        assert [(a.key, a.status) for a in log] == [
            ("j1:0", "done"),
            ("j1:1", "interrupted"),
            ("j2:0", "expired"),
        ]
        assert [a.key for a in rs.pending_actions(s, meeting_uuid="m2")] == ["j2:0"]
        assert [a.key for a in rs.actions_for_meeting(s, meeting_uuid="m1", kind="admit")] == [
            "j1:0"
        ]
        assert rs.pending_actions(s, meeting_uuid="m1") == []


def test_a_new_meeting_record_is_the_one_stored(factory: sessionmaker[Session]) -> None:
    toronto = T0.astimezone(timezone(timedelta(hours=-5)))
    with session_scope(factory) as s:
        created = rs.create_meeting(
            s, meeting_uuid="m1", meeting_id="857", state_json='{"a": 1}', now=toronto
        )
        assert (
            rs.create_meeting(s, meeting_uuid="m1", meeting_id="9", state_json="", now=T0) is None
        )
    with session_scope(factory) as s:
        stored = rs.load_meeting(s, meeting_uuid="m1")
    assert created is not None and created == stored
    assert created.last_now.tzinfo is UTC


def test_lease_compare_and_set(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as s:
        assert rs.acquire_lease(s, meeting_uuid="m1", owner="a", ttl=TTL, now=T0)
    with session_scope(factory) as s:
        assert not rs.acquire_lease(s, meeting_uuid="m1", owner="b", ttl=TTL, now=T0)
        assert rs.lease_owner(s, meeting_uuid="m1", now=T0) == "a"
        renew = functools.partial(rs.renew_leases, s, meeting_uuids=["m1"], ttl=TTL)
        assert renew(owner="a", now=T0 + TTL / 2) == {"m1"}
        assert renew(owner="b", now=T0) == set()
    later = T0 + TTL / 2 + TTL
    with session_scope(factory) as s:
        # a's renewed lease ran out: b takes over, and a can no longer renew
        assert rs.lease_owner(s, meeting_uuid="m1", now=later) is None
        assert rs.acquire_lease(s, meeting_uuid="m1", owner="b", ttl=TTL, now=later)
    with session_scope(factory) as s:
        assert rs.renew_leases(s, meeting_uuids=["m1"], owner="a", ttl=TTL, now=later) == set()
        assert not rs.release_lease(s, meeting_uuid="m1", owner="a")
        assert rs.release_lease(s, meeting_uuid="m1", owner="b")
    with session_scope(factory) as s:
        assert rs.acquire_lease(s, meeting_uuid="m1", owner="a", ttl=TTL, now=later)


def test_leases_are_renewed_in_one_statement_and_the_lost_ones_left_out(
    factory: sessionmaker[Session],
) -> None:
    with session_scope(factory) as s:
        for uuid in ("m1", "m2", "m4"):
            assert rs.acquire_lease(s, meeting_uuid=uuid, owner="a", ttl=TTL, now=T0)
        assert rs.acquire_lease(s, meeting_uuid="m3", owner="b", ttl=TTL, now=T0)
        assert rs.release_lease(s, meeting_uuid="m4", owner="a")
    statements: list[str] = []
    engine = bound_engine(factory)
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    with session_scope(factory) as s:
        # m3 is b's, m4 was given up, m5 never had a lease
        kept = rs.renew_leases(
            s, meeting_uuids=["m1", "m2", "m3", "m4", "m5"], owner="a", ttl=TTL, now=T0 + TTL / 2
        )
        assert kept == {"m1", "m2"}
        assert rs.renew_leases(s, meeting_uuids=[], owner="a", ttl=TTL, now=T0) == set()
    assert len(statements) == 1
    after_first_ttl = T0 + TTL + timedelta(seconds=1)
    with session_scope(factory) as s:
        assert rs.lease_owner(s, meeting_uuid="m1", now=after_first_ttl) == "a"
        assert rs.lease_owner(s, meeting_uuid="m2", now=after_first_ttl) == "a"
        assert rs.lease_owner(s, meeting_uuid="m3", now=after_first_ttl) is None


def test_a_worker_is_sent_to_the_live_meetings_it_runs_only_when_they_have_work(
    factory: sessionmaker[Session],
) -> None:
    with session_scope(factory) as s:
        for uuid in ("idle", "journaled", "due", "elsewhere"):
            assert rs.create_meeting(
                s, meeting_uuid=uuid, meeting_id="857", state_json="{}", now=T0
            )
        rs.replace_wakeups(s, meeting_uuid="due", wakeups={"end": T0}, stored={})
        rs.replace_wakeups(
            s, meeting_uuid="idle", wakeups={"end": T0 + timedelta(hours=1)}, stored={}
        )
        record_many(
            s,
            [
                Delivery(
                    received_at=T0,
                    event="meeting.participant_joined",
                    event_ts=1772667900000,
                    meeting_uuid="journaled",
                    dedupe_key="k1",
                    body=b"{}",
                    parsed_ok=True,
                )
            ],
        )
    with session_scope(factory) as s:
        everything = rs.meetings_with_work(s, now=T0)
        assert everything == ["journaled", "due", "elsewhere", "idle"]  # live: by age, then uuid
        ours = rs.meetings_with_work(s, now=T0, running={"idle", "journaled", "due"})
        assert ours == ["journaled", "elsewhere", "due"]


def test_lease_race_has_exactly_one_winner(factory: sessionmaker[Session]) -> None:
    winners: list[str] = []
    barrier = threading.Barrier(6)

    def contend(owner: str) -> None:
        barrier.wait()
        with session_scope(factory) as s:
            if rs.acquire_lease(s, meeting_uuid="race", owner=owner, ttl=TTL, now=T0):
                winners.append(owner)

    threads = [threading.Thread(target=contend, args=(f"r{i}",)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1
    with session_scope(factory) as s:
        assert rs.lease_owner(s, meeting_uuid="race", now=T0) == winners[0]
