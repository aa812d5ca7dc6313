"""`ZoomClient`: the async Zoom REST client the bot uses before, during and after a meeting.

A thin I/O shell (the gidgethub `httpx.py` idea) over the pure `wire` rules and the bounded
`retry` loop. It runs on an injected `httpx.AsyncClient` and sends every request with an
explicit `httpx.Timeout`. A 401 renews the S2S token once and tries again; a second 401 is a
`ZoomAuthError`. REST cannot admit, hold, mute or chat in a live meeting (that is the SDK
bot's job); it sets the meeting up, registers members, fetches the bot user's ZAK, stops a
cloud recording, ends a meeting and reads the participant report afterwards.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from bot.config import Settings
from bot.zoom_api.auth import ServerToServerAuth, TokenSource
from bot.zoom_api.errors import ZoomApiError, ZoomAuthError
from bot.zoom_api.models import (
    AddedRegistrant,
    Meeting,
    PastParticipant,
    PastParticipantsPage,
    Registrant,
    RegistrantsPage,
    User,
    UserToken,
)
from bot.zoom_api.retry import RetryPolicy, Sleep, call_with_retries
from storage.clock import Clock, system_clock

__all__ = ["DEFAULT_TIMEOUT", "ZoomClient", "encode_meeting_id", "open_http_client"]

#: Explicit timeouts for every Zoom call: 5 s to connect, 20 s for the rest.
DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)

#: Zoom's largest page for registrants and past participants.
_PAGE_SIZE = 300
#: A guard against a server that keeps returning a next_page_token.
_MAX_PAGES = 200


def open_http_client(timeout: httpx.Timeout = DEFAULT_TIMEOUT) -> httpx.AsyncClient:
    """An `httpx.AsyncClient` for Zoom with explicit timeouts (the caller closes it)."""
    return httpx.AsyncClient(timeout=timeout, headers={"User-Agent": "balint-bot"})


def encode_meeting_id(meeting_id: str) -> str:
    """Encode a meeting number or instance UUID for a URL path.

    Zoom requires UUIDs that begin with '/' or contain '//' to be URL-encoded twice
    (https://developers.zoom.us/docs/api/meetings/#tag/meetings, "double encode"); any
    other value is encoded once.
    """
    once = quote(meeting_id, safe="")
    if meeting_id.startswith("/") or "//" in meeting_id:
        return quote(once, safe="")
    return once


class ZoomClient:
    """The Zoom REST endpoints balint-bot uses.

    Args:
        http: the shared `httpx.AsyncClient` (not closed by this class).
        auth: the bearer token source (normally `ServerToServerAuth`).
        api_base_url: `settings.zoom.api_base_url`.
        timeout: sent with every request.
        policy, sleep, rng, clock: retry behaviour; inject fakes in tests.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        auth: TokenSource,
        *,
        api_base_url: str,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._http = http
        self._auth = auth
        self._base = api_base_url.rstrip("/")
        self._timeout = timeout
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        http: httpx.AsyncClient,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Clock = system_clock,
    ) -> ZoomClient:
        """A client with S2S OAuth credentials and hosts from `settings.zoom`."""
        zoom = settings.zoom
        rng = rng or random.Random()
        auth = ServerToServerAuth(
            http,
            oauth_url=zoom.oauth_url,
            account_id=zoom.account_id,
            client_id=zoom.client_id,
            client_secret=zoom.client_secret.get_secret_value(),
            timeout=timeout,
            policy=policy,
            sleep=sleep,
            rng=rng,
            clock=clock,
        )
        return cls(
            http,
            auth,
            api_base_url=zoom.api_base_url,
            timeout=timeout,
            policy=policy,
            sleep=sleep,
            rng=rng,
            clock=clock,
        )

    # -- transport ---------------------------------------------------------------------

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> Any:
        token = await self._auth.token()
        try:
            return await self._send(method, path, token, params, body)
        except ZoomAuthError as refused:
            if refused.status != 401:
                raise
        token = await self._auth.renew(token)
        try:
            return await self._send(method, path, token, params, body)
        except ZoomAuthError as again:
            if again.status != 401:
                raise
            raise ZoomAuthError(
                f"access token refused even after renewal ({again.message}); check the "
                "app is activated and has the scopes in docs/zoom-setup.md",
                status=401,
                code=again.code,
                method=method,
                path=path,
            ) from None

    async def _send(
        self,
        method: str,
        path: str,
        token: str,
        params: Mapping[str, str | int] | None,
        body: Mapping[str, Any] | None,
    ) -> Any:
        url = self._base + path

        async def send() -> httpx.Response:
            return await self._http.request(
                method,
                url,
                params=dict(params) if params else None,
                json=dict(body) if body is not None else None,
                headers={"Authorization": f"Bearer {token}"},
                timeout=self._timeout,
            )

        return await call_with_retries(
            send,
            method=method,
            path=path,
            policy=self._policy,
            sleep=self._sleep,
            rng=self._rng,
            clock=self._clock,
        )

    @staticmethod
    def _parse(model: Any, data: Any, *, method: str, path: str) -> Any:
        try:
            return model.model_validate(data)
        except ValidationError as invalid:
            raise ZoomApiError(
                f"unexpected response shape: {invalid.error_count()} field error(s)",
                status=200,
                method=method,
                path=path,
            ) from None

    # -- endpoints -----------------------------------------------------------------------

    async def get_meeting(self, meeting_id: str) -> Meeting:
        """`GET /meetings/{meetingId}`: the meeting, its passcode and settings."""
        path = f"/meetings/{encode_meeting_id(meeting_id)}"
        data = await self._call("GET", path)
        result: Meeting = self._parse(Meeting, data, method="GET", path=path)
        return result

    async def update_meeting_settings(self, meeting_id: str, settings: Mapping[str, Any]) -> None:
        """`PATCH /meetings/{meetingId}` with `{"settings": settings}` (Zoom answers 204)."""
        path = f"/meetings/{encode_meeting_id(meeting_id)}"
        await self._call("PATCH", path, body={"settings": dict(settings)})

    async def list_registrants(
        self, meeting_id: str, *, status: str = "approved"
    ) -> list[Registrant]:
        """`GET /meetings/{meetingId}/registrants`, every page."""
        path = f"/meetings/{encode_meeting_id(meeting_id)}/registrants"
        found: list[Registrant] = []
        token = ""
        for _ in range(_MAX_PAGES):
            params: dict[str, str | int] = {"status": status, "page_size": _PAGE_SIZE}
            if token:
                params["next_page_token"] = token
            data = await self._call("GET", path, params=params)
            page: RegistrantsPage = self._parse(RegistrantsPage, data, method="GET", path=path)
            found.extend(page.registrants)
            token = page.next_page_token
            if not token:
                return found
        raise ZoomApiError("too many pages of registrants", status=200, method="GET", path=path)

    async def add_registrant(
        self, meeting_id: str, *, email: str, first_name: str, last_name: str = ""
    ) -> AddedRegistrant:
        """`POST /meetings/{meetingId}/registrants`; approved at once when the meeting's
        `approval_type` is 0 (automatic), which `balint-bot doctor` checks."""
        path = f"/meetings/{encode_meeting_id(meeting_id)}/registrants"
        body = {"email": email, "first_name": first_name}
        if last_name:
            body["last_name"] = last_name
        data = await self._call("POST", path, body=body)
        result: AddedRegistrant = self._parse(AddedRegistrant, data, method="POST", path=path)
        return result

    async def past_participants(self, meeting_id_or_uuid: str) -> list[PastParticipant]:
        """`GET /past_meetings/{meetingId}/participants`, every page (one row per join).

        Pass an instance UUID for one occurrence of a recurring meeting; it is encoded
        twice when Zoom requires it (see `encode_meeting_id`).
        """
        path = f"/past_meetings/{encode_meeting_id(meeting_id_or_uuid)}/participants"
        found: list[PastParticipant] = []
        token = ""
        for _ in range(_MAX_PAGES):
            params: dict[str, str | int] = {"page_size": _PAGE_SIZE}
            if token:
                params["next_page_token"] = token
            data = await self._call("GET", path, params=params)
            page: PastParticipantsPage = self._parse(
                PastParticipantsPage, data, method="GET", path=path
            )
            found.extend(page.participants)
            token = page.next_page_token
            if not token:
                return found
        raise ZoomApiError("too many pages of participants", status=200, method="GET", path=path)

    async def get_user(self, user_id: str) -> User:
        """`GET /users/{userId}` (`user_id` may be the id or the e-mail)."""
        path = f"/users/{quote(user_id, safe='')}"
        data = await self._call("GET", path)
        result: User = self._parse(User, data, method="GET", path=path)
        return result

    async def get_zak(self, user_id: str) -> str:
        """`GET /users/{userId}/token?type=zak`: the user's ZAK for joining with the SDK."""
        path = f"/users/{quote(user_id, safe='')}/token"
        data = await self._call("GET", path, params={"type": "zak"})
        result: UserToken = self._parse(UserToken, data, method="GET", path=path)
        return result.token

    async def end_meeting(self, meeting_id: str) -> None:
        """`PUT /meetings/{meetingId}/status` with `{"action": "end"}` (204)."""
        path = f"/meetings/{encode_meeting_id(meeting_id)}/status"
        await self._call("PUT", path, body={"action": "end"})

    async def stop_cloud_recording(self, meeting_id: str) -> None:
        """`PATCH /live_meetings/{meetingId}/events` `recording.stop` (host/alt-host app)."""
        path = f"/live_meetings/{encode_meeting_id(meeting_id)}/events"
        await self._call("PATCH", path, body={"method": "recording.stop"})
