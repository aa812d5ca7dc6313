"""The engine's admission and command rights under `phases.identity` (issue 13), case by case."""

from __future__ import annotations

import json

import pytest

from phases.actions import Admit, Audience, PutInWaitingRoom, SendChat, Target
from phases.agenda import Agenda
from phases.engine import handle
from phases.events import (
    ActionRefused,
    ArrivedInWaitingRoom,
    ChatMessage,
    Joined,
    Left,
    TimerDue,
    ZoomRole,
)
from phases.roster import RosterEntry
from phases.state import Phase, SessionState

from .helpers import Sim, at, chats, line, person, transitions

ROSTER = (
    RosterEntry(
        display_name="Helen",
        role="facilitator",
        first_name="Helen",
        last_name="Okafor",
        registrant_id="reg-helen",
    ),
    RosterEntry(display_name="Fay", role="facilitator", first_name="Fay", last_name="Moreau"),
    RosterEntry(display_name="Maya", role="facilitator", first_name="Maya", last_name="Reyes"),
    RosterEntry(display_name="Chloe", first_name="Chloe", last_name="Martin"),
    RosterEntry(display_name="Anna", first_name="Anna", last_name="Smith"),
    RosterEntry(display_name="Ben", registrant_id="reg-ben"),
    RosterEntry(display_name="Omar", standing="inactive"),
    RosterEntry(display_name="Priya", standing="not_enrolled", registrant_id="reg-priya"),
    RosterEntry(display_name="Sam K.", first_name="Sam", last_name="Kim"),
    RosterEntry(display_name="Sam L.", first_name="Sam", last_name="Kim"),
)
HELEN = {"registrant_id": "reg-helen"}


def sim(agenda: Agenda | None = None, *, helen: bool = True) -> Sim:
    """A session with Helen (facilitator, through her registration link) in from -14."""
    s = Sim(agenda, roster=ROSTER)
    if helen:
        s.enter("Helen", -14, **HELEN)
    return s


def admitted(actions) -> list[str]:
    return [a.target.name for a in actions if isinstance(a, Admit)]


def arrive(s: Sim, name: str, minute: float, **extra):
    return s.feed(ArrivedInWaitingRoom(participant=person(name, **extra)), minute)


def to_helen(actions) -> list[str]:
    return [
        a.text
        for a in actions
        if isinstance(a, SendChat)
        and a.to is Audience.FACILITATORS
        and [r.name for r in a.recipients] == ["Helen"]
    ]


# -- impostors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "like"), [("Helen Visitor", "Helen"), ("Fay Impostor", "Fay")])
def test_an_impostor_name_is_held_told_privately_and_never_obeyed(name, like):
    s = sim()
    s.enter("Anna", -10)
    s.feed(TimerDue(timer="meditation_start"), 0)
    actions = arrive(s, name, 3, key="k-x")
    assert admitted(actions) == []
    assert to_helen(actions) == [
        line("unknown_waiting", name=name, hint=line("hint_likely", names=like))
    ]
    # Whatever they do, the meditation's end does not let them in ...
    assert name not in admitted(s.feed(TimerDue(timer="meditation_end"), 10))
    # ... and, let in by hand, their commands are refused.
    s.feed(Joined(participant=person(name, key="k-x")), 11)
    x = s.state.people["k-x"]
    for command in ("/hold Anna", "/next", "/end"):
        actions = s.say(name, command, 12, key="k-x")
        assert actions == [
            SendChat(
                to=Audience.PARTICIPANT,
                text=line("refused_member", name=name),
                recipients=(Target(key="k-x", user_id=x.user_id, name=name),),
            )
        ]
    assert s.phase is Phase.CASE_CALL
    assert s.state.people["k-anna"].where == "meeting"


# -- titles and full names ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shown", "roster", "kind"),
    [("Dr. Maya Reyes", "Maya", "facilitator"), ("Dr Chloe", "Chloe", "member")]
    + [("Dr. Anna Smith", "Anna", "member")],
)
def test_titles_and_full_names_find_the_roster_person(shown, roster, kind):
    s = sim()
    actions = arrive(s, shown, -10)
    assert admitted(actions) == [shown]
    who = s.state.people[f"k-{shown.split()[0].lower()}"]
    assert (who.roster_name, who.kind) == (roster, kind)


