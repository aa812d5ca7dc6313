"""The line protocol between `serve`'s receiver and each of its meeting worker processes.

One connected local socket per worker (`socket.socketpair`, inherited by the worker as a file
descriptor), one message per line, UTF-8 JSON objects both ways:

- receiver -> worker: `{"meeting": UUID}` (something was journaled for that meeting: step it
  now) or `{"meeting": null}` (sweep everything with work);
- worker -> receiver: `{"status": {"running": .., "stalled": .., "scheduler": ..}}` at least
  every `HEARTBEAT_SECONDS` (and at once when it changes), `{"lag": SECONDS}` and
  `{"action": [KIND, RESULT]}` for the receiver's `/metrics`.

The socket is also how each side learns the other is gone: the worker reads end-of-file when
the receiver dies (even by `kill -9`) and stops, so no worker outlives its receiver; the
receiver reads end-of-file when a worker dies and starts another. Nothing here is PHI: a
meeting uuid, counts and action kinds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

__all__ = [
    "HEARTBEAT_SECONDS",
    "MAX_LINE",
    "Status",
    "action_line",
    "lag_line",
    "notice_line",
    "read_message",
    "status_line",
]

#: Longest between two status lines from a worker; three missed ones and it counts as hung.
HEARTBEAT_SECONDS = 1.0
#: Longest line either side accepts; a longer one is a bug, and the line is skipped.
MAX_LINE = 4096


@dataclass(frozen=True, slots=True)
class Status:
    """What a worker says of itself: its pump runs, no database call overran, its doorbell runs."""

    running: bool
    stalled: bool
    scheduler: bool


def notice_line(meeting_uuid: str | None) -> bytes:
    return json.dumps({"meeting": meeting_uuid}).encode("utf-8") + b"\n"


def status_line(status: Status) -> bytes:
    values = {"running": status.running, "stalled": status.stalled, "scheduler": status.scheduler}
    return json.dumps({"status": values}).encode("utf-8") + b"\n"


def lag_line(seconds: float) -> bytes:
    return json.dumps({"lag": seconds}).encode("utf-8") + b"\n"


def action_line(kind: str, result: str) -> bytes:
    return json.dumps({"action": [kind, result]}).encode("utf-8") + b"\n"


def read_message(line: bytes) -> dict[str, Any] | None:
    """The message on one line, or None if it is not one (then it is skipped)."""
    try:
        message = json.loads(line)
    except ValueError:
        return None
    return message if isinstance(message, dict) else None
