"""Table-driven tests of the engine's policies, phase by phase, with explicit times."""

from __future__ import annotations

from datetime import timedelta

import pytest

from phases.actions import (
    Admit,
    AllowSelfMedia,
    AskStartVideo,
    AskUnmute,
    Audience,
    Mute,
    PutInWaitingRoom,
    Rename,
    ScheduleWakeup,
    SendChat,
    StopRecording,
    StopVideo,
    Target,
)
from phases.agenda import Agenda
from phases.engine import handle, new_session, wakeups
from phases.errors import AgendaError
from phases.events import (
    ActionDone,
    ArrivedInWaitingRoom,
    AudioMuted,
    AudioUnmuted,
    ChatMessage,
    Joined,
    Left,
    LeftWaitingRoom,
    MeetingEnded,
    MeetingStarted,
    RecordingStarted,
    RoleChanged,
    TimerDue,
    VideoOff,
    VideoOn,
    ZoomRole,
)
from phases.state import Phase

from .helpers import (
    ROSTER,
    T0,
    Sim,
    at,
    chats,
    kinds,
    line,
    person,
    to_phase,
    transitions,
    with_facilitator,
)


def admitted(actions: list) -> list[str]:
    return [a.target.name for a in actions if isinstance(a, Admit)]


# -- new_session ------------------------------------------------------------------------------


def test_new_session_starts_social_and_arms_the_clock():
    sim = Sim()
    assert sim.phase is Phase.SOCIAL
    assert [(w.timer, w.at) for w in sim.initial] == [
        ("meditation_start", at(0)),
        ("meditation_end", at(10)),
        ("warning_10", at(95)),
        ("warning_2", at(103)),
        ("group_end", at(105)),
        ("group_close", at(115)),
    ]
    assert wakeups(sim.state) == sim.initial


def test_new_session_without_meditation_arms_no_meditation_end():
    sim = Sim(
        Agenda(
            meditation_minutes=0, length_minutes=60, warning_minutes=(5,), overrun_grace_minutes=0
        )
    )
    assert [w.timer for w in sim.initial] == ["meditation_start", "warning_5", "group_end"]


def test_new_session_refuses_a_naive_start_and_bad_overrides():
    with pytest.raises(AgendaError):
        new_session(agenda=Agenda(), roster=ROSTER, scheduled_start=T0.replace(tzinfo=None))
    with pytest.raises(AgendaError):
        new_session(agenda=Agenda(), roster=ROSTER, scheduled_start=T0, messages={"nope": "x"})


def test_wakeups_follow_the_phase():
    sim = to_phase(Phase.MEDITATION)
    assert [w.timer for w in wakeups(sim.state)] == [
        "meditation_end",
        "warning_10",
        "warning_2",
        "group_end",
        "group_close",
    ]
    sim = to_phase(Phase.QUESTIONS)
    assert [w.timer for w in wakeups(sim.state)][0] == "budget_questions"
    sim = to_phase(Phase.REFLECTION)
    assert [w.timer for w in wakeups(sim.state)] == ["reflection_end"]
    assert wakeups(to_phase(Phase.ENDED).state) == []


# -- arrivals by phase ------------------------------------------------------------------------


MIRA = {"registrant_id": "reg-mira"}


@pytest.mark.parametrize(
    ("minute", "name", "extra", "expected"),
    [
        (-10, "Ana", {}, ["Ana"]),  # social: members at once
        (-10, "Mira", MIRA, ["Mira"]),  # facilitators at once
        (-10, "Mira", {}, ["Mira"]),  # a facilitator's name alone: admitted like a member
        (-10, "Stranger", {}, []),  # guests never
        (5, "Ana", {}, []),  # meditation: members wait
        (5, "Mira", MIRA, ["Mira"]),  # ... facilitators never held
        (5, "Mira", {}, []),  # ... but a name alone is no facilitator
        (5, "Stranger", {}, []),
        (12, "Ana", {}, ["Ana"]),  # after the meditation: at once again
        (12, "Stranger", {}, []),
        (110, "Ana", {}, ["Ana"]),  # closing: at once (reflection people)
    ],
)
def test_arrival_policy(minute, name, extra, expected):
    sim = Sim()
    actions = sim.feed(ArrivedInWaitingRoom(participant=person(name, **extra)), minute)
    assert admitted(actions) == expected


