"""The ids a process holds meeting leases under: `replica_owner`, `worker_owner`.

The receiver reports its replica's id as much as the workers hold leases under theirs, so
they live here, apart from the hooks that run meetings (`bot.service_hooks`): a receiver that
imported them from there loaded the engine, the runtime and APScheduler, which it never runs
(docs/benchmarks.md, "fourteenth round").
"""

from __future__ import annotations

import socket

from bot.config import Settings

__all__ = ["replica_owner", "worker_owner"]


def replica_owner(settings: Settings) -> str:
    """This replica's lease owner id: `serve:` + `[server] instance_id` (default the host name).

    Stable across restarts on purpose: a `serve` restarted after a crash holds the same id, so
    it takes its dead predecessor's leases back at once instead of waiting for them to expire.
    That is safe because each logged action is claimed (a compare-and-set) before it is carried
    out and a restarted runtime marks actions left `executing` as interrupted: an action is
    never carried out twice, whichever process of the same id gets to it. Two replicas must
    have different ids (they then exclude each other by the lease).
    """
    return f"serve:{settings.server.instance_id or socket.gethostname()}"


def worker_owner(settings: Settings, index: int, count: int) -> str:
    """The lease owner id of meeting worker `index` of `count`: the replica's with one
    worker, and the replica's + `:w<index>` with several."""
    replica = replica_owner(settings)
    return replica if count == 1 else f"{replica}:w{index}"
