"""Registering roster members on the meeting (`balint-bot registrants sync`).

With registration required and approved automatically, each member gets a personal join
link and Zoom's participant events carry their `registrant_id`, which is how attendance
matches members who show only a first name. The sync lists the meeting's registrants once,
adds only the members whose e-mail is not there (Zoom limits adding the same registrant to 3
a day), and reports who was added, who already was, and who failed and why. One failure
does not stop the others. E-mail addresses are never logged.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.zoom_api.client import ZoomClient
from bot.zoom_api.errors import ZoomApiError, ZoomAuthError, ZoomRateLimited
from bot.zoom_api.models import Registrant

__all__ = ["Member", "Outcome", "SyncReport", "sync_registrants"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A roster member as registration needs them."""

    first_name: str
    last_name: str = ""
    display_name: str = ""
    email: str = ""
    member_id: int | None = None

    @property
    def label(self) -> str:
        return self.display_name or self.first_name


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    member: Member
    registrant_id: str = ""
    join_url: str = ""
    error: str = ""


@dataclass(slots=True)
class SyncReport:
    """What `sync_registrants` did, member by member."""

    added: list[Outcome] = field(default_factory=list)
    already: list[Outcome] = field(default_factory=list)
    failed: list[Outcome] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed


async def sync_registrants(
    client: ZoomClient, meeting_id: str, members: Sequence[Member]
) -> SyncReport:
    """Register every member with an e-mail who is not registered yet.

    Raises:
        ZoomApiError: the registrant list could not be read (nothing was added), or the
            credentials or daily limit stopped the run part-way (then nothing more can work).
    """
    existing = {r.email.strip().lower(): r for r in await client.list_registrants(meeting_id)}
    report = SyncReport()
    for member in members:
        email = member.email.strip().lower()
        if not email:
            report.failed.append(
                Outcome(member=member, error="no e-mail on the roster (Zoom registers by e-mail)")
            )
            continue
        if email in existing:
            found = existing[email]
            report.already.append(
                Outcome(member=member, registrant_id=found.id, join_url=found.join_url)
            )
            continue
        try:
            added = await client.add_registrant(
                meeting_id,
                email=member.email.strip(),
                first_name=member.first_name or member.display_name,
                last_name=member.last_name,
            )
        except (ZoomAuthError, ZoomRateLimited):
            raise
        except ZoomApiError as refused:
            logger.warning("registering one member failed: %s", refused.message)
            report.failed.append(Outcome(member=member, error=refused.message))
            continue
        # A roster listing the same e-mail twice registers it once.
        existing[email] = Registrant(id=added.registrant_id, email=email, join_url=added.join_url)
        report.added.append(
            Outcome(member=member, registrant_id=added.registrant_id, join_url=added.join_url)
        )
    logger.info(
        "registrants sync: %d added, %d already, %d failed",
        len(report.added),
        len(report.already),
        len(report.failed),
    )
    return report