def test_bot_itself_is_ignored_entirely():
    sim = with_facilitator()
    bot = person("balint  COMPANION", key="k-bot")
    assert sim.feed(ArrivedInWaitingRoom(participant=bot), -5) == []
    assert sim.feed(Joined(participant=bot, role=ZoomRole.CO_HOST), -5) == []
    assert sim.feed(ChatMessage(sender=bot, text="/end"), -5) == []
    assert "k-bot" not in sim.state.people
    sim.feed(RecordingStarted(), -4)
    actions = sim.feed(ActionDone(kind="stop_recording"), -4)
    facilitator_lines = [a for a in actions if isinstance(a, SendChat)]
    assert [r.name for r in facilitator_lines[0].recipients] == ["Mira"]


def test_guest_is_announced_once_to_facilitators_with_the_admit_command():
    sim = with_facilitator()
    stranger = person("Stranger")
    first = sim.feed(ArrivedInWaitingRoom(participant=stranger), -5)
    assert first == [
        SendChat(
            to=Audience.FACILITATORS,
            text=line("unknown_waiting", name="Stranger"),
            recipients=(Target(key="k-mira", user_id="u-k-mira", name="Mira"),),
        )
    ]
    sim.feed(LeftWaitingRoom(participant=stranger), -4)
    assert sim.feed(ArrivedInWaitingRoom(participant=stranger), -3) == []


def test_guest_announcement_waits_for_a_facilitator():
    sim = Sim()
    sim.enter("Ana", -12)
    actions = sim.feed(ArrivedInWaitingRoom(participant=person("Stranger")), -11)
    assert actions == [
        # With no facilitator there, the person is told one will come; never let in.
        SendChat(to=Audience.WAITING_ROOM, text=line("waiting_for_facilitator")),
    ]
    # Mira by name alone is no facilitator: she is not told.
    assert chats(sim.enter("Mira", -10), Audience.FACILITATORS) == []
    sim.feed(Left(participant=person("Mira")), -10)
    joined = sim.enter("Mira", -10, role=ZoomRole.ATTENDEE, registrant_id="reg-mira")
    assert chats(joined, Audience.FACILITATORS) == [line("unknown_waiting", name="Stranger")]
    # A co-host made later does not get it again.
    again = sim.feed(RoleChanged(participant=person("Mira"), role=ZoomRole.CO_HOST), -9)
    assert again == []


def test_host_who_is_not_on_the_roster_is_a_facilitator_when_made_co_host():
    sim = Sim()
    sim.enter("Ana", -12)
    sim.feed(ArrivedInWaitingRoom(participant=person("Stranger")), -11)
    sim.enter("Olga", -10)
    assert sim.say("Olga", "/status", -10)[0].text == line("refused_member", name="Olga")
    actions = sim.feed(RoleChanged(participant=person("Olga"), role=ZoomRole.CO_HOST), -9)
    assert chats(actions, Audience.FACILITATORS) == [line("unknown_waiting", name="Stranger")]
    assert "Phase: social" in sim.say("Olga", "/status", -8)[0].text


# -- the meditation ---------------------------------------------------------------------------


def test_start_moves_to_meditation_with_one_line():
    sim = with_facilitator()
    actions = sim.feed(TimerDue(timer="meditation_start"), 0)
    assert transitions(actions) == [("social", "meditation")]
    assert chats(actions) == [line("meditation_start", minutes=10, time="19:10")]


def test_start_without_meditation_calls_for_a_case():
    sim = with_facilitator(Agenda(meditation_minutes=0))
    actions = sim.feed(MeetingStarted(), 0)
    assert transitions(actions) == [("social", "case_call")]
    assert chats(actions) == ["Who has a case?"]


def test_early_or_unknown_timers_do_nothing():
    sim = with_facilitator()
    assert sim.feed(TimerDue(timer="meditation_start"), -1) == []
    assert sim.feed(TimerDue(timer="no such timer"), -1) == []
    assert sim.phase is Phase.SOCIAL


