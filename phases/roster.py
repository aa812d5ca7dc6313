"""The group's roster as the engine sees it, and the one fold every name comparison uses.

A `RosterEntry` is one line of the roster: the name the person is asked to show in Zoom, their
first and last name, their role in the group, the identifiers Zoom can vouch for (registrant
id, e-mail) and their standing (on the roster now, removed by a later import, or not enrolled
in the current closed module). Who a participant is, is decided by `phases.identity`.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from phases.errors import AgendaError

__all__ = ["STANDINGS", "GroupRole", "RosterEntry", "Standing", "normalise_name"]

GroupRole = Literal["member", "facilitator"]
#: active: admitted as usual; inactive: missing from a later roster import (kept for
#: history); not_enrolled: not enrolled in the current module of a closed-module group.
Standing = Literal["active", "inactive", "not_enrolled"]
STANDINGS: tuple[Standing, ...] = ("active", "inactive", "not_enrolled")


@dataclass(frozen=True, slots=True, kw_only=True)
class RosterEntry:
    """One person of the group.

    Args:
        display_name: the name they are asked to show in Zoom (usually their first name).
        role: "member" or "facilitator".
        email: optional e-mail, as Zoom would report it for them when they are signed in.
        registrant_id: optional Zoom registrant id (`balint-bot registrants sync` stores it).
        member_id: optional id of the member in storage (opaque to the engine).
        first_name, last_name: their name, for matching a display name such as
            "Dr. Anna Smith" (optional).
        standing: "active", "inactive" or "not_enrolled" (see `Standing`).

    Raises:
        AgendaError: an empty display name, an unknown role or an unknown standing.
    """

    display_name: str
    role: GroupRole = "member"
    email: str = ""
    registrant_id: str = ""
    member_id: str = ""
    first_name: str = ""
    last_name: str = ""
    standing: Standing = "active"

    def __post_init__(self) -> None:
        if not normalise_name(self.display_name):
            raise AgendaError("roster: an entry has an empty display name")
        if self.role not in ("member", "facilitator"):
            raise AgendaError(f"roster: role must be member or facilitator, got {self.role!r}")
        if self.standing not in STANDINGS:
            raise AgendaError(
                f"roster: standing must be one of {', '.join(STANDINGS)}, got {self.standing!r}"
            )

    @property
    def full_name(self) -> str:
        """First and last name ("" when the roster gives neither)."""
        return " ".join(part for part in (self.first_name, self.last_name) if part.strip())


@lru_cache(maxsize=4096)
def normalise_name(name: str) -> str:
    """Fold a display name for comparison: no accents, case-folded, single inner spaces.

    >>> normalise_name("  Zoë   MARTIN ")
    'zoe martin'
    """
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())
