""" "Sign in with Zoom": the OAuth 2.0 authorization code flow with PKCE, against the Zoom app.

Zoom's documented user authorization (https://developers.zoom.us/docs/integrations/oauth/):

1. the browser goes to `GET https://zoom.us/oauth/authorize?response_type=code&client_id=..
   &redirect_uri=..&state=..&code_challenge=..&code_challenge_method=S256`;
2. Zoom sends it back to `redirect_uri?code=..&state=..` (or `?error=access_denied..`);
3. the server posts `grant_type=authorization_code&code=..&redirect_uri=..&code_verifier=..`
   to `https://zoom.us/oauth/token` with `Authorization: Basic base64(client_id:secret)`
   (PKCE, https://developers.zoom.us/docs/integrations/PKCE/ and RFC 7636) and gets
   `{"access_token", "token_type": "bearer", "refresh_token", "expires_in", "scope"}`;
4. `GET https://api.zoom.us/v2/users/me` with `Authorization: Bearer ..` names the Zoom user
   (`id`, `email`, `verified`, `status`, ...).

The console needs nothing from Zoom after that, so the token is revoked at once
(`POST https://zoom.us/oauth/revoke` with `token=..`, Basic auth) and never stored. Whether
the Zoom user may sign in is the caller's decision (their e-mail must be a roster
facilitator's). HTTP goes through an injected `httpx.AsyncClient`, so tests run a fake Zoom
behind `httpx.MockTransport`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import urlencode

import httpx

from bot.errors import BalintError

__all__ = ["ZoomIdentity", "ZoomOAuth", "ZoomSigninError"]

_log = logging.getLogger(__name__)


class ZoomSigninError(BalintError):
    """Zoom did not confirm who is signing in; `message` is safe to show the person."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoomIdentity:
    """The Zoom user who signed in: their user id and e-mail as Zoom reports them."""

    user_id: str
    email: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ZoomOAuth:
    """The Zoom OAuth app the console signs in with.

    Args:
        client_id, client_secret: the app's credentials (a user-managed OAuth app).
        redirect_uri: the console's callback, exactly as registered with the app.
        authorize_url, token_url, revoke_url: Zoom's OAuth endpoints.
        api_base_url: Zoom's REST base (for `/users/me`).
    """

    client_id: str
    client_secret: str
    redirect_uri: str
    authorize_url: str = "https://zoom.us/oauth/authorize"
    token_url: str = "https://zoom.us/oauth/token"
    revoke_url: str = "https://zoom.us/oauth/revoke"
    api_base_url: str = "https://api.zoom.us/v2"

    @property
    def configured(self) -> bool:
        return bool(self.client_id and self.client_secret)

    def authorize_redirect(self, *, state: str, code_challenge: str) -> str:
        """Where to send the browser (step 1)."""
        query = urlencode(
            {
                "response_type": "code",
                "client_id": self.client_id,
                "redirect_uri": self.redirect_uri,
                "state": state,
                "code_challenge": code_challenge,
                "code_challenge_method": "S256",
            }
        )
        return f"{self.authorize_url}?{query}"

    async def identify(
        self, http: httpx.AsyncClient, *, code: str, code_verifier: str
    ) -> ZoomIdentity:
        """Steps 3 and 4, then revoke the token: who signed in.

        Raises:
            ZoomSigninError: Zoom refused the code, did not answer, or named no usable user.
        """
        auth = httpx.BasicAuth(self.client_id, self.client_secret)
        try:
            answer = await http.post(
                self.token_url,
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": self.redirect_uri,
                    "code_verifier": code_verifier,
                },
                auth=auth,
                timeout=10.0,
            )
        except httpx.HTTPError as failed:
            raise ZoomSigninError(f"Zoom could not be reached ({type(failed).__name__})") from None
        if answer.status_code != 200:
            reason = _error_code(answer)
            _log.warning("Zoom refused the sign-in code", extra={"code": reason})
            raise ZoomSigninError(f"Zoom did not accept the sign-in ({reason})")
        token = _field(answer, "access_token")
        try:
            return await self._me(http, token)
        finally:
            await self._revoke(http, token, auth)

    async def _me(self, http: httpx.AsyncClient, token: str) -> ZoomIdentity:
        try:
            answer = await http.get(
                f"{self.api_base_url}/users/me",
                headers={"Authorization": f"Bearer {token}"},
                timeout=10.0,
            )
        except httpx.HTTPError as failed:
            raise ZoomSigninError(f"Zoom could not be reached ({type(failed).__name__})") from None
        if answer.status_code != 200:
            raise ZoomSigninError(f"Zoom did not say who you are (HTTP {answer.status_code})")
        user_id = _field(answer, "id")
        email = _field(answer, "email")
        data = answer.json()
        # Zoom reports `verified` 1 for a verified user and `status` "active" for a usable
        # account; an unverified or inactive account is not evidence of who someone is.
        if data.get("verified", 1) != 1 or data.get("status", "active") != "active":
            raise ZoomSigninError("this Zoom account is not verified and active")
        return ZoomIdentity(user_id=user_id, email=email)

    async def _revoke(self, http: httpx.AsyncClient, token: str, auth: httpx.BasicAuth) -> None:
        try:
            answer = await http.post(
                self.revoke_url, data={"token": token}, auth=auth, timeout=10.0
            )
        except httpx.HTTPError as failed:
            _log.warning("Zoom token not revoked", extra={"error_type": type(failed).__name__})
            return
        if answer.status_code != 200:
            _log.warning("Zoom token not revoked", extra={"status": answer.status_code})


def _error_code(answer: httpx.Response) -> str:
    try:
        data = answer.json()
    except ValueError:
        return f"HTTP {answer.status_code}"
    reason = data.get("reason") or data.get("error") if isinstance(data, dict) else None
    return str(reason)[:80] if reason else f"HTTP {answer.status_code}"


def _field(answer: httpx.Response, name: str) -> str:
    try:
        data = answer.json()
    except ValueError:
        raise ZoomSigninError("Zoom's answer was not JSON") from None
    value = data.get(name) if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise ZoomSigninError(f"Zoom's answer had no {name}")
    return value