def test_meditation_holds_members_tells_each_when_they_come_in_and_admits_in_order():
    sim = with_facilitator()
    sim.feed(TimerDue(timer="meditation_start"), 0)
    told = [SendChat(to=Audience.WAITING_ROOM, text=line("waiting_meditation", time="19:10"))]
    assert sim.feed(ArrivedInWaitingRoom(participant=person("Chloé")), 2) == told
    assert sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), 3) == told
    sim.feed(ArrivedInWaitingRoom(participant=person("Stranger")), 4)
    sim.feed(ArrivedInWaitingRoom(participant=person("Dev")), 5)
    sim.feed(LeftWaitingRoom(participant=person("Dev")), 6)
    end = sim.feed(TimerDue(timer="meditation_end"), 10)
    assert admitted(end) == ["Chloé", "Ana"]
    assert all(a.confirm for a in end if isinstance(a, Admit))
    assert chats(end) == ["Who has a case?"]  # the welcome waits for Zoom's answers
    assert transitions(end) == [("meditation", "case_call")]
    assert kinds(end)[:2] == ["Admit", "Admit"]
    assert sim.feed(ActionDone(kind="admit", target_key="k-chloé"), 10) == []
    welcome = sim.feed(ActionDone(kind="admit", target_key="k-ana"), 10)
    assert chats(welcome) == [line("welcome_after_meditation", names="Chloé, Ana")]
    assert sim.state.awaiting == frozenset()


def test_direct_join_during_meditation_is_put_back_but_a_hand_admission_is_respected():
    sim = with_facilitator()
    sim.feed(TimerDue(timer="meditation_start"), 0)
    direct = sim.feed(Joined(participant=person("Ana")), 2)
    assert direct == [PutInWaitingRoom(target=Target(key="k-ana", user_id="u-k-ana", name="Ana"))]
    by_hand = sim.enter("Ben", 3)
    assert Mute(target=Target(key="k-ben", user_id="u-k-ben", name="Ben")) in by_hand
    assert not any(isinstance(a, PutInWaitingRoom) for a in by_hand)
    facilitator = sim.feed(Joined(participant=person("Mira"), role=ZoomRole.HOST), 4)
    assert facilitator == []


@pytest.mark.parametrize("exit_first", [True, False], ids=["exit-first", "join-first"])
def test_an_admission_during_the_meditation_stands_whichever_webhook_comes_first(exit_first):
    """Zoom reports an admission as leaving the waiting room and joining, in an order it does
    not document: either way the member a facilitator let in stays in (muted)."""
    sim = with_facilitator()
    sim.feed(TimerDue(timer="meditation_start"), 0)
    ana = person("Ana")
    sim.feed(ArrivedInWaitingRoom(participant=ana), 2)
    assert admitted(sim.say("Mira", "/admit Ana", 3)) == ["Ana"]
    told = [LeftWaitingRoom(participant=ana), Joined(participant=ana)]
    actions = [a for event in (told if exit_first else told[::-1]) for a in sim.feed(event, 3)]
    assert actions == [Mute(target=Target(key="k-ana", user_id="u-k-ana", name="Ana"))]
    assert sim.state.people["k-ana"].where == "meeting"


def test_hanging_up_in_the_waiting_room_then_coming_back_waits_again():
    sim = with_facilitator()
    sim.feed(TimerDue(timer="meditation_start"), 0)
    sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), 2)
    sim.feed(LeftWaitingRoom(participant=person("Ana")), 3)
    assert sim.state.people["k-ana"].where == "gone"
    again = sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), 5)
    assert again == [
        SendChat(to=Audience.WAITING_ROOM, text=line("waiting_meditation", time="19:10"))
    ]
    assert admitted(sim.feed(TimerDue(timer="meditation_end"), 10)) == ["Ana"]


