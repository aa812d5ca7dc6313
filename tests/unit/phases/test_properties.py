"""Property tests: random evenings of arrivals, departures, media, chat, timers and refusals.

Each example simulates about two hours around one session and checks, after every single
step, the invariants of issue 2: nobody but facilitators is admitted during the meditation
(except by `/admit`); everyone held for it and still waiting is admitted at its end; the bot
never turns anyone's media on and asks only the returning presenter; for the whole
discussion the presenter is kept muted and video-off (checked against a model of what Zoom
shows, where every unknown is assumed the worst); guests are admitted only after a
facilitator's decision; facilitators are never held; the bot ignores itself; the state
survives a JSON round trip at every point; and no event or chat text makes `handle` raise.
"""

from __future__ import annotations

from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phases.actions import (
    Admit,
    AllowSelfMedia,
    AskStartVideo,
    AskUnmute,
    Mute,
    PhaseChanged,
    PutInWaitingRoom,
    ScheduleWakeup,
    StopVideo,
)
from phases.agenda import Agenda
from phases.commands import AdmitCmd, parse
from phases.engine import handle, new_session
from phases.events import (
    ActionRefused,
    ArrivedInWaitingRoom,
    AudioMuted,
    AudioUnmuted,
    ChatMessage,
    Event,
    Joined,
    Left,
    LeftWaitingRoom,
    MeetingEnded,
    MeetingStarted,
    Participant,
    RecordingStarted,
    RoleChanged,
    TimerDue,
    VideoOff,
    VideoOn,
    ZoomRole,
)
from phases.roster import RosterEntry, normalise_name
from phases.state import Person, Phase, SessionState

from .helpers import T0

ROSTER = (
    RosterEntry(display_name="Ana"),
    RosterEntry(display_name="Ben"),
    RosterEntry(display_name="Chloé", email="chloe@example.org"),
    RosterEntry(display_name="Dev", registrant_id="r-dev"),
    RosterEntry(display_name="Mira", role="facilitator", registrant_id="r-mira"),
)
BOT = "Balint Companion"
#: (key, display name, extra) of everyone who may turn up; the last is the bot.
PEOPLE = (
    ("k-ana", "Ana", {}),
    ("k-ben", "Ben Lopez", {}),
    ("k-chloe", "C.", {"email": "CHLOE@example.org", "signed_in": True}),
    ("k-dev", "dev", {"registrant_id": "r-dev"}),
    ("k-mira", "Mira", {"registrant_id": "r-mira"}),
    ("k-stranger", "Stranger", {}),
    ("k-visitor", "Visitor Two", {}),
    ("k-olga", "Olga", {}),
    ("k-bot", BOT, {}),
)
TIMERS = (
    "meditation_start",
    "meditation_end",
    "warning_10",
    "warning_2",
    "group_end",
    "reflection_end",
    "budget_presentation",
    "budget_questions",
    "budget_discussion",
    "bogus",
)
NAMES = ("Ana", "ben", "Chloe", "DEV", "Mira", "Stranger", "visitor", "olga", "Balint", "", "zed")
VERBS = (
    "help",
    "status",
    "next",
    "case",
    "extend",
    "pause",
    "resume",
    "admit",
    "hold",
    "mirror",
    "reflection",
    "end",
    "NEXT",
    "Cäse",
    "bogus",
)

texts = st.one_of(
    st.text(max_size=40),
    st.builds(lambda v, n: f"/{v} {n}", st.sampled_from(VERBS), st.sampled_from(NAMES)),
    st.builds(lambda v, n: f"  /{v}   {n}", st.sampled_from(VERBS), st.text(max_size=12)),
    st.sampled_from(
        (
            "/next",
            "/next",
            "/case ana",
            "/case ben",
            "/extend 10",
            "/admit all",
            "/mirror off",
            "/mirror on",
            "/pause",
            "/resume",
            "/reflection",
            "/end",
        )
    ),
)
OPS = (
    "arrive",
    "join",
    "left",
    "left_wr",
    "unmute",
    "mute",
    "video_on",
    "video_off",
    "role",
    "recording",
    "chat",
    "command",
    "command",
    "command",
    "timer",
    "started",
    "ended",
    "refused",
)
#: What Zoom may refuse (`bot.meeting.executor.action_kind` names) and why.
REFUSED_KINDS = (
    "admit",
    "admit",
    "mute",
    "stop_video",
    "put_in_waiting_room",
    "rename",
    "ask_unmute",
    "ask_start_video",
    "stop_recording",
    "allow_self_media",
    "send_chat",
)
REFUSAL_CODES = ("not_privileged", "not_privileged", "not_executed", "zoom_error")
#: What the facilitator types in "command" steps: mostly moving the session on.
COMMANDS = (
    "/next",
    "/next",
    "/next",
    "/next",
    "/case ana",
    "/case ana",
    "/case Ben",
    "/case Ben",
    "/case dev",
    "/extend 10",
    "/admit all",
    "/admit stranger",
    "/hold ben",
    "/mirror off",
    "/mirror on",
    "/pause",
    "/resume",
    "/resume",
    "/reflection",
    "/end",
    "/status",
)
ops = st.lists(
    st.tuples(
        st.integers(0, 200),  # seconds since the previous event
        st.sampled_from(OPS),
        st.sampled_from((0, 0, 0, 1, 1, 2, 3, 4, 5, 6, 7, 8)),  # index into PEOPLE, Ana often
        st.sampled_from(tuple(ZoomRole)),
        texts,
        st.sampled_from(TIMERS),
        st.booleans(),
        st.sampled_from(COMMANDS),
        st.tuples(st.sampled_from(REFUSED_KINDS), st.sampled_from(REFUSAL_CODES)),
    ),
    min_size=40,
    max_size=120,
)
agendas = st.builds(
    Agenda,
    meditation_minutes=st.sampled_from((0, 10, 10)),
    enforce_mirror=st.booleans(),
    rename_in_waiting_room=st.booleans(),
    hold_during_meditation=st.sampled_from((True, True, False)),
    max_cases=st.integers(1, 2),
    reflection_minutes=st.sampled_from((0, 15)),
)