def test_a_leader_known_by_name_only_is_admitted_but_gets_no_commands():
    s = sim(helen=False)
    s.enter("Dr. Maya Reyes", -10)
    actions = s.say("Dr. Maya Reyes", "/next", -9)
    assert actions[0].text == line("refused_unverified", name="Maya")
    assert s.phase is Phase.SOCIAL
    # Made co-host by the host, she has them.
    s.feed(Joined(participant=person("Dr. Maya Reyes"), role=ZoomRole.CO_HOST), -8)
    assert transitions(s.say("Dr. Maya Reyes", "/next", -7)) == [("social", "meditation")]


def test_a_leader_through_her_registration_link_is_never_held_and_leads():
    s = sim(helen=False)
    s.feed(TimerDue(timer="meditation_start"), 0)
    assert admitted(arrive(s, "Helen Okafor", 3, **HELEN)) == ["Helen Okafor"]
    s.feed(Joined(participant=person("Helen Okafor", **HELEN)), 3)
    assert transitions(s.say("Helen Okafor", "/next", 4)) == [("meditation", "case_call")]


def test_a_facilitator_removed_from_the_roster_keeps_no_rights():
    roster = (
        RosterEntry(
            display_name="Fay", role="facilitator", registrant_id="r-f", standing="inactive"
        ),
    )
    s = Sim(roster=roster)
    actions = arrive(s, "Fay", -10, registrant_id="r-f")
    assert admitted(actions) == []
    assert not s.state.people["k-fay"].is_facilitator


# -- phone, removed, not enrolled, duplicates -----------------------------------------------------


def test_a_phone_caller_is_held_and_admitted_as_the_member_a_facilitator_names():
    s = sim()
    actions = arrive(s, "416****142", -5, key="k-phone", phone=True)
    assert admitted(actions) == []
    assert to_helen(actions) == [line("phone_waiting", name="416****142", hint="")]
    actions = s.say("Helen", "/admit 416 as Anna Smith", -4, **HELEN)
    assert admitted(actions) == ["416****142"]
    assert chats(actions, Audience.PARTICIPANT) == [
        line("admitted_as", name="416****142", roster="Anna")
    ]
    caller = s.state.people["k-phone"]
    assert (caller.roster_name, caller.evidence, caller.kind) == ("Anna", "confirmed", "member")
    assert not caller.is_facilitator


def test_a_phone_caller_showing_a_roster_name_is_still_held():
    s = sim()
    assert admitted(arrive(s, "Anna", -5, key="k-phone", phone=True)) == []


@pytest.mark.parametrize(
    ("name", "extra", "key"),
    [
        ("Omar", {}, "inactive_waiting"),
        ("Priya", {"registrant_id": "reg-priya"}, "not_enrolled_waiting"),
    ],
)
def test_removed_and_not_enrolled_members_are_held_until_a_facilitator_admits(name, extra, key):
    s = sim()
    actions = arrive(s, name, -5, **extra)
    assert admitted(actions) == []
    assert to_helen(actions) == [line(key, name=name, who=name)]
    assert admitted(s.say("Helen", f"/admit {name}", -4, **HELEN)) == [name]
    s.feed(Joined(participant=person(name, **extra)), -4)
    s.feed(Left(participant=person(name, **extra)), -3)
    assert admitted(arrive(s, name, -2, **extra)) == [name]  # approved: let in again


def test_two_people_showing_the_same_name():
    s = sim()
    s.enter("Anna", -10)
    actions = arrive(s, "Anna", -9, key="k-anna2")
    assert admitted(actions) == []
    assert to_helen(actions) == [line("duplicate_waiting", name="Anna", roster="Anna")]


