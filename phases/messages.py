"""The one catalogue of every line the bot posts in the meeting.

Lines are short and kind, in the group's tone. A group may override any of them by key
(`[agenda.messages]` in the settings, e.g. to run in French). Overrides are checked when the
session is built: an unknown key, a placeholder the line does not offer, or a malformed
template raises `AgendaError`, so formatting a line during the meeting can never fail.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass, field

from phases.errors import AgendaError

__all__ = ["DEFAULT_MESSAGES", "PLACEHOLDERS", "Messages"]

#: Every line the bot can post, by key. Placeholders are in braces.
DEFAULT_MESSAGES: Mapping[str, str] = {
    # Waiting room and arrivals.
    "waiting_meditation": (
        "Welcome. We are in a short meditation; you will be let in at {time}. "
        "Thank you for waiting."
    ),
    "welcome_after_meditation": "Welcome, {names}. Glad you are here.",
    "name_reminder": (
        "Hello {name}, a small request: please show only your first name in Zoom "
        "(Rename, under your picture). Thank you."
    ),
    "unknown_waiting": (
        "{name} is in the waiting room and is not on the roster.{hint} Type /admit {name} to "
        "let them in, or /admit {name} as ROSTER_NAME if you know who it is."
    ),
    "hint_likely": " Perhaps {names}?",
    "ambiguous_waiting": (
        "{name} is in the waiting room; the name fits more than one person on the roster "
        "({names}). Type /admit {name} as ROSTER_NAME to let them in as the right one."
    ),
    "phone_waiting": (
        "A caller by phone ({name}) is in the waiting room; I cannot tell who it is.{hint} "
        "Type /admit {name} as ROSTER_NAME to let them in as that person, or /admit {name}."
    ),
    "duplicate_waiting": (
        "{name} is in the waiting room, but someone showing as {roster} is already here. "
        "Type /admit {name} to let them in too, or /admit {name} as ROSTER_NAME if it is "
        "someone else on the roster."
    ),
    "name_only_waiting": (
        "{name} is in the waiting room and looks like {roster}, by name only (not through "
        "their own registration link). Type /admit {name} to let them in."
    ),
    "inactive_waiting": (
        "{who} is in the waiting room but is no longer on the roster. "
        "Type /admit {name} to let them in anyway."
    ),
    "not_enrolled_waiting": (
        "{who} is in the waiting room but is not enrolled in this module. "
        "Type /admit {name} to let them in anyway."
    ),
    "waiting_for_facilitator": (
        "Welcome. A facilitator will let you in shortly; thank you for waiting."
    ),
    "no_name": "(no name)",
    "recording_stopped": (
        "Recording is not permitted in this group. I stopped a recording started by {name}."
    ),
    # Actions Zoom refused (private to the facilitators).
    "refused_admit": (
        "I could not let {name} in ({reason}). Please admit them from the Participants panel."
    ),
    "refused_mirror": (
        "I could not keep {name} behind the one-way mirror ({reason}). Please mute them and "
        "stop their video from the Participants panel, or ask them to."
    ),
    "refused_action": "I could not {action} ({reason}). Please see to it if it matters.",
    "reason_not_privileged": "I am not host or co-host",
    "reason_other": "Zoom refused it: {code}",
    "act_admit": "let {name} in",
    "act_put_in_waiting_room": "move {name} to the waiting room",
    "act_rename": "rename {name}",
    "act_mute": "mute {name}",
    "act_stop_video": "stop {name}'s video",
    "act_ask_unmute": "ask {name} to unmute",
    "act_ask_start_video": "ask {name} to start their video",
    "act_allow_self_media": "change whether participants may unmute or start their video",
    "act_stop_recording": "stop the recording",
    "act_other": "carry out '{kind}'",
    # Phases.
    "meditation_start": "We begin with a {minutes}-minute meditation. Latecomers join at {time}.",
    "case_call": "Who has a case?",
    "presentation_start": "Thank you, {name}. Please tell us what happened.",
    "questions_start": "Now the group's questions: factual ones, to fill in the story.",
    "discussion_start": "{name} now steps behind the one-way mirror while the group discusses.",
    "mirror_explained": (
        "{name}, for the discussion you are behind the one-way mirror: I have muted you and "
        "stopped your video. Listen freely; you will be invited back."
    ),
    "mirror_self": (
        "{name}, for the discussion please mute yourself and stop your video, as if behind a "
        "one-way mirror. You will be invited back."
    ),
    "mirror_reminder": "{name}, you are still behind the one-way mirror for now. Thank you.",
    "return_start": "{name}, welcome back. Please unmute and start your video when ready.",
    "warning": "{minutes} min left.",
    "closing": "Our time is up. Thank you all for this session.",
    "reflection_start": "Reflection now, for those staying, until {time}.",
    "reflection_end": "Reflection time is over. Thank you, and good night.",
    "ended": "The session has ended. Thank you, and take care.",
    "extended": "We are taking {minutes} more minutes; the group now ends at {time}.",
    # To the facilitators, once, when the group's end passes (`overrun_grace_minutes`).
    "overrun": (
        "It is {time}, the group's end. I will close the group at {close}; /next or /end "
        "closes it now, /extend MINUTES gives that many more minutes from now."
    ),
    "budget_nudge": (
        "Time check: {minutes} minutes of {phase} so far. /next moves on when the group is ready."
    ),
    # To the facilitators, once, when a meeting matches no planned session (phases.calendar).
    "unplanned_session": (
        "This meeting is not on the group's calendar for {date}: I am timing it as an "
        "unplanned session from its start at {time}; the group ends at {end}."
    ),
    # The safety plan and the webcam (private to one member).
    "location_question": (
        "Hello {name}. For the group's safety plan: where are you joining from today? "
        "Please reply to me privately with your location (a town and street is enough). "
        "Only the facilitators will see it."
    ),
    "location_reminder": (
        "{name}, a gentle reminder for the safety plan: please reply to me privately with "
        "your location for today's session."
    ),
    "location_thanks": "Thank you, {name}. Noted for today; only the facilitators can see it.",
    "webcam_reminder": (
        "{name}, a reminder of the group's agreement: a webcam is used during the session. "
        "Please start your video when you can. Thank you."
    ),
    # Replies to commands (private to whoever typed them).
    "help": (
        "Commands: /status, /next, /case NAME, /extend MINUTES, /pause, /resume, "
        "/admit NAME|all, /admit NAME as ROSTER_NAME, /hold NAME, /mirror on|off, /reflection, "
        "/end, /safety NAME, /help."
    ),
    "refused_member": (
        "Sorry, {name}, commands are for the facilitators. They will be glad to help."
    ),
    "refused_unverified": (
        "Sorry, {name}, I take commands only from the host, co-hosts and facilitators who "
        "joined through their own registration link. The host can make you co-host."
    ),
    "admitted_as": "Letting {name} in as {roster}.",
    "noted_as": "Noted: {name} is {roster} for attendance.",
    "as_kept": (
        "Zoom itself identifies {name} as {roster} (registration link or signed-in e-mail); "
        "I keep that."
    ),
    "as_no_match": "'{query}' is not on the roster.",
    "as_ambiguous": "'{query}' could be {names} on the roster. Please type more of the name.",
    "status": "Phase: {phase}. {minutes} minutes left (ends {time}). Waiting: {waiting}.{paused}",
    "status_paused": " Paused (/resume to continue).",
    "nobody": "no one",
    "someone": "someone",
    "usage": "Usage: {usage}",
    "no_match": "I could not find '{query}'. Present: {names}.",
    "ambiguous": "'{query}' could be {names}. Please type more of the name.",
    "nobody_waiting": "No one is waiting.",
    "facilitator_not_held": "{name} is a facilitator; facilitators are never held.",
    "kept_waiting": "{name} stays in the waiting room until a facilitator admits them.",
    "case_not_now": "A case can be named once the group is ready for one ({phase} now).",
    "cases_done": "This session has had its {count} case(s). /end closes the group.",
    "next_needs_case": "Name the presenter first: /case NAME.",
    "next_last_case": "That was the last case. /end closes the group.",
    "next_none": "There is no phase after {phase}.",
    "paused": "Paused: I will not move the group on or nudge until /resume.",
    "resumed": "Resumed.",
    "already_paused": "Already paused.",
    "not_paused": "Not paused.",
    "mirror_on": "The one-way mirror is enforced: I mute the presenter during the discussion.",
    "mirror_off": "The one-way mirror is not enforced: I only remind the presenter.",
    "reflection_not_now": "Reflection follows the group's end: /end first.",
    "reflection_none": "This group has no reflection time set.",
    "extend_after_end": "The group has already ended; /extend is for before its end.",
    "already_ended": "The session has already ended.",
    # `/safety NAME` (facilitators only): the runtime fills in the PHI when it sends the line.
    "safety_answer": (
        "Safety plan for {name}. Emergency contact: {contact}. Location today: {location}."
    ),
    "safety_no_contact": "none on file",
    "safety_no_location": "not given yet",
    "safety_unavailable": (
        "I cannot read {name}'s safety plan now (the data key is not set, or the record is "
        "unreadable). Please use the console or your own records."
    ),
    "safety_no_member": "'{query}' is no member on the roster. Members: {names}.",
    "safety_console": "The console's Safety page shows the safety plan of every member.",
    "safety_refused": (
        "Sorry, {name}: the safety plan is only for a facilitator Zoom vouches for (host, "
        "co-host, or joined by their own registration link)."
    ),
}

#: The placeholders each line may use (an override may use any subset).
PLACEHOLDERS: Mapping[str, frozenset[str]] = {
    key: frozenset(name for _, name, _, _ in string.Formatter().parse(text) if name)
    for key, text in DEFAULT_MESSAGES.items()
}


@dataclass(frozen=True, slots=True)
class Messages:
    """The catalogue with a group's overrides applied.

    Args:
        overrides: key -> replacement line.

    Raises:
        AgendaError: an unknown key, an unknown placeholder or a malformed template.
    """

    overrides: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        clean: dict[str, str] = {}
        for key, text in self.overrides.items():
            if key not in DEFAULT_MESSAGES:
                known = ", ".join(sorted(DEFAULT_MESSAGES))
                raise AgendaError(f"agenda.messages.{key}: no such line (known: {known})")
            if not isinstance(text, str):
                raise AgendaError(f"agenda.messages.{key}: expected text")
            try:
                fields = [
                    (name, spec, conv) for _, name, spec, conv in string.Formatter().parse(text)
                ]
            except ValueError as bad:
                raise AgendaError(f"agenda.messages.{key}: malformed line ({bad})") from None
            for name, spec, conv in fields:
                if name is None:
                    continue
                if spec or conv:
                    raise AgendaError(
                        f"agenda.messages.{key}: write placeholders plainly, like {{{name}}}"
                    )
                if name not in PLACEHOLDERS[key]:
                    offered = ", ".join("{" + p + "}" for p in sorted(PLACEHOLDERS[key]))
                    raise AgendaError(
                        f"agenda.messages.{key}: placeholder {{{name}}} is not offered "
                        f"(this line offers: {offered or 'none'})"
                    )
            clean[key] = text
        object.__setattr__(self, "overrides", clean)

    def text(self, key: str, **values: object) -> str:
        """The line for `key` with `values` filled in."""
        template = self.overrides.get(key) or DEFAULT_MESSAGES[key]
        return template.format_map(_Blank(values))


class _Blank(dict[str, object]):
    """Fills a placeholder the caller did not supply with "" instead of raising."""

    def __missing__(self, key: str) -> str:
        return ""
