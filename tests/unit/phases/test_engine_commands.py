"""Table-driven tests of every facilitator command, including the refusals."""

from __future__ import annotations

import pytest

from phases.actions import (
    Admit,
    AllowSelfMedia,
    Audience,
    Mute,
    PutInWaitingRoom,
    ScheduleWakeup,
    SendChat,
    StopVideo,
    Target,
)
from phases.agenda import Agenda
from phases.commands import USAGE
from phases.events import ArrivedInWaitingRoom, ChatMessage, Joined, TimerDue, ZoomRole
from phases.state import Phase

from .helpers import Sim, at, chats, line, person, to_phase, transitions, with_facilitator

MIRA = Target(key="k-mira", user_id="u-k-mira", name="Mira")

ALL_COMMANDS = [
    "/help",
    "/status",
    "/next",
    "/case Ana",
    "/extend 5",
    "/pause",
    "/resume",
    "/admit Ana",
    "/admit all",
    "/hold Ana",
    "/mirror off",
    "/reflection",
    "/end",
    "/nonsense",
]


def private(text: str, to: Target = MIRA) -> SendChat:
    return SendChat(to=Audience.PARTICIPANT, text=text, recipients=(to,))


@pytest.mark.parametrize("command", ALL_COMMANDS)
def test_a_members_command_gets_a_polite_private_refusal_and_changes_nothing(command):
    sim = to_phase(Phase.PRESENTATION)
    before = sim.state
    ben = Target(key="k-ben", user_id="u-k-ben", name="Ben")
    actions = sim.say("Ben", command, 3)
    assert actions == [private(line("refused_member", name="Ben"), ben)]
    assert sim.state.phase is before.phase
    assert sim.state.presenter == before.presenter


@pytest.mark.parametrize(
    "text", ["hello", "", "   ", "not /a command", "/", "/ÿ", "{name}", "/case {}"]
)
def test_plain_or_odd_text_never_raises(text):
    sim = to_phase(Phase.CASE_CALL)
    sim.say("Mira", text, 3)
    sim.say("Ben", text, 3)


def test_unknown_command_gets_help_and_help_gets_help():
    sim = with_facilitator()
    assert sim.say("Mira", "/dance", -5) == [private(line("help"))]
    assert sim.say("Mira", "  /HÉLP  ", -5) == [private(line("help"))]


@pytest.mark.parametrize(
    ("command", "verb"),
    [
        ("/case", "case"),
        ("/extend soon", "extend"),
        ("/extend 0", "extend"),
        ("/extend 500", "extend"),
        ("/admit", "admit"),
        ("/hold", "hold"),
        ("/mirror maybe", "mirror"),
    ],
)
def test_bad_usage_gets_the_usage_line(command, verb):
    sim = to_phase(Phase.CASE_CALL)
    assert sim.say("Mira", command, 3) == [private(line("usage", usage=USAGE[verb]))]


def test_duplicate_message_id_runs_once():
    sim = to_phase(Phase.CASE_CALL)
    message = ChatMessage(sender=person("Mira"), text="/case Ana", message_id="m-1")
    assert transitions(sim.feed(message, 3)) == [("case_call", "presentation")]
    assert sim.feed(message, 3) == []
    assert sim.state.cases == 1


def test_recent_message_ids_are_bounded():
    sim = with_facilitator()
    for n in range(100):
        sim.feed(ChatMessage(sender=person("Ben"), text="hi", message_id=f"m{n}"), -5)
    assert len(sim.state.recent_messages) == 64
    assert sim.state.recent_messages[-1] == "m99"


# -- /status -----------------------------------------------------------------------------------


def test_status_shows_phase_time_left_and_who_waits():
    sim = to_phase(Phase.PRESENTATION)
    sim.feed(ArrivedInWaitingRoom(participant=person("Stranger")), 4)
    actions = sim.say("Mira", "/status", 5)
    assert actions == [
        private(
            line(
                "status",
                phase="presentation",
                minutes=100,
                time="20:45",
                waiting="Stranger",
                paused="",
            )
        )
    ]
    sim.say("Mira", "/pause", 6)
    paused = sim.say("Mira", "/status", 6.5)[0].text
    assert paused.endswith(line("status_paused")) and "Waiting: Stranger" in paused


