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
