"""Which group a command or a meeting is about, among the configured groups.

A settings file holds one group (`[group]`) or several (`[[groups]]`). Every command that
concerns a group takes `--group NAME` (`add_group_option`); the CLI narrows the settings to
that group once (`settings_for`), so the command reads `settings.group`, `settings.agenda`
and `settings.billing` as that group's. `--group` may be left out when there is one group;
with several it must be given. A meeting belongs to the group that lists its number
(`group_of_meeting`), the same rule the webhook receiver routes by.
"""

from __future__ import annotations

import argparse

from sqlalchemy.orm import Session

from bot.config import GroupSettings, Settings
from phases.errors import BalintError
from storage.sessions import group_name_of
from storage.tables.core import SessionRecord
from webhooks.meetings import group_for as group_of_number
from webhooks.meetings import routes

__all__ = [
    "UnknownGroup",
    "add_group_option",
    "ensure_groups_session",
    "group_for",
    "group_of_meeting",
    "settings_for",
    "settings_for_meeting",
]

GROUP_HELP = "the group (its name in the settings; needed when the settings hold several)"


class UnknownGroup(BalintError):
    """`--group NAME` names no configured group, or is missing among several."""


def add_group_option(parser: argparse.ArgumentParser) -> None:
    """Give a command that concerns a group its `--group NAME` (the CLI narrows to it)."""
    # SUPPRESS: a sub-command's own --group must not reset the one given before it
    parser.add_argument("--group", metavar="NAME", default=argparse.SUPPRESS, help=GROUP_HELP)
    parser.set_defaults(group_scoped=True)


def _names(settings: Settings) -> str:
    return ", ".join(repr(group.name) for group in settings.all_groups())


def group_for(settings: Settings, name: str | None) -> GroupSettings:
    """The group called `name` (None: the only one).

    Raises:
        UnknownGroup: no configured group has that name, or `name` is None and there are
            several (the message lists them).
    """
    groups = settings.all_groups()
    if name is None:
        if len(groups) == 1:
            return groups[0]
        raise UnknownGroup(
            f"the settings hold several groups: give --group NAME ({_names(settings)})"
        )
    wanted = name.strip().casefold()
    for group in groups:
        if group.name.strip().casefold() == wanted:
            return group
    raise UnknownGroup(f"no group called {name!r} in the settings (groups: {_names(settings)})")


def settings_for(settings: Settings, name: str | None) -> Settings:
    """The settings narrowed to the group called `name` (see `group_for`)."""
    return settings.for_group(group_for(settings, name))


def group_of_meeting(settings: Settings, meeting_id: str) -> GroupSettings | None:
    """The group whose meeting `meeting_id` is; with one group that lists no meeting, it
    (the in-process modes); else None: no group's."""
    groups = settings.all_groups()
    meetings, unfiltered = routes(groups)
    name = group_of_number(meeting_id, meetings, unfiltered=unfiltered)
    return next((group for group in groups if group.name == name), None)


def settings_for_meeting(settings: Settings, meeting_id: str) -> Settings:
    """The settings narrowed to the group of meeting `meeting_id`.

    Raises:
        UnknownGroup: the meeting is no configured group's.
    """
    group = group_of_meeting(settings, meeting_id)
    if group is None:
        raise UnknownGroup(
            f"meeting {meeting_id} is no configured group's (groups: {_names(settings)})"
        )
    return settings.for_group(group)


def ensure_groups_session(db: Session, record: SessionRecord, settings: Settings) -> None:
    """A session named by id (or meeting uuid) is the chosen group's, or the command stops:
    one group's attendance or claims are never read or rebuilt with another's settings.

    Raises:
        UnknownGroup: the session is another group's (the message names it).
    """
    owner = group_name_of(db, record=record)
    if owner != settings.group.name:
        raise UnknownGroup(
            f"session {record.id} is of group {owner!r}, not {settings.group.name!r}: "
            f"give --group {owner!r}"
        )