def test_a_member_who_was_in_and_drops_during_the_meditation_comes_straight_back():
    """Not a latecomer: admitted at once (muted, as everyone in the meditation), whether the
    rejoin goes through the waiting room or straight into the meeting."""
    ana = Target(key="k-ana", user_id="u-k-ana", name="Ana")
    sim = with_facilitator()
    sim.enter("Ana", -5)
    sim.feed(TimerDue(timer="meditation_start"), 0)
    sim.feed(Left(participant=person("Ana")), 2)
    back = sim.feed(Joined(participant=person("Ana")), 3)
    assert back == [Mute(target=ana)]
    sim.feed(Left(participant=person("Ana")), 4)
    assert sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), 5) == [Admit(target=ana)]
    assert sim.feed(Joined(participant=person("Ana")), 5) == [Mute(target=ana)]


def test_a_latecomer_put_out_by_the_meditation_is_not_taken_for_one_who_dropped():
    sim = with_facilitator()
    sim.feed(TimerDue(timer="meditation_start"), 0)
    sim.feed(Joined(participant=person("Ana")), 2)  # straight in: put back
    sim.feed(Left(participant=person("Ana")), 2)
    waits = sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), 2)
    assert admitted(waits) == []
    assert chats(waits, Audience.WAITING_ROOM) == [line("waiting_meditation", time="19:10")]


@pytest.mark.parametrize("arrival_first", [True, False], ids=["arrival-first", "exit-first"])
def test_someone_put_in_the_waiting_room_waits_there_whichever_webhook_comes_first(
    arrival_first,
):
    """Zoom reports a move to the waiting room as an arrival there and a departure from the
    meeting: either way they are waiting, and `/admit` lets them back in."""
    sim = to_phase(Phase.CASE_CALL)
    sim.say("Mira", "/hold Ben", 12)
    ben = person("Ben")
    told = [ArrivedInWaitingRoom(participant=ben), Left(participant=ben)]
    for event in told if arrival_first else told[::-1]:
        assert sim.feed(event, 12) == []
    assert sim.state.people["k-ben"].where == "waiting"
    assert admitted(sim.say("Mira", "/admit Ben", 13)) == ["Ben"]


def test_meditation_without_holding_admits_and_mutes():
    sim = with_facilitator(Agenda(hold_during_meditation=False))
    sim.feed(TimerDue(timer="meditation_start"), 0)
    actions = sim.enter("Ana", 3)
    assert kinds(actions) == ["Admit", "Mute"]


def test_late_session_lands_in_the_right_phase_quietly():
    sim = Sim()
    actions = sim.feed(MeetingStarted(), 30)
    assert transitions(actions) == [("social", "meditation"), ("meditation", "case_call")]
    assert chats(actions) == ["Who has a case?"]
    sim = Sim()
    actions = sim.feed(MeetingStarted(), 100)
    assert chats(actions) == ["Who has a case?", line("warning", minutes=5)]
    assert sim.phase is Phase.CASE_CALL
    sim = Sim()
    actions = sim.feed(MeetingStarted(), 110)  # past the end, in its grace: not closed yet
    assert sim.phase is Phase.CASE_CALL
    assert chats(actions) == []
    sim = Sim()
    actions = sim.feed(MeetingStarted(), 116)
    assert transitions(actions)[-1] == ("case_call", "closing")
    assert chats(actions) == [line("closing")]


def test_late_session_admits_whoever_was_waiting():
    sim = Sim()
    sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), -30)  # room not open yet: admitted
    sim2 = Sim()
    state = sim2.state
    state, _ = handle(state, ArrivedInWaitingRoom(participant=person("Ana")), at(5))
    assert state.phase is Phase.MEDITATION
    state, actions = handle(state, ArrivedInWaitingRoom(participant=person("Ben")), at(12))
    assert admitted(actions) == ["Ana", "Ben"]


# -- the clock at the end ---------------------------------------------------------------------


