"""Scenario files: one evening of a group, written as TOML, checked completely before a run.

A scenario names the scheduled start, the agenda, the people and what they do::

    [meeting]
    start = "2026-12-02T19:00:00-05:00"   # scheduled start: the meditation begins here
    agenda = "default"                    # or a path to an agenda TOML (relative to this file)
    bot_role = "host"                     # optional: host | co-host | attendee

    [[person]]
    name = "Anna"              # display name shown in Zoom (and the roster name)
    role = "member"            # member | facilitator | guest (guest = not on the roster)
    email = "anna@example.org" # optional
    accepts_requests = true    # optional: accepts ask-to-unmute / ask-to-start-video
    zoom_role = "attendee"     # optional: host | co-host | attendee

    [[event]]
    at = "-12m"                # offset from start: "-12m", "3m30s", "1h05m", "95m"
    who = "Anna"
    do = "join"                # join | leave | say | unmute | mute | video_on | video_off
                               # | record (a host or co-host: to the cloud; others: locally)
                               # | end_meeting
    text = "/case Anna"        # for say
    to = "everyone"            # for say: everyone | bot | NAME (private)

An agenda TOML holds `AgendaSettings` keys at the top level, or is a settings file whose
`[agenda]` section is used (its other sections are ignored).

`load_scenario` validates everything, including the story itself (nobody leaves before they
joined or speaks when absent, nothing happens after the meeting ended), and raises
`ScenarioError` naming the field and the person or event number (1-based, in file order),
so a bad file never half-runs. Events run in time order; events at the same time keep their
file order.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError

from bot.agenda import agenda_from_settings, messages_from_settings
from bot.config import AgendaSettings, Settings
from phases.agenda import Agenda
from phases.errors import BalintError
from phases.events import ZoomRole
from phases.roster import RosterEntry

__all__ = [
    "ACTIONS",
    "PersonSpec",
    "Scenario",
    "ScenarioError",
    "ScenarioEvent",
    "load_scenario",
    "parse_offset",
    "parse_scenario",
]

ScenarioRole = Literal["member", "facilitator", "guest"]

#: What a person can do in a scenario event.
ACTIONS = (
    "join",
    "leave",
    "say",
    "unmute",
    "mute",
    "video_on",
    "video_off",
    "record",
    "end_meeting",
)

_OFFSET = re.compile(r"^(-)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")
_ROLES = ("member", "facilitator", "guest")
_ZOOM_ROLES = {str(role): role for role in ZoomRole}
_MEETING_KEYS = {"start", "agenda", "bot_role", "mute_on_entry", "video_on_entry"}
_PERSON_KEYS = {"name", "role", "email", "accepts_requests", "zoom_role", "registrant_id"}
_EVENT_KEYS = {"at", "who", "do", "text", "to"}


class ScenarioError(BalintError):
    """A scenario file is invalid; the message names the file, the field and where it is."""


_Fail = Callable[[str, str], ScenarioError]


@dataclass(frozen=True, slots=True, kw_only=True)
class PersonSpec:
    """One person of the scenario."""

    name: str
    role: ScenarioRole
    email: str = ""
    registrant_id: str = ""
    accepts_requests: bool = True
    zoom_role: ZoomRole = ZoomRole.ATTENDEE


@dataclass(frozen=True, slots=True, kw_only=True)
class ScenarioEvent:
    """One thing a person does, `at` after (or before, when negative) the scheduled start.

    `number` is the event's 1-based position in the file, for messages.
    """

    number: int
    at: timedelta
    who: str
    do: str
    text: str = ""
    to: str = "everyone"


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A validated scenario, ready to run; `events` are in time order."""

    start: datetime
    agenda: Agenda
    messages: Mapping[str, str]
    agenda_source: str
    bot_role: ZoomRole
    mute_on_entry: bool
    video_on_entry: bool
    persons: tuple[PersonSpec, ...]
    events: tuple[ScenarioEvent, ...]

    @property
    def opens_at(self) -> datetime:
        """When the room opens (the social phase begins)."""
        return self.start - timedelta(minutes=self.agenda.opens_minutes_before)

    def roster(self) -> tuple[RosterEntry, ...]:
        """The engine's roster: members and facilitators (guests are not on it)."""
        return tuple(
            RosterEntry(
                display_name=p.name,
                role="facilitator" if p.role == "facilitator" else "member",
                email=p.email,
                registrant_id=p.registrant_id,
            )
            for p in self.persons
            if p.role != "guest"
        )

    def person(self, name: str) -> PersonSpec:
        """The person called `name` (KeyError if there is none)."""
        for person in self.persons:
            if person.name == name:
                return person
        raise KeyError(name)