def test_two_people_showing_the_same_name_during_the_meditation_both_wait():
    s = sim()
    s.feed(TimerDue(timer="meditation_start"), 0)
    arrive(s, "Anna", 2)
    arrive(s, "anna", 3, key="k-anna2")
    ends = s.feed(TimerDue(timer="meditation_end"), 10)
    assert admitted(ends) == []


def test_a_name_fitting_two_roster_lines_is_held():
    s = sim()
    actions = arrive(s, "Sam Kim", -5)
    assert admitted(actions) == []
    assert to_helen(actions) == [
        line("ambiguous_waiting", name="Sam Kim", names="Sam K. or Sam L.")
    ]
    actions = s.say("Helen", "/admit Sam as Sam L", -4, **HELEN)
    assert admitted(actions) == ["Sam Kim"]
    assert s.state.people["k-sam"].roster_name == "Sam L."


def test_admit_by_name_off_holds_a_name_match_but_not_a_registrant():
    s = sim(Agenda(admit_by_name=False))
    actions = arrive(s, "Anna", -5)
    assert to_helen(actions) == [line("name_only_waiting", name="Anna", roster="Anna")]
    assert admitted(arrive(s, "Ben", -5, registrant_id="reg-ben")) == ["Ben"]
    assert admitted(s.say("Helen", "/admit Anna", -4, **HELEN)) == ["Anna"]


# -- one arrival told by both sources (the SDK bot's poll: a name; the webhook: more) -------------


def test_an_arrival_told_again_with_a_registrant_id_admits_whom_the_name_left_waiting():
    s = sim(Agenda(admit_by_name=False))
    # The SDK's poll names Ben only: held, the facilitator told.
    assert to_helen(arrive(s, "Ben", -5)) == [line("name_only_waiting", name="Ben", roster="Ben")]
    # The webhook about the same arrival brings his registrant id: he is let in.
    assert admitted(arrive(s, "Ben", -5, registrant_id="reg-ben")) == ["Ben"]
    assert s.state.people["k-ben"].evidence == "registrant"
    # Told a third time, nothing new: decided once.
    assert admitted(arrive(s, "Ben", -5, registrant_id="reg-ben")) == []


def test_a_leader_the_sdk_names_is_let_in_during_the_meditation_once_her_link_is_known():
    s = sim(helen=False)
    s.enter("Anna", -12)
    s.feed(TimerDue(timer="meditation_start"), 0)
    # By name only Helen would wait for the meditation's end, like a member ...
    assert admitted(arrive(s, "Helen", 2)) == []
    # ... but the webhook says she came through her registration link: never held.
    assert admitted(arrive(s, "Helen", 2, **HELEN)) == ["Helen"]
    assert admitted(arrive(s, "Helen", 2, **HELEN)) == []


def test_a_leader_the_sdk_named_and_let_in_is_not_let_in_again_once_her_link_is_known():
    # Before the meditation a name is enough: the SDK's poll names Helen and she is let in
    # as anyone would be. The webhook about the same arrival, fed before Zoom reports her
    # joining, brings her registration link: she has her rights, and one admission.
    s = sim(helen=False)
    assert admitted(arrive(s, "Helen", -15)) == ["Helen"]
    assert admitted(arrive(s, "Helen", -15, **HELEN)) == []
    assert s.state.people["k-helen"].is_facilitator
    # Admitted, she is let in again when she comes back to the waiting room later.
    s.enter("Helen", -14, **HELEN)
    s.feed(Left(participant=person("Helen", **HELEN)), -13)
    assert admitted(arrive(s, "Helen", -12, **HELEN)) == ["Helen"]


def test_an_admission_zoom_refused_is_asked_again_once_the_link_is_known():
    # The SDK's poll names Helen before the session and she is let in; Zoom refuses that
    # admission (an SDK error). The webhook about the same arrival then brings her
    # registration link: she is still waiting, and the bot asks again.
    s = sim(helen=False)
    assert admitted(arrive(s, "Helen", -15)) == ["Helen"]
    s.feed(ActionRefused(kind="admit", target_key="k-helen", code="sdk_error"), -15)
    assert "k-helen" not in s.state.admitting
    assert admitted(arrive(s, "Helen", -15, **HELEN)) == ["Helen"]


