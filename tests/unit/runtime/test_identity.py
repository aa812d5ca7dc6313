"""One person key per participant across webhooks and the SDK, and commands run once."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.durable import MeetingRuntime
from bot.runtime.identity import COMMAND_WINDOW, Identities, aliases, id_report, match_command
from phases.events import ChatMessage, Joined, MeetingStarted, Participant, ZoomRole
from phases.state import Person
from storage import person_keys
from storage.db import session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import START, RecordingMeeting, ScriptedHooks

UUID = "xIdentitiesUUID=="
# The same two people as the webhooks and as the SDK name them: no id agrees.
FAY_WEBHOOK = Participant(key="WH-FAY-UUID", user_id="167772163", name="Fay")
FAY_SDK = Participant(key="pid-fay", user_id="16777216", name="Fay")
ANNA_WEBHOOK = Participant(key="WH-ANNA-UUID", user_id="167782403", name="Anna")
ANNA_SDK = Participant(key="pid-anna", user_id="16778240", name="Anna")


def _person(participant: Participant, **changes: object) -> Person:
    values: dict[str, object] = {
        "key": participant.key,
        "user_id": participant.user_id,
        "name": participant.name,
        "where": "meeting",
    }
    values.update(changes)
    return Person(**values)  # type: ignore[arg-type]


def test_the_other_source_is_linked_by_name_and_keeps_the_webhook_evidence():
    people = {FAY_WEBHOOK.key: _person(FAY_WEBHOOK, email="fay@example.org")}
    found = Identities((), people)
    assert found.person(FAY_WEBHOOK, "webhook").key == FAY_WEBHOOK.key
    sdk = found.person(FAY_SDK, "sdk")
    assert (sdk.key, sdk.user_id, sdk.email) == (FAY_WEBHOOK.key, "16777216", "fay@example.org")
    links = {(i.kind, i.value): i.linked_by for i in found.new}
    assert links == {
        ("participant_uuid", "WH-FAY-UUID"): "same_id",
        ("webhook_user_id", "167772163"): "same_id",
        ("persistent_id", "pid-fay"): "name",
        ("sdk_user_id", "16777216"): "name",
    }
    # Known ids are found again without the name (a rename does not split the person).
    again = Identities(found.new, people)
    assert again.person(Participant(key="pid-fay", user_id="1", name="F."), "sdk").key == (
        FAY_WEBHOOK.key
    )
    assert aliases(found.new)[FAY_WEBHOOK.key] == (
        "WH-FAY-UUID",
        "167772163",
        "pid-fay",
        "16777216",
    )
    assert id_report(found.new) == {
        "people": 1,
        "both_sources": 1,
        "uuid_is_persistent_id": 0,
        "user_ids_agree": 0,
        "linked_by_name": 2,
    }


def test_ids_that_agree_link_without_the_name_and_two_people_of_one_name_stay_apart():
    people = {"P": _person(Participant(key="P", user_id="5", name="Sam"))}
    found = Identities((), people)
    found.person(Participant(key="P", user_id="5", name="Sam"), "webhook")
    assert found.person(Participant(key="P", user_id="5", name="Sam"), "sdk").key == "P"
    assert {i.linked_by for i in found.new if i.kind in ("persistent_id", "sdk_user_id")} == {
        "same_id"
    }
    twins = {
        "A": _person(Participant(key="A", user_id="1", name="Lee")),
        "B": _person(Participant(key="B", user_id="2", name="Lee")),
    }
    alone = Identities((), twins).person(Participant(key="pid-x", user_id="9", name="Lee"), "sdk")
    assert alone.key == "pid-x"  # ambiguous: not guessed


def test_a_command_from_both_sources_is_matched_once_and_a_second_press_is_not():
    at = START
    line = ChatMessage(sender=FAY_WEBHOOK, text="/next", message_id="webhook-1")
    fed, first, twin = match_command(line, source="webhook", at=at, seen=())
    assert (fed, twin) == (line, None) and first is not None
    copy = ChatMessage(sender=FAY_WEBHOOK, text=" /next ", message_id="sdk-7")
    fed, second, twin = match_command(copy, source="sdk", at=at, seen=(first,))
    assert fed.message_id == "webhook-1" and twin == first and second is not None
    # the facilitator types /next again: a new line, matched to nothing yet
    again = ChatMessage(sender=FAY_WEBHOOK, text="/next", message_id="sdk-8")
    marked = dataclasses.replace(first, matched="sdk-7")
    fed, _, twin = match_command(again, source="sdk", at=at, seen=(marked, second))
    assert fed.message_id == "sdk-8" and twin is None
    late = at + COMMAND_WINDOW + timedelta(seconds=1)
    assert match_command(copy, source="sdk", at=late, seen=(first,))[2] is None
    assert match_command(
        ChatMessage(sender=FAY_WEBHOOK, text="hello", message_id="m"), source="sdk", at=at, seen=()
    )[1:] == (None, None)


def _runtime(factory: sessionmaker[Session], clock: HandClock, meeting: RecordingMeeting):
    hooks = ScriptedHooks()
    runtime = MeetingRuntime(
        meeting_uuid=UUID,
        control=meeting,
        hooks=hooks,
        session_factory=factory,
        owner="a",
        lease_ttl=timedelta(seconds=30),
        clock=clock,
    )
    return runtime, hooks


def test_the_runtime_merges_the_sources_and_runs_a_command_once(
    factory: sessionmaker[Session],
) -> None:
    clock = HandClock(START + timedelta(minutes=12))
    meeting = RecordingMeeting()
    runtime, hooks = _runtime(factory, clock, meeting)
    with session_scope(factory) as db:
        hooks.journal(
            db,
            meeting_uuid=UUID,
            label="start",
            at=clock(),
            events=[MeetingStarted(), Joined(participant=FAY_WEBHOOK, role=ZoomRole.HOST)],
        )
    asyncio.run(runtime.process_journal())
    clock.advance(seconds=1)
    # The SDK sees Fay join (a repeat) and then her command; the webhook brings the same line
    # under another message id.
    asyncio.run(runtime.feed_live(Joined(participant=FAY_SDK, role=ZoomRole.HOST)))
    asyncio.run(runtime.feed_live(ChatMessage(sender=FAY_SDK, text="/case Zed", message_id="s1")))
    webhook_line = ChatMessage(sender=FAY_WEBHOOK, text="/case Zed", message_id="w1")
    with session_scope(factory) as db:
        hooks.journal(db, meeting_uuid=UUID, label="chat", at=clock(), events=[webhook_line])
    asyncio.run(runtime.process_journal())
    replies = [arg for what, arg in meeting.calls if what == "chat" and "Zed" in arg]
    assert len(replies) == 1
    state = runtime.load_state()
    assert state is not None and list(state.people) == [FAY_WEBHOOK.key]
    with session_scope(factory) as db:
        kinds = {i.kind for i in person_keys.person_ids(db, meeting_uuid=UUID)}
    assert kinds == {"participant_uuid", "webhook_user_id", "persistent_id", "sdk_user_id"}


def test_a_trusted_command_runs_once_and_only_for_a_facilitator(
    factory: sessionmaker[Session],
) -> None:
    clock = HandClock(START + timedelta(minutes=12))
    meeting = RecordingMeeting()
    runtime, hooks = _runtime(factory, clock, meeting)
    with session_scope(factory) as db:
        hooks.journal(
            db,
            meeting_uuid=UUID,
            label="start",
            at=clock(),
            events=[
                MeetingStarted(),
                Joined(participant=FAY_WEBHOOK, role=ZoomRole.HOST),
                Joined(participant=ANNA_WEBHOOK),
            ],
        )
    asyncio.run(runtime.process_journal())
    fay = Participant(key=FAY_WEBHOOK.key, user_id="", name="Fay")
    button = ChatMessage(sender=fay, text="/case Zed", message_id="console-1")
    asyncio.run(runtime.feed_command(button))
    asyncio.run(runtime.feed_command(button))  # the same press, delivered twice
    assert len([a for w, a in meeting.calls if w == "chat" and "Zed" in a]) == 1
    anna = Participant(key=ANNA_WEBHOOK.key, user_id="", name="Anna")
    asyncio.run(runtime.feed_command(ChatMessage(sender=anna, text="/next", message_id="c2")))
    state = runtime.load_state()
    assert state is not None and str(state.phase) == "case_call"  # a member may not


def test_a_chat_line_under_a_new_user_id_is_its_senders_by_name_not_a_new_person():
    people = {FAY_WEBHOOK.key: _person(FAY_WEBHOOK)}
    found = Identities((), people)
    found.person(FAY_WEBHOOK, "webhook")
    sender = Participant(key="555", user_id="555", name="Fay")  # sender_session_id only
    assert found.person(sender, "webhook").key == FAY_WEBHOOK.key
    # but a second stable id of the same source is someone else of the same name
    other = Participant(key="OTHER-FAY-UUID", user_id="556", name="Fay")
    assert found.person(other, "webhook").key == "OTHER-FAY-UUID"
