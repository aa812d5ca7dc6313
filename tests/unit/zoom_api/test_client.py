"""ZoomClient against respx: every endpoint and every failure, with recorded Zoom bodies."""

from __future__ import annotations

import asyncio
import base64
import json
import random
from datetime import UTC, datetime

import httpx
import pytest
import respx

from bot.config import Settings, ZoomSettings
from bot.zoom_api import (
    DEFAULT_TIMEOUT,
    RetryPolicy,
    ZoomApiError,
    ZoomAuthError,
    ZoomClient,
    ZoomNotFound,
    ZoomRateLimited,
    ZoomRequestError,
    ZoomUnavailable,
)
from tests.clock import HandClock
from tests.unit.zoom_api.recorded import (
    API,
    OAUTH,
    RecordingSleep,
    recorded,
    recorded_json,
)

pytestmark = pytest.mark.anyio

MEETING = f"{API}/meetings/85746065432"
POLICY = RetryPolicy(attempts=4, base_delay=0.5, max_delay=8.0, rate_limit_attempts=3)


def settings() -> Settings:
    return Settings(
        zoom=ZoomSettings(
            api_base_url=API,
            oauth_url=OAUTH,
            account_id="acct-123",
            client_id="client-abc",
            client_secret="s3cret",
        )
    )


@pytest.fixture
def router():
    with respx.mock(assert_all_mocked=True, assert_all_called=False) as mock:
        yield mock


@pytest.fixture
def clock() -> HandClock:
    return HandClock()


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


@pytest.fixture
async def client(router, clock, sleeps):
    async with httpx.AsyncClient() as http:
        yield ZoomClient.from_settings(
            settings(), http, policy=POLICY, sleep=sleeps, rng=random.Random(7), clock=clock
        )


@pytest.fixture
def oauth(router):
    return router.post(OAUTH).mock(return_value=recorded("oauth_token"))


class TestToken:
    async def test_fetched_once_for_many_calls_with_basic_auth(self, client, router, oauth):
        api = router.get(MEETING).mock(return_value=recorded("meeting_get"))
        for _ in range(3):
            await client.get_meeting("85746065432")
        await asyncio.gather(*(client.get_meeting("85746065432") for _ in range(5)))
        assert oauth.call_count == 1
        assert api.call_count == 8
        token_request = oauth.calls[0].request
        assert token_request.url.params["grant_type"] == "account_credentials"
        assert token_request.url.params["account_id"] == "acct-123"
        expected = base64.b64encode(b"client-abc:s3cret").decode()
        assert token_request.headers["Authorization"] == f"Basic {expected}"
        token = recorded_json("oauth_token")["access_token"]
        assert api.calls[0].request.headers["Authorization"] == f"Bearer {token}"

    async def test_renewed_shortly_before_expiry(self, client, router, oauth, clock):
        router.get(MEETING).mock(return_value=recorded("meeting_get"))
        await client.get_meeting("85746065432")
        clock.advance(seconds=3599 - 301)  # still more than the 5-minute margin left
        await client.get_meeting("85746065432")
        assert oauth.call_count == 1
        clock.advance(seconds=2)  # now inside the margin
        await client.get_meeting("85746065432")
        assert oauth.call_count == 2

    async def test_401_renews_once_then_succeeds(self, client, router, oauth):
        api = router.get(MEETING).mock(
            side_effect=[recorded("invalid_token"), recorded("meeting_get")]
        )
        meeting = await client.get_meeting("85746065432")
        assert meeting.id == 85746065432
        assert oauth.call_count == 2
        assert api.call_count == 2

    async def test_401_after_renewal_is_a_typed_error(self, client, router, oauth):
        api = router.get(MEETING).mock(return_value=recorded("invalid_token"))
        with pytest.raises(ZoomAuthError) as caught:
            await client.get_meeting("85746065432")
        assert caught.value.status == 401
        assert caught.value.code == 124
        assert oauth.call_count == 2
        assert api.call_count == 2

    async def test_refused_credentials(self, client, router):
        router.post(OAUTH).mock(return_value=recorded("oauth_invalid_client"))
        api = router.get(MEETING).mock(return_value=recorded("meeting_get"))
        with pytest.raises(ZoomAuthError, match="Invalid client_id or client_secret"):
            await client.get_meeting("85746065432")
        assert api.call_count == 0

    async def test_missing_credentials_fail_without_a_request(self, router, clock, sleeps):
        oauth = router.post(OAUTH).mock(return_value=recorded("oauth_token"))
        async with httpx.AsyncClient() as http:
            bare = ZoomClient.from_settings(
                Settings(zoom=ZoomSettings(api_base_url=API, oauth_url=OAUTH)),
                http,
                sleep=sleeps,
                clock=clock,
            )
            with pytest.raises(ZoomAuthError, match="zoom.account_id"):
                await bare.get_meeting("1")
        assert oauth.call_count == 0

    async def test_token_endpoint_outage_is_retried(self, client, router, sleeps):
        oauth = router.post(OAUTH).mock(
            side_effect=[recorded("server_error"), recorded("oauth_token")]
        )
        router.get(MEETING).mock(return_value=recorded("meeting_get"))
        await client.get_meeting("85746065432")
        assert oauth.call_count == 2
        assert len(sleeps.delays) == 1


