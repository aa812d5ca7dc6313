"""Which meetings are the group's: the one decision, keyed on the meeting number."""

from __future__ import annotations

import pytest

from webhooks.meetings import group_for, meeting_number

GROUPS = {"85746065432": "Weekly group"}


@pytest.mark.parametrize(
    ("meeting_id", "group"),
    [
        ("85746065432", "Weekly group"),
        ("857 4606 5432", "Weekly group"),
        ("857-4606-5432", "Weekly group"),
        ("91234567890", None),  # a one-to-one call on the same account
        ("", None),
        (None, None),  # a body that names no meeting
    ],
)
def test_only_the_configured_meeting_is_the_groups(
    meeting_id: str | None, group: str | None
) -> None:
    assert group_for(meeting_id, GROUPS, unfiltered=None) == group


def test_without_a_configured_meeting_every_meeting_is_the_unfiltered_group() -> None:
    assert group_for("91234567890", {}, unfiltered="Demo") == "Demo"
    assert group_for(None, {}, unfiltered="Demo") == "Demo"
    assert group_for("91234567890", {}, unfiltered=None) is None


def test_meeting_numbers_are_their_ascii_digits() -> None:
    assert meeting_number(" 857 4606-5432 ") == "85746065432"
    assert meeting_number("٣٤٥") == ""  # other scripts' digits are not Zoom's
    assert meeting_number("85746065432") == "85746065432"
    assert meeting_number("857²") == "857"
    assert meeting_number("") == ""
