"""Turns the `[agenda]` settings into the engine's `Agenda` and message overrides.

The engine (`phases/`) may not import the settings, so this small bridge lives in `bot/`.
Problems the engine finds (a warning mark past the group's end, an unknown message key, a
placeholder a line does not offer) become `ConfigError`, like every other settings problem,
so `balint-bot config check` reports them before a meeting starts.
"""

from __future__ import annotations

from bot.config import Settings
from bot.errors import ConfigError
from phases.agenda import Agenda
from phases.errors import AgendaError
from phases.messages import Messages

__all__ = ["agenda_from_settings", "messages_from_settings"]


def agenda_from_settings(settings: Settings) -> Agenda:
    """The engine's agenda for these settings (the bot's name comes from `[zoom] bot_name`,
    the admission rule from `[group] admit_by_name`).

    Raises:
        ConfigError: the agenda values contradict each other.
    """
    section = settings.agenda
    try:
        return Agenda(
            meditation_minutes=section.meditation_minutes,
            length_minutes=section.length_minutes,
            reflection_minutes=section.reflection_minutes,
            opens_minutes_before=section.opens_minutes_before,
            warning_minutes=tuple(section.warning_minutes),
            max_cases=section.max_cases,
            hold_during_meditation=section.hold_during_meditation,
            enforce_mirror=section.enforce_mirror,
            rename_in_waiting_room=section.rename_in_waiting_room,
            presentation_budget_minutes=section.presentation_budget_minutes,
            questions_budget_minutes=section.questions_budget_minutes,
            discussion_budget_minutes=section.discussion_budget_minutes,
            mirror_reminder_seconds=section.mirror_reminder_seconds,
            overrun_grace_minutes=section.overrun_grace_minutes,
            ask_location=section.ask_location,
            location_reminder_minutes=section.location_reminder_minutes,
            webcam_reminder_minutes=section.webcam_reminder_minutes,
            bot_name=settings.zoom.bot_name,
            admit_by_name=settings.group.admit_by_name,
        )
    except AgendaError as bad:
        raise ConfigError(f"settings: {bad}") from None


def messages_from_settings(settings: Settings) -> dict[str, str]:
    """The message overrides of `[agenda.messages]`, checked against the catalogue.

    Raises:
        ConfigError: an unknown key, an unknown placeholder or a malformed line.
    """
    overrides = dict(settings.agenda.messages)
    try:
        Messages(overrides)
    except AgendaError as bad:
        raise ConfigError(f"settings: {bad}") from None
    return overrides
