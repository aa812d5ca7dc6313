"""A cloud recording is stopped through the webhook path: receiver -> runtime -> meeting.

The Meeting SDK bindings cannot report a cloud recording, so the simulated meeting reports it
only as Zoom does, with a signed `recording.started` webhook (no listener event). The real
serve app journals it, the worker feeds `RecordingStarted(participant=None)` to the engine,
and the engine's answer (stop the recording, tell the facilitators) is carried out on the
simulated meeting.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, select

from bot.meeting import zoom_wire as wire
from bot.meeting.simulated import BOT, MeetingOptions
from phases.events import ZoomRole
from storage import runtime_state as rs
from storage.db import make_session_factory, session_scope
from storage.journal import JournalEntry
from tests.clock import HandClock
from tests.scenario.serve_harness import (
    SCHEDULED_START,
    CountingMeeting,
    running,
    seed_roster,
    settings_for,
)

pytestmark = pytest.mark.anyio


async def test_a_cloud_recording_is_stopped_from_its_webhook(
    sqlite_file: tuple[str, Engine],
) -> None:
    url, engine = sqlite_file
    settings = settings_for(url)
    seed_roster(engine, {"Fay": "facilitator", "Anna": "member"})
    clock = HandClock(SCHEDULED_START - timedelta(minutes=5))
    meeting = CountingMeeting(MeetingOptions(), clock=clock)
    uuid = meeting.options.identity.uuid
    factory = make_session_factory(engine)

    async with running(settings, engine=engine, meeting=meeting, clock=clock) as svc:
        await meeting.start()
        await meeting.person_joins("fay", name="Fay", role=ZoomRole.HOST)
        await meeting.person_joins("anna", name="Anna")
        await svc.settle()
        clock.set(clock() + timedelta(seconds=20))
        assert await meeting.host_starts_cloud_recording("fay")
        assert [w.event for w in meeting.webhooks].count(wire.RECORDING_STARTED) == 1
        await svc.settle()  # (the worker may already have run while the webhook was posted)
        assert not meeting.cloud_recording  # the bot stopped it

    with session_scope(factory) as session:
        entries = list(
            session.scalars(
                select(JournalEntry).where(JournalEntry.event == wire.RECORDING_STARTED)
            )
        )
        stops = rs.actions_for_meeting(session, meeting_uuid=uuid, kind="stop_recording")
    assert len(entries) == 1 and entries[0].processed_at is not None
    # planned from the journal entry (key `j<id>:<n>`), not from a callback (`live:...`)
    assert [(a.status, a.key) for a in stops] == [("done", f"j{entries[0].id}:0")]
    fay_lines = [line.text for line in meeting.chat_log if line.sender == BOT and line.to == "fay"]
    assert any("record" in text.lower() for text in fay_lines), fay_lines