class TestFailures:
    async def test_404_is_not_found_and_not_retried(self, client, router, oauth, sleeps):
        api = router.get(MEETING).mock(return_value=recorded("meeting_not_found"))
        with pytest.raises(ZoomNotFound) as caught:
            await client.get_meeting("85746065432")
        assert (caught.value.status, caught.value.code) == (404, 3001)
        assert caught.value.path == "/meetings/85746065432"
        assert api.call_count == 1
        assert sleeps.delays == []

    async def test_429_per_second_waits_the_header_delay(self, client, router, oauth, sleeps):
        api = router.get(MEETING).mock(
            side_effect=[recorded("rate_limit_qps"), recorded("meeting_get")]
        )
        meeting = await client.get_meeting("85746065432")
        assert meeting.topic == "Online Balint Group (Ontario)"
        assert sleeps.delays == [1.0]
        assert api.call_count == 2

    async def test_429_per_second_without_delay_header_backs_off(
        self, client, router, oauth, sleeps
    ):
        bare = recorded("rate_limit_qps")
        del bare.headers["Retry-After"]
        router.get(MEETING).mock(side_effect=[bare, recorded("meeting_get")])
        await client.get_meeting("85746065432")
        assert len(sleeps.delays) == 1
        assert 0.25 <= sleeps.delays[0] <= 0.5

    async def test_429_per_second_that_persists_is_a_typed_error(
        self, client, router, oauth, sleeps
    ):
        api = router.get(MEETING).mock(return_value=recorded("rate_limit_qps"))
        with pytest.raises(ZoomRateLimited) as caught:
            await client.get_meeting("85746065432")
        assert not caught.value.daily
        assert caught.value.rate_limit.category == "Light"
        assert api.call_count == POLICY.rate_limit_attempts
        assert sleeps.delays == [1.0] * (POLICY.rate_limit_attempts - 1)

    async def test_429_daily_fails_fast(self, client, router, oauth, sleeps):
        api = router.get(MEETING).mock(return_value=recorded("rate_limit_daily"))
        with pytest.raises(ZoomRateLimited) as caught:
            await client.get_meeting("85746065432")
        assert caught.value.daily
        assert caught.value.rate_limit.retry_at == datetime(2026, 11, 30, tzinfo=UTC)
        assert caught.value.retry_after == 12 * 3600
        assert caught.value.rate_limit.remaining == 0
        assert api.call_count == 1
        assert sleeps.delays == []

    async def test_500_is_retried_with_jittered_backoff(self, client, router, oauth, sleeps):
        api = router.get(MEETING).mock(
            side_effect=[recorded("server_error"), recorded("bad_gateway"), recorded("meeting_get")]
        )
        await client.get_meeting("85746065432")
        assert api.call_count == 3
        first, second = sleeps.delays
        assert 0.25 <= first <= 0.5
        assert 0.5 <= second <= 1.0

    async def test_500_retries_are_bounded(self, client, router, oauth, sleeps):
        api = router.get(MEETING).mock(return_value=recorded("server_error"))
        with pytest.raises(ZoomUnavailable) as caught:
            await client.get_meeting("85746065432")
        assert caught.value.attempts == POLICY.attempts
        assert caught.value.status == 500
        assert api.call_count == POLICY.attempts
        assert len(sleeps.delays) == POLICY.attempts - 1

    async def test_timeouts_are_retried_then_typed(self, client, router, oauth, sleeps):
        api = router.get(MEETING).mock(side_effect=httpx.ReadTimeout("slow"))
        with pytest.raises(ZoomUnavailable, match="timed out") as caught:
            await client.get_meeting("85746065432")
        assert caught.value.status == 0
        assert isinstance(caught.value.__cause__, httpx.TimeoutException)
        assert api.call_count == POLICY.attempts

    async def test_connect_error_then_success(self, client, router, oauth, sleeps):
        router.get(MEETING).mock(
            side_effect=[httpx.ConnectError("refused"), recorded("meeting_get")]
        )
        meeting = await client.get_meeting("85746065432")
        assert meeting.password == "cP3fb7"
        assert len(sleeps.delays) == 1

    async def test_every_request_carries_the_explicit_timeout(self, client, router, oauth):
        api = router.get(MEETING).mock(return_value=recorded("meeting_get"))
        await client.get_meeting("85746065432")
        sent = api.calls[0].request.extensions["timeout"]
        assert sent == DEFAULT_TIMEOUT.as_dict()
        assert oauth.calls[0].request.extensions["timeout"] == DEFAULT_TIMEOUT.as_dict()

    async def test_unexpected_shape_is_a_typed_error(self, client, router, oauth):
        router.get(MEETING).mock(return_value=httpx.Response(200, json={"topic": "no id"}))
        with pytest.raises(ZoomApiError, match="unexpected response shape"):
            await client.get_meeting("85746065432")

    async def test_errors_share_one_root(self):
        from phases.errors import BalintError

        for kind in (ZoomAuthError, ZoomNotFound, ZoomRateLimited, ZoomUnavailable):
            assert issubclass(kind, ZoomApiError)
        assert issubclass(ZoomApiError, BalintError)