def build_events(raw: list, start: str = "social") -> list[tuple[Event, int]]:
    """Turn raw draws into (event, seconds from the start) with per-join user ids.

    `start` picks where the random part begins: the room opening, the meditation, or the
    discussion of a case (reached by the facilitator's commands), so every phase gets
    its share of random events.
    """
    joins = {key: 0 for key, _, _ in PEOPLE}
    clock = -20 * 60
    events: list[tuple[Event, int]] = []
    # The usual opening: the facilitator and two members come in during the social time.
    for key, name, extra in (PEOPLE[4], PEOPLE[0], PEOPLE[1]):
        who = Participant(key=key, user_id=f"u-{key}-0", name=name, **extra)
        events.append((ArrivedInWaitingRoom(participant=who), clock))
        events.append((Joined(participant=who), clock))
    if start != "social":
        clock = 60
        events.append((TimerDue(timer="meditation_start"), clock))
    if start == "discussion":
        clock = 12 * 60
        mira = Participant(key="k-mira", user_id="u-k-mira-0", name="Mira")
        for text in ("/case ana", "/next", "/next"):
            events.append((ChatMessage(sender=mira, text=text), clock))
    for gap, op, index, role, text, timer, flag, command, (kind, code) in raw:
        clock += gap
        key, name, extra = PEOPLE[index]
        if op in ("arrive", "join") and flag:
            joins[key] += 1
        who = Participant(key=key, user_id=f"u-{key}-{joins[key]}", name=name, **extra)
        event: Event
        match op:
            case "arrive":
                event = ArrivedInWaitingRoom(participant=who)
            case "join":
                event = Joined(participant=who, role=role if flag else ZoomRole.ATTENDEE)
            case "left":
                event = Left(participant=who)
            case "left_wr":
                event = LeftWaitingRoom(participant=who)
            case "unmute":
                event = AudioUnmuted(participant=who)
            case "mute":
                event = AudioMuted(participant=who)
            case "video_on":
                event = VideoOn(participant=who)
            case "video_off":
                event = VideoOff(participant=who)
            case "role":
                event = RoleChanged(participant=who, role=role)
            case "recording":
                event = RecordingStarted(participant=who if flag else None)
            case "chat":
                event = ChatMessage(
                    sender=who,
                    text=text,
                    private=flag,
                    message_id=f"m{len(events) % 7}" if flag else "",
                )
            case "command":
                mira = Participant(key="k-mira", user_id=f"u-k-mira-{joins['k-mira']}", name="Mira")
                event = ChatMessage(sender=mira if flag or index < 6 else who, text=command)
            case "timer":
                event = TimerDue(timer=timer)
            case "ended":
                event = MeetingEnded()
            case "refused":
                event = ActionRefused(
                    kind=kind,
                    target_key=key if flag else "",
                    target_name=name if flag else "",
                    code=code,
                )
            case _:
                event = MeetingStarted()
        events.append((event, clock))
    if events and raw[-1][6]:
        events.append((MeetingEnded(), clock + 60))
    return events


class ZoomTruth:
    """What Zoom would show for media, assuming the worst whenever it is not known."""

    def __init__(self) -> None:
        self.unmuted: dict[str, bool] = {}
        self.video: dict[str, bool] = {}

    def event(self, event: Event) -> None:
        match event:
            case Joined(participant=p):
                self.unmuted[p.key] = True
                self.video[p.key] = True
            case AudioUnmuted(participant=p):
                self.unmuted[p.key] = True
            case AudioMuted(participant=p):
                self.unmuted[p.key] = False
            case VideoOn(participant=p):
                self.video[p.key] = True
            case VideoOff(participant=p):
                self.video[p.key] = False

    def action(self, action: object) -> None:
        if isinstance(action, Mute):
            self.unmuted[action.target.key] = False
        elif isinstance(action, StopVideo):
            self.video[action.target.key] = False


