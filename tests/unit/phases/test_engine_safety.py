"""The safety plan and the webcam reminder in the pure engine.

The engine asks a member privately where they are, passes their sealed answer on unopened
(`RecordLocation`), reminds once, and answers `/safety NAME` only for a facilitator Zoom
vouches for, by naming who asked about whom (`SafetyAnswer`): it never sees the PHI.
"""

from __future__ import annotations

from phases.actions import Audience, RecordLocation, SafetyAnswer, SendChat
from phases.agenda import Agenda
from phases.engine import wakeups
from phases.events import Left, PrivateReply, TimerDue, VideoOff, VideoOn, ZoomRole
from phases.roster import RosterEntry
from phases.state import Phase
from tests.unit.phases.helpers import Sim, line, person

ROSTER = (
    RosterEntry(display_name="Ana", member_id="11"),
    RosterEntry(display_name="Ben", member_id="12", registrant_id="reg-ben"),
    RosterEntry(display_name="Mira", role="facilitator", member_id="1"),
    RosterEntry(display_name="Raj", role="facilitator", member_id="2", registrant_id="reg-raj"),
)
SAFETY = Agenda(ask_location=True, location_reminder_minutes=10)
TOKEN = "0123456789abcdef.c2VhbGVkIGJ5IHRoZSByZWNlaXZlcg=="


def _private(actions, name: str) -> list[str]:
    return [
        a.text
        for a in actions
        if isinstance(a, SendChat)
        and a.to is Audience.PARTICIPANT
        and [r.name for r in a.recipients] == [name]
    ]


def _sim(agenda: Agenda = SAFETY) -> Sim:
    sim = Sim(agenda, roster=ROSTER)
    sim.enter("Mira", -14, role=ZoomRole.HOST)
    return sim


def test_a_member_is_asked_once_privately_and_a_facilitator_never():
    sim = _sim()
    asked = sim.enter("Ana", -10)
    assert _private(asked, "Ana") == [line("location_question", name="Ana")]
    assert not any("safety plan" in t for t in _private(asked, "Mira"))
    sim.feed(Left(participant=person("Ana")), -5)
    again = sim.enter("Ana", -4)
    assert line("location_question", name="Ana") not in _private(again, "Ana")


def test_the_sealed_answer_is_passed_on_unopened_and_thanked_once():
    sim = _sim()
    sim.enter("Ana", -10)
    out = sim.feed(PrivateReply(sender=person("Ana"), sealed=TOKEN, message_id="m1"), -9)
    kept = [a for a in out if isinstance(a, RecordLocation)]
    assert kept == [RecordLocation(person=kept[0].person, member_id="11", sealed=TOKEN)]
    assert _private(out, "Ana") == [line("location_thanks", name="Ana")]
    # the same line delivered twice is taken once; a correction is kept, thanked no more
    assert not sim.feed(PrivateReply(sender=person("Ana"), sealed=TOKEN, message_id="m1"), -8)
    again = sim.feed(PrivateReply(sender=person("Ana"), sealed=TOKEN + "x", message_id="m2"), -7)
    assert [a.sealed for a in again if isinstance(a, RecordLocation)] == [TOKEN + "x"]
    assert not _private(again, "Ana")


def test_a_line_nobody_asked_for_or_to_someone_else_is_not_kept():
    sim = _sim()
    sim.enter("Ana", -10)
    assert not sim.feed(PrivateReply(sender=person("Mira"), sealed=TOKEN, message_id="f"), -9)
    to_mira = PrivateReply(
        sender=person("Ana"), sealed=TOKEN, recipient_id=person("Mira").user_id, message_id="x"
    )
    assert not sim.feed(to_mira, -9)


def test_one_reminder_when_no_answer_came_and_none_after_an_answer():
    sim = _sim()
    sim.enter("Ana", -10)
    sim.enter("Ben", -10)
    sim.feed(PrivateReply(sender=person("Ben"), sealed=TOKEN, message_id="b"), -9)
    # one doorbell, derived from the state (so it survives a restart): Ana's, not Ben's
    due = [w.timer for w in wakeups(sim.state) if w.timer.startswith("location_reminder:")]
    assert due == ["location_reminder:k-ana"]
    out = sim.feed(TimerDue(timer="location_reminder:k-ana"), 0)
    assert _private(out, "Ana") == [line("location_reminder", name="Ana")]
    assert not _private(out, "Ben")
    assert not _private(sim.feed(TimerDue(timer="location_reminder:k-ana"), 30), "Ana")


def test_safety_is_answered_only_for_a_facilitator_zoom_vouches_for():
    sim = _sim()
    sim.enter("Ana", -10)
    sim.enter("Ben", -10, registrant_id="reg-ben")
    host = sim.say("Mira", "/safety ana", -5)
    assert [a for a in host if isinstance(a, SafetyAnswer)] == [
        SafetyAnswer(to=host[0].to, member_id="11", member_name="Ana")
    ]
    # a roster facilitator joined by their own registration link, without host rights
    sim.enter("Raj", -4, registrant_id="reg-raj")
    assert any(isinstance(a, SafetyAnswer) for a in sim.say("Raj", "/safety Ben", -3))
    # a member is refused, and so is someone only calling themselves a facilitator
    member = sim.say("Ben", "/safety Ana", -3, registrant_id="reg-ben")
    assert not any(isinstance(a, SafetyAnswer) for a in member)
    assert _private(member, "Ben")
    sim.enter("Raj", -2, key="k-fake", user_id="u-fake")
    fake = sim.say("Raj", "/safety Ana", -1, key="k-fake", user_id="u-fake")
    assert not any(isinstance(a, SafetyAnswer) for a in fake)
    # refused by the engine's one rule of rights (issue 13) before /safety is even read
    assert any("only from the host, co-hosts and facilitators" in t for t in _private(fake, "Raj"))
    unknown = sim.say("Mira", "/safety Zed", 0)
    assert not any(isinstance(a, SafetyAnswer) for a in unknown)
    assert any("'Zed' is no member" in t for t in _private(unknown, "Mira"))
    assert any("Mira" not in t for t in _private(unknown, "Mira"))


def test_the_webcam_reminder_once_during_the_group_never_for_the_presenter_behind_the_mirror():
    sim = _sim(Agenda(webcam_reminder_minutes=5))
    sim.enter("Ana", -10)
    sim.enter("Ben", -10)
    sim.feed(VideoOff(participant=person("Ben")), -9)
    sim.feed(TimerDue(timer="meditation_start"), 0)
    # not during the meditation (10 minutes): counted from its end
    assert not _private(sim.feed(TimerDue(timer="meditation_end"), 10), "Ben")
    sim.say("Mira", "/case Ana", 11)
    out = sim.feed(TimerDue(timer="webcam_reminder:k-ben"), 15)
    assert _private(out, "Ben") == [line("webcam_reminder", name="Ben")]
    assert not _private(sim.feed(VideoOff(participant=person("Ben")), 16), "Ben")
    sim.say("Mira", "/next", 17)
    sim.say("Mira", "/next", 18)
    assert sim.phase is Phase.DISCUSSION
    sim.feed(VideoOff(participant=person("Ana")), 18)
    out = sim.feed(TimerDue(timer="webcam_reminder:k-ana"), 30)
    assert not _private(out, "Ana")  # the presenter behind the mirror
    sim.feed(VideoOn(participant=person("Ana")), 31)
    assert "k-ana" not in sim.state.video_off_since
