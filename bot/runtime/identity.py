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
source's event lacks it, so the engine's view of who someone is does not flip; what the
participant itself says (signed in, a telephone caller) is passed on as it came, and the
engine keeps what it knew (`phases.engine`: an unvouched e-mail never replaces a vouched one).

A display name is typed by whoever joins, so a link made by the name alone never carries
evidence (a registrant id, a vouched e-mail, a Zoom role, a facilitator's `/admit ... as`)
from one identity to the other. Such a link is made only while neither side has any; when
one side has some, the other is a person of their own (a second live person with the same
name, whom the engine holds as a duplicate until a facilitator decides). A link made before
any evidence came apart as soon as some comes, through either side: from then on the
name-linked identity has its own key, `<source>:<its first id>`, and the executor never
reaches a person through ids that were linked to them by name (`aliases`), nor admits
someone whose identity rests on more than their name by that name (`by_id_only`). The race this
closes: Helen's webhook (her registrant id) is processed, and before the SDK bot sees her a
stranger showing exactly "Helen" appears to it; linked by name, the stranger would have been
Helen, let in and obeyed. What it costs when Zoom's ids of the two sources do not agree
(`id_report`): the real Helen's SDK view is then a second "Helen" too (see
docs/identity.md).

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

from phases.events import ChatMessage, Participant, ZoomRole
from phases.state import Person
from storage.person_keys import CommandSeen, PersonId

__all__ = [
    "COMMAND_WINDOW",
    "Identities",
    "Source",
    "aliases",
    "by_id_only",
    "id_report",
    "match_command",
]

Source = Literal["webhook", "sdk"]
"""Where an event comes from: the journal (Zoom's webhooks, and the console's commands,
`bot.runtime.inbox`, whose `TrustedCommand` names no Zoom participant) or the SDK bot."""

#: How far apart the two sources' copies of one command may be.
COMMAND_WINDOW = timedelta(seconds=60)

_STABLE: dict[str, str] = {"webhook": "participant_uuid", "sdk": "persistent_id"}
_USER: dict[str, str] = {"webhook": "webhook_user_id", "sdk": "sdk_user_id"}
_OTHER: dict[str, Source] = {"webhook": "sdk", "sdk": "webhook"}


def _fold(name: str) -> str:
    return " ".join(name.split()).casefold()


#: `linked_by` of a link by the display name alone; `name:<role>` when both sides had that
#: Zoom role (the host, whom a meeting has once, is both sources' host).
_BY_NAME = "name"
#: A person's evidence of who they are besides the name and the role (`phases.identity`):
#: vouched by Zoom, or a facilitator's word.
_VOUCHED = frozenset({"registrant", "email", "confirmed"})


def _vouched(person: Person | None) -> bool:
    """The engine's record says more than a name: a registrant id, a vouched e-mail, or an
    identity vouched for (`_VOUCHED`)."""
    return person is not None and (
        bool(person.registrant_id)
        or (person.signed_in and bool(person.email.strip()))
        or person.evidence in _VOUCHED
    )


def _vouches(participant: Participant) -> bool:
    """This event says more about its participant than a name (see `_vouched`)."""
    return bool(participant.registrant_id) or (
        participant.signed_in and bool(participant.email.strip())
    )


def _name_link(role: ZoomRole) -> str:
    return _BY_NAME if role is ZoomRole.ATTENDEE else f"{_BY_NAME}:{role.value}"


