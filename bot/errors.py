"""Errors of the bot layer. All derive from the one root, `phases.errors.BalintError`."""

from __future__ import annotations

from phases.errors import BalintError

__all__ = ["BalintError", "ConfigError", "MeetingControlError"]


class ConfigError(BalintError):
    """The configuration file or environment is invalid; the message names file, key and need."""


class MeetingControlError(BalintError):
    """Zoom refused (or could not carry out) an in-meeting action.

    Args:
        code: a short machine-readable reason, one of `bot.meeting.port.REFUSALS`.
        message: a human-readable explanation.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