def test_warnings_and_group_end():
    sim = to_phase(Phase.RETURN)
    assert chats(sim.feed(TimerDue(timer="warning_10"), 94)) == []
    assert chats(sim.feed(TimerDue(timer="warning_10"), 95)) == [line("warning", minutes=10)]
    assert chats(sim.feed(TimerDue(timer="warning_10"), 96)) == []
    assert chats(sim.feed(TimerDue(timer="warning_2"), 103)) == [line("warning", minutes=2)]
    end = sim.feed(TimerDue(timer="group_end"), 105)
    assert transitions(end) == []  # the facilitator is in charge of the end
    assert end == [
        SendChat(
            to=Audience.FACILITATORS,
            text=line("overrun", time="20:45", close="20:55"),
            recipients=(Target(key="k-mira", user_id="u-k-mira", name="Mira"),),
        )
    ]
    assert sim.feed(TimerDue(timer="group_end"), 110) == []  # told once
    close = sim.feed(TimerDue(timer="group_close"), 115)
    assert transitions(close) == [("return", "closing")]
    assert chats(close) == [line("closing")]


def test_without_grace_the_group_closes_at_its_end():
    sim = to_phase(Phase.RETURN, Agenda(overrun_grace_minutes=0))
    end = sim.feed(TimerDue(timer="group_end"), 105)
    assert transitions(end) == [("return", "closing")]
    assert chats(end) == [line("closing")]


def test_two_warnings_due_together_post_only_the_latest():
    sim = to_phase(Phase.CASE_CALL)
    actions = sim.feed(TimerDue(timer="warning_2"), 104)
    assert chats(actions) == [line("warning", minutes=1)]


def test_the_group_end_leaves_the_presenter_behind_the_mirror_until_the_grace_is_over():
    sim = to_phase(Phase.DISCUSSION)
    end = sim.feed(TimerDue(timer="group_end"), 105)
    assert sim.phase is Phase.DISCUSSION
    assert line("overrun", time="20:45", close="20:55") in chats(end, Audience.FACILITATORS)
    assert not any(isinstance(a, AllowSelfMedia | AskUnmute | AskStartVideo) for a in end)
    actions = sim.feed(TimerDue(timer="group_close"), 115)
    ana = Target(key="k-ana", user_id="u-k-ana", name="Ana")
    assert actions[:3] == [
        AllowSelfMedia(unmute=True, video=True),
        AskUnmute(target=ana),
        AskStartVideo(target=ana),
    ]
    assert sim.phase is Phase.CLOSING


def test_reflection_ends_by_the_clock():
    sim = to_phase(Phase.CLOSING)
    actions = sim.say("Mira", "/reflection", 106)
    assert ScheduleWakeup(at=at(121), timer="reflection_end") in actions
    assert chats(actions) == [line("reflection_start", time="21:01")]
    assert sim.feed(TimerDue(timer="reflection_end"), 120) == []
    done = sim.feed(TimerDue(timer="reflection_end"), 121)
    assert transitions(done) == [("reflection", "ended")]
    assert chats(done) == [line("reflection_end")]


@pytest.mark.parametrize("phase", list(Phase))
def test_meeting_end_ends_every_phase(phase):
    sim = to_phase(phase)
    actions = sim.feed(MeetingEnded(), 60)
    assert sim.phase is Phase.ENDED
    assert all(p.where == "gone" for p in sim.state.people.values())
    assert chats(actions) == []
    assert sim.feed(ArrivedInWaitingRoom(participant=person("Ana")), 61) == []


def test_ended_admits_facilitators_only():
    sim = to_phase(Phase.ENDED)
    assert sim.feed(ArrivedInWaitingRoom(participant=person("Dev")), 120) == []
    mira = person("Mira", key="k-m2", registrant_id="reg-mira")
    assert admitted(sim.feed(ArrivedInWaitingRoom(participant=mira), 120))


# -- names ------------------------------------------------------------------------------------


def test_member_showing_more_than_a_first_name_is_reminded_once():
    sim = with_facilitator()
    actions = sim.enter("Ana Lopez", -10)
    ana = Target(key="k-ana", user_id="u-k-ana", name="Ana Lopez")
    assert actions[-1] == SendChat(
        to=Audience.PARTICIPANT, text=line("name_reminder", name="Ana"), recipients=(ana,)
    )
    sim.feed(Left(participant=person("Ana Lopez")), -9)
    assert chats(sim.enter("Ana Lopez", -8)) == []


