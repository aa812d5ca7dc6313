"""Parsing Zoom bodies: every recorded payload, lenient optional fields, errors, dedupe keys."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.zoom_fixtures import all_bodies, body, documents, load_event
from webhooks import models
from webhooks.parse import (
    NotJsonError,
    PayloadError,
    column_text,
    decode_json,
    dedupe_key,
    describe,
    parse_document,
    parse_event,
)

EXPECTED_MODEL = {
    "endpoint.url_validation": models.UrlValidationEvent,
    "meeting.chat_message_sent": models.ChatMessageSentEvent,
    "meeting.ended": models.MeetingEndedEvent,
    "meeting.participant_admitted": models.ParticipantAdmittedEvent,
    "meeting.participant_joined": models.ParticipantJoinedEvent,
    "meeting.participant_joined_waiting_room": models.ParticipantJoinedWaitingRoomEvent,
    "meeting.participant_left": models.ParticipantLeftEvent,
    "meeting.participant_left_waiting_room": models.ParticipantLeftWaitingRoomEvent,
    "meeting.participant_put_in_waiting_room": models.ParticipantPutInWaitingRoomEvent,
    "meeting.participant_role_changed": models.ParticipantRoleChangedEvent,
    "meeting.started": models.MeetingStartedEvent,
    "recording.started": models.RecordingStartedEvent,
}


def test_every_event_with_a_model_has_a_fixture() -> None:
    assert sorted(EXPECTED_MODEL) == sorted(models.EVENT_MODELS)
    assert {name for name, _ in all_bodies()} == set(EXPECTED_MODEL)


@pytest.mark.parametrize(("event_name", "index"), all_bodies())
def test_every_recorded_body_parses_to_its_model(event_name: str, index: int) -> None:
    event = load_event(event_name, index)
    assert type(event) is EXPECTED_MODEL[event_name]
    assert event.event == event_name
    assert event.event_ts == documents(event_name)[index]["event_ts"]


@pytest.mark.parametrize("event_name", ["meeting.started", "meeting.chat_message_sent"])
def test_meeting_id_is_a_string_whether_zoom_sends_a_string_or_a_number(event_name: str) -> None:
    ids = {load_event(event_name, i).meeting.id for i in range(len(documents(event_name)))}  # type: ignore[union-attr]
    assert ids <= {"85746065432", "96231004587"}
    raw_types = {type(d["payload"]["object"]["id"]) for d in documents(event_name)}
    assert int in raw_types


def test_participant_fields_and_times() -> None:
    event = load_event("meeting.participant_joined", 0)
    assert isinstance(event, models.ParticipantJoinedEvent)
    info = event.participant
    assert (info.user_id, info.participant_uuid, info.key) == (
        "16778240",
        "55555AAAiAAAAAiAiAiiAii",
        "55555AAAiAAAAAiAiAiiAii",
    )
    assert info.at == datetime(2026, 3, 4, 17, 3, 9, tzinfo=UTC)
    assert event.event_time == datetime.fromtimestamp(1772643790.113, tz=UTC)
    assert event.meeting.host_id == "z8yCxjjyTSiw02QgCfp8uQ"


def _joined(**participant: Any) -> dict[str, Any]:
    return {
        "event": "meeting.participant_joined",
        "event_ts": 1,
        "payload": {"object": {"id": 5, "uuid": "u==", "participant": participant}},
    }


def test_optional_fields_may_be_missing_null_or_empty() -> None:
    event = parse_document(
        _joined(user_id=16778240, user_name=None, email="", join_time="", registrant_id=None)
    )
    assert isinstance(event, models.ParticipantJoinedEvent)
    info = event.participant
    assert (info.user_id, info.user_name, info.email, info.registrant_id) == (
        "16778240",
        "",
        "",
        "",
    )
    assert info.join_time is None and info.at is None
    assert info.key == "16778240"  # no participant_uuid: the per-join id stands in
    assert event.meeting.topic == "" and event.meeting.start_time is None


def test_unknown_fields_are_ignored() -> None:
    document = _joined(user_id="1", custom_keys=[{"key": "k", "value": "v"}])
    document["payload"]["object"]["brand_new"] = {"nested": True}
    assert isinstance(parse_document(document), models.ParticipantJoinedEvent)


def test_private_and_public_chat() -> None:
    public = load_event("meeting.chat_message_sent", 0)
    private = load_event("meeting.chat_message_sent", 1)
    assert isinstance(public, models.ChatMessageSentEvent)
    assert isinstance(private, models.ChatMessageSentEvent)
    assert (public.chat_message.private, private.chat_message.private) == (False, True)
    assert private.chat_message.recipient_name == "Balint Companion"
    assert public.chat_message.message_content == "/next"


def test_unknown_event_names_parse_as_unknown_events() -> None:
    event = parse_event(b'{"event": "meeting.sharing_started", "event_ts": 7, "payload": {"a": 1}}')
    assert isinstance(event, models.UnknownEvent)
    assert (event.event, event.event_ts, event.payload) == ("meeting.sharing_started", 7, {"a": 1})


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (_joined() | {"payload": {"object": {"uuid": "u"}}}, "participant"),
        ({"event": "meeting.started", "event_ts": 1, "payload": {"object": {}}}, "uuid"),
        ({"event": "meeting.started", "payload": {"object": {"uuid": "u"}}}, "event_ts"),
        ({"event": "endpoint.url_validation", "payload": {"plainToken": ""}}, "plainToken"),
        ([], "not an object"),
        ({"event": 3}, "no event name"),
        ("text", "not an object"),
    ],
)
def test_bodies_that_do_not_fit_raise_payload_error_naming_the_field(
    document: Any, fragment: str
) -> None:
    with pytest.raises(PayloadError) as raised:
        parse_document(document)
    assert fragment in raised.value.reason
    assert not isinstance(raised.value, NotJsonError)


def test_payload_error_never_echoes_values() -> None:
    document = _joined(user_id={"secret": "Dr. Hidden Name"})
    with pytest.raises(PayloadError) as raised:
        parse_document(document)
    assert "Hidden" not in str(raised.value)


@pytest.mark.parametrize("raw", [b"", b"{", b"\xff", b"nope", b"[" * 100_000])
def test_not_json(raw: bytes) -> None:
    with pytest.raises(NotJsonError):
        decode_json(raw)
    with pytest.raises(NotJsonError):
        parse_event(raw)


def test_describe_reads_the_journal_columns_from_any_document() -> None:
    document = documents("meeting.participant_left")[2]
    info = describe(document)
    assert (info.event, info.event_ts, info.meeting_uuid) == (
        "meeting.participant_left",
        1773249650002,
        "WnxYNY9mQu6aSa/kYLu1lA==",
    )
    assert info.dedupe_key.startswith("meeting.participant_left:1773249650002:")
    for odd in ([1], "x", None, {"event": 1, "event_ts": True}, {"payload": {"object": 3}}):
        described = describe(odd)
        assert (described.event, described.event_ts, described.meeting_uuid) == ("", None, None)
    assert describe({"event_ts": 2**70}).event_ts is None


def test_dedupe_key_ignores_formatting_but_not_content() -> None:
    document = documents("meeting.participant_joined")[0]
    compact = json.loads(body("meeting.participant_joined", 0))
    reordered = json.loads(json.dumps(document, indent=4, sort_keys=True))
    assert dedupe_key(document) == dedupe_key(compact) == dedupe_key(reordered)
    changed = json.loads(json.dumps(document))
    changed["payload"]["object"]["participant"]["user_id"] = "16778241"
    assert dedupe_key(changed) != dedupe_key(document)
    assert len(dedupe_key({"event": "e" * 500, "event_ts": 2**62})) <= 200


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda inner: (
            st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
        ),
        max_leaves=12,
    )
)
def test_any_json_document_is_described_or_parsed_without_surprises(document: Any) -> None:
    """Whatever signed JSON arrives, describe never fails and parse fails only with ours."""
    raw = json.dumps(document).encode()
    info = describe(decode_json(raw))
    assert 0 < len(info.dedupe_key) <= 200
    try:
        parse_event(raw)
    except PayloadError:
        pass


def test_recording_started_reads_the_meeting_and_ignores_the_recording_file() -> None:
    event = load_event("recording.started", 0)
    assert isinstance(event, models.RecordingStartedEvent)
    assert (event.meeting.id, event.meeting.uuid) == ("85746065432", "4118UHIiRCAAAtBlDkcVyw==")
    assert event.meeting.host_id == "z8yCxjjyTSiw02QgCfp8uQ"
    assert event.meeting.start_time == datetime(2026, 3, 4, 16, 58, 41, tzinfo=UTC)
    minimal = load_event("recording.started", 1)
    assert isinstance(minimal, models.RecordingStartedEvent)
    assert minimal.meeting.id == "96231004587"  # a number on the wire
    assert describe(documents("recording.started")[1]).meeting_uuid == "WnxYNY9mQu6aSa/kYLu1lA=="
    with pytest.raises(PayloadError, match="uuid"):
        parse_document({"event": "recording.started", "event_ts": 1, "payload": {"object": {}}})


# --- whatever a signed body holds -----------------------------------------------------------------

_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**400), max_value=10**400)
    | st.floats()
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=30,
)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes_decode_or_raise_not_json_only(raw: bytes) -> None:
    try:
        decode_json(raw)
    except NotJsonError as bad:
        assert bad.reason.startswith("body is")


@settings(max_examples=300, deadline=None)
@given(_json, st.sampled_from([*models.EVENT_MODELS, "meeting.other", ""]))
def test_any_document_is_described_and_parsed_or_refused_as_a_payload_error(
    value: Any, name: str
) -> None:
    document = {"event": name, "event_ts": value, "payload": {"object": value}}
    for candidate in (value, document):
        info = describe(candidate)
        assert len(info.event) <= 128 and len(info.dedupe_key) <= 200
        assert info.event_ts is None or 0 <= info.event_ts <= models.MAX_EVENT_TS
        assert info.meeting_id is None or len(info.meeting_id) <= 64
        try:
            parse_document(candidate)
        except PayloadError as unfit:
            assert "\x00" not in unfit.reason


@pytest.mark.parametrize("depth", [33, 500, 5_000, 200_000])
def test_deep_nesting_is_refused_without_recursion(depth: int) -> None:
    raw = b"[" * depth + b"]" * depth
    with pytest.raises(NotJsonError, match="nested|RecursionError"):
        decode_json(raw)
    assert decode_json(b"[" * 32 + b"]" * 32) is not None


def test_numbers_of_any_size() -> None:
    document = decode_json(b'{"id": ' + b"9" * 4000 + b', "f": 1e999, "n": -1e999}')
    info = describe(
        {"event": "meeting.started", "event_ts": 10**30, "payload": {"object": document}}
    )
    assert info.event_ts is None and info.meeting_id == "9" * 64
    with pytest.raises(NotJsonError):
        decode_json(b"[" + b"9" * 5000 + b"]")  # past Python's digit limit for int()
    started = {
        "event": "meeting.started",
        "event_ts": 1,
        "payload": {"object": {"uuid": "u", "id": 10**300, "duration": 10**50}},
    }
    event = parse_document(started)
    assert event.meeting.id == str(10**300)  # type: ignore[union-attr]


def test_json_in_utf16_and_with_a_byte_order_mark_is_read() -> None:
    for raw in ('{"a": "é"}'.encode("utf-16"), b'\xef\xbb\xbf{"a": "\xc3\xa9"}'):
        assert decode_json(raw) == {"a": "é"}


def test_column_text_replaces_what_no_database_takes() -> None:
    assert column_text("a\x00b\ud800c\nd\x9be", 100) == "a\ufffdb\ufffdc\ufffdd\ufffde"
    assert column_text("x" * 300, 128) == "x" * 128
    info = describe({"event": "x\x00y", "payload": {"object": {"uuid": "u\x00", "id": " 85 "}}})
    assert (info.event, info.meeting_uuid, info.meeting_id) == ("x\ufffdy", "u\ufffd", "85")


def test_what_a_person_typed_reaches_us_without_control_characters() -> None:
    # a display name that would clear the facilitator's terminal and start a made-up row
    document = documents("meeting.participant_joined")[0]
    participant = document["payload"]["object"]["participant"]
    participant.update(
        user_name="\x1b[2JMallory\nAnna    -  member\x9b31m\u202eannA",
        email="mallory\x07@example.org",
        phone_number="+1\t416",
    )
    event = parse_document(document)
    who = event.participant  # type: ignore[union-attr]
    assert who.user_name == "\ufffd[2JMallory\ufffdAnna    -  member\ufffd31m\ufffdannA"
    assert (who.email, who.phone_number) == ("mallory\ufffd@example.org", "+1\ufffd416")
    assert who.user_id == participant["user_id"]  # ids are not text anyone shows


@pytest.mark.parametrize(
    "override",
    ["\u202a", "\u202b", "\u202c", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"],
)
def test_a_name_cannot_reorder_what_is_shown_after_it(override: str) -> None:
    # U+202E then "htimS .rD" shows as "Dr. Smith"; the embeddings, overrides and isolates
    # are shown as what they are
    document = documents("meeting.participant_joined")[0]
    document["payload"]["object"]["participant"]["user_name"] = f"{override}htimS .rD"
    who = parse_document(document).participant  # type: ignore[union-attr]
    assert who.user_name == "\ufffdhtimS .rD"


def test_right_to_left_names_and_their_marks_are_kept() -> None:
    document = documents("meeting.participant_joined")[0]
    for name in (
        "\u05e9\u05e8\u05d4 \u05dc\u05d5\u05d9",
        "\u0633\u0627\u0631\u0627\u200f (Sara)",
        "Sara \u200e\u061c\u05e9",
    ):
        document["payload"]["object"]["participant"]["user_name"] = name
        assert parse_document(document).participant.user_name == name  # type: ignore[union-attr]


def test_event_times_outside_the_calendar_are_no_times() -> None:
    for ts in (-1, models.MAX_EVENT_TS + 1, 10**20, True):
        assert describe({"event": "e", "event_ts": ts}).event_ts is None
        with pytest.raises(PayloadError):
            parse_document(
                {"event": "meeting.started", "event_ts": ts, "payload": {"object": {"uuid": "u"}}}
            )
