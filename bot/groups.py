"""Which group a command is about: `--group NAME`, checked against the configured groups.

A settings file holds one group today (`[group]`), so `--group` is optional and, when given,
must name it. Every command that concerns a group asks here, so that when a file holds
several groups this stays the one place that chooses among them.
"""

from __future__ import annotations

from bot.config import GroupSettings, Settings
from phases.errors import BalintError

__all__ = ["UnknownGroup", "group_for"]


class UnknownGroup(BalintError):
    """`--group NAME` names no configured group."""


def group_for(settings: Settings, name: str | None) -> GroupSettings:
    """The group called `name` (None: the only one).

    Raises:
        UnknownGroup: no configured group has that name.
    """
    if name is None or name == settings.group.name:
        return settings.group
    raise UnknownGroup(
        f"no group called {name!r} in the settings (the group is {settings.group.name!r})"
    )
