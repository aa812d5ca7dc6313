"""One person key per participant across Zoom's two sources, and each command run once.

A participant reaches the runtime by webhook (`participant_uuid`, per-join `user_id`; a chat
line only by `sender_session_id`, which looks like the user id) and from the SDK bot in the
meeting (`GetPersistentId()`, the SDK's per-join user id). Zoom does not document whether
these agree, so the runtime never assumes it: each engine event's participant is mapped to
the meeting's person key before the engine sees it, and every id is recorded beside the
others (`storage.person_keys`), so a live run shows which ids agree.

An incoming participant is the person who already has one of its ids; else the person the
other source knows under the same user id *and* the same name (ids of two sources could
collide by chance, names make it safe); else the one person present under that display
name who has no other stable id from this source (a chat line carries no stable id, only a
user id, so a facilitator's command is theirs by name when the id is new); else a new
person, keyed by the id it came with.
Evidence only one source carries (e-mail, registrant id: webhooks) is kept when the other
source's event lacks it, so the engine's view of who someone is does not flip.

Commands: the engine runs a chat message id once, but the webhook's and the SDK's message ids
for one line may differ. A command from one source is therefore matched with the same
person's same text from the other source within `COMMAND_WINDOW`, one to one (a facilitator
who types `/next` twice gets two, whichever source reports them first), and the second
delivery takes the first one's message id, so the engine drops it. Only a hash of the
command's text is stored.

Pure apart from the rows the caller loads and saves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal

from phases.events import ChatMessage, Participant
from phases.state import Person
from storage.person_keys import CommandSeen, PersonId

__all__ = ["COMMAND_WINDOW", "Identities", "Source", "aliases", "id_report", "match_command"]

Source = Literal["webhook", "sdk", "trusted"]
"""Where an event comes from: a webhook, the SDK bot, or another trusted source whose
commands name people by their person key already (`MeetingRuntime.feed_command`)."""

#: How far apart the two sources' copies of one command may be.
COMMAND_WINDOW = timedelta(seconds=60)

_STABLE: dict[str, str] = {"webhook": "participant_uuid", "sdk": "persistent_id"}
_USER: dict[str, str] = {"webhook": "webhook_user_id", "sdk": "sdk_user_id"}
_OTHER: dict[str, Source] = {"webhook": "sdk", "sdk": "webhook"}
# A trusted source's people are person keys already: `Identities.person` is not asked.


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


def ids_of(participant: Participant, source: Source) -> list[tuple[str, str]]:
    """The (kind, value) ids a source's participant carries, the stable one first."""
    ids: list[tuple[str, str]] = []
    stable = participant.key
    if stable and stable != participant.user_id and not stable.startswith("sdk-"):
        ids.append((_STABLE[source], stable))
    if participant.user_id:
        ids.append((_USER[source], participant.user_id))
    return ids


class Identities:
    """The person keys of one meeting during one runtime step.

    Args:
        known: the ids recorded so far.
        people: the engine state's people (person key -> `Person`), for names and evidence.
    """

    def __init__(self, known: Iterable[PersonId], people: Mapping[str, Person]) -> None:
        self._by_id: dict[tuple[str, str], str] = {}
        self._kinds: dict[str, set[str]] = {}
        self._people = people
        #: ids first seen in this step, to record
        self.new: list[PersonId] = []
        for person_id in known:
            self._remember(person_id)

    def _remember(self, person_id: PersonId) -> None:
        self._by_id[(person_id.kind, person_id.value)] = person_id.person_key
        self._kinds.setdefault(person_id.person_key, set()).add(person_id.kind)

    def set_people(self, people: Mapping[str, Person]) -> None:
        """The engine's people after a step (names of people who joined meanwhile)."""
        self._people = people

    def person(self, participant: Participant, source: Source) -> Participant:
        """`participant` as the meeting's person: keyed by their person key, with evidence
        the other source gave kept."""
        ids = ids_of(participant, source)
        key, how = self._find(participant, ids, source)
        for kind, value in ids:
            if (kind, value) not in self._by_id:
                found = PersonId(kind=kind, value=value, person_key=key, linked_by=how)
                self._remember(found)
                self.new.append(found)
        known = self._people.get(key)
        return Participant(
            key=key,
            user_id=participant.user_id,
            name=participant.name,
            email=participant.email or (known.email if known is not None else ""),
            registrant_id=participant.registrant_id
            or (known.registrant_id if known is not None else ""),
        )

    def _find(
        self, participant: Participant, ids: Sequence[tuple[str, str]], source: Source
    ) -> tuple[str, str]:
        for kind_value in ids:
            if kind_value in self._by_id:
                return self._by_id[kind_value], "same_id"
        other = _OTHER[source]
        stable = participant.key
        if stable in self._people and stable not in self._kinds:
            return stable, "same_id"  # the engine knows them by this very key already
        if (_STABLE[other], stable) in self._by_id:
            return self._by_id[(_STABLE[other], stable)], "same_id"
        same_user = self._by_id.get((_USER[other], participant.user_id))
        if same_user is not None and self._named(same_user, participant.name):
            return same_user, "user_id"
        # Someone who already has another stable id of this source is someone else; a
        # user id of this source says nothing (rejoins, chat senders carry new ones).
        has_stable = bool(ids) and ids[0][0] == _STABLE[source]
        mine = {_STABLE[source]} if has_stable else set()
        by_name = [
            person.key
            for person in self._people.values()
            if person.where != "gone"
            and _fold(person.name) == _fold(participant.name)
            and not (self._kinds.get(person.key, set()) & mine)
        ]
        if len(by_name) == 1 and _fold(participant.name):
            return by_name[0], "name"
        key = ids[0][1] if ids else participant.key
        if key in self._kinds or key in self._people:  # taken by someone else's id: qualify
            key = f"{source}:{key}"
        return key, "first"

    def _named(self, person_key: str, name: str) -> bool:
        person = self._people.get(person_key)
        return person is not None and _fold(person.name) == _fold(name)