def admissible(state: SessionState, person: Person) -> bool:
    """The bot may let `person` in by itself: a roster line on the roster now, known by
    Zoom's own evidence, or by name when no one else present shows that roster name."""
    if not person.roster_name or person.standing != "active":
        return False
    if person.evidence not in ("display_name", "full_name"):
        return True
    others = [
        p
        for p in state.people.values()
        if p.key != person.key and p.where != "gone" and p.roster_name == person.roster_name
    ]
    return state.agenda.admit_by_name and not others


def is_admit_command(event: Event) -> bool:
    return isinstance(event, ChatMessage) and isinstance(parse(event.text), AdmitCmd)


def check_step(
    before: SessionState, event: Event, after: SessionState, actions: list, truth: ZoomTruth
) -> None:
    # JSON round trip, both ways.
    text = after.to_json()
    again = SessionState.from_json(text)
    assert again == after
    assert again.to_json() == text

    left_phases = [(a.from_phase, a.to_phase) for a in actions if isinstance(a, PhaseChanged)]
    left_discussion = any(old == "discussion" for old, _ in left_phases)
    meditation_ended = any(old == "meditation" and new != "ended" for old, new in left_phases)
    bot = normalise_name(BOT)

    for action in actions:
        target = getattr(action, "target", None)
        if target is not None:
            assert normalise_name(target.name) != bot, action
        # Media switches only lock the mirror (video) and lift the lock when it is left.
        if isinstance(action, AllowSelfMedia):
            assert action in (
                AllowSelfMedia(video=False),
                AllowSelfMedia(unmute=True, video=True),
            ), action
        if isinstance(action, AllowSelfMedia) and action.video is False:
            assert after.phase is Phase.DISCUSSION and after.mirror_on, action
        if isinstance(action, AskUnmute | AskStartVideo):
            assert action.target.key == before.presenter and left_discussion, action
        if isinstance(action, Admit):
            person = after.people[action.target.key]
            holding = after.phase is Phase.MEDITATION and after.agenda.hold_during_meditation
            if holding and not is_admit_command(event):
                # only a facilitator, or someone who was in and dropped (not a latecomer)
                back = action.target.key in before.was_in
                assert person.is_facilitator or back, ("admitted during meditation", action)
            if not person.is_facilitator and not is_admit_command(event):
                # Only someone the bot can tell, or a facilitator's earlier decision.
                assert admissible(before, person) or person.key in before.approved, action
        if isinstance(action, PutInWaitingRoom):
            assert not after.people[action.target.key].is_facilitator, action
        if isinstance(action, ScheduleWakeup):
            assert action.at.tzinfo is not None

    # Guests become approved only by /admit or by someone's hand admitting them.
    for key in after.approved - before.approved:
        assert is_admit_command(event) or (
            isinstance(event, Joined) and event.participant.key == key
        ), key

    # Everyone held for the meditation and still waiting is admitted at its end.
    if meditation_ended:
        admitted = {a.target.key for a in actions if isinstance(a, Admit)}
        for person in before.people.values():
            if (
                person.where == "waiting"
                and person.key not in before.held
                and (admissible(before, person) or person.key in before.approved)
            ):
                assert person.key in admitted, person

    # The one-way mirror holds for the whole discussion.
    truth.event(event)
    for action in actions:
        truth.action(action)
    if after.phase is Phase.DISCUSSION and after.mirror_on and after.presenter:
        presenter = after.people.get(after.presenter)
        if presenter is not None and presenter.where == "meeting":
            assert not truth.unmuted.get(presenter.key, True), "presenter audible"
            assert not truth.video.get(presenter.key, True), "presenter visible"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(agenda=agendas, raw=ops, start=st.sampled_from(("social", "meditation", "discussion")))
def test_random_evenings_keep_every_invariant(agenda, raw, start):
    state, initial = new_session(agenda=agenda, roster=ROSTER, scheduled_start=T0)
    assert all(isinstance(a, ScheduleWakeup) for a in initial)
    truth = ZoomTruth()
    for event, seconds in build_events(raw, start):
        before = state
        state, actions = handle(state, event, T0 + timedelta(seconds=seconds))
        check_step(before, event, state, actions, truth)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60), private=st.booleans())
def test_any_chat_text_from_anyone_is_handled(text, private):
    state, _ = new_session(agenda=Agenda(), roster=ROSTER, scheduled_start=T0)
    mira = Participant(key="k-mira", user_id="u1", name="Mira")
    state, _ = handle(state, Joined(participant=mira, role=ZoomRole.HOST), T0)
    for name in ("Mira", "Ana", "Stranger"):
        sender = Participant(key=f"k-{name}", user_id="u", name=name)
        state, _ = handle(state, ChatMessage(sender=sender, text=text, private=private), T0)
        state, _ = handle(state, ChatMessage(sender=sender, text="/" + text), T0)
    assert SessionState.from_json(state.to_json()) == state
