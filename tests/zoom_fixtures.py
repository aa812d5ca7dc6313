"""Recorded (constructed) Zoom webhook bodies from `tests/fixtures/zoom/webhooks/`.

Each `<event>.json` holds a JSON array of complete request bodies (see the provenance notes in
the shared payload README). `load_event` goes through the production `parse_event`, so a
fixture and a live request become the same object.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from webhooks.models import ZoomEvent
from webhooks.parse import parse_event

__all__ = ["FIXTURES", "all_bodies", "body", "documents", "event_names", "load_event"]

FIXTURES = Path(__file__).parent / "fixtures" / "zoom" / "webhooks"


def event_names() -> list[str]:
    """Every event with a fixture file, sorted."""
    return sorted(path.stem for path in FIXTURES.glob("*.json"))


def documents(event: str) -> list[dict[str, Any]]:
    """The request bodies of `event`, decoded."""
    loaded: list[dict[str, Any]] = json.loads((FIXTURES / f"{event}.json").read_text("utf-8"))
    return loaded


def body(event: str, index: int = 0) -> bytes:
    """One request body of `event` as the bytes Zoom would send."""
    return json.dumps(documents(event)[index]).encode()


def all_bodies() -> list[tuple[str, int]]:
    """(event, index) for every recorded body."""
    return [(name, i) for name in event_names() for i in range(len(documents(name)))]


def load_event(event: str, index: int = 0) -> ZoomEvent:
    """A recorded body parsed by the production parser."""
    return parse_event(body(event, index))
