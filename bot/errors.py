"""Errors of the bot layer. All derive from the one root, `phases.errors.BalintError`."""

from __future__ import annotations

import concurrent.futures
from typing import Any

from phases.errors import BalintError

__all__ = ["BalintError", "ConfigError", "DatabaseStalled", "MeetingControlError"]


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


class DatabaseStalled(BalintError):
    """A database call of the meeting worker did not finish within its deadline, or another
    one that did not is still running (see `bot.runtime.database_calls`).

    Args:
        message: what is waiting, for the log.
        call: the call that overran (it keeps running on its thread and its outcome is read
            later), or None when this call was refused without starting.
    """

    def __init__(self, message: str, *, call: concurrent.futures.Future[Any] | None = None) -> None:
        super().__init__(message)
        self.call = call
