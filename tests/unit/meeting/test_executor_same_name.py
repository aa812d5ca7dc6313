"""The executor never admits someone whose identity rests on more than their name by that
name: a stranger who is the only one showing it must not be let in in their place."""

from __future__ import annotations

import asyncio

from bot.meeting.executor import execute
from bot.meeting.simulated import MeetingOptions, SimulatedMeeting
from bot.runtime.identity import by_id_only
from phases.actions import Admit, Mute, Target
from phases.events import ZoomRole
from phases.state import Person
from tests.clock import TEST_NOW, HandClock

#: Helen as her webhook named her: ids the meeting's SDK view does not know.
HELEN = Target(key="WH-HELEN-UUID", user_id="167790003", name="Helen")


def test_a_vouched_person_is_admitted_by_an_id_only_and_never_by_their_name() -> None:
    async def main() -> None:
        meeting = SimulatedMeeting(MeetingOptions(), clock=HandClock(TEST_NOW))
        await meeting.start()
        await meeting.person_joins("stranger", name="Helen")  # waits
        refused = await execute(Admit(target=HELEN), meeting, by_id_only={HELEN.key})
        assert (refused.ok, refused.code) == (False, "no_such_participant")
        assert meeting.where_is("stranger") == "waiting"
        # any other action still finds a person by name when no id is known
        assert (await execute(Mute(target=HELEN), meeting, by_id_only={HELEN.key})).code != (
            "no_such_participant"
        )
        # someone known by name only is admitted by name (the group's `admit_by_name`)
        done = await execute(Admit(target=HELEN), meeting)
        assert done.ok and meeting.where_is("stranger") == "meeting"
        # found by an id, a vouched person is admitted
        await meeting.person_joins("helen", name="Helen", registrant_id="reg-helen")
        helen = Target(key=meeting.key_of("helen"), user_id="", name="Helen")
        assert (await execute(Admit(target=helen), meeting, by_id_only={helen.key})).ok
        assert meeting.where_is("helen") == "meeting"

    asyncio.run(main())


def test_who_must_be_found_by_an_id() -> None:
    def person(key: str, **facts: object) -> Person:
        return Person(key=key, user_id="1", name="Helen", **facts)  # type: ignore[arg-type]

    people = {
        "reg": person("reg", registrant_id="reg-helen", evidence="registrant"),
        "mail": person("mail", email="h@example.org", signed_in=True, evidence="email"),
        "told": person("told", evidence="confirmed"),
        "cohost": person("cohost", zoom_role=ZoomRole.CO_HOST),
        "name": person("name", evidence="display_name", kind="facilitator", roster_name="Helen"),
        "unsigned": person("unsigned", email="h@example.org"),
    }
    assert by_id_only(people) == {"reg", "mail", "told", "cohost"}
