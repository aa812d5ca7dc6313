"""The simulator's webhooks are what Zoom sends: signed, shaped and parseable like Zoom's."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from bot.meeting import zoom_wire as wire
from bot.meeting.port import ChatTo
from bot.meeting.simulated import BOT, MeetingOptions, SimulatedMeeting
from phases.events import ZoomRole
from tests.zoom_fixtures import FIXTURES
from webhooks.models import EVENT_MODELS
from webhooks.parse import parse_event
from webhooks.signature import signature_matches

PAYLOADS = Path("/work/shared/zoom-payloads")
SECRET = "test-secret-token"


def every_kind_of_webhook() -> list[wire.Webhook]:
    """One run that makes the simulator send every event type it knows."""

    async def main() -> list[wire.Webhook]:
        meeting = SimulatedMeeting(
            MeetingOptions(webhook_secret=SECRET, bot_role=ZoomRole.ATTENDEE)
        )
        await meeting.start()
        await meeting.set_role(BOT, ZoomRole.CO_HOST)
        await meeting.person_joins("Anna", email="anna@example.org")
        await meeting.admit(meeting.user_id_of("Anna"))
        await meeting.person_joins("Guest")
        await meeting.person_leaves("Guest")
        await meeting.person_says("Anna", "/case Anna", to=BOT)
        await meeting.person_says("Anna", "hello")
        await meeting.person_joins("Helen", role=ZoomRole.HOST)
        await meeting.host_starts_cloud_recording("Helen")
        await meeting.send_chat("Welcome", to=ChatTo.EVERYONE)
        await meeting.put_in_waiting_room(meeting.user_id_of("Anna"))
        await meeting.admit(meeting.user_id_of("Anna"))
        await meeting.person_leaves("Anna")
        await meeting.end()
        return meeting.webhooks

    return asyncio.run(main())


WEBHOOKS = every_kind_of_webhook()


def test_every_event_type_is_covered():
    assert {w.event for w in WEBHOOKS} == {
        wire.MEETING_STARTED,
        wire.MEETING_ENDED,
        wire.PARTICIPANT_JOINED,
        wire.PARTICIPANT_LEFT,
        wire.PARTICIPANT_JOINED_WAITING_ROOM,
        wire.PARTICIPANT_LEFT_WAITING_ROOM,
        wire.PARTICIPANT_ADMITTED,
        wire.PARTICIPANT_PUT_IN_WAITING_ROOM,
        wire.PARTICIPANT_ROLE_CHANGED,
        wire.CHAT_MESSAGE_SENT,
        wire.RECORDING_STARTED,
    }


@pytest.mark.parametrize("webhook", WEBHOOKS, ids=lambda w: w.event)
def test_signature_verifies_with_our_own_check(webhook):
    headers = webhook.headers
    assert headers["x-zm-request-timestamp"].isdigit()
    assert signature_matches(
        [SECRET], headers["x-zm-request-timestamp"], webhook.body, headers["x-zm-signature"]
    )
    assert not signature_matches(
        ["another-secret"],
        headers["x-zm-request-timestamp"],
        webhook.body,
        headers["x-zm-signature"],
    )


def _keys(value: object, prefix: str = "") -> set[str]:
    """Every key path of a JSON document (lists are skipped)."""
    if not isinstance(value, dict):
        return set()
    paths: set[str] = set()
    for key, inner in value.items():
        path = f"{prefix}.{key}" if prefix else key
        paths.add(path)
        paths |= _keys(inner, path)
    return paths


@pytest.mark.parametrize("webhook", WEBHOOKS, ids=lambda w: w.event)
def test_body_has_the_keys_of_zooms_examples(webhook):
    shared = PAYLOADS / f"{webhook.event}.json"
    # recording.started has no shared example; ours (tests/fixtures) models its envelope
    source = shared if shared.exists() else FIXTURES / f"{webhook.event}.json"
    examples = json.loads(source.read_text())
    ours = _keys(webhook.json())
    # Every key we send appears in at least one of Zoom's examples (no invented fields)...
    known = set().union(*(_keys(example) for example in examples))
    assert ours <= known, ours - known
    # ...and we send every key that all of Zoom's examples have in common.
    common = set.intersection(*(_keys(example) for example in examples))
    if webhook.event == wire.CHAT_MESSAGE_SENT and "recipient_name" not in str(webhook.body):
        common -= {k for k in common if ".recipient_" in k}
    assert common <= ours, common - ours


@pytest.mark.parametrize("webhook", WEBHOOKS, ids=lambda w: w.event)
def test_body_parses_with_our_event_models_into_the_right_type(webhook):
    parsed = parse_event(webhook.body)
    assert type(parsed) is EVENT_MODELS[webhook.event]
    assert parsed.event == webhook.event
    assert parsed.event_ts == webhook.event_ts


def test_event_ts_is_epoch_milliseconds_and_times_are_zulu():
    body = WEBHOOKS[0].json()
    assert isinstance(body["event_ts"], int) and body["event_ts"] > 10**12
    assert body["payload"]["object"]["start_time"].endswith("Z")
    joined = next(w for w in WEBHOOKS if w.event == wire.PARTICIPANT_JOINED).json()
    participant = joined["payload"]["object"]["participant"]
    assert participant["user_id"].isdigit()
    assert participant["join_time"].endswith("Z")


def test_chat_object_carries_only_id_uuid_and_chat_message():
    chat = next(w for w in WEBHOOKS if w.event == wire.CHAT_MESSAGE_SENT).json()
    obj = chat["payload"]["object"]
    assert set(obj) == {"id", "uuid", "chat_message"}
    assert isinstance(obj["id"], int)
