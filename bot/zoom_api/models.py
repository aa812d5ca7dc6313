"""Pydantic models of the Zoom REST responses the bot reads (typed data at the edge).

Only the fields we use are declared; Zoom adds fields often, so unknown ones are ignored.
Shapes follow Zoom's Meetings API reference (RIVET `meetings.d.ts`, see
`docs/zoom-setup.md`). Models are frozen: a response is a fact, not a working copy.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from storage.text import display_text

__all__ = [
    "AccessToken",
    "AddedRegistrant",
    "Meeting",
    "MeetingSettings",
    "PastParticipant",
    "PastParticipantsPage",
    "Registrant",
    "RegistrantsPage",
    "User",
    "UserToken",
]


#: what a person typed (a registrant's or a participant's name and e-mail): `storage.text`
ShownText = Annotated[str, AfterValidator(display_text)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class AccessToken(_Model):
    """`POST /oauth/token` (grant_type=account_credentials)."""

    access_token: str
    token_type: str = "bearer"
    expires_in: int = 3600
    scope: str = ""


class MeetingSettings(_Model):
    """The `settings` object of a meeting (only what `doctor` checks and fixes)."""

    waiting_room: bool = False
    join_before_host: bool = False
    auto_recording: str = "none"
    approval_type: int = 2
    registration_type: int | None = None
    mute_upon_entry: bool = False
    alternative_hosts: str = ""
    meeting_authentication: bool = False

    def alternative_host_emails(self) -> list[str]:
        """The alternative hosts, lower-case. Zoom's API documents them as semicolon-separated
        e-mails; older meetings and the web UI show commas, so both are read."""
        parts = self.alternative_hosts.replace(";", ",").split(",")
        return [part.strip().lower() for part in parts if part.strip()]


class Meeting(_Model):
    """`GET /meetings/{meetingId}`."""

    id: int
    uuid: str = ""
    topic: str = ""
    type: int = 2
    host_id: str = ""
    host_email: str = ""
    status: str = ""
    start_time: datetime | None = None
    timezone: str = ""
    password: str = ""
    join_url: str = ""
    settings: MeetingSettings = Field(default_factory=MeetingSettings)


class Registrant(_Model):
    """One entry of `GET /meetings/{meetingId}/registrants` (`id` is optional in Zoom's
    schema: "" when absent)."""

    id: str = ""
    email: ShownText
    first_name: ShownText = ""
    last_name: ShownText = ""
    status: str = "approved"
    join_url: str = ""


class RegistrantsPage(_Model):
    registrants: list[Registrant] = Field(default_factory=list)
    next_page_token: str = ""
    total_records: int = 0


class AddedRegistrant(_Model):
    """`POST /meetings/{meetingId}/registrants` (201)."""

    registrant_id: str
    id: int | None = None
    join_url: str = ""
    topic: str = ""


class PastParticipant(_Model):
    """One row of `GET /past_meetings/{meetingId}/participants` (one row per join session).

    `join_time` and `leave_time` are optional in Zoom's published schema: None when absent.
    """

    id: str = ""
    name: ShownText = ""
    user_id: str = ""
    registrant_id: str = ""
    user_email: ShownText = ""
    join_time: datetime | None = None
    leave_time: datetime | None = None
    duration: int = 0
    failover: bool = False
    status: str = ""
    internal_user: bool = False


class PastParticipantsPage(_Model):
    participants: list[PastParticipant] = Field(default_factory=list)
    next_page_token: str = ""
    total_records: int = 0


class User(_Model):
    """`GET /users/{userId}` (type 1 basic, 2 licensed, 4 unassigned without Meetings)."""

    id: str
    email: str = ""
    type: int = 1
    first_name: str = ""
    last_name: str = ""


class UserToken(_Model):
    """`GET /users/{userId}/token?type=zak`."""

    token: str