def _link_role(linked_by: str) -> ZoomRole | None:
    """The Zoom role a link by name was made under; None for a link that is not by name."""
    if linked_by == _BY_NAME:
        return ZoomRole.ATTENDEE
    if linked_by.startswith(f"{_BY_NAME}:"):
        try:
            return ZoomRole(linked_by.removeprefix(f"{_BY_NAME}:"))
        except ValueError:
            return ZoomRole.ATTENDEE
    return None


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
        self._linked_by: dict[tuple[str, str], str] = {}
        self._kinds: dict[str, set[str]] = {}
        self._people = people
        #: ids first seen in this step, to record
        self.new: list[PersonId] = []
        for person_id in known:
            self._remember(person_id)

    def _remember(self, person_id: PersonId) -> None:
        self._by_id[(person_id.kind, person_id.value)] = person_id.person_key
        self._linked_by[(person_id.kind, person_id.value)] = person_id.linked_by
        self._kinds.setdefault(person_id.person_key, set()).add(person_id.kind)

    def set_people(self, people: Mapping[str, Person]) -> None:
        """The engine's people after a step (names of people who joined meanwhile)."""
        self._people = people

    def person(
        self, participant: Participant, source: Source, *, role: ZoomRole | None = None
    ) -> Participant:
        """`participant` as the meeting's person: keyed by their person key, with evidence
        the other source gave kept (never through a link made by the name alone).

        Args:
            participant: as the event names them.
            source: where the event comes from.
            role: the Zoom role the event gives them (a join, a role change), if any.
        """
        ids = ids_of(participant, source)
        apart = self._apart(participant, ids, source, role)
        if apart:
            return replace(participant, key=apart)
        key, how = self._find(participant, ids, source, role)
        for kind, value in ids:
            if (kind, value) not in self._by_id:
                found = PersonId(kind=kind, value=value, person_key=key, linked_by=how)
                self._remember(found)
                self.new.append(found)
        known = self._people.get(key)
        if known is None:
            return replace(participant, key=key)
        # An e-mail kept from before is not one this event vouches for (`signed_in`).
        kept = known.email if not participant.signed_in else ""
        return replace(
            participant,
            key=key,
            email=participant.email or kept,
            registrant_id=participant.registrant_id or known.registrant_id,
        )

    def _apart(
        self,
        participant: Participant,
        ids: Sequence[tuple[str, str]],
        source: Source,
        role: ZoomRole | None,
    ) -> str:
        """The key of their own for an identity linked to its person by the name alone,
        once the two sides no longer say the same (see the module docstring); "" if none.

        Apart when: it was apart before (the engine knows that key); this event or the
        person brings evidence (a registrant id, a vouched e-mail, a facilitator's word);
        this event states a Zoom role the person does not have; or the person's role is no
        longer the one the link was made under (it came through the other identity).
        """
        known = [kind_value for kind_value in ids if kind_value in self._by_id]
        roles = [_link_role(self._linked_by[kind_value]) for kind_value in known]
        if not known or None in roles:
            return ""
        apart = f"{source}:{known[0][1]}"
        person = self._people.get(self._by_id[known[0]])
        current = person.zoom_role if person is not None else ZoomRole.ATTENDEE
        if (
            apart in self._people
            or _vouches(participant)
            or _vouched(person)
            or (role is not None and role is not current)
            or (role is None and current is not roles[0])
        ):
            return apart
        return ""

    def _find(
        self,
        participant: Participant,
        ids: Sequence[tuple[str, str]],
        source: Source,
        role: ZoomRole | None = None,
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
        # By the name alone only when that carries nothing from one to the other: neither
        # side vouched for, the same Zoom role. Else a second live person of that name,
        # kept apart (the engine holds them as a duplicate).
        if len(by_name) == 1 and _fold(participant.name):
            named = self._people[by_name[0]]
            stated = role if role is not None else ZoomRole.ATTENDEE
            if not _vouches(participant) and not _vouched(named) and stated is named.zoom_role:
                return by_name[0], _name_link(stated)
        key = ids[0][1] if ids else participant.key
        if key in self._kinds or key in self._people:  # taken by someone else's id: qualify
            key = f"{source}:{key}"
        return key, "first"

    def _named(self, person_key: str, name: str) -> bool:
        person = self._people.get(person_key)
        return person is not None and _fold(person.name) == _fold(name)


def aliases(known: Iterable[PersonId]) -> dict[str, tuple[str, ...]]:
    """Person key -> the ids recorded for them (for `bot.meeting.executor.execute`), except
    ids linked to them by the name alone: an action for Helen must never reach whoever else
    showed "Helen" (the executor then finds them by their user id or, if unique, by name)."""
    found: dict[str, list[str]] = {}
    for person_id in known:
        if _link_role(person_id.linked_by) is not None:
            continue
        found.setdefault(person_id.person_key, []).append(person_id.value)
    return {key: tuple(values) for key, values in found.items()}


def by_id_only(people: Mapping[str, Person]) -> frozenset[str]:
    """The person keys Zoom must find by an id to admit them, never by their display name
    (`bot.meeting.executor`): everyone whose identity or rights rest on more than the name
    (a registrant id, a vouched e-mail, a facilitator's word, a Zoom role)."""
    return frozenset(
        key
        for key, person in people.items()
        if _vouched(person) or person.zoom_role is not ZoomRole.ATTENDEE or person.is_facilitator
    )


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
        by_name += _link_role(person_id.linked_by) is not None
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
    chat: ChatMessage,
    *,
    source: Source,
    at: datetime,
    seen: Sequence[CommandSeen],
    names: Mapping[str, str] | None = None,
) -> tuple[ChatMessage, CommandSeen | None, CommandSeen | None]:
    """Run a command once whichever source delivers it first (see the module docstring).

    `chat.sender` must already carry the person key. Returns the message to feed (with the
    first delivery's message id when this one is its copy), this delivery's record to store
    (None for a line that is not a command, or has no message id) and the earlier record it
    matched (to mark), if any.

    `names` (person key -> display name of the people with a facilitator's rights) lets a
    copy be matched across two person keys of the same name when both have those rights:
    one co-host whose two sources' identities are kept apart (a link by name would have
    carried the role) still has each line run once. Nobody else's line is matched across
    keys: a stranger showing "Helen" who types Helen's command first must not make Helen's
    copy look like a repeat of their own refused one.
    """
    if not _is_command(chat.text) or not chat.message_id:
        return chat, None, None
    digest = hashlib.sha256(" ".join(chat.text.split()).encode()).hexdigest()
    named = names or {}
    shown = _fold(chat.sender.name) if chat.sender.key in named else ""

    def same_sender(key: str) -> bool:
        return key == chat.sender.key or (bool(shown) and _fold(named.get(key, "")) == shown)

    twin = next(
        (
            earlier
            for earlier in seen
            if earlier.source != source
            and not earlier.matched
            and same_sender(earlier.person_key)
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
