"""`phases.identity`: who a participant is, from what Zoom says about them (issue 13)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phases.events import Participant
from phases.identity import EVIDENCE_RANK, canonical_name, find_entries, resolve, vouched_email
from phases.roster import RosterEntry

ROSTER = (
    RosterEntry(
        display_name="Helen",
        role="facilitator",
        first_name="Helen",
        last_name="Okafor",
        email="helen@example.org",
        registrant_id="reg-helen",
    ),
    RosterEntry(display_name="Fay", role="facilitator", first_name="Fay", last_name="Moreau"),
    RosterEntry(display_name="Maya", role="facilitator", first_name="Maya", last_name="Reyes"),
    RosterEntry(display_name="Chloe", first_name="Chloé", last_name="Martin"),
    RosterEntry(display_name="Anna", first_name="Anna", last_name="Smith"),
    RosterEntry(display_name="Ana Maria", first_name="Ana Maria", last_name="Lopez"),
    RosterEntry(display_name="Sam K.", first_name="Sam", last_name="Kim"),
    RosterEntry(display_name="Sam L.", first_name="Sam", last_name="Kim"),
)


def who(name: str, **extra: object) -> Participant:
    return Participant(key="k", user_id="u", name=name, **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Dr. Maya Reyes", "maya reyes"),
        ("Dr Chloe", "chloe"),
        ("DR. ANNA SMITH, MD", "anna smith"),
        ("Prof. Zoë O'Brien-Smith (she/her)", "zoe o brien smith"),
        ("Anna Smith M.D.", "anna smith"),
        ("Anna Smith Ph.D.", "anna smith"),
        ("Anna (Toronto)", "anna toronto"),  # only a pronoun note is dropped
        ("\U0001f600\U0001f600", ""),
        ("   ", ""),
        ("Dr.", ""),
        ("Anna\u200bSmith", "anna smith"),
    ],
)
def test_canonical_name(raw, folded):
    assert canonical_name(raw) == folded


@pytest.mark.parametrize(
    ("name", "extra", "roster_name", "evidence"),
    [
        # Strongest first: the registrant id wins over any name.
        ("Whoever", {"registrant_id": "reg-helen"}, "Helen", "registrant"),
        # A signed-in participant's e-mail is vouched for by Zoom ...
        ("Whoever", {"email": " HELEN@example.org ", "signed_in": True}, "Helen", "email"),
        # ... an e-mail from someone not signed in is not.
        ("Whoever", {"email": "helen@example.org"}, None, ""),
        # The display name as on the roster (case, accents, titles do not matter).
        ("helen", {}, "Helen", "display_name"),
        ("Dr Chloe", {}, "Chloe", "display_name"),
        ("CHLOÉ", {}, "Chloe", "display_name"),
        # The full name, titles and credentials dropped.
        ("Dr. Maya Reyes", {}, "Maya", "full_name"),
        ("Dr. Anna Smith", {}, "Anna", "full_name"),
        ("Chloé Martin, MD", {}, "Chloe", "full_name"),
        # Never the first word alone.
        ("Helen Visitor", {}, None, ""),
        ("Fay Impostor", {}, None, ""),
        ("Anna S.", {}, None, ""),
        # A name fitting two roster lines matches neither.
        ("Sam Kim", {}, None, ""),
        # A phone caller is never matched by name, even an exact one ...
        ("Anna", {"phone": True}, None, ""),
        # ... but Zoom's registrant id still counts for one.
        ("416****142", {"phone": True, "registrant_id": "reg-helen"}, "Helen", "registrant"),
        # An unknown registrant id and an unvouched e-mail fall through to the name.
        ("Anna", {"registrant_id": "reg-unknown", "email": "x@y.z"}, "Anna", "display_name"),
        ("", {}, None, ""),
        ("\U0001f600", {}, None, ""),
        ("A" * 500, {}, None, ""),
    ],
)
def test_resolve(name, extra, roster_name, evidence):
    found = resolve(ROSTER, who(name, **extra))
    assert (found.entry.display_name if found.entry else None) == roster_name
    assert found.evidence == evidence


def test_a_near_miss_gives_the_facilitators_a_hint_never_a_match():
    found = resolve(ROSTER, who("Helen Visitor"))
    assert found.entry is None and not found.ambiguous
    assert [e.display_name for e in found.likely] == ["Helen"]
    twice = resolve(ROSTER, who("Sam Kim"))
    assert twice.ambiguous and [e.display_name for e in twice.likely] == ["Sam K.", "Sam L."]
    assert resolve(ROSTER, who("Zed Quux")).likely == ()


def test_duplicate_roster_names_match_nobody():
    twice = (RosterEntry(display_name="Kim"), RosterEntry(display_name="kim"))
    found = resolve(twice, who("Kim"))
    assert found.entry is None and found.ambiguous


def test_only_a_signed_in_email_is_vouched():
    assert vouched_email(who("A", email=" A@B.org ", signed_in=True)) == "a@b.org"
    assert vouched_email(who("A", email="a@b.org")) == ""


def test_evidence_ranks_strongest_first():
    order = ["registrant", "email", "confirmed", "display_name", ""]
    ranks = [EVIDENCE_RANK[e] for e in order]
    assert ranks == sorted(ranks, reverse=True) and EVIDENCE_RANK["full_name"] == 2


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Anna", ["Anna"]),
        ("anna smith", ["Anna"]),
        ("Maya R", ["Maya"]),
        ("sam", ["Sam K.", "Sam L."]),
        ("sam k.", ["Sam K."]),
        ("nobody", []),
        ("", []),
    ],
)
def test_find_entries_for_admit_as(query, expected):
    assert [e.display_name for e in find_entries(ROSTER, query)] == expected


@given(
    name=st.text(max_size=600),
    email=st.text(max_size=40),
    registrant=st.text(max_size=20),
    signed_in=st.booleans(),
    phone=st.booleans(),
)
def test_resolve_never_raises(name, email, registrant, signed_in, phone):
    found = resolve(
        ROSTER,
        who(name, email=email, registrant_id=registrant, signed_in=signed_in, phone=phone),
    )
    assert (found.entry is None) == (found.evidence == "")
