"""bot.console.live: the live page's content from an engine state (pure)."""

from __future__ import annotations

from bot.console.chart import attendance_chart
from bot.console.live import live_view
from phases.agenda import Agenda
from phases.events import ArrivedInWaitingRoom, ChatMessage, TimerDue
from phases.roster import RosterEntry
from phases.state import Phase
from storage.attendance import ModuleStanding
from tests.unit.phases.helpers import Sim, at, person, to_phase, with_facilitator


def test_the_clock_the_next_warning_and_the_roster_against_who_is_here():
    sim = to_phase(Phase.DISCUSSION)
    view = live_view(sim.state, now=at(30), arrivals={})
    assert view.phase_label.startswith("Discussion") and view.mirror_phase
    assert view.ends_at == at(105) and view.minutes_left == 75
    assert view.next_warning == at(95) and view.next_warning_minutes == 10
    assert view.presenter == "Ana" and view.cases == 1
    status = {row.name: row.status for row in view.roster}
    assert status == {
        "Ana": "here",
        "Ben": "here",
        "Chloé": "missing",
        "Dev": "missing",
        "Mira": "here",
    }
    assert view.missing == 2


def test_why_each_person_waits():
    """The engine's own doubt about who someone is (issue 13), then its policy."""
    roster = (
        RosterEntry(display_name="Ana", first_name="Ana", last_name="Lopez"),
        RosterEntry(display_name="Ben"),
        RosterEntry(display_name="Dev"),
        RosterEntry(display_name="Sam K.", first_name="Sam", last_name="Kim"),
        RosterEntry(display_name="Sammy", first_name="Sam", last_name="Kim"),
        RosterEntry(display_name="Omar", standing="inactive"),
        RosterEntry(display_name="Priya", standing="not_enrolled"),
        RosterEntry(display_name="Mira", role="facilitator", registrant_id="reg-mira"),
    )
    sim = Sim(roster=roster)
    sim.enter("Mira", -14, registrant_id="reg-mira")
    sim.feed(TimerDue(timer="meditation_start"), 0)
    arrivals = [
        person("Ben"),
        person("Zed Visitor", key="k-zed"),
        person("Ana Maria", key="k-am"),
        person("Sam Kim", key="k-sam"),
        person("416****142", key="k-phone", phone=True),
        person("Omar"),
        person("Priya"),
        person("Dev", key="k-dev1"),
        person("Dev", key="k-dev2"),
    ]
    for minute, who in enumerate(arrivals, start=1):
        sim.feed(ArrivedInWaitingRoom(participant=who), minute)
    view = live_view(sim.state, now=at(12), arrivals={"k-ben": at(1)})
    why = {row.key: (row.why, row.since) for row in view.waiting}
    assert why["k-ben"] == ("meditation: let in at 19:10", at(1))
    assert why["k-zed"] == ("not on the roster", None)
    assert why["k-am"][0] == "not on the roster (perhaps Ana?)"  # never by the first word
    assert why["k-sam"][0] == "name fits several on the roster (Sam K., Sammy)"
    assert why["k-phone"][0] == ("phone caller: cannot tell who it is; admit with /admit … as NAME")
    assert why["k-omar"][0] == "no longer on the roster (Omar, missing from the last import)"
    assert why["k-priya"][0] == "Priya is not enrolled in this module"
    assert why["k-dev1"][0] == why["k-dev2"][0] == "someone showing as Dev is already here"

    # a facilitator's word settles the doubt: the caller is let in as Ana
    mira = person("Mira", registrant_id="reg-mira")
    sim.feed(ChatMessage(sender=mira, text="/admit 416 as Ana"), 13)
    why = {row.key: row.why for row in live_view(sim.state, now=at(13), arrivals={}).waiting}
    assert why["k-phone"] == "admitted by a facilitator: being let in"

    strict = Sim(roster=roster, agenda=Agenda(admit_by_name=False))
    strict.feed(ArrivedInWaitingRoom(participant=person("Ben")), -5)
    (row,) = live_view(strict.state, now=at(-4), arrivals={}).waiting
    assert row.why == "looks like Ben by name only: this group admits by name only by hand"


def test_the_chart_draws_the_third_line_and_says_who_is_under_it():
    standings = [
        ModuleStanding(
            member_id=1,
            name="Ana <b>",
            attended=1,
            held=6,
            rate=1 / 6,
            under_third=True,
            absences_to_cross=0,
        ),
        ModuleStanding(
            member_id=2,
            name="Ben",
            attended=6,
            held=6,
            rate=1.0,
            under_third=False,
            absences_to_cross=13,
        ),
    ]
    svg = attendance_chart(standings, module="2026-09")
    assert 'class="third"' in svg and "1 of 2 members are under it" in svg
    assert "Ana &lt;b&gt;" in svg and "<b>" not in svg
    assert "under one third" in svg


def test_after_the_scheduled_end_the_reflection_is_offered_and_extend_is_not():
    sim = with_facilitator()
    sim.feed(TimerDue(timer="group_close"), 116)
    view = live_view(sim.state, now=at(200), arrivals={})
    assert view.phase == "closing" and view.can_reflect and not view.can_extend


def test_in_the_grace_after_the_scheduled_end_extend_is_still_offered():
    sim = with_facilitator()
    sim.feed(TimerDue(timer="group_end"), 106)
    view = live_view(sim.state, now=at(107), arrivals={})
    assert view.phase != "closing" and view.can_extend and not view.can_reflect