def aliases(known: Iterable[PersonId]) -> dict[str, tuple[str, ...]]:
    """Person key -> every id recorded for them (for `bot.meeting.executor.execute`)."""
    found: dict[str, list[str]] = {}
    for person_id in known:
        found.setdefault(person_id.person_key, []).append(person_id.value)
    return {key: tuple(values) for key, values in found.items()}


def id_report(known: Iterable[PersonId]) -> dict[str, int]:
    """How the two sources' ids compared in one meeting (logged when it ends).

    `both_sources`: people seen by webhook and SDK; `uuid_is_persistent_id`: of those, how
    many had participant uuid = persistent id; `user_ids_agree`: had a webhook user id equal
    to an SDK user id; `linked_by_name`: linked only by their display name.
    """
    people: dict[str, dict[str, set[str]]] = {}
    by_name = 0
    for person_id in known:
        people.setdefault(person_id.person_key, {}).setdefault(person_id.kind, set()).add(
            person_id.value
        )
        by_name += person_id.linked_by == "name"
    both = [
        kinds
        for kinds in people.values()
        if {"participant_uuid", "webhook_user_id"} & set(kinds)
        and {"persistent_id", "sdk_user_id"} & set(kinds)
    ]
    return {
        "people": len(people),
        "both_sources": len(both),
        "uuid_is_persistent_id": sum(
            bool(k.get("participant_uuid", set()) & k.get("persistent_id", set())) for k in both
        ),
        "user_ids_agree": sum(
            bool(k.get("webhook_user_id", set()) & k.get("sdk_user_id", set())) for k in both
        ),
        "linked_by_name": by_name,
    }


def _is_command(text: str) -> bool:
    return text.lstrip().startswith("/")


def match_command(
    chat: ChatMessage, *, source: Source, at: datetime, seen: Sequence[CommandSeen]
) -> tuple[ChatMessage, CommandSeen | None, CommandSeen | None]:
    """Run a command once whichever source delivers it first (see the module docstring).

    `chat.sender` must already carry the person key. Returns the message to feed (with the
    first delivery's message id when this one is its copy), this delivery's record to store
    (None for a line that is not a command, or has no message id) and the earlier record it
    matched (to mark), if any.
    """
    if not _is_command(chat.text) or not chat.message_id:
        return chat, None, None
    digest = hashlib.sha256(" ".join(chat.text.split()).encode()).hexdigest()
    twin = next(
        (
            earlier
            for earlier in seen
            if earlier.source != source
            and not earlier.matched
            and earlier.person_key == chat.sender.key
            and earlier.text_hash == digest
            and abs(at - earlier.seen_at) <= COMMAND_WINDOW
        ),
        None,
    )
    record = CommandSeen(
        source=source,
        message_id=chat.message_id,
        person_key=chat.sender.key,
        text_hash=digest,
        seen_at=at,
        matched=twin.message_id if twin is not None else "",
    )
    if twin is None:
        return chat, record, None
    return replace(chat, message_id=twin.message_id), record, twin
