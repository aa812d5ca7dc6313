"""The join process's doorbell on SQLite: `serve` tells its SDK bot of each journaled webhook.

In `sdk` mode `serve` journals the webhooks and the meeting runs in the `balint-bot join`
process its supervisor starts (`bot.meeting.supervisor`). Some of what the engine needs
comes only by webhook: the Meeting SDK's bindings show a display name, its own ids, the
role and whether someone called in, but not the registrant id or the signed-in e-mail that
say who a member is (`docs/identity.md`). On PostgreSQL the journal's `NOTIFY` wakes the join
process at once (`bot.runtime.worker.journal_notices`); on SQLite it heard of a webhook only
at its next sweep, up to two seconds later, while a member Zoom vouches for waited in the
waiting room.

So on SQLite the supervisor makes a pair of connected sockets for each join process it
starts (`open`; Unix sequenced packets: each ring one message, and the child reads the end of
the file when `serve` is gone), hands one end to the child (`--doorbell-fd N`), and `serve`'s
receiver rings the other after each journal commit (`ring`: the meeting's uuid, one
message). The join process wakes its worker for it (`listen`); the worker drops a uuid of
another meeting number. A ring never blocks the acknowledgement and may be lost (the
child is busy and its queue is full, or it is restarting): the sweep stays the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

__all__ = ["ALL", "JoinDoorbell", "listen"]

_log = logging.getLogger(__name__)

#: what is rung for a webhook of no meeting: the worker sweeps everything it holds
ALL = b"*"
#: a meeting uuid is at most 128 characters in the journal; room to spare
_MAX_MESSAGE = 1024


class JoinDoorbell:
    """The receiver's end of one join process's doorbell (`open` once per process started)."""

    def __init__(self) -> None:
        self._ours: socket.socket | None = None

    def open(self) -> socket.socket:
        """A new pair for a join process about to start: returns the child's end (the caller
        passes its descriptor to the child and closes it once the child has it); the
        previous process's pair, if any, is closed."""
        self.close()
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ours.setblocking(False)
        self._ours = ours
        return theirs

    def ring(self, meeting_uuid: str | None) -> None:
        """Tell the join process of a journaled webhook; never blocks, never raises."""
        ours = self._ours
        if ours is None:
            return
        message = ALL if meeting_uuid is None else meeting_uuid.encode("utf-8", "replace")
        with contextlib.suppress(OSError):  # full, or nobody listening: the sweep catches up
            ours.send(message[:_MAX_MESSAGE], socket.MSG_NOSIGNAL)

    def close(self) -> None:
        if self._ours is not None:
            self._ours.close()
            self._ours = None


def listen(fd: int, wake: Callable[[str | None], None]) -> asyncio.Task[None]:
    """In the join process: a task that calls `wake` with each uuid rung on descriptor `fd`
    (None for `ALL`), until it is cancelled."""
    return asyncio.create_task(_listen(fd, wake), name="balint-join-doorbell")


async def _listen(fd: int, wake: Callable[[str | None], None]) -> None:
    bell = socket.socket(fileno=fd)
    bell.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        while True:
            message = await loop.sock_recv(bell, _MAX_MESSAGE)
            if not message:  # the end of the file: serve is gone
                _log.warning("the doorbell from serve closed; the sweep alone remains")
                return
            wake(None if message == ALL else message.decode("utf-8", "replace"))
    finally:
        bell.close()
