"""What the receiver reads from the settings, as structural types (no import of `bot`).

`webhooks` sits below `bot` (an import-linter contract forbids it to import `bot`): the
receiver is handed the whole `bot.config.Settings` by `bot.service`, and only needs to know
that it has these read-only attributes. `bot.config.Settings` satisfies `ReceiverSettings`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from webhooks.meetings import MeetingGroup

__all__ = ["ReceiverSettings"]


class _Secret(Protocol):
    def get_secret_value(self) -> str: ...


class _Server(Protocol):
    @property
    def webhook_path(self) -> str: ...

    @property
    def max_body_bytes(self) -> int: ...

    @property
    def timestamp_window_seconds(self) -> int: ...

    @property
    def body_timeout_seconds(self) -> float: ...

    @property
    def max_concurrent_requests(self) -> int: ...

    @property
    def journal_timeout_seconds(self) -> float: ...


class _Zoom(Protocol):
    @property
    def webhook_secret_tokens(self) -> Sequence[_Secret]: ...


class _Storage(Protocol):
    @property
    def url(self) -> str: ...


class ReceiverSettings(Protocol):
    """The settings sections the receiver uses: `server`, `zoom`, the groups and `storage`."""

    @property
    def server(self) -> _Server: ...

    def all_groups(self) -> Sequence[MeetingGroup]: ...

    @property
    def zoom(self) -> _Zoom: ...

    @property
    def storage(self) -> _Storage: ...
