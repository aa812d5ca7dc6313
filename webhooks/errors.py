"""Errors of the webhook edge: a request that is not from Zoom, or a body we cannot read.

    BalintError
    └── WebhookError
        ├── SignatureError   (401: missing headers, bad signature, stale or future timestamp)
        ├── JournalBusy      (503: the journal cannot take the delivery in time)
        └── PayloadError     (the body does not fit our models; still journaled if signed)
            └── NotJsonError (the body is not readable JSON; journaled as unparsed if signed)

Each carries a short machine-readable `reason` that is safe to log (never the payload).
"""

from __future__ import annotations

from phases.errors import BalintError

__all__ = ["JournalBusy", "NotJsonError", "PayloadError", "SignatureError", "WebhookError"]


class WebhookError(BalintError):
    """A webhook request was refused or could not be read.

    Args:
        reason: a short, payload-free explanation, safe for logs and metrics.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class SignatureError(WebhookError):
    """The request is not provably from Zoom (answered 401; nothing is stored)."""


class PayloadError(WebhookError):
    """The body is JSON but does not match the model of its event."""


class NotJsonError(PayloadError):
    """The body is not a JSON document we read (journaled as unparsed if signed)."""


class JournalBusy(WebhookError):
    """The journal cannot take a delivery in time (answered 503, so Zoom retries)."""