def test_status_in_reflection_counts_to_its_end_and_says_nobody_waits():
    sim = to_phase(Phase.REFLECTION)  # entered at minute 2, 15 minutes
    text = sim.say("Mira", "/status", 7)[0].text
    assert text == line(
        "status", phase="reflection", minutes=10, time="19:17", waiting="no one", paused=""
    )


# -- /next -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "after", "reply"),
    [
        (Phase.SOCIAL, Phase.MEDITATION, None),
        (Phase.MEDITATION, Phase.CASE_CALL, None),
        (Phase.CASE_CALL, Phase.CASE_CALL, "next_needs_case"),
        (Phase.PRESENTATION, Phase.QUESTIONS, None),
        (Phase.QUESTIONS, Phase.DISCUSSION, None),
        (Phase.DISCUSSION, Phase.RETURN, None),
        (Phase.RETURN, Phase.CASE_CALL, None),
        (Phase.CLOSING, Phase.REFLECTION, None),
        (Phase.REFLECTION, Phase.ENDED, None),
        (Phase.ENDED, Phase.ENDED, "already_ended"),
    ],
)
def test_next(phase, after, reply):
    sim = to_phase(phase)
    minute = -1 if phase is Phase.SOCIAL else 8
    actions = sim.say("Mira", "/next", minute)
    assert sim.phase is after
    if reply:
        assert actions == [private(line(reply))]
    else:
        assert transitions(actions) == [(phase.value, after.value)]


def test_next_from_social_starts_the_meditation_now():
    sim = to_phase(Phase.SOCIAL)
    actions = sim.say("Mira", "/next", -3)
    assert ScheduleWakeup(at=at(7), timer="meditation_end") in actions
    assert chats(actions) == [line("meditation_start", minutes=10, time="19:07")]
    assert sim.feed(TimerDue(timer="meditation_start"), 0) == []
    assert transitions(sim.feed(TimerDue(timer="meditation_end"), 7)) == [
        ("meditation", "case_call")
    ]


def test_next_without_meditation_or_reflection():
    agenda = Agenda(meditation_minutes=0, reflection_minutes=0)
    sim = to_phase(Phase.SOCIAL, agenda)
    assert transitions(sim.say("Mira", "/next", -3)) == [("social", "case_call")]
    sim = to_phase(Phase.CLOSING, agenda)
    actions = sim.say("Mira", "/next", 50)
    assert transitions(actions) == [("closing", "ended")]
    assert chats(actions) == [line("ended")]


def test_next_after_the_last_case_is_refused():
    sim = to_phase(Phase.RETURN, Agenda(max_cases=1))
    assert sim.say("Mira", "/next", 50) == [private(line("next_last_case"))]
    assert sim.phase is Phase.RETURN


# -- /case -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "phase",
    [
        Phase.SOCIAL,
        Phase.MEDITATION,
        Phase.QUESTIONS,
        Phase.DISCUSSION,
        Phase.CLOSING,
        Phase.REFLECTION,
    ],
)
def test_case_outside_its_phases_is_refused(phase):
    sim = to_phase(phase)
    actions = sim.say("Mira", "/case Ben", -2 if phase is Phase.SOCIAL else 8)
    assert actions == [private(line("case_not_now", phase=phase.value.replace("_", " ")))]
    assert sim.phase is phase


def test_case_after_end():
    sim = to_phase(Phase.ENDED)
    assert sim.say("Mira", "/case Ben", 8) == [private(line("already_ended"))]


def test_second_case_restarts_the_presentation_and_a_third_is_refused():
    sim = to_phase(Phase.RETURN)
    actions = sim.say("Mira", "/case ben", 50)
    assert transitions(actions) == [("return", "presentation")]
    assert chats(actions) == [line("presentation_start", name="Ben")]
    assert sim.state.presenter == "k-ben" and sim.state.cases == 2
    for minute in (51, 52, 53):
        sim.say("Mira", "/next", minute)
    assert sim.phase is Phase.RETURN
    assert sim.say("Mira", "/case Ana", 54) == [private(line("cases_done", count=2))]


def test_case_during_presentation_corrects_the_presenter():
    sim = to_phase(Phase.PRESENTATION)
    actions = sim.say("Mira", "/case Ben", 3)
    assert chats(actions) == [line("presentation_start", name="Ben")]
    assert transitions(actions) == []
    assert sim.state.presenter == "k-ben" and sim.state.cases == 1