def test_an_admission_refused_as_not_waiting_is_not_asked_again():
    # "Not waiting": the first admission (or a host) let her in before Zoom said so.
    s = sim(helen=False)
    assert admitted(arrive(s, "Helen", -15)) == ["Helen"]
    s.feed(ActionRefused(kind="admit", target_key="k-helen", code="not_in_waiting_room"), -15)
    assert admitted(arrive(s, "Helen", -15, **HELEN)) == []


def test_a_leader_a_host_let_in_by_hand_is_not_let_in_again_once_her_link_is_known():
    s = sim(helen=False)
    s.enter("Maya", -12, role=ZoomRole.HOST)
    s.feed(TimerDue(timer="meditation_start"), 0)
    assert admitted(arrive(s, "Helen", 2)) == []  # a name only: she waits for the end
    assert admitted(s.say("Maya", "/admit Helen", 3)) == ["Helen"]
    assert admitted(arrive(s, "Helen", 2, **HELEN)) == []
    assert s.state.people["k-helen"].is_facilitator


def test_an_arrival_told_again_by_name_only_changes_nothing():
    s = sim()
    actions = arrive(s, "Helen Visitor", -5, key="k-x")
    assert admitted(actions) == [] and to_helen(actions)
    again = arrive(s, "Helen Visitor", -5, key="k-x")
    assert admitted(again) == [] and to_helen(again) == []


# -- no facilitator present ----------------------------------------------------------------------


def test_with_no_facilitator_present_the_person_is_told_and_kept_waiting():
    s = sim(helen=False)
    s.enter("Anna", -12)
    actions = arrive(s, "Helen Visitor", -11, key="k-x")
    assert admitted(actions) == []
    assert chats(actions, Audience.WAITING_ROOM) == [line("waiting_for_facilitator")]
    # Once only, and nothing changes with the clock.
    assert chats(arrive(s, "Helen Visitor", -11, key="k-x"), Audience.WAITING_ROOM) == []
    assert admitted(s.feed(TimerDue(timer="meditation_end"), 10)) == []
    # When a facilitator arrives, they are told.
    joined = s.enter("Helen", 11, **HELEN)
    assert to_helen(joined) == [
        line("unknown_waiting", name="Helen Visitor", hint=line("hint_likely", names="Helen"))
    ]


def test_a_stranger_walking_in_without_a_waiting_room_is_put_there():
    s = sim()
    actions = s.feed(Joined(participant=person("Helen Visitor", key="k-x")), -5)
    assert [a.target.name for a in actions if isinstance(a, PutInWaitingRoom)] == ["Helen Visitor"]


# -- bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["", "   ", "\U0001f600\U0001f600", "x" * 500, "Dr.", "Helen" * 100]
)
def test_bad_names_are_held_quoted_briefly_and_never_obeyed(name):
    s = sim()
    actions = arrive(s, name, -5, key="k-bad")
    assert admitted(actions) == []
    [told] = to_helen(actions)
    assert len(told) < 400
    if not name.strip():
        assert told.startswith("(no name)")
    s.feed(Joined(participant=person(name, key="k-bad")), -4)
    assert s.say(name, "/end", -3, key="k-bad")[0].to is Audience.PARTICIPANT
    assert s.phase is Phase.SOCIAL


# -- /admit NAME as ROSTER_NAME --------------------------------------------------------------------


def test_admit_as_names_a_roster_person_or_says_why_not():
    s = sim()
    arrive(s, "iPad", -5)
    assert chats(s.say("Helen", "/admit iPad as Nobody", -4, **HELEN)) == [
        line("as_no_match", query="Nobody")
    ]
    assert chats(s.say("Helen", "/admit iPad as Sam", -4, **HELEN)) == [
        line("as_ambiguous", query="Sam", names="Sam K., Sam L.")
    ]
    assert "k-ipad" in {p.key for p in s.state.waiting()}


