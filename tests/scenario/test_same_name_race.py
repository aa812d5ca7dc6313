"""The same-name race, through the real path: a stranger showing exactly a facilitator's name.

Helen joins through her registration link; her webhook (with her registrant id) is processed
and she is let in. Before the SDK bot sees her, a stranger showing exactly "Helen" appears to
it (their own webhooks come later). Linked to Helen by the name alone, the stranger would
inherit her registrant id and her rights: let in, and obeyed when they type `/hold Anna` and
`/end`. The rule (docs/identity.md, "Same name"): a link made by the display name alone never
carries evidence or rights from one identity to the other.

Played on the simulator with the race arranged (`RacingZoom` holds back the SDK's view of
Helen and the stranger's webhooks for a minute), and on the bindings double where no id of
the two sources agrees (there the SDK's view of Helen is never linked to her webhook identity
at all, so no race is needed). Zoom emits wire payloads and SDK callbacks only; the service,
the journal, the worker and the engine are the real ones.
"""

from __future__ import annotations

import asyncio
import tomllib
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.meeting import zoom_wire as wire
from bot.meeting.port import EventListener
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting, WebhookSink
from bot.simulation.driver import MEETING_ID, ScenarioRun, run_scenario
from bot.simulation.scenario import Scenario, parse_scenario
from bot.simulation.world import build_world
from phases.events import Event
from tests.clock import TEST_NOW
from tests.contract.sdk_zoom import sdk_zoom

SCENARIO = """
[meeting]
start = "2026-12-02T19:00:00-05:00"

[[person]]
name = "Helen"
role = "facilitator"
registrant_id = "reg-helen"

[[person]]
name = "Anna"
role = "member"

[[person]]
name = "Ben"
role = "member"

[[person]]
name = "Stranger"
role = "guest"
joins_as = "Helen"

[[event]]
at = "-12m"
who = "Anna"
do = "join"

[[event]]
at = "-10m"
who = "Helen"
do = "join"

[[event]]
at = "-9m30s"
who = "Stranger"
do = "join"

[[event]]
at = "-8m"
who = "Ben"
do = "join"

[[event]]
at = "-7m"
who = "Stranger"
do = "say"
text = "/hold Anna"

[[event]]
at = "-6m"
who = "Stranger"
do = "say"
text = "/end"

[[event]]
at = "15m"
who = "Helen"
do = "say"
text = "/case Anna"

[[event]]
at = "30m"
who = "Helen"
do = "say"
text = "/hold Ben"

[[event]]
at = "40m"
who = "Stranger"
do = "leave"

[[event]]
at = "106m"
who = "Helen"
do = "end_meeting"
"""

#: The race lasts from Helen's join until a minute and a half later (Ben's join releases it).
RACE_ENDS = timedelta(minutes=-8)


class RacingZoom(SimulatedMeeting):
    """The simulator, with what the SDK bot sees of Helen and the stranger's webhooks held
    back until `release_at`, then delivered in order before anything newer."""

    def __init__(
        self, options: MeetingOptions, *, clock: Callable[[], datetime], release_at: datetime
    ) -> None:
        super().__init__(options, clock=clock)
        self._release_at = release_at
        self._held_sdk: list[Event] = []
        self._held_webhooks: list[wire.Webhook] = []
        self._real_listener: EventListener | None = None
        self._real_sink: WebhookSink | None = None
        self.raced = False

    def set_listener(self, listener: EventListener | None) -> None:
        self._real_listener = listener
        super().set_listener(self._listen if listener is not None else None)

    def set_webhook_sink(self, sink: WebhookSink | None) -> None:
        self._real_sink = sink
        super().set_webhook_sink(self._sink_to if sink is not None else None)

    def _racing(self) -> bool:
        return self._clock() < self._release_at

    def _key(self, handle: str) -> str:
        try:
            return self.key_of(handle)
        except KeyError:  # not joined yet
            return ""

    async def _release(self) -> None:
        webhooks, self._held_webhooks = self._held_webhooks, []
        events, self._held_sdk = self._held_sdk, []
        for webhook in webhooks:
            assert self._real_sink is not None
            await self._real_sink(webhook)
        for event in events:
            assert self._real_listener is not None
            await self._real_listener(event)

    async def _listen(self, event: Event) -> None:
        who = getattr(event, "participant", None) or getattr(event, "sender", None)
        if self._racing() and who is not None and who.key == self._key("Helen"):
            self._held_sdk.append(event)
            return
        if not self._racing():
            await self._release()
        assert self._real_listener is not None
        await self._real_listener(event)

    async def _sink_to(self, webhook: wire.Webhook) -> None:
        stranger = self._key("Stranger")
        if self._racing() and stranger and stranger.encode() in webhook.body:
            self._held_webhooks.append(webhook)
            self.raced = True
            return
        if not self._racing():
            await self._release()
        assert self._real_sink is not None
        await self._real_sink(webhook)


