"""One person key per participant across webhooks and the SDK, and commands run once."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from bot.runtime.durable import MeetingRuntime
from bot.runtime.identity import COMMAND_WINDOW, Identities, aliases, id_report, match_command
from phases.engine import doubt
from phases.events import (
    ArrivedInWaitingRoom,
    ChatMessage,
    Joined,
    MeetingStarted,
    Participant,
    ZoomRole,
)
from phases.roster import RosterEntry
from phases.state import Person
from storage import person_keys
from storage.db import session_scope
from tests.clock import HandClock
from tests.unit.runtime.fakes import ROSTER, START, RecordingMeeting, ScriptedHooks

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


def test_the_other_source_is_linked_by_name_while_neither_side_has_evidence():
    # an e-mail Zoom does not vouch for (not signed in) is no evidence: it is kept
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
    # the executor never reaches someone through ids linked by name (their user id or,
    # when unique, their name finds them)
    assert aliases(found.new)[FAY_WEBHOOK.key] == ("WH-FAY-UUID", "167772163")
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


def _runtime(
    factory: sessionmaker[Session],
    clock: HandClock,
    meeting: RecordingMeeting,
    roster: tuple[RosterEntry, ...] = ROSTER,
):
    hooks = ScriptedHooks(roster)
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


def test_a_chat_line_under_a_new_user_id_is_its_senders_by_name_not_a_new_person():
    people = {FAY_WEBHOOK.key: _person(FAY_WEBHOOK)}
    found = Identities((), people)
    found.person(FAY_WEBHOOK, "webhook")
    sender = Participant(key="555", user_id="555", name="Fay")  # sender_session_id only
    assert found.person(sender, "webhook").key == FAY_WEBHOOK.key
    # but a second stable id of the same source is someone else of the same name
    other = Participant(key="OTHER-FAY-UUID", user_id="556", name="Fay")
    assert found.person(other, "webhook").key == "OTHER-FAY-UUID"


def test_what_a_participant_says_of_itself_passes_and_a_kept_email_is_not_vouched_anew():
    people = {FAY_WEBHOOK.key: _person(FAY_WEBHOOK, email="fay@example.org", signed_in=True)}
    found = Identities((), people)
    found.person(FAY_WEBHOOK, "webhook")
    # the SDK's user id agrees with the webhook's: linked by id, so the evidence is kept
    caller = dataclasses.replace(FAY_SDK, user_id=FAY_WEBHOOK.user_id, phone=True)
    sdk = found.person(caller, "sdk")
    assert (sdk.key, sdk.phone, sdk.signed_in) == (FAY_WEBHOOK.key, True, False)
    assert sdk.email == "fay@example.org"  # kept for the engine, which knows it was vouched
    # An event that says the person is signed in vouches only for the e-mail it carries.
    signed = dataclasses.replace(FAY_WEBHOOK, signed_in=True)
    assert found.person(signed, "webhook").email == ""
    assert found.person(dataclasses.replace(signed, email="f@x.org"), "webhook").email == "f@x.org"


def test_a_registrant_id_the_sdk_cannot_see_counts_though_the_sdk_saw_the_arrival_first(
    factory: sessionmaker[Session],
) -> None:
    """The SDK's waiting-room poll names Fay before the webhook about the same arrival comes;
    that webhook is not newer than what the bot saw, but it carries her registrant id. The
    two sources' ids do not agree, and a name alone never carries a registrant id to what
    the SDK saw (it could be someone else showing "Fay"): the webhook's Fay is a person of
    her own, let in at once; the SDK's "Fay" waits as a second Fay for the facilitators."""
    clock = HandClock(START + timedelta(minutes=2))  # the meditation: members wait
    meeting = RecordingMeeting()
    roster = (RosterEntry(display_name="Fay", role="facilitator", registrant_id="reg-fay"),)
    runtime, hooks = _runtime(factory, clock, meeting, roster)
    with session_scope(factory) as db:
        hooks.journal(db, meeting_uuid=UUID, label="start", at=START, events=[MeetingStarted()])
    asyncio.run(runtime.process_journal())
    arrived = clock()
    clock.advance(seconds=1)
    asyncio.run(runtime.feed_live(ArrivedInWaitingRoom(participant=FAY_SDK)))
    assert meeting.admits() == []  # a name alone: she waits for the meditation's end
    webhook = dataclasses.replace(FAY_WEBHOOK, registrant_id="reg-fay")
    with session_scope(factory) as db:
        hooks.journal(
            db,
            meeting_uuid=UUID,
            label="arrival",
            at=arrived,
            events=[ArrivedInWaitingRoom(participant=webhook)],
        )
    asyncio.run(runtime.process_journal())
    assert meeting.admits() == [FAY_WEBHOOK.user_id]  # a facilitator: never held
    state = runtime.load_state()
    assert state is not None
    fays = {p.key: (p.evidence, p.where, p.is_facilitator) for p in state.people.values()}
    assert fays == {
        FAY_WEBHOOK.key: ("registrant", "waiting", True),
        FAY_SDK.key: ("display_name", "waiting", False),
    }
    assert doubt(state, state.people[FAY_SDK.key]) == "duplicate"


# -- a name alone never carries evidence (the race issue 13's merge engineer reported) --------

HELEN_ROSTER = (
    RosterEntry(display_name="Helen", role="facilitator", registrant_id="reg-helen"),
    RosterEntry(display_name="Anna"),
)
HELEN_WEBHOOK = Participant(
    key="WH-HELEN-UUID", user_id="167790000", name="Helen", registrant_id="reg-helen"
)
STRANGER_SDK = Participant(key="pid-stranger", user_id="16790000", name="Helen")