def test_rename_in_waiting_room_when_allowed():
    sim = with_facilitator(Agenda(rename_in_waiting_room=True))
    actions = sim.feed(ArrivedInWaitingRoom(participant=person("ANA  lópez")), -10)
    ana = Target(key="k-ana", user_id="u-k-ana", name="ANA  lópez")
    assert actions == [Rename(target=ana, new_name="Ana"), Admit(target=ana)]
    assert chats(sim.feed(Joined(participant=person("Ana")), -10)) == []


def test_facilitators_are_not_reminded_about_names():
    sim = Sim()
    assert chats(sim.enter("Mira Keller", -10, role=ZoomRole.HOST)) == []


# -- recording --------------------------------------------------------------------------------


def test_recording_is_stopped_and_facilitators_told_who():
    sim = with_facilitator()
    sim.enter("Ben", -9)
    ben = person("Ben")
    actions = sim.feed(RecordingStarted(participant=ben), -5)
    assert actions == [
        StopRecording(started_by=Target(key="k-ben", user_id="u-k-ben", name="Ben"), confirm=True)
    ]  # told once Zoom stopped it
    done = sim.feed(ActionDone(kind="stop_recording"), -5)
    assert chats(done, Audience.FACILITATORS) == [line("recording_stopped", name="Ben")]
    anonymous = sim.feed(RecordingStarted(), -4)
    assert anonymous == [StopRecording(confirm=True)]
    done = sim.feed(ActionDone(kind="stop_recording"), -4)
    assert chats(done) == [line("recording_stopped", name="someone")]
    assert sim.state.awaiting == frozenset()


# -- the one-way mirror -----------------------------------------------------------------------

ANA = Target(key="k-ana", user_id="u-k-ana", name="Ana")


def test_discussion_mutes_the_presenter_and_explains_once():
    sim = to_phase(Phase.QUESTIONS)
    actions = sim.say("Mira", "/next", 20)
    assert Mute(target=ANA, allow_self_unmute=False, confirm=True) in actions
    assert StopVideo(target=ANA, confirm=True) in actions
    assert chats(actions, Audience.PARTICIPANT) == []  # told once Zoom did both
    assert chats(actions, Audience.EVERYONE) == [line("discussion_start", name="Ana")]
    assert sim.feed(ActionDone(kind="mute", target_key="k-ana"), 20) == []
    done = sim.feed(ActionDone(kind="stop_video", target_key="k-ana"), 20)
    assert chats(done, Audience.PARTICIPANT) == [line("mirror_explained", name="Ana")]


def test_presenter_unmuting_is_muted_again_and_reminded_at_most_once_a_minute():
    sim = to_phase(Phase.DISCUSSION)
    first = sim.feed(AudioUnmuted(participant=person("Ana")), 20)
    assert first == [
        Mute(target=ANA, allow_self_unmute=False),
        SendChat(
            to=Audience.PARTICIPANT, text=line("mirror_reminder", name="Ana"), recipients=(ANA,)
        ),
    ]
    assert sim.feed(AudioUnmuted(participant=person("Ana")), 20.5) == [
        Mute(target=ANA, allow_self_unmute=False)
    ]
    assert sim.feed(VideoOn(participant=person("Ana")), 20.9) == [StopVideo(target=ANA)]
    assert len(sim.feed(VideoOn(participant=person("Ana")), 21)) == 2
    assert sim.feed(AudioMuted(participant=person("Ana")), 21) == []
    assert sim.feed(VideoOff(participant=person("Ana")), 21) == []
    assert sim.feed(AudioUnmuted(participant=person("Ben")), 21) == []


def test_presenter_rejoining_during_discussion_is_muted_again():
    sim = to_phase(Phase.DISCUSSION)
    sim.feed(Left(participant=person("Ana")), 20)
    rejoin = person("Ana", user_id="u-ana-2")
    sim.feed(ArrivedInWaitingRoom(participant=rejoin), 21)
    actions = sim.feed(Joined(participant=rejoin), 21)
    again = Target(key="k-ana", user_id="u-ana-2", name="Ana")
    assert actions[:2] == [Mute(target=again, allow_self_unmute=False), StopVideo(target=again)]


