"""Sign in with Zoom against a faithful fake Zoom (httpx.MockTransport): PKCE, the callback,
the roster e-mail rule, the token revoked at once, and every refusal audited."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.config import ConsoleSettings
from bot.console.app import create_console_app
from storage import audit
from storage.db import session_scope

pytestmark = pytest.mark.anyio

CONSOLE = "http://127.0.0.1:8001"


class FakeZoom:
    """Zoom's authorize, token, users/me and revoke endpoints, as documented."""

    def __init__(self, email: str = "fay.facilitator@example.org", verified: int = 1) -> None:
        self.email = email
        self.verified = verified
        self.codes: dict[str, str] = {}  # code -> code_challenge
        self.revoked: list[str] = []
        self.issued: list[str] = []

    def authorize(self, url: str) -> str:
        """What Zoom does when the user clicks Allow: the redirect back, with a code."""
        query = parse_qs(urlsplit(url).query)
        assert query["response_type"] == ["code"] and query["code_challenge_method"] == ["S256"]
        code = f"code-{len(self.codes)}"
        self.codes[code] = query["code_challenge"][0]
        return f"{query['redirect_uri'][0]}?code={code}&state={query['state'][0]}"

    def handler(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth/token":
            form = parse_qs(request.content.decode())
            auth = request.headers["authorization"]
            assert auth == "Basic " + base64.b64encode(b"client-id:client-secret").decode()
            challenge = self.codes.pop(form["code"][0], None)
            verifier = form["code_verifier"][0].encode()
            expected = base64.urlsafe_b64encode(hashlib.sha256(verifier).digest()).rstrip(b"=")
            if challenge is None or challenge.encode() != expected:
                return httpx.Response(
                    400, json={"reason": "Invalid authorization code", "error": "invalid_grant"}
                )
            assert form["redirect_uri"] == [f"{CONSOLE}/signin/zoom/callback"]
            token = f"token-{len(self.issued)}"
            self.issued.append(token)
            return httpx.Response(
                200,
                json={
                    "access_token": token,
                    "token_type": "bearer",
                    "refresh_token": "r",
                    "expires_in": 3599,
                    "scope": "user:read:user",
                },
            )
        if request.url.path == "/v2/users/me":
            assert request.headers["authorization"].startswith("Bearer token-")
            return httpx.Response(
                200,
                json={
                    "id": "zu-1",
                    "email": self.email,
                    "verified": self.verified,
                    "status": "active",
                },
            )
        if request.url.path == "/oauth/revoke":
            self.revoked.append(parse_qs(request.content.decode())["token"][0])
            return httpx.Response(200, json={"status": "success"})
        return httpx.Response(404)


@pytest.fixture
def zoom_settings(settings):
    console = ConsoleSettings(oauth_client_id="client-id", oauth_client_secret="client-secret")
    return settings.model_copy(update={"console": console})


async def _sign_in(factory, settings, clock, zoom: FakeZoom, *, tamper: str = "") -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.MockTransport(zoom.handler)) as http:
        app = create_console_app(settings, session_factory=factory, clock=clock, http=http)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=CONSOLE
        ) as browser:
            start = await browser.get("/signin/zoom")
            assert start.status_code == 303
            assert start.headers["location"].startswith("https://zoom.us/oauth/authorize?")
            back = zoom.authorize(start.headers["location"])
            if tamper == "state":
                back = back.replace("state=", "state=x")
            if tamper == "browser":
                browser.cookies.clear()
            answer = await browser.get(back)
            if answer.status_code == 200:
                assert (await browser.get("/live")).status_code == 200  # signed in
            return answer


async def test_a_roster_facilitator_signs_in_with_zoom_and_the_token_is_revoked(
    factory, zoom_settings, clock
):
    zoom = FakeZoom()
    answer = await _sign_in(factory, zoom_settings, clock, zoom)
    assert answer.status_code == 200 and "Welcome, Fay" in answer.text
    assert 'http-equiv="refresh"' in answer.text  # moves on from the console's own origin
    cookie = answer.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert zoom.revoked == zoom.issued == ["token-0"]
    with session_scope(factory) as session:
        [entry] = audit.entries(session, command="console sign-in")
        assert entry.actor == "console:Fay" and "zu-1" in entry.detail


@pytest.mark.parametrize("email", ["ann@example.org", "stranger@example.org"])
async def test_a_zoom_user_who_is_not_a_roster_facilitator_is_refused(
    factory, zoom_settings, clock, email
):
    zoom = FakeZoom(email=email)
    answer = await _sign_in(factory, zoom_settings, clock, zoom)
    assert answer.status_code == 403 and "not a facilitator" in answer.text
    assert (
        "set-cookie" not in answer.headers or "balint_console" not in answer.headers["set-cookie"]
    )
    assert zoom.revoked == ["token-0"]
    with session_scope(factory) as session:
        assert audit.entries(session, command="console sign-in") == ()
        assert len(audit.entries(session, command="console sign-in refused")) == 1


async def test_an_unverified_zoom_account_is_refused(factory, zoom_settings, clock):
    answer = await _sign_in(factory, zoom_settings, clock, FakeZoom(verified=0))
    assert answer.status_code == 403 and "not verified" in answer.text


@pytest.mark.parametrize("tamper", ["state", "browser"])
async def test_a_callback_with_a_foreign_state_or_from_another_browser_is_refused(
    factory, zoom_settings, clock, tamper
):
    zoom = FakeZoom()
    answer = await _sign_in(factory, zoom_settings, clock, zoom, tamper=tamper)
    assert answer.status_code == 403 and "did not start in this browser" in answer.text
    assert zoom.issued == []  # the code was never redeemed


async def test_without_an_oauth_app_there_is_no_zoom_sign_in(factory, settings, clock):
    app = create_console_app(settings, session_factory=factory, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=CONSOLE
    ) as browser:
        assert (await browser.get("/signin/zoom")).status_code == 404
        assert "Sign in with Zoom" not in (await browser.get("/signin")).text