def test_a_stranger_of_the_same_name_never_takes_the_evidence_of_the_person_named():
    """The real Helen's webhook came first (her registrant id); before the SDK sees her, a
    stranger showing exactly "Helen" appears to the SDK: a person of their own, with nothing
    of hers (no registrant id, no e-mail, no role), whatever source comes first."""
    helen = _person(
        HELEN_WEBHOOK,
        where="waiting",
        registrant_id="reg-helen",
        kind="facilitator",
        roster_name="Helen",
        evidence="registrant",
    )
    found = Identities((), {HELEN_WEBHOOK.key: helen})
    assert found.person(HELEN_WEBHOOK, "webhook").key == HELEN_WEBHOOK.key
    stranger = found.person(STRANGER_SDK, "sdk")
    assert stranger.key != HELEN_WEBHOOK.key
    assert (stranger.registrant_id, stranger.email) == ("", "")
    assert aliases(found.new)[HELEN_WEBHOOK.key] == (HELEN_WEBHOOK.key, HELEN_WEBHOOK.user_id)
    # the other way round: the SDK saw the stranger first; Helen's webhook is not them
    lone = _person(STRANGER_SDK, where="waiting", kind="facilitator", roster_name="Helen")
    first = Identities((), {STRANGER_SDK.key: lone})
    first.person(STRANGER_SDK, "sdk")
    assert first.person(HELEN_WEBHOOK, "webhook").key != STRANGER_SDK.key
    # a host (the Zoom role is evidence too) is not joined by name either
    host = _person(FAY_WEBHOOK, zoom_role=ZoomRole.HOST)
    assert Identities((), {FAY_WEBHOOK.key: host}).person(FAY_SDK, "sdk").key != FAY_WEBHOOK.key


def test_a_name_link_made_before_any_evidence_comes_apart_when_evidence_comes():
    """Two people linked by name while neither had evidence: when one side brings some (a
    registrant id, a Zoom role), the other is a person of their own from then on, and the
    executor never reaches one through the other's name-linked ids."""
    people = {FAY_WEBHOOK.key: _person(FAY_WEBHOOK)}
    found = Identities((), people)
    found.person(FAY_WEBHOOK, "webhook")
    assert found.person(FAY_SDK, "sdk").key == FAY_WEBHOOK.key  # nothing to carry: linked
    known = list(found.new)
    # the SDK side is made co-host: that role is the SDK participant's, not the webhook's
    again = Identities(known, people)
    apart = again.person(FAY_SDK, "sdk", role=ZoomRole.CO_HOST)
    assert apart.key not in (FAY_WEBHOOK.key, "")
    # ... and stays apart once the engine knows them under that key
    people_after = {**people, apart.key: _person(FAY_SDK, key=apart.key)}
    assert Identities(known, people_after).person(FAY_SDK, "sdk").key == apart.key
    # the webhook side brings a registrant id: the SDK side is no longer joined to it
    helen = {FAY_WEBHOOK.key: _person(FAY_WEBHOOK, registrant_id="reg-fay")}
    assert Identities(known, helen).person(FAY_SDK, "sdk").key != FAY_WEBHOOK.key
    assert aliases(known)[FAY_WEBHOOK.key] == (FAY_WEBHOOK.key, FAY_WEBHOOK.user_id)


def test_a_stranger_showing_a_facilitators_name_is_held_and_never_obeyed(
    factory: sessionmaker[Session],
) -> None:
    """End to end through the runtime: Helen's webhook arrival (her registration link) is
    processed; before the SDK bot sees her, a stranger showing exactly "Helen" waits and
    sends `/hold Anna` to the bot from the waiting room. The stranger is a second Helen,
    held as a duplicate and told nothing of hers; Anna stays in."""
    clock = HandClock(START + timedelta(minutes=20))  # after the meditation
    meeting = RecordingMeeting()
    runtime, hooks = _runtime(factory, clock, meeting, HELEN_ROSTER)
    anna = Participant(key="WH-ANNA-UUID", user_id="167782403", name="Anna")
    with session_scope(factory) as db:
        hooks.journal(
            db,
            meeting_uuid=UUID,
            label="evening",
            at=clock(),
            events=[
                MeetingStarted(),
                Joined(participant=anna, role=ZoomRole.ATTENDEE),
                ArrivedInWaitingRoom(participant=HELEN_WEBHOOK),
            ],
        )
    asyncio.run(runtime.process_journal())
    assert meeting.admits() == [HELEN_WEBHOOK.user_id]
    clock.advance(seconds=1)
    asyncio.run(runtime.feed_live(ArrivedInWaitingRoom(participant=STRANGER_SDK)))
    hold = ChatMessage(sender=STRANGER_SDK, text="/hold Anna", message_id="s1", private=True)
    asyncio.run(runtime.feed_live(hold))
    assert [arg for what, arg in meeting.calls if what == "hold"] == []
    assert meeting.admits() == [HELEN_WEBHOOK.user_id]  # the stranger is not let in
    state = runtime.load_state()
    assert state is not None
    helens = [p for p in state.people.values() if p.name == "Helen"]
    assert len(helens) == 2
    stranger = next(p for p in helens if p.key != HELEN_WEBHOOK.key)
    assert (stranger.registrant_id, stranger.evidence, stranger.is_facilitator) == (
        "",
        "display_name",
        False,
    )
    assert doubt(state, stranger) == "duplicate"
    assert state.people[anna.key].where == "meeting"
