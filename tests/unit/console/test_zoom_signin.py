"""Sign in with Zoom against a faithful fake Zoom (httpx.MockTransport): PKCE, the callback,
the roster e-mail rule, the token revoked at once, and every refusal audited."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from bot.config import ConsoleSettings, GroupSettings
from bot.console.app import create_console_app
from storage import audit
from storage import console as records
from storage.db import session_scope
from tests.unit.console.conftest import GROUP, SECOND

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


@pytest.fixture
def two_groups(second_group, zoom_settings):
    """Fay leads two groups (`second_group`)."""
    groups = [
        GroupSettings(name=GROUP, meeting_id="85746065432"),
        GroupSettings(name=SECOND, meeting_id="83312345678", weekday="thursday"),
    ]
    return zoom_settings.model_copy(update={"groups": groups})


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


def _offered(page: str) -> dict[str, str]:
    """The group choice page's buttons: group name -> the token its form carries."""
    found = re.findall(
        r'name="token" value="([^"]+)">\s*<button type="submit" class="primary">([^<]+)</button>',
        page,
    )
    return {group: token for token, group in found}


async def _offer(app, zoom: FakeZoom) -> tuple[httpx.Response, dict[str, str]]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=CONSOLE
    ) as browser:
        start = await browser.get("/signin/zoom")
        answer = await browser.get(zoom.authorize(start.headers["location"]))
        assert (await browser.get("/live")).status_code == 401  # not signed in yet
    return answer, _offered(answer.text)


async def test_a_leader_of_two_groups_chooses_one_and_the_choice_is_used_once(
    factory, two_groups, clock
):
    zoom = FakeZoom()
    async with httpx.AsyncClient(transport=httpx.MockTransport(zoom.handler)) as http:
        app = create_console_app(two_groups, session_factory=factory, clock=clock, http=http)
        answer, offered = await _offer(app, zoom)
        assert answer.status_code == 200 and "Which group?" in answer.text
        assert answer.headers["cache-control"] == "no-store"
        assert set(offered) == {GROUP, SECOND}
        assert zoom.revoked == zoom.issued == ["token-0"]
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=CONSOLE
        ) as browser:
            chosen = await browser.post(
                "/signin/zoom/choose",
                data={"token": offered[SECOND]},
                headers={"origin": CONSOLE},
            )
            assert chosen.status_code == 303 and chosen.headers["location"] == "/live"
            assert "SameSite=strict" in chosen.headers["set-cookie"]
            live = await browser.get("/live", follow_redirects=True)
            assert live.status_code == 200 and SECOND in live.text and GROUP not in live.text
            with session_scope(factory) as session:
                [signed_in] = audit.entries(session, command="console sign-in")
                fay_second = records.facilitator_by_name(session, group_name=SECOND, name="Fay")
                assert fay_second is not None
                assert list(signed_in.records) == [f"member:{fay_second.member_id}"]
                assert "zu-1" in signed_in.detail and "several groups" in signed_in.detail
        # the other group's button was used up with it, and so was the chosen one
        for group in (GROUP, SECOND):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url=CONSOLE
            ) as other:
                again = await other.post(
                    "/signin/zoom/choose",
                    data={"token": offered[group]},
                    headers={"origin": CONSOLE},
                )
                assert again.status_code == 400 and "balint_console" not in again.headers.get(
                    "set-cookie", ""
                )
    with session_scope(factory) as session:
        assert len(audit.entries(session, command="console sign-in refused")) == 2


async def test_a_group_choice_is_not_a_sign_in_link_nor_usable_from_another_site(
    factory, two_groups, clock
):
    zoom = FakeZoom()
    async with httpx.AsyncClient(transport=httpx.MockTransport(zoom.handler)) as http:
        app = create_console_app(two_groups, session_factory=factory, clock=clock, http=http)
        _answer, offered = await _offer(app, zoom)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=CONSOLE
        ) as browser:
            as_link = await browser.post(
                "/signin/link", data={"token": offered[GROUP]}, headers={"origin": CONSOLE}
            )
            assert as_link.status_code == 400
            foreign = await browser.post(
                "/signin/zoom/choose",
                data={"token": offered[GROUP]},
                headers={"origin": "https://evil.example"},
            )
            assert foreign.status_code == 403
            clock.advance(minutes=11)  # past the sign-in's ten minutes
            late = await browser.post(
                "/signin/zoom/choose", data={"token": offered[GROUP]}, headers={"origin": CONSOLE}
            )
            assert late.status_code == 400
    with session_scope(factory) as session:
        assert audit.entries(session, command="console sign-in") == ()


async def test_an_operators_sign_in_link_is_not_a_group_choice(factory, two_groups, clock):
    with session_scope(factory) as session:
        fay = records.facilitator_by_name(session, group_name=GROUP, name="Fay")
        assert fay is not None
        token = records.issue_link(
            session, member_id=fay.member_id, now=clock(), ttl=timedelta(minutes=10)
        )
    app = create_console_app(two_groups, session_factory=factory, clock=clock)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url=CONSOLE
    ) as browser:
        chosen = await browser.post(
            "/signin/zoom/choose", data={"token": token}, headers={"origin": CONSOLE}
        )
        assert chosen.status_code == 400
        assert (
            await browser.post("/signin/link", data={"token": token}, headers={"origin": CONSOLE})
        ).status_code == 303


async def test_the_sign_in_page_names_no_group_of_several(factory, two_groups, clock):
    """Which groups a service runs is not told to whoever opens the console."""
    app = create_console_app(two_groups, session_factory=factory, clock=clock)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=CONSOLE) as web:
        page = await web.get("/live")
    assert page.status_code == 401 and "Sign in" in page.text
    assert GROUP not in page.text and SECOND not in page.text
    assert "balint-bot console" in page.text