def test_mirror_not_enforced_only_reminds():
    sim = to_phase(Phase.QUESTIONS, Agenda(enforce_mirror=False))
    actions = sim.say("Mira", "/next", 20)
    assert not any(isinstance(a, Mute | StopVideo) for a in actions)
    assert chats(actions, Audience.PARTICIPANT) == [line("mirror_self", name="Ana")]
    unmuted = sim.feed(AudioUnmuted(participant=person("Ana")), 21)
    assert kinds(unmuted) == ["SendChat"]


def test_discussion_with_absent_presenter_does_nothing_to_them():
    sim = to_phase(Phase.QUESTIONS)
    sim.feed(Left(participant=person("Ana")), 19)
    actions = sim.say("Mira", "/next", 20)
    assert kinds(actions) == ["PhaseChanged", "SendChat", "ScheduleWakeup"]


def test_return_asks_only_the_presenter_back():
    sim = to_phase(Phase.DISCUSSION)
    actions = sim.say("Mira", "/next", 20)
    assert [a for a in actions if isinstance(a, AskUnmute | AskStartVideo)] == [
        AskUnmute(target=ANA),
        AskStartVideo(target=ANA),
    ]
    assert chats(actions) == [line("return_start", name="Ana")]


# -- budgets ----------------------------------------------------------------------------------


def test_budget_nudges_facilitators_once():
    sim = to_phase(Phase.CASE_CALL)
    named = sim.say("Mira", "/case Ana", 2)
    assert ScheduleWakeup(at=at(12), timer="budget_presentation") in named
    assert sim.feed(TimerDue(timer="budget_presentation"), 11) == []
    nudge = sim.feed(TimerDue(timer="budget_presentation"), 12)
    assert chats(nudge, Audience.FACILITATORS) == [
        line("budget_nudge", minutes=10, phase="presentation")
    ]
    assert sim.feed(TimerDue(timer="budget_presentation"), 13) == []


def test_zero_budget_never_nudges():
    sim = to_phase(Phase.QUESTIONS, Agenda(questions_budget_minutes=0))
    assert sim.feed(TimerDue(timer="budget_questions"), 60) == []


def test_budget_timer_of_an_earlier_phase_is_stale():
    sim = to_phase(Phase.DISCUSSION)
    assert sim.feed(TimerDue(timer="budget_presentation"), 13) == []


# -- identity ---------------------------------------------------------------------------------


def test_matching_by_registrant_id_and_email():
    sim = with_facilitator(Agenda(rename_in_waiting_room=True))
    by_reg = person("Dr B", key="k-b", registrant_id="reg-ben")
    assert kinds(sim.feed(ArrivedInWaitingRoom(participant=by_reg), -5)) == ["Rename", "Admit"]
    by_mail = person("A.", key="k-a", email="ANA@example.org", signed_in=True)
    assert admitted(sim.feed(ArrivedInWaitingRoom(participant=by_mail), -5)) == ["A."]
    # The same e-mail from someone not signed in to Zoom proves nothing.
    unvouched = person("A.", key="k-a2", email="ANA@example.org")
    assert admitted(sim.feed(ArrivedInWaitingRoom(participant=unvouched), -5)) == []


def test_renamed_member_keeps_their_identity():
    sim = with_facilitator()
    sim.enter("Dev", -10)
    sim.feed(Left(participant=person("Dev")), -9)
    sim.feed(Joined(participant=person("Devvy", key="k-dev")), -9)
    assert sim.state.people["k-dev"].kind == "member"
    assert sim.state.people["k-dev"].roster_name == "Dev"


def test_media_of_someone_unseen_is_recorded():
    sim = with_facilitator()
    sim.feed(VideoOn(participant=person("Ana")), -5)
    assert sim.state.people["k-ana"].video is True
    assert sim.state.people["k-ana"].where == "meeting"


def test_time_is_only_now():
    state, _ = new_session(agenda=Agenda(), roster=ROSTER, scheduled_start=T0)
    again, _ = handle(state, TimerDue(timer="meditation_start"), T0 - timedelta(seconds=1))
    assert again == state


