"""The one root exception of balint-bot, and the errors of the pure core.

Every error the project raises on purpose derives from `BalintError`, so a caller (the CLI,
the webhook receiver) can catch ours apart from bugs. It lives here, in the pure package,
because every other package may import `phases` and `phases` may import no other.
"""

from __future__ import annotations

__all__ = ["AgendaError", "BalintError", "StateError"]


class BalintError(Exception):
    """Root of every error balint-bot raises deliberately."""


class AgendaError(BalintError):
    """An agenda or roster given to the engine is inconsistent (for example a negative length)."""


class StateError(BalintError):
    """A serialised session state cannot be read back (corrupt, or another format)."""
