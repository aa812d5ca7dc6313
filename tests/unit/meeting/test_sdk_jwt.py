"""The Meeting SDK JWT: claims, algorithm and Zoom's lifetime bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import jwt
import pytest

from bot.errors import ConfigError
from bot.meeting.sdk_jwt import make_sdk_jwt

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SECRET = "sdk-secret-for-tests-0123456789abcdef"


def test_claims_and_signature():
    token = make_sdk_jwt(sdk_key="key-1", sdk_secret=SECRET, now=NOW)
    assert jwt.get_unverified_header(token) == {"alg": "HS256", "typ": "JWT"}
    claims = jwt.decode(
        token, SECRET, algorithms=["HS256"], options={"verify_exp": False, "verify_iat": False}
    )
    assert set(claims) == {"appKey", "iat", "exp", "tokenExp"}
    assert claims["appKey"] == "key-1"
    assert all(isinstance(claims[name], int) for name in ("iat", "exp", "tokenExp"))
    assert claims["tokenExp"] == claims["exp"]
    assert claims["iat"] <= int(NOW.timestamp())
    assert 1800 <= claims["exp"] - claims["iat"] <= 48 * 3600


@pytest.mark.parametrize("ttl", [timedelta(minutes=10), timedelta(hours=49)])
def test_lifetime_outside_zoom_bounds_is_refused(ttl):
    with pytest.raises(ConfigError, match="30 min to 48 h"):
        make_sdk_jwt(sdk_key="k", sdk_secret=SECRET, now=NOW, ttl=ttl)


@pytest.mark.parametrize("ttl", [timedelta(minutes=30), timedelta(hours=47, minutes=59)])
def test_lifetime_at_the_bounds_is_accepted(ttl):
    make_sdk_jwt(sdk_key="k", sdk_secret=SECRET, now=NOW, ttl=ttl)


def test_missing_credentials():
    with pytest.raises(ConfigError, match="sdk_key"):
        make_sdk_jwt(sdk_key="", sdk_secret=SECRET, now=NOW)
