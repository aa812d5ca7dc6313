"""The REST models accept what Zoom's published schema marks optional."""

from __future__ import annotations

from bot.zoom_api.models import MeetingSettings, PastParticipant, Registrant


def test_a_past_participant_without_join_or_leave_time_is_read():
    row = PastParticipant.model_validate({"id": "p1", "name": "Ana", "duration": 60})
    assert (row.join_time, row.leave_time) == (None, None)


def test_a_registrant_without_an_id_is_read():
    assert Registrant.model_validate({"email": "ana@example.org"}).id == ""


def test_alternative_hosts_are_read_semicolon_or_comma_separated():
    settings = MeetingSettings(alternative_hosts="A@example.org; b@example.org,c@example.org")
    assert settings.alternative_host_emails() == [
        "a@example.org",
        "b@example.org",
        "c@example.org",
    ]


def test_names_and_emails_people_typed_come_without_control_characters():
    row = PastParticipant.model_validate(
        {"name": "\x1b[2JAna", "user_email": "ana\n@example.org", "user_id": "16778240"}
    )
    assert (row.name, row.user_email, row.user_id) == (
        "\ufffd[2JAna",
        "ana\ufffd@example.org",
        "16778240",
    )
    registrant = Registrant.model_validate(
        {"email": "ana@example.org", "first_name": "A\x9bna", "last_name": "S\x00"}
    )
    assert (registrant.first_name, registrant.last_name) == ("A\ufffdna", "S\ufffd")
