"""`shard_of`: which of a replica's meeting worker processes steps a meeting.

The receiver needs it (it routes each notice to its meeting's worker) as much as the workers
do; it lives apart from `bot.runtime.worker` so that the receiver does not import the
runtime, the engine and APScheduler, which it never runs (docs/benchmarks.md, "fourteenth
round").
"""

from __future__ import annotations

import zlib

__all__ = ["shard_of"]


def shard_of(meeting_uuid: str, count: int) -> int:
    """Which of `count` worker processes steps `meeting_uuid`: the same answer in every
    process and replica (CRC-32 of the uuid, not Python's salted `hash`)."""
    return zlib.crc32(meeting_uuid.encode("utf-8", "surrogatepass")) % count