@pytest.mark.parametrize(
    ("query", "presenter"),
    [
        ("ana", "k-ana"),
        ("  ÁNA ", "k-ana"),
        ("Ana Lopez", "k-ana"),
        ("Chlo", None),
        ("Ben", "k-ben"),
    ],
)
def test_case_name_matching(query, presenter):
    sim = to_phase(Phase.CASE_CALL, presenter="Ana Lopez")
    sim.say("Mira", f"/case {query}", 3)
    assert sim.state.presenter == (presenter or "")


def test_case_unknown_name_lists_who_is_present():
    sim = to_phase(Phase.CASE_CALL)
    actions = sim.say("Mira", "/case Zed", 3)
    assert actions == [private(line("no_match", query="Zed", names="Mira, Ana, Ben"))]


def test_case_prefers_the_exact_display_name():
    sim = to_phase(Phase.CASE_CALL)
    sim.enter("Ben Ray", 2, key="k-ben2")
    sim.say("Mira", "/case Ben", 3)
    assert sim.state.presenter == "k-ben"


def test_case_ambiguous_name_lists_candidates():
    sim = to_phase(Phase.CASE_CALL)
    sim.enter("Dev Ray", 2, key="k-dev1")
    sim.enter("Dev Stone", 2, key="k-dev2")
    actions = sim.say("Mira", "/case dév", 3)
    assert actions == [private(line("ambiguous", query="dév", names="Dev Ray, Dev Stone"))]
    sim.say("Mira", "/case dev  r", 3)
    assert sim.state.presenter == "k-dev1"


def test_case_first_name_of_a_roster_member_shown_with_a_surname():
    sim = to_phase(Phase.CASE_CALL)
    sim.enter("Chloé Martin", 2)
    sim.say("Mira", "/case chloe", 3)
    assert sim.state.presenter == "k-chloé"


# -- /extend -----------------------------------------------------------------------------------


def test_extend_moves_the_end_and_rearms_warnings():
    sim = to_phase(Phase.RETURN)
    sim.feed(TimerDue(timer="warning_10"), 95)
    actions = sim.say("Mira", "/extend  15 min", 96)
    assert chats(actions) == [line("extended", minutes=15, time="21:00")]
    assert [a for a in actions if isinstance(a, ScheduleWakeup)] == [
        ScheduleWakeup(at=at(110), timer="warning_10"),
        ScheduleWakeup(at=at(118), timer="warning_2"),
        ScheduleWakeup(at=at(120), timer="group_end"),
        ScheduleWakeup(at=at(130), timer="group_close"),
    ]
    assert sim.feed(TimerDue(timer="group_end"), 105) == []  # stale
    assert chats(sim.feed(TimerDue(timer="warning_10"), 110)) == [line("warning", minutes=10)]
    assert transitions(sim.feed(TimerDue(timer="group_end"), 120)) == []
    assert transitions(sim.feed(TimerDue(timer="group_close"), 130)) == [("return", "closing")]


def test_extend_keeps_warnings_that_are_still_past():
    sim = to_phase(Phase.RETURN)
    sim.feed(TimerDue(timer="warning_2"), 103)
    actions = sim.say("Mira", "/extend 5", 104)
    assert [a.timer for a in actions if isinstance(a, ScheduleWakeup)] == [
        "warning_2",
        "group_end",
        "group_close",
    ]


@pytest.mark.parametrize("phase", [Phase.CLOSING, Phase.REFLECTION, Phase.ENDED])
def test_extend_after_the_end_is_refused(phase):
    sim = to_phase(phase)
    assert sim.say("Mira", "/extend 5", 8) == [private(line("extend_after_end"))]


# -- /pause and /resume ------------------------------------------------------------------------


def test_pause_holds_the_clock_and_resume_catches_up():
    sim = to_phase(Phase.MEDITATION)
    sim.feed(ArrivedInWaitingRoom(participant=person("Dev")), 2)
    assert sim.say("Mira", "/pause", 3) == [private(line("paused"))]
    assert sim.say("Mira", "/pause", 3) == [private(line("already_paused"))]
    assert sim.feed(TimerDue(timer="meditation_end"), 10) == []
    assert sim.phase is Phase.MEDITATION
    assert sim.feed(ArrivedInWaitingRoom(participant=person("Chloé")), 11) == []
    actions = sim.say("Mira", "/resume", 12)
    assert actions[0] == private(line("resumed"))
    assert [a.target.name for a in actions if isinstance(a, Admit)] == ["Dev", "Chloé"]
    assert sim.phase is Phase.CASE_CALL
    assert sim.say("Mira", "/resume", 13) == [private(line("not_paused"))]


