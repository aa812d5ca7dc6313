"""The agenda: the shape of one group's session, as the engine needs it.

`Agenda` mirrors `bot.config.AgendaSettings` field for field (except the message overrides,
which live in `phases.messages`) plus the bot's own display name and the group's admission
rule (`[group] admit_by_name`), so a group's format is configuration, not code. It is a
frozen value object; `__post_init__` checks the values that pydantic cannot relate to each
other (warning marks inside the group's length) and raises `AgendaError`, so an engine never
starts from an inconsistent agenda.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from phases.errors import AgendaError

__all__ = ["Agenda"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Agenda:
    """One session's shape; every duration in minutes (the mirror reminder in seconds).

    Args:
        meditation_minutes: guided meditation from the scheduled start; 0 = none.
        length_minutes: the group's length from the scheduled start.
        reflection_minutes: optional reflection after the group (`/reflection`); 0 = none.
        opens_minutes_before: how early the room opens (the social phase).
        warning_minutes: marks before the group's end at which a warning is posted.
        max_cases: most cases in one session.
        hold_during_meditation: hold non-facilitators who arrive during the meditation.
        enforce_mirror: mute / stop the presenter's video during the discussion.
        rename_in_waiting_room: rename arrivals showing more than their first name.
        admit_by_name: a member matched by name alone (no registrant id, no signed-in
            e-mail) is admitted by the bot; False holds them for the facilitators. A name
            never grants facilitator rights either way (`phases.identity`).
        presentation_budget_minutes, questions_budget_minutes, discussion_budget_minutes:
            soft budgets; the facilitators get one private nudge when one runs out. 0 = none.
        mirror_reminder_seconds: least time between two mirror reminders to the presenter.
        overrun_grace_minutes: at the group's end the facilitators are told privately and the
            group closes by itself only this much later (unless they `/next`, `/end` or
            `/extend` first); 0 = close at the end itself.
        ask_location: ask each member privately, once they are in, where they are joining
            from (the group's safety plan); their private answer is kept sealed. The service
            turns it off without a data key, as an answer could not be kept.
        location_reminder_minutes: one reminder to a member who has not answered this long
            after the question; 0 = none.
        webcam_reminder_minutes: one private reminder to a member (not the presenter behind
            the mirror) whose video has been off this long during the group; 0 = off.
        bot_name: the bot's own display name in the meeting (it ignores itself).

    Raises:
        AgendaError: a value is out of range or the values contradict each other.
    """

    meditation_minutes: int = 10
    length_minutes: int = 105
    reflection_minutes: int = 15
    opens_minutes_before: int = 15
    warning_minutes: tuple[int, ...] = (10, 2)
    max_cases: int = 2
    hold_during_meditation: bool = True
    enforce_mirror: bool = True
    rename_in_waiting_room: bool = False
    admit_by_name: bool = True
    presentation_budget_minutes: int = 10
    questions_budget_minutes: int = 10
    discussion_budget_minutes: int = 25
    mirror_reminder_seconds: int = 60
    overrun_grace_minutes: int = 10
    ask_location: bool = False
    location_reminder_minutes: int = 10
    webcam_reminder_minutes: int = 0
    bot_name: str = field(default="Balint Companion")

    def __post_init__(self) -> None:
        object.__setattr__(self, "warning_minutes", tuple(self.warning_minutes))
        _check_int(self, "meditation_minutes", 0, 600)
        _check_int(self, "length_minutes", 1, 1440)
        _check_int(self, "reflection_minutes", 0, 600)
        _check_int(self, "opens_minutes_before", 0, 600)
        _check_int(self, "max_cases", 1, 50)
        _check_int(self, "presentation_budget_minutes", 0, 1440)
        _check_int(self, "questions_budget_minutes", 0, 1440)
        _check_int(self, "discussion_budget_minutes", 0, 1440)
        _check_int(self, "mirror_reminder_seconds", 1, 86400)
        _check_int(self, "overrun_grace_minutes", 0, 600)
        _check_int(self, "location_reminder_minutes", 0, 600)
        _check_int(self, "webcam_reminder_minutes", 0, 600)
        for flag in (
            "hold_during_meditation",
            "enforce_mirror",
            "rename_in_waiting_room",
            "admit_by_name",
            "ask_location",
        ):
            if not isinstance(getattr(self, flag), bool):
                raise AgendaError(f"agenda.{flag}: expected true or false")
        if self.meditation_minutes >= self.length_minutes:
            raise AgendaError(
                "agenda.meditation_minutes: must be shorter than length_minutes "
                f"({self.meditation_minutes} >= {self.length_minutes})"
            )
        marks = self.warning_minutes
        if len(set(marks)) != len(marks):
            raise AgendaError(f"agenda.warning_minutes: marks repeat ({list(marks)})")
        for mark in marks:
            if not isinstance(mark, int) or isinstance(mark, bool):
                raise AgendaError(f"agenda.warning_minutes: {mark!r} is not a whole number")
            if not 0 < mark < self.length_minutes:
                raise AgendaError(
                    f"agenda.warning_minutes: {mark} must be between 1 and "
                    f"{self.length_minutes - 1} (inside the group's length)"
                )
        if not isinstance(self.bot_name, str) or not self.bot_name.strip():
            raise AgendaError("agenda.bot_name: the bot needs a display name")

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the warning marks as a list). Read field by field: every
        saved engine state carries its agenda, and `dataclasses.asdict`'s deep copy of
        each value took a third of that save."""
        data = {name: getattr(self, name) for name in _FIELDS}
        data["warning_minutes"] = list(self.warning_minutes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Agenda:
        """The inverse of `to_dict`.

        Raises:
            AgendaError: unknown keys or invalid values.
        """
        try:
            return cls(**{**data, "warning_minutes": tuple(data.get("warning_minutes", ()))})
        except TypeError as bad:
            raise AgendaError(f"agenda: {bad}") from None


def _check_int(agenda: Agenda, name: str, low: int, high: int) -> None:
    value = getattr(agenda, name)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise AgendaError(
            f"agenda.{name}: expected a whole number from {low} to {high}, got {value!r}"
        )


#: The agenda's field names, in declaration order (`Agenda.to_dict`).
_FIELDS = tuple(f.name for f in fields(Agenda))
