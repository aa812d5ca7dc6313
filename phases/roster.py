"""The group's roster and how arrivals are matched to it.

Members are asked to show only their first name in Zoom, so matching is forgiving: by Zoom
registrant id, then e-mail, then the normalised display name (case, accents and spacing do
not matter), and finally by the display name's first word when exactly one roster entry has
that first name. Everything here is pure and cheap; the engine matches each person once per
identity change.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from phases.errors import AgendaError
from phases.events import Participant

__all__ = ["GroupRole", "RosterEntry", "first_word", "match", "normalise_name"]

GroupRole = Literal["member", "facilitator"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RosterEntry:
    """One person of the group.

    Args:
        display_name: the name they are asked to show in Zoom (usually their first name).
        role: "member" or "facilitator".
        email: optional e-mail, as Zoom would report it.
        registrant_id: optional Zoom registrant id.
        member_id: optional id of the member in storage (opaque to the engine).

    Raises:
        AgendaError: an empty display name or an unknown role.
    """

    display_name: str
    role: GroupRole = "member"
    email: str = ""
    registrant_id: str = ""
    member_id: str = ""

    def __post_init__(self) -> None:
        if not normalise_name(self.display_name):
            raise AgendaError("roster: an entry has an empty display name")
        if self.role not in ("member", "facilitator"):
            raise AgendaError(f"roster: role must be member or facilitator, got {self.role!r}")


@lru_cache(maxsize=4096)
def normalise_name(name: str) -> str:
    """Fold a display name for comparison: no accents, case-folded, single inner spaces.

    >>> normalise_name("  Zoë   MARTIN ")
    'zoe martin'
    """
    decomposed = unicodedata.normalize("NFKD", name)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.casefold().split())


def first_word(name: str) -> str:
    """The normalised first word of a name ("" for a blank name)."""
    folded = normalise_name(name)
    return folded.split(" ", 1)[0] if folded else ""


def match(roster: Sequence[RosterEntry], participant: Participant) -> RosterEntry | None:
    """Find `participant` on the roster, or None.

    Tried in order: registrant id, e-mail (case-insensitive), normalised display name, and
    then the first word of the display name when exactly one roster entry has that first word
    (so "Ana Lopez" finds the roster's "Ana"). Ambiguity at any name step gives None rather
    than a guess.
    """
    if participant.registrant_id:
        for entry in roster:
            if entry.registrant_id and entry.registrant_id == participant.registrant_id:
                return entry
    email = participant.email.strip().casefold()
    if email:
        for entry in roster:
            if entry.email and entry.email.strip().casefold() == email:
                return entry
    folded = normalise_name(participant.name)
    if not folded:
        return None
    exact = [entry for entry in roster if normalise_name(entry.display_name) == folded]
    if len(exact) == 1:
        return exact[0]
    if exact:
        return None
    head = folded.split(" ", 1)[0]
    by_first = [entry for entry in roster if first_word(entry.display_name) == head]
    if len(by_first) == 1:
        return by_first[0]
    return None
