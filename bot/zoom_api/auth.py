"""Server-to-Server OAuth for the Zoom REST API (https://developers.zoom.us/docs/internal-apps/s2s-oauth/).

`POST {oauth_url}?grant_type=account_credentials&account_id=...` with HTTP Basic
`client_id:client_secret` returns an access token valid for `expires_in` seconds (one hour)
and no refresh token. `ServerToServerAuth` keeps one token in memory, fetches a new one a
margin before it expires (so a call never starts with a token about to lapse), and renews on
demand after a 401. Concurrent callers share one fetch (an asyncio lock). The clock, the
sleep and the random source are injected for tests.
"""

from __future__ import annotations

import asyncio
import logging
import random
from datetime import UTC, datetime, timedelta
from typing import Protocol

import httpx
from pydantic import ValidationError

from bot.zoom_api.errors import ZoomApiError, ZoomAuthError, ZoomNotFound, ZoomRequestError
from bot.zoom_api.models import AccessToken
from bot.zoom_api.retry import RetryPolicy, Sleep, call_with_retries
from storage.clock import Clock, system_clock

__all__ = ["ServerToServerAuth", "TokenSource"]

logger = logging.getLogger(__name__)


class TokenSource(Protocol):
    """Where the REST client gets its bearer token."""

    async def token(self) -> str: ...

    async def renew(self, stale: str) -> str:
        """A fresh token, unless the current one already differs from `stale`."""
        ...


class ServerToServerAuth:
    """Fetches and caches the account's S2S access token.

    Args:
        http: the shared `httpx.AsyncClient`.
        oauth_url: Zoom's token endpoint (`settings.zoom.oauth_url`).
        account_id, client_id, client_secret: the S2S app's credentials.
        timeout: explicit timeout for the token request.
        renew_margin: fetch a new token this long before the current one expires.
    """

    def __init__(
        self,
        http: httpx.AsyncClient,
        *,
        oauth_url: str,
        account_id: str,
        client_id: str,
        client_secret: str,
        timeout: httpx.Timeout,
        renew_margin: timedelta = timedelta(minutes=5),
        policy: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._http = http
        self._oauth_url = oauth_url
        self._account_id = account_id
        self._client_id = client_id
        self._client_secret = client_secret
        self._timeout = timeout
        self._renew_margin = renew_margin
        self._policy = policy or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._clock = clock
        self._token = ""
        self._expires_at = datetime.min.replace(tzinfo=UTC)
        self._lock = asyncio.Lock()

    async def token(self) -> str:
        """The cached token, fetched first if absent or within `renew_margin` of expiry.

        Raises:
            ZoomAuthError: credentials missing or refused by Zoom.
            ZoomUnavailable: the token endpoint failed on every retry.
        """
        async with self._lock:
            if self._token and self._clock() < self._expires_at - self._renew_margin:
                return self._token
            return await self._fetch()

    async def renew(self, stale: str) -> str:
        """Replace `stale` (a token Zoom answered 401 to) unless another caller already did."""
        async with self._lock:
            if self._token and self._token != stale:
                return self._token
            return await self._fetch()

    async def _fetch(self) -> str:
        if not (self._account_id and self._client_id and self._client_secret):
            raise ZoomAuthError(
                "no Server-to-Server OAuth credentials: set zoom.account_id, zoom.client_id "
                "and zoom.client_secret (see docs/zoom-setup.md)"
            )
        path = "/oauth/token"

        async def send() -> httpx.Response:
            return await self._http.post(
                self._oauth_url,
                params={"grant_type": "account_credentials", "account_id": self._account_id},
                auth=(self._client_id, self._client_secret),
                timeout=self._timeout,
            )

        try:
            data = await call_with_retries(
                send,
                method="POST",
                path=path,
                policy=self._policy,
                sleep=self._sleep,
                rng=self._rng,
                clock=self._clock,
            )
        except (ZoomRequestError, ZoomNotFound) as refused:
            raise ZoomAuthError(
                f"token request refused: {refused.message}",
                status=refused.status,
                code=refused.code,
                method="POST",
                path=path,
            ) from None
        try:
            token = AccessToken.model_validate(data)
        except ValidationError:
            raise ZoomApiError(
                "token response has no access_token", status=200, method="POST", path=path
            ) from None
        self._token = token.access_token
        self._expires_at = self._clock() + timedelta(seconds=token.expires_in)
        logger.info("zoom api: new access token, valid %d s", token.expires_in)
        return self._token