def test_pause_holds_nudges():
    sim = to_phase(Phase.PRESENTATION)
    sim.say("Mira", "/pause", 3)
    assert sim.feed(TimerDue(timer="budget_presentation"), 12) == []
    resumed = sim.say("Mira", "/resume", 20)
    assert chats(resumed, Audience.FACILITATORS) == [
        line("budget_nudge", minutes=10, phase="presentation")
    ]


# -- /admit and /hold --------------------------------------------------------------------------


def test_admit_a_guest_by_name_and_again_when_they_return():
    sim = with_facilitator()
    guest = person("Stranger")
    sim.feed(ArrivedInWaitingRoom(participant=guest), -5)
    actions = sim.say("Mira", "/admit stranger", -4)
    assert actions == [
        Admit(target=Target(key="k-stranger", user_id="u-k-stranger", name="Stranger"))
    ]
    sim.feed(Joined(participant=guest), -4)
    sim.feed(ArrivedInWaitingRoom(participant=guest), 30)
    assert sim.state.people["k-stranger"].where == "waiting"
    assert "k-stranger" in sim.state.approved


def test_admit_all_admits_everyone_waiting_in_order_even_during_meditation():
    sim = to_phase(Phase.MEDITATION)
    for minute, name in ((2, "Dev"), (3, "Stranger"), (4, "Chloé")):
        sim.feed(ArrivedInWaitingRoom(participant=person(name)), minute)
    actions = sim.say("Mira", "/admit ALL", 5)
    assert [a.target.name for a in actions] == ["Dev", "Stranger", "Chloé"]
    # They are still waiting until Zoom says they joined, so a repeat admits them again.
    assert [type(a).__name__ for a in sim.say("Mira", "/admit all", 5)] == ["Admit"] * 3


def test_admit_with_nobody_waiting_or_no_such_name():
    sim = with_facilitator()
    assert sim.say("Mira", "/admit all", -5) == [private(line("nobody_waiting"))]
    sim.feed(ArrivedInWaitingRoom(participant=person("Stranger")), -5)
    assert sim.say("Mira", "/admit Zed", -4) == [
        private(line("no_match", query="Zed", names="Stranger"))
    ]


def test_hold_sends_to_the_waiting_room_and_policy_leaves_them_there():
    sim = to_phase(Phase.CASE_CALL)
    ben = Target(key="k-ben", user_id="u-k-ben", name="Ben")
    assert sim.say("Mira", "/hold Ben", 3) == [PutInWaitingRoom(target=ben)]
    assert sim.feed(ArrivedInWaitingRoom(participant=person("Ben")), 3) == []
    assert sim.say("Mira", "/admit ben", 4) == [Admit(target=ben)]
    sim.feed(Joined(participant=person("Ben")), 4)
    assert "k-ben" not in sim.state.held


def test_held_people_stay_out_at_the_meditation_end():
    sim = to_phase(Phase.MEDITATION)
    sim.say("Mira", "/hold Ben", 2)
    sim.feed(ArrivedInWaitingRoom(participant=person("Ben")), 2)
    end = sim.feed(TimerDue(timer="meditation_end"), 10)
    assert not any(isinstance(a, Admit) for a in end)


def test_facilitators_are_never_held():
    sim = to_phase(Phase.CASE_CALL)
    sim.enter("Olga", 2, role=ZoomRole.CO_HOST)
    assert sim.say("Mira", "/hold olga", 3) == [private(line("facilitator_not_held", name="Olga"))]
    assert sim.say("Mira", "/hold mira", 3) == [private(line("facilitator_not_held", name="Mira"))]


# -- /mirror ----------------------------------------------------------------------------------


