"""Who is who: the one identity resolver, used for admission, rights, attendance and billing.

A display name is typed by whoever joins, so it is the weakest evidence there is. `resolve`
looks at what Zoom says about a participant, strongest evidence first, and stops at the first
that names exactly one roster line:

1. `registrant`: the Zoom registrant id (the personal link from `registrants sync`);
2. `email`: the e-mail of a participant signed in to Zoom (Zoom vouches for it; it is never
   taken from someone who is not signed in);
3. `display_name`: the display name equals a roster display name;
4. `full_name`: the display name equals a roster person's first + last name.

Names (3, 4) are compared after `canonical_name`: case, accents, punctuation, titles and
credentials ("Dr", "Dr.", "MD", "Prof", ...) and a bracketed pronoun note ("(she/her)") do
not count. Never the first word alone: "Helen Visitor" is not "Helen". A phone caller is
never matched by name (the name is a number or the phone company's guess). A name that fits
two roster lines matches none of them.

Only the strong evidence (registrant id, vouched e-mail) may ever grant facilitator rights
(`STRONG`); a name may at most admit a member, if the group allows it. `confirmed` is a
facilitator's word (`/admit NAME as ROSTER_NAME`): it records who someone is for attendance
and never grants rights either. When nothing matches, `Identity.likely` holds the roster
lines that share a word with the name, for the facilitators' private hint only.

Pure and cheap: the engine calls it when what Zoom says about someone changes, storage for
each presence fact.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

from phases.events import Participant
from phases.roster import RosterEntry

__all__ = [
    "EVIDENCE_RANK",
    "NAME_ONLY",
    "STRONG",
    "Evidence",
    "Identity",
    "canonical_name",
    "find_entries",
    "resolve",
    "vouched_email",
]

Evidence = Literal["registrant", "email", "confirmed", "display_name", "full_name", ""]

#: Evidence that may grant facilitator rights (Zoom vouches for it).
STRONG: frozenset[str] = frozenset({"registrant", "email"})
#: Evidence that is only a typed name.
NAME_ONLY: frozenset[str] = frozenset({"display_name", "full_name"})
#: Strength of each kind of evidence; an identity is only ever replaced by a stronger one.
EVIDENCE_RANK: dict[str, int] = {
    "registrant": 5,
    "email": 4,
    "confirmed": 3,
    "display_name": 2,
    "full_name": 2,
    "": 0,
}

#: Titles and credentials that do not make a name different ("Dr. Anna Smith, MD").
_TITLES = frozenset(
    {
        "dr",
        "doctor",
        "prof",
        "professor",
        "mr",
        "mrs",
        "ms",
        "mx",
        "miss",
        "md",
        "phd",
        "psyd",
        "rn",
        "np",
        "dnp",
        "msw",
        "rsw",
        "mph",
        "mbbs",
        "mbchb",
        "ccfp",
        "fcfp",
        "frcpc",
    }
)
_PRONOUNS = frozenset(
    {"she", "her", "hers", "he", "him", "his", "they", "them", "theirs", "ze", "zir", "xe"}
)
_BRACKETED = re.compile(r"[(\[{]([^)\]}]*)[)\]}]")
_DOTTED = re.compile(r"(\w)\.(?=\w\.)")  # "m.d." -> "md.", "ph.d." -> "phd."
_WORD = re.compile(r"[^\W_]+")
#: Most roster lines named in one hint.
_MAX_HINTS = 3


@dataclass(frozen=True, slots=True)
class Identity:
    """What the evidence says about one participant.

    Args:
        entry: the roster line they are, or None.
        evidence: how that is known ("" when `entry` is None).
        likely: when `entry` is None, roster lines the name fits (`ambiguous`) or shares a
            word with; a hint for the facilitators, never a match.
        ambiguous: the name fits every line of `likely` exactly.
    """

    entry: RosterEntry | None = None
    evidence: Evidence = ""
    likely: tuple[RosterEntry, ...] = ()
    ambiguous: bool = False


@lru_cache(maxsize=8192)
def canonical_name(name: str) -> str:
    """Fold a name for identity matching: accents, case, punctuation, titles do not count.

    >>> canonical_name("Dr. Zoë  O'Brien-Smith, MD (she/her)")
    'zoe o brien smith'
    >>> canonical_name("  ")
    ''
    """
    decomposed = unicodedata.normalize("NFKD", name)
    text = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    text = _BRACKETED.sub(lambda m: " " if _only_pronouns(m.group(1)) else m.group(0), text)
    text = _DOTTED.sub(r"\1", text)
    return " ".join(word for word in _WORD.findall(text) if word not in _TITLES)


def _only_pronouns(text: str) -> bool:
    words = _WORD.findall(text)
    return bool(words) and all(word in _PRONOUNS for word in words)


def vouched_email(participant: Participant) -> str:
    """The participant's e-mail, folded, if Zoom vouches for it (they are signed in), else ""."""
    return participant.email.strip().casefold() if participant.signed_in else ""


def resolve(roster: Sequence[RosterEntry], participant: Participant) -> Identity:
    """Who `participant` is on `roster` (see the module docstring for the order).

    Never raises, whatever the name (empty, emoji, very long).
    """
    if participant.registrant_id:
        found = [e for e in roster if e.registrant_id == participant.registrant_id]
        if len(found) == 1:
            return Identity(found[0], "registrant")
    email = vouched_email(participant)
    if email:
        found = [e for e in roster if e.email and e.email.strip().casefold() == email]
        if len(found) == 1:
            return Identity(found[0], "email")
    key = canonical_name(participant.name)
    if not key:
        return Identity()
    if participant.phone:
        return Identity(likely=_hints(roster, key))
    named: list[tuple[RosterEntry, Evidence]] = []
    for entry in roster:
        if canonical_name(entry.display_name) == key:
            named.append((entry, "display_name"))
        elif entry.full_name and canonical_name(entry.full_name) == key:
            named.append((entry, "full_name"))
    if len(named) == 1:
        return Identity(*named[0])
    if named:
        return Identity(likely=tuple(entry for entry, _ in named), ambiguous=True)
    return Identity(likely=_hints(roster, key))


def _hints(roster: Sequence[RosterEntry], key: str) -> tuple[RosterEntry, ...]:
    """Roster lines sharing a word (two letters or more) with the folded name `key`."""
    words = {word for word in key.split(" ") if len(word) > 1}
    hints = [
        entry
        for entry in roster
        if words
        & set(f"{canonical_name(entry.display_name)} {canonical_name(entry.full_name)}".split())
    ]
    return tuple(hints[:_MAX_HINTS])


def find_entries(roster: Sequence[RosterEntry], query: str) -> tuple[RosterEntry, ...]:
    """The roster lines a facilitator's `query` names (`/admit NAME as ROSTER_NAME`).

    Tiers, the first non-empty one deciding: the display name or full name exactly (after
    `canonical_name`); then every word of the query starting the matching word of the
    display name or full name ("anna s" finds "Anna Smith").
    """
    key = canonical_name(query)
    if not key:
        return ()
    exact = tuple(
        e for e in roster if key in (canonical_name(e.display_name), canonical_name(e.full_name))
    )
    if exact:
        return exact
    words = key.split(" ")
    return tuple(
        e
        for e in roster
        if _word_prefix(canonical_name(e.display_name), words)
        or _word_prefix(canonical_name(e.full_name), words)
    )


def _word_prefix(name: str, words: list[str]) -> bool:
    parts = name.split(" ") if name else []
    return len(parts) >= len(words) and all(
        part.startswith(word) for part, word in zip(parts, words, strict=False)
    )