def test_presenter_who_is_co_host_is_behind_the_mirror_too():
    sim = to_phase(Phase.DISCUSSION)
    sim.feed(Left(participant=person("Ana")), 20)
    actions = sim.feed(Joined(participant=person("Ana"), role=ZoomRole.CO_HOST), 21)
    assert actions == [Mute(target=ANA, allow_self_unmute=False), StopVideo(target=ANA)]


def test_a_late_warning_says_the_true_time_left():
    sim = to_phase(Phase.CASE_CALL)
    assert chats(sim.feed(TimerDue(timer="warning_10"), 97.5)) == [line("warning", minutes=8)]
    assert chats(sim.feed(TimerDue(timer="warning_2"), 103.01)) == [line("warning", minutes=2)]


def test_a_meeting_restarted_mid_group_picks_up_where_it_was():
    sim = to_phase(Phase.DISCUSSION)
    sim.feed(MeetingEnded(), 20)
    assert sim.phase is Phase.ENDED
    actions = sim.feed(MeetingStarted(), 22)
    assert transitions(actions) == [("ended", "discussion")]
    assert chats(actions) == []
    rejoin = sim.enter("Ana", 23)
    assert Mute(target=ANA, allow_self_unmute=False) in rejoin and StopVideo(target=ANA) in rejoin
    assert admitted(sim.feed(ArrivedInWaitingRoom(participant=person("Ben")), 24)) == ["Ben"]


def test_a_meeting_restarted_after_the_group_stays_ended_or_closes():
    sim = to_phase(Phase.CLOSING)
    sim.feed(MeetingEnded(), 20)
    assert transitions(sim.feed(MeetingStarted(), 22)) == []
    sim = to_phase(Phase.CASE_CALL)
    sim.feed(MeetingEnded(), 20)
    actions = sim.feed(MeetingStarted(), 116)
    assert transitions(actions) == [("ended", "case_call"), ("case_call", "closing")]
    sim = to_phase(Phase.RETURN)
    sim.say("Mira", "/end", 20)
    sim.say("Mira", "/end", 21)
    assert transitions(sim.feed(MeetingStarted(), 22)) == []


def test_a_discussion_restarted_after_the_close_mark_mutes_no_one():
    """The clock closes it at once: the one-way mirror is not set up only to be lifted
    (found by test_random_evenings_keep_every_invariant)."""
    sim = to_phase(Phase.DISCUSSION)
    sim.feed(MeetingEnded(), 60)
    sim.feed(Joined(participant=person("Ana")), 115)  # the presenter is back first
    actions = sim.feed(MeetingStarted(), 116)
    assert transitions(actions) == [("ended", "discussion"), ("discussion", "closing")]
    assert not any(isinstance(a, Mute | StopVideo) for a in actions)
    assert not any(isinstance(a, AllowSelfMedia) and a.video is False for a in actions)


def test_a_fact_told_by_both_sources_is_acted_on_once():
    """The runtime merges the webhook's and the SDK's reports under one person key: a
    repeated arrival, join or waiting-room exit changes nothing but the ids."""
    sim = with_facilitator()
    ben = person("Ben")
    assert kinds(sim.feed(ArrivedInWaitingRoom(participant=ben), -5)) == ["Admit"]
    assert sim.feed(ArrivedInWaitingRoom(participant=ben), -5) == []  # told again
    sim.feed(Joined(participant=ben), -5)
    assert sim.feed(LeftWaitingRoom(participant=ben), -5) == []  # the admission, told late
    assert sim.state.people["k-ben"].where == "meeting"
    # during the meditation a repeated join must not send him back to the waiting room
    sim.feed(TimerDue(timer="meditation_start"), 0)
    assert sim.feed(Joined(participant=person("Ben", user_id="sdk-7")), 1) == []
    assert sim.state.people["k-ben"].user_id == "sdk-7"
    # a stronger role is taken from a repeat, a weaker one is not
    sim.feed(Joined(participant=ben, role=ZoomRole.CO_HOST), 2)
    sim.feed(Joined(participant=ben, role=ZoomRole.ATTENDEE), 2)
    assert sim.state.people["k-ben"].zoom_role is ZoomRole.CO_HOST