def test_mirror_off_then_on_during_discussion():
    sim = to_phase(Phase.DISCUSSION)
    assert sim.say("Mira", "/mirror off", 20) == [
        private(line("mirror_off")),
        AllowSelfMedia(unmute=True, video=True),
    ]
    from phases.events import AudioUnmuted

    unmuted = sim.feed(AudioUnmuted(participant=person("Ana")), 21)
    assert not any(isinstance(a, Mute) for a in unmuted)
    ana = Target(key="k-ana", user_id="u-k-ana", name="Ana")
    assert sim.say("Mira", "/mirror ON", 22) == [
        private(line("mirror_on")),
        AllowSelfMedia(video=False),
        Mute(target=ana, allow_self_unmute=False),
        StopVideo(target=ana),
    ]


def test_mirror_on_outside_discussion_only_confirms():
    sim = to_phase(Phase.QUESTIONS, Agenda(enforce_mirror=False))
    assert sim.say("Mira", "/mirror on", 5) == [private(line("mirror_on"))]
    assert sim.state.mirror_on


# -- /reflection and /end ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("phase", "agenda", "reply"),
    [
        (Phase.CASE_CALL, Agenda(), "reflection_not_now"),
        (Phase.CLOSING, Agenda(reflection_minutes=0), "reflection_none"),
        (Phase.ENDED, Agenda(), "already_ended"),
        (Phase.REFLECTION, Agenda(), "reflection_not_now"),
    ],
)
def test_reflection_refusals(phase, agenda, reply):
    sim = to_phase(phase, agenda)
    assert sim.say("Mira", "/reflection", 8) == [private(line(reply))]


@pytest.mark.parametrize(
    ("phase", "after", "said"),
    [
        (Phase.SOCIAL, Phase.CLOSING, [line("closing")]),
        (Phase.DISCUSSION, Phase.CLOSING, [line("closing")]),
        (Phase.CLOSING, Phase.ENDED, [line("ended")]),
        (Phase.REFLECTION, Phase.ENDED, [line("ended")]),
    ],
)
def test_end(phase, after, said):
    sim = to_phase(phase)
    actions = sim.say("Mira", "/end", 8 if phase is not Phase.SOCIAL else -2)
    assert sim.phase is after
    assert chats(actions, Audience.EVERYONE) == said


def test_end_after_end():
    sim = to_phase(Phase.ENDED)
    assert sim.say("Mira", "/end", 8) == [private(line("already_ended"))]


def test_end_during_meditation_still_admits_the_held():
    sim = to_phase(Phase.MEDITATION)
    sim.feed(ArrivedInWaitingRoom(participant=person("Dev")), 3)
    actions = sim.say("Mira", "/end", 4)
    assert [a.target.name for a in actions if isinstance(a, Admit)] == ["Dev"]


def test_host_commands_count_even_off_roster():
    sim = Sim()
    sim.enter("Olga", -10, role=ZoomRole.HOST)
    assert sim.say("Olga", "/help", -9)[0].text == line("help")


def test_a_held_person_let_in_by_hand_is_no_longer_held():
    sim = to_phase(Phase.CASE_CALL)
    sim.say("Mira", "/hold Ben", 3)
    sim.feed(ArrivedInWaitingRoom(participant=person("Ben")), 3)
    sim.feed(Joined(participant=person("Ben")), 4)  # the host clicked Admit in Zoom
    assert "k-ben" not in sim.state.held
    assert sim.state.agenda == Agenda()


def test_a_command_from_the_chat_webhook_is_matched_to_the_sender_by_user_id():
    """Zoom's chat webhook gives only the sender's per-join id, never the meeting-stable key."""
    sim = Sim()
    host = person("Dr. Host", key="uuid-host", user_id="16778240")
    sim.feed(Joined(participant=host, role=ZoomRole.HOST), -14)
    as_webhook = person("Dr. Host", key="16778240", user_id="16778240")
    actions = sim.feed(ChatMessage(sender=as_webhook, text="/status"), -13)
    [reply] = chats(actions)
    assert reply.startswith("Phase: ")
    assert set(sim.state.people) == {"uuid-host"}


def test_a_stranger_using_a_present_facilitators_name_by_webhook_is_still_refused():
    sim = Sim()
    sim.feed(Joined(participant=person("Ben"), role=ZoomRole.ATTENDEE), -14)
    ben_by_webhook = person("Ben", key="u-k-ben", user_id="u-k-ben")
    actions = sim.feed(ChatMessage(sender=ben_by_webhook, text="/next"), -13)
    assert chats(actions) == [line("refused_member", name="Ben")]
    assert sim.phase is Phase.SOCIAL