def parse_offset(text: str) -> timedelta:
    """Parse an offset such as "-12m", "3m30s", "1h05m" or "95m".

    Raises:
        ValueError: the text is not of that form.
    """
    match = _OFFSET.match(text.strip()) if isinstance(text, str) else None
    if match is None or not any(match.group(i) for i in (2, 3, 4)):
        raise ValueError(f"{text!r} is not an offset like -12m, 3m30s, 1h05m or 95m")
    sign, hours, minutes, seconds = match.groups()
    delta = timedelta(hours=int(hours or 0), minutes=int(minutes or 0), seconds=int(seconds or 0))
    return -delta if sign else delta


def load_scenario(path: Path, *, settings: Settings | None = None) -> Scenario:
    """Read and validate the scenario at `path`.

    Args:
        path: the scenario TOML.
        settings: provides the default agenda and the bot's name (built-in defaults if None).

    Raises:
        ScenarioError: the file is missing, not TOML, or invalid in any field.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as missing:
        raise ScenarioError(f"{path}: cannot read the scenario ({missing.strerror})") from None
    except tomllib.TOMLDecodeError as bad:
        raise ScenarioError(f"{path}: not valid TOML: {bad}") from None
    return parse_scenario(data, source=str(path), base_dir=path.parent, settings=settings)


def parse_scenario(
    data: Mapping[str, Any],
    *,
    source: str = "scenario",
    base_dir: Path | None = None,
    settings: Settings | None = None,
) -> Scenario:
    """Validate an already-decoded scenario (see the module docstring for the format).

    Raises:
        ScenarioError: naming `source`, the field, and the person or event number.
    """
    settings = settings if settings is not None else Settings()
    base = base_dir if base_dir is not None else Path.cwd()

    def fail(where: str, message: str) -> ScenarioError:
        return ScenarioError(f"{source}: {where}: {message}")

    unknown = set(data) - {"meeting", "person", "event"}
    if unknown:
        raise fail(
            "top level", f"unknown table(s) {sorted(unknown)} (expected meeting, person, event)"
        )
    meeting = data.get("meeting")
    if not isinstance(meeting, dict):
        raise fail("[meeting]", "missing (it needs at least start)")
    _no_unknown_keys(meeting, _MEETING_KEYS, "[meeting]", fail)
    start = _parse_start(meeting.get("start"), fail)
    agenda, messages, agenda_source = _parse_agenda(
        meeting.get("agenda", "default"), base, settings, fail
    )
    bot_role = _zoom_role(meeting.get("bot_role", "host"), "[meeting] field 'bot_role'", fail)
    mute_on_entry = _bool(
        meeting.get("mute_on_entry", True), "[meeting] field 'mute_on_entry'", fail
    )
    video_on_entry = _bool(
        meeting.get("video_on_entry", True), "[meeting] field 'video_on_entry'", fail
    )

    persons = _parse_persons(data.get("person", []), fail)
    names = {p.name for p in persons}
    events = _parse_events(data.get("event", []), names, fail)
    ordered = tuple(sorted(events, key=lambda e: (e.at, e.number)))
    scenario = Scenario(
        start=start,
        agenda=agenda,
        messages=messages,
        agenda_source=agenda_source,
        bot_role=bot_role,
        mute_on_entry=mute_on_entry,
        video_on_entry=video_on_entry,
        persons=persons,
        events=ordered,
    )
    _check_story(scenario, fail)
    return scenario


# ---------------------------------------------------------------------------- helpers


def _no_unknown_keys(table: Mapping[str, Any], known: set[str], where: str, fail: _Fail) -> None:
    extra = sorted(set(table) - known)
    if extra:
        raise fail(where, f"unknown field(s) {extra} (known: {sorted(known)})")


def _parse_start(value: Any, fail: _Fail) -> datetime:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            raise fail("[meeting] field 'start'", f"{value!r} is not an ISO date-time") from None
    if not isinstance(value, datetime):
        raise fail("[meeting] field 'start'", 'missing; give e.g. "2026-12-02T19:00:00-05:00"')
    if value.tzinfo is None or value.utcoffset() is None:
        raise fail("[meeting] field 'start'", "needs a UTC offset, e.g. -05:00")
    return value


def _parse_agenda(
    value: Any, base: Path, settings: Settings, fail: _Fail
) -> tuple[Agenda, dict[str, str], str]:
    where = "[meeting] field 'agenda'"
    if not isinstance(value, str) or not value.strip():
        raise fail(where, 'expected "default" or a path to an agenda TOML')
    chosen = settings
    source = "default"
    if value != "default":
        path = Path(value)
        if not path.is_absolute():
            path = base / path
        try:
            table = tomllib.loads(path.read_text(encoding="utf-8"))
        except OSError as missing:
            raise fail(where, f"cannot read {path} ({missing.strerror})") from None
        except tomllib.TOMLDecodeError as bad:
            raise fail(where, f"{path} is not valid TOML: {bad}") from None
        if isinstance(table.get("agenda"), dict):
            table = table["agenda"]  # a whole settings file: its [agenda] section
        try:
            agenda_settings = AgendaSettings(**table)
        except ValidationError as invalid:
            problems = "; ".join(
                f"key {'.'.join(str(p) for p in err['loc'])}: {err['msg']}"
                for err in invalid.errors()
            )
            raise fail(where, f"{path}: {problems}") from None
        chosen = settings.model_copy(update={"agenda": agenda_settings})
        source = str(value)
    try:
        agenda = agenda_from_settings(chosen)
        messages = messages_from_settings(chosen)
    except BalintError as bad:
        raise fail(where, str(bad)) from None
    return agenda, messages, source


def _zoom_role(value: Any, where: str, fail: _Fail) -> ZoomRole:
    if not isinstance(value, str) or value not in _ZOOM_ROLES:
        raise fail(where, f"{value!r} is not one of host, co-host, attendee")
    return _ZOOM_ROLES[value]


def _bool(value: Any, where: str, fail: _Fail) -> bool:
    if not isinstance(value, bool):
        raise fail(where, f"expected true or false, got {value!r}")
    return value


def _text(value: Any, where: str, fail: _Fail, *, required: bool = False) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise fail(where, "expected text" if value is not None else "missing")
    return value


def _parse_persons(raw: Any, fail: _Fail) -> tuple[PersonSpec, ...]:
    if not isinstance(raw, list):
        raise fail("[[person]]", "expected an array of tables ([[person]])")
    persons: list[PersonSpec] = []
    seen: set[str] = set()
    for number, table in enumerate(raw, start=1):
        where = f"person {number}"
        if not isinstance(table, dict):
            raise fail(where, "expected a table")
        _no_unknown_keys(table, _PERSON_KEYS, where, fail)
        name = _text(table.get("name"), f"{where} field 'name'", fail, required=True).strip()
        if name in seen:
            raise fail(f"{where} field 'name'", f"{name!r} appears twice")
        if name == "bot" or name == "everyone":
            raise fail(f"{where} field 'name'", f"{name!r} is reserved")
        seen.add(name)
        role = table.get("role", "member")
        if role not in _ROLES:
            raise fail(f"{where} field 'role'", f"{role!r} is not one of {', '.join(_ROLES)}")
        persons.append(
            PersonSpec(
                name=name,
                role=role,
                email=_text(table.get("email"), f"{where} field 'email'", fail),
                registrant_id=_text(
                    table.get("registrant_id"), f"{where} field 'registrant_id'", fail
                ),
                accepts_requests=_bool(
                    table.get("accepts_requests", True), f"{where} field 'accepts_requests'", fail
                ),
                zoom_role=_zoom_role(
                    table.get("zoom_role", "attendee"), f"{where} field 'zoom_role'", fail
                ),
            )
        )
    return tuple(persons)


def _parse_events(raw: Any, names: set[str], fail: _Fail) -> list[ScenarioEvent]:
    if not isinstance(raw, list):
        raise fail("[[event]]", "expected an array of tables ([[event]])")
    events: list[ScenarioEvent] = []
    for number, table in enumerate(raw, start=1):
        where = f"event {number}"
        if not isinstance(table, dict):
            raise fail(where, "expected a table")
        _no_unknown_keys(table, _EVENT_KEYS, where, fail)
        if "at" not in table:
            raise fail(f"{where} field 'at'", "missing")
        try:
            at = parse_offset(table["at"])
        except ValueError as bad:
            raise fail(f"{where} field 'at'", str(bad)) from None
        do = table.get("do")
        if do not in ACTIONS:
            raise fail(f"{where} field 'do'", f"{do!r} is not one of {', '.join(ACTIONS)}")
        who = _text(table.get("who"), f"{where} field 'who'", fail, required=do != "end_meeting")
        if who and who not in names:
            raise fail(f"{where} field 'who'", f"{who!r} is not a [[person]] of this scenario")
        text = _text(table.get("text"), f"{where} field 'text'", fail, required=do == "say")
        if do != "say" and "text" in table:
            raise fail(f"{where} field 'text'", "only a 'say' event has text")
        to = _text(table.get("to"), f"{where} field 'to'", fail) or "everyone"
        if do != "say" and "to" in table:
            raise fail(f"{where} field 'to'", "only a 'say' event has a recipient")
        if to not in ("everyone", "bot") and to not in names:
            raise fail(f"{where} field 'to'", f"{to!r} is not everyone, bot or a [[person]] name")
        if to == who:
            raise fail(f"{where} field 'to'", "a person cannot chat privately with themself")
        events.append(ScenarioEvent(number=number, at=at, who=who, do=do, text=text, to=to))
    return events


def _check_story(scenario: Scenario, fail: _Fail) -> None:
    """Walk the events in time order and refuse a story that cannot happen."""
    present: dict[str, int] = {}  # name -> event number of their join
    ended_by: int | None = None
    for event in scenario.events:
        where = f"event {event.number}"
        if ended_by is not None:
            raise fail(f"{where} field 'at'", f"the meeting already ended at event {ended_by}")
        if event.do == "end_meeting":
            if event.who:
                person = scenario.person(event.who)
                if person.role != "facilitator" and person.zoom_role is not ZoomRole.HOST:
                    raise fail(
                        f"{where} field 'who'",
                        f"{event.who!r} cannot end the meeting: only the host (a facilitator "
                        'or a zoom_role = "host" person) ends it for everyone',
                    )
                if event.who not in present:
                    raise fail(f"{where} field 'who'", f"{event.who!r} is not in the meeting")
            ended_by = event.number
            present.clear()
            continue
        if event.do == "join":
            if event.who in present:
                raise fail(
                    f"{where} field 'do'",
                    f"{event.who!r} already joined (event {present[event.who]}) and has not left",
                )
            present[event.who] = event.number
            continue
        if event.who not in present:
            raise fail(
                f"{where} field 'do'", f"{event.who!r} cannot {event.do}: not in the meeting"
            )
        if event.do == "leave":
            del present[event.who]
        elif event.do == "say" and event.to not in ("everyone", "bot") and event.to not in present:
            raise fail(f"{where} field 'to'", f"{event.to!r} is not in the meeting then")