def racing_zoom(scenario: Scenario, secret: str, clock: Callable[[], datetime]) -> Any:
    identity = wire.MeetingIdentity(
        meeting_id=MEETING_ID,
        uuid="race-0123456789abcdef==",
        start_time=scenario.opens_at,
        duration=scenario.agenda.length_minutes,
    )
    options = MeetingOptions(
        bot_name=scenario.agenda.bot_name,
        bot_role=scenario.bot_role,
        webhook_secret=secret,
        identity=identity,
    )
    return RacingZoom(options, clock=clock, release_at=scenario.start + RACE_ENDS)


def _play(tmp_path: Path, zoom: Any) -> ScenarioRun:
    scenario = parse_scenario(tomllib.loads(SCENARIO))
    world = build_world(
        scenario, out_dir=tmp_path, data_key=None, meeting_id=MEETING_ID, now=TEST_NOW
    )
    return asyncio.run(run_scenario(scenario, world=world, zoom=zoom))


def _check(run: ScenarioRun, *, helen_in: bool = True) -> None:
    actions = run.timeline.of_kind("action")
    # never obeyed: Anna is not put back, the meeting is not ended at the stranger's word
    assert not [
        a for a in actions if a["action"] == "put_in_waiting_room" and a.get("target") == "Anna"
    ]
    assert run.phases[-1] == "ended"
    said = [
        (r["t"], r["name"], r["ok"]) for r in run.timeline.of_kind("person") if r["do"] == "say"
    ]
    assert (-420.0, "Stranger", False) in said  # held in the waiting room: could not even say it
    state = run.state
    assert state is not None
    helens = [p for p in state.people.values() if p.name == "Helen"]
    vouched = [p for p in helens if p.registrant_id == "reg-helen"]
    others = [p for p in helens if p.registrant_id != "reg-helen"]
    assert vouched and all(p.is_facilitator for p in vouched)
    # nothing of Helen's reached anyone else showing her name
    assert others and not any(p.is_facilitator or p.registrant_id for p in others)
    if not helen_in:
        return
    # the real Helen got in and was obeyed: her case and her /hold Ben
    assert state.cases == 1
    assert [
        a["t"] for a in actions if a["action"] == "put_in_waiting_room" and a.get("target") == "Ben"
    ] == [1800.0]


def test_a_stranger_showing_a_facilitators_name_in_the_race_is_held_and_never_obeyed(
    tmp_path: Path,
) -> None:
    run = _play(tmp_path, racing_zoom)
    assert run.meeting.raced  # the stranger's webhooks really were late
    _check(run)
    # never let in: Zoom's own record of the stranger has no minute in the meeting
    _never_let_in(run)


def test_where_no_id_of_the_two_sources_agrees_the_stranger_is_never_taken_for_helen(
    tmp_path: Path,
) -> None:
    """On the double no id of the two sources agrees, so the SDK's view of the real Helen is a
    name-only "Helen" too: whether she is let in before the stranger knocks depends on the
    SDK thread's timing (else both wait for the host: docs/identity.md, "Same name"). What
    must hold whatever the timing: the stranger is never let in nor obeyed."""
    run = _play(tmp_path, sdk_zoom)
    _check(run, helen_in=False)
    _never_let_in(run)


def _never_let_in(run: ScenarioRun) -> None:
    """Zoom's own record of the stranger has no minute in the meeting."""
    stays = [p.place for p in run.meeting.presence if p.handle == "Stranger"]  # type: ignore[attr-defined]
    assert stays and "meeting" not in stays