def test_admit_as_records_who_someone_already_in_is():
    s = sim()
    arrive(s, "iPad", -5)
    s.say("Helen", "/admit iPad", -4, **HELEN)
    s.feed(Joined(participant=person("iPad")), -4)
    actions = s.say("Helen", "/admit ipad as Chloe", -3, **HELEN)
    assert chats(actions) == [line("noted_as", name="iPad", roster="Chloe")]
    assert admitted(actions) == []
    assert s.state.people["k-ipad"].roster_name == "Chloe"


def test_admit_as_does_not_override_zoom_own_evidence():
    s = sim()
    s.enter("Ben", -10, registrant_id="reg-ben")
    actions = s.say("Helen", "/admit Ben as Anna", -9, **HELEN)
    assert chats(actions) == [line("as_kept", name="Ben", roster="Ben")]
    assert s.state.people["k-ben"].roster_name == "Ben"


def test_admit_as_usage():
    s = sim()
    actions = s.say("Helen", "/admit Anna as", -5, **HELEN)
    assert chats(actions) == [
        line("usage", usage="/admit NAME, /admit NAME as ROSTER_NAME or /admit all")
    ]


# -- identity is sticky --------------------------------------------------------------------------


def test_a_chat_line_without_the_registrant_id_does_not_take_rights_away():
    s = sim()
    actions = s.say("Helen", "/next", -5)  # the chat names only the sender's session
    assert transitions(actions) == [("social", "meditation")]


def test_a_name_match_is_not_replaced_by_another_name():
    s = sim()
    s.enter("Anna", -10)
    s.feed(Left(participant=person("Anna")), -9)
    s.feed(Joined(participant=person("Chloe", key="k-anna")), -9)
    assert s.state.people["k-anna"].roster_name == "Anna"


def test_a_state_saved_before_identities_were_recorded_still_loads():
    s = sim()
    s.enter("Anna", -10)
    data = json.loads(s.state.to_json())
    data["people"] = [row[:13] for row in data["people"]]
    for entry in data["roster"]:
        for field in ("first_name", "last_name", "standing"):
            del entry[field]
    del data["agenda"]["admit_by_name"]
    old = SessionState.from_json(json.dumps(data))
    assert old.people["k-anna"].evidence == "" and old.people["k-helen"].roster_name == "Helen"
    # Who they are is worked out again from what the record kept (Helen's registrant id).
    _, actions = handle(old, ChatMessage(sender=person("Helen"), text="/next"), at(-5))
    assert transitions(actions) == [("social", "meditation")]


def test_an_old_first_word_match_is_undone_on_the_next_event():
    s = sim()
    arrive(s, "Helen Visitor", -10, key="k-x")
    data = json.loads(s.state.to_json())
    for row in data["people"]:
        if row[0] == "k-x":  # as the old matcher saw her: Helen, by her first word
            row[7:9] = ["facilitator", "Helen"]
    data["people"] = [row[:13] for row in data["people"]]
    old = SessionState.from_json(json.dumps(data))
    state, actions = handle(
        old, ArrivedInWaitingRoom(participant=person("Helen Visitor", key="k-x")), at(-9)
    )
    assert state.people["k-x"].roster_name == "" and admitted(actions) == []


def test_an_email_becomes_evidence_only_as_zoom_vouches_for_it():
    roster = (RosterEntry(display_name="Fay", role="facilitator", email="fay@example.org"),)
    s = Sim(roster=roster)
    # Not signed in: the e-mail proves nothing, even when a later event signs them in
    # without one.
    arrive(s, "Zed", -10, key="k-z", email="fay@example.org")
    s.feed(Joined(participant=person("Zed", key="k-z", signed_in=True)), -9)
    assert not s.state.people["k-z"].is_facilitator
    # Signed in: it does, and a later unvouched e-mail does not replace it.
    arrive(s, "F.", -8, key="k-f", email="fay@example.org", signed_in=True)
    s.feed(Joined(participant=person("F.", key="k-f", email="zed@example.org")), -8)
    fay = s.state.people["k-f"]
    assert fay.is_facilitator and fay.email == "fay@example.org"
