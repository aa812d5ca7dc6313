"""Facilitator commands typed in the meeting chat, parsed into typed values.

Parsing is forgiving (case, accents, extra spaces: "/ÉXTEND  10" is `/extend 10`) and total:
`parse` returns None for text that is not a command and never raises, whatever the text.
A known command with a bad argument parses to `BadUsage`; an unknown one to `Unknown`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from phases.roster import normalise_name

__all__ = [
    "USAGE",
    "AdmitCmd",
    "BadUsage",
    "CaseCmd",
    "Command",
    "EndCmd",
    "ExtendCmd",
    "HelpCmd",
    "HoldCmd",
    "MirrorCmd",
    "NextCmd",
    "PauseCmd",
    "ReflectionCmd",
    "ResumeCmd",
    "SafetyCmd",
    "StatusCmd",
    "Unknown",
    "parse",
]

#: Longest `/extend` accepted, in minutes.
MAX_EXTEND = 120


@dataclass(frozen=True, slots=True)
class HelpCmd:
    pass


@dataclass(frozen=True, slots=True)
class StatusCmd:
    pass


@dataclass(frozen=True, slots=True)
class NextCmd:
    pass


@dataclass(frozen=True, slots=True)
class CaseCmd:
    name: str


@dataclass(frozen=True, slots=True)
class ExtendCmd:
    minutes: int


@dataclass(frozen=True, slots=True)
class PauseCmd:
    pass


@dataclass(frozen=True, slots=True)
class ResumeCmd:
    pass


@dataclass(frozen=True, slots=True)
class AdmitCmd:
    """`/admit NAME`, `/admit NAME as ROSTER_NAME` (records who they are for attendance),
    or `/admit all` (`everyone=True`, empty name)."""

    name: str
    everyone: bool = False
    as_name: str = ""


@dataclass(frozen=True, slots=True)
class HoldCmd:
    name: str


@dataclass(frozen=True, slots=True)
class MirrorCmd:
    on: bool


@dataclass(frozen=True, slots=True)
class ReflectionCmd:
    pass


@dataclass(frozen=True, slots=True)
class EndCmd:
    pass


@dataclass(frozen=True, slots=True)
class SafetyCmd:
    """`/safety NAME`: a member's emergency contact and today's location, privately."""

    name: str


@dataclass(frozen=True, slots=True)
class BadUsage:
    """A known command with a missing or wrong argument; `verb` names it."""

    verb: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """Something that starts with "/" but is no command we know."""

    verb: str


Command = (
    HelpCmd
    | StatusCmd
    | NextCmd
    | CaseCmd
    | ExtendCmd
    | PauseCmd
    | ResumeCmd
    | AdmitCmd
    | HoldCmd
    | MirrorCmd
    | ReflectionCmd
    | EndCmd
    | SafetyCmd
    | BadUsage
    | Unknown
)

#: How each command is written, for the usage reply.
USAGE: dict[str, str] = {
    "help": "/help",
    "status": "/status",
    "next": "/next",
    "case": "/case NAME",
    "extend": f"/extend MINUTES (1 to {MAX_EXTEND})",
    "pause": "/pause",
    "resume": "/resume",
    "admit": "/admit NAME, /admit NAME as ROSTER_NAME or /admit all",
    "hold": "/hold NAME",
    "mirror": "/mirror on or /mirror off",
    "reflection": "/reflection",
    "end": "/end",
    "safety": "/safety NAME",
}

_BARE: dict[str, Command] = {
    "help": HelpCmd(),
    "status": StatusCmd(),
    "next": NextCmd(),
    "pause": PauseCmd(),
    "resume": ResumeCmd(),
    "reflection": ReflectionCmd(),
    "end": EndCmd(),
}

_SLASHES = ("/", "\uff0f", "\u2215")  # ASCII, full-width and division slash


def parse(text: str) -> Command | None:
    """Parse one chat line; None when it is not a command (does not start with a slash)."""
    stripped = text.strip()
    if not stripped.startswith(_SLASHES):
        return None
    body = stripped[1:].strip()
    verb_raw, _, rest = body.partition(" ")
    verb = normalise_name(verb_raw)
    argument = " ".join(rest.split())
    if verb in _BARE:
        return _BARE[verb]  # words after a bare command ("/next please") are ignored
    if verb == "case":
        return CaseCmd(argument) if argument else BadUsage(verb)
    if verb == "hold":
        return HoldCmd(argument) if argument else BadUsage(verb)
    if verb == "safety":
        return SafetyCmd(argument) if argument else BadUsage(verb)
    if verb == "admit":
        return _admit(argument)
    if verb == "extend":
        return _extend(argument)
    if verb == "mirror":
        switch = normalise_name(argument)
        if switch in ("on", "off"):
            return MirrorCmd(switch == "on")
        return BadUsage(verb)
    return Unknown(verb[:40])


_EVERYONE = ("all", "everyone", "tous")
_AS = re.compile(r"(?:^|\s)as(?:\s|$)", re.IGNORECASE)


def _admit(argument: str) -> Command:
    """`/admit NAME`, `/admit NAME as ROSTER_NAME` (split at the last " as "), `/admit all`."""
    if not argument:
        return BadUsage("admit")
    cuts = list(_AS.finditer(argument))
    if cuts:
        cut = cuts[-1]
        name, as_name = argument[: cut.start()].strip(), argument[cut.end() :].strip()
        if not name:
            return AdmitCmd(argument)  # someone called "As ...": no roster name given
        if not as_name or normalise_name(name) in _EVERYONE:
            return BadUsage("admit")
        return AdmitCmd(name, as_name=as_name)
    if normalise_name(argument) in _EVERYONE:
        return AdmitCmd("", everyone=True)
    return AdmitCmd(argument)


def _extend(argument: str) -> Command:
    word = normalise_name(argument).removesuffix("min").removesuffix("minutes").strip()
    if word.isascii() and word.isdigit() and len(word) <= 4:
        minutes = int(word)
        if 1 <= minutes <= MAX_EXTEND:
            return ExtendCmd(minutes)
    return BadUsage("extend")
