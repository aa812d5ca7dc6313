"""The pure wire rules: rate-limit headers, retry delays and response classification."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from bot.zoom_api import RetryPolicy, ZoomRateLimited, ZoomRequestError, encode_meeting_id
from bot.zoom_api.wire import decipher, parse_delay, rate_limit_from_headers

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "seconds", "moment"),
    [
        ("2", 2.0, None),
        ("0.5", 0.5, None),
        ("2026-11-29T12:00:30Z", 30.0, datetime(2026, 11, 29, 12, 0, 30, tzinfo=UTC)),
        ("Sun, 29 Nov 2026 12:01:00 GMT", 60.0, datetime(2026, 11, 29, 12, 1, tzinfo=UTC)),
        (str(int(NOW.timestamp()) + 5), 5.0, datetime(2026, 11, 29, 12, 0, 5, tzinfo=UTC)),
        ("2026-11-29T11:00:00Z", 0.0, datetime(2026, 11, 29, 11, 0, tzinfo=UTC)),
        ("soon", None, None),
        ("", None, None),
    ],
)
def test_parse_delay(value, seconds, moment):
    assert parse_delay(value, NOW) == (seconds, moment)


def test_rate_limit_headers_are_case_insensitive_and_optional():
    limit = rate_limit_from_headers(
        {"x-ratelimit-type": "QPS", "X-RATELIMIT-LIMIT": "30", "X-RateLimit-Reset": "1"}, NOW
    )
    assert (limit.kind, limit.limit, limit.retry_after_seconds) == ("QPS", 30, 1.0)
    assert not limit.is_daily
    assert rate_limit_from_headers({}, NOW).retry_after_seconds is None


def test_429_without_type_header_is_classified_by_message():
    body = b'{"code": 429, "message": "You have reached the maximum daily rate limit"}'
    with pytest.raises(ZoomRateLimited) as caught:
        decipher(429, {}, body, method="GET", path="/x", now=NOW)
    assert caught.value.daily


def test_non_json_error_body_still_classified():
    with pytest.raises(ZoomRequestError) as caught:
        decipher(400, {}, b"<html>bad</html>", method="GET", path="/x", now=NOW)
    assert caught.value.code is None


def test_empty_2xx_is_none():
    assert decipher(204, {}, b"", method="PUT", path="/x", now=NOW) is None


def test_backoff_grows_and_is_capped():
    policy = RetryPolicy(base_delay=1.0, max_delay=4.0)
    rng = random.Random(1)
    delays = [policy.backoff(n, rng) for n in range(6)]
    for n, delay in enumerate(delays):
        cap = min(4.0, 2.0**n)
        assert cap / 2 <= delay <= cap


@pytest.mark.parametrize(
    ("raw", "encoded"),
    [
        ("85746065432", "85746065432"),
        ("4444AAAiAAAAAiAiAiiAii==", "4444AAAiAAAAAiAiAiiAii%3D%3D"),
        ("/abc", "%252Fabc"),
        ("ab//c", "ab%252F%252Fc"),
        ("a/b", "a%2Fb"),
    ],
)
def test_encode_meeting_id(raw, encoded):
    assert encode_meeting_id(raw) == encoded