class TestEndpoints:
    async def test_get_meeting_parses_settings(self, client, router, oauth):
        router.get(MEETING).mock(return_value=recorded("meeting_get"))
        meeting = await client.get_meeting("85746065432")
        assert meeting.settings.waiting_room is False
        assert meeting.settings.auto_recording == "cloud"
        assert meeting.settings.alternative_host_emails() == ["co-facilitator@example.org"]

    async def test_update_settings_patches(self, client, router, oauth):
        route = router.patch(MEETING).mock(return_value=recorded("meeting_update"))
        await client.update_meeting_settings("85746065432", {"waiting_room": True})
        assert json.loads(route.calls[0].request.content) == {"settings": {"waiting_room": True}}

    async def test_list_registrants_follows_pages(self, client, router, oauth):
        route = router.get(f"{MEETING}/registrants").mock(
            side_effect=[recorded("registrants_page1"), recorded("registrants_page2")]
        )
        people = await client.list_registrants("85746065432")
        assert [p.email for p in people] == [
            "avery.tester@example.org",
            "blake.sample@example.org",
            "casey.example@example.org",
        ]
        first, second = (call.request.url.params for call in route.calls)
        assert "next_page_token" not in first
        assert first["status"] == "approved"
        assert second["next_page_token"] == "Tva2CuIdTgsv8wAnhyAdU3m06Y2HuLQtlh3"

    async def test_add_registrant(self, client, router, oauth):
        route = router.post(f"{MEETING}/registrants").mock(return_value=recorded("registrant_add"))
        added = await client.add_registrant(
            "85746065432", email="dana@example.org", first_name="Dana", last_name="Q"
        )
        assert added.registrant_id == "fdgsfh2ey82fuh"
        assert json.loads(route.calls[0].request.content) == {
            "email": "dana@example.org",
            "first_name": "Dana",
            "last_name": "Q",
        }

    async def test_add_registrant_validation_failure(self, client, router, oauth):
        router.post(f"{MEETING}/registrants").mock(return_value=recorded("registrant_invalid"))
        with pytest.raises(ZoomRequestError) as caught:
            await client.add_registrant("85746065432", email="x", first_name="X")
        assert (caught.value.status, caught.value.code) == (400, 300)

    async def test_past_participants_pages_and_double_encodes_uuid(self, client, router, oauth):
        route = router.get(url__regex=r".*/past_meetings/.*/participants.*").mock(
            side_effect=[recorded("past_participants_page1"), recorded("past_participants_page2")]
        )
        rows = await client.past_participants("/ajXp112QmuoKj4854875==")
        assert [r.user_id for r in rows] == ["16778240", "16779264", "16785408"]
        assert rows[0].registrant_id == "9tboDiHUQAeOnbmudzWa5g"
        raw = route.calls[0].request.url.raw_path.decode()
        assert raw.startswith("/v2/past_meetings/%252FajXp112QmuoKj4854875%253D%253D/")
        assert route.calls[1].request.url.params["next_page_token"] == (
            "aQBb6FlhMWS8zWp1Bq6YzPKyrTkYwQl9"
        )

    async def test_plain_uuid_is_encoded_once(self, client, router, oauth):
        route = router.get(url__regex=r".*/past_meetings/.*").mock(
            return_value=recorded("past_participants_page2")
        )
        await client.past_participants("aDYlohsHRtCd4ii1uC2+hA==")
        raw = route.calls[0].request.url.raw_path.decode()
        assert raw.startswith("/v2/past_meetings/aDYlohsHRtCd4ii1uC2%2BhA%3D%3D/participants")

    async def test_zak(self, client, router, oauth):
        route = router.get(f"{API}/users/z8yBXksDSemSvy9vJZxLnQ/token").mock(
            return_value=recorded("user_zak")
        )
        assert (await client.get_zak("z8yBXksDSemSvy9vJZxLnQ")).endswith("fixture-zak")
        assert route.calls[0].request.url.params["type"] == "zak"

    async def test_get_user(self, client, router, oauth):
        router.get(f"{API}/users/z8yBXksDSemSvy9vJZxLnQ").mock(return_value=recorded("user_get"))
        user = await client.get_user("z8yBXksDSemSvy9vJZxLnQ")
        assert (user.email, user.type) == ("balint-bot@example.org", 2)

    async def test_end_meeting(self, client, router, oauth):
        route = router.put(f"{MEETING}/status").mock(return_value=recorded("meeting_end"))
        await client.end_meeting("85746065432")
        assert json.loads(route.calls[0].request.content) == {"action": "end"}

    async def test_stop_cloud_recording(self, client, router, oauth):
        route = router.patch(f"{API}/live_meetings/85746065432/events").mock(
            return_value=recorded("recording_stop")
        )
        await client.stop_cloud_recording("85746065432")
        assert json.loads(route.calls[0].request.content) == {"method": "recording.stop"}
