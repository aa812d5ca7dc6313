"""`simulate` with an attendee bot: Zoom refuses its admissions and the facilitators are told."""

from __future__ import annotations

import asyncio

from bot.simulation.driver import run_scenario
from bot.simulation.scenario import parse_scenario
from phases.messages import DEFAULT_MESSAGES

NOT_HOST = DEFAULT_MESSAGES["reason_not_privileged"]


def test_an_attendee_bot_tells_the_host_facilitator_whom_it_could_not_let_in():
    data = {
        "meeting": {"start": "2026-12-02T19:00:00-05:00", "bot_role": "attendee"},
        "person": [
            {"name": "Helen", "role": "facilitator", "zoom_role": "host"},
            {"name": "Anna", "role": "member"},
            {"name": "Ben", "role": "member"},
        ],
        "event": [
            {"at": "-10m", "who": "Helen", "do": "join"},
            {"at": "-5m", "who": "Anna", "do": "join"},
            {"at": "-4m", "who": "Helen", "do": "say", "text": "/admit Anna", "to": "bot"},
            {"at": "-3m", "who": "Ben", "do": "join"},
        ],
    }
    result = asyncio.run(run_scenario(parse_scenario(data)))
    rows = result.timeline.of_kind("action")
    admits = [(r["t"], r["target"], r["ok"]) for r in rows if r["action"] == "admit"]
    # Both stay waiting, so the meditation's end tries again (still refused, not re-told).
    assert admits == [
        (-300.0, "Anna", False),
        (-240.0, "Anna", False),
        (-180.0, "Ben", False),
        (600.0, "Anna", False),
        (600.0, "Ben", False),
    ]
    told = [
        (r["t"], r["text"])
        for r in rows
        if r["action"] == "send_chat" and r["to"] == "facilitators" and r["ok"]
    ]
    assert told == [
        (-300.0, DEFAULT_MESSAGES["refused_admit"].format(name="Anna", reason=NOT_HOST)),
        (-180.0, DEFAULT_MESSAGES["refused_admit"].format(name="Ben", reason=NOT_HOST)),
        (6300.0, DEFAULT_MESSAGES["overrun"].format(time="20:45", close="20:55")),
    ]
    # Nobody was let in, so nobody is welcomed (the chat says only what Zoom did).
    everyone = [r["text"] for r in rows if r["action"] == "send_chat" and r["to"] == "everyone"]
    assert not any(text.startswith("Welcome,") for text in everyone)
