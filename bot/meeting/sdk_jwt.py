"""The Meeting SDK JWT ("SDK signature") the bot authenticates with.

HS256 with the Meeting SDK app's Client Secret over `appKey` (the Client ID), `iat`, `exp`
and `tokenExp` (= `exp`), with numeric times, as Zoom's own signature sample does
(https://developers.zoom.us/docs/meeting-sdk/auth/). Zoom refuses a token whose lifetime
`exp - iat` is under 30 minutes or over 48 hours, so we refuse to make one. `iat` is set
30 s in the past to tolerate small clock skew. Pure: the time is an argument.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

from bot.errors import ConfigError

__all__ = ["MAX_TTL", "MIN_TTL", "make_sdk_jwt"]

MIN_TTL = timedelta(minutes=30)
MAX_TTL = timedelta(hours=48)
_SKEW = timedelta(seconds=30)


def make_sdk_jwt(
    *, sdk_key: str, sdk_secret: str, now: datetime, ttl: timedelta = timedelta(hours=24)
) -> str:
    """Sign the SDK JWT valid from `now` for `ttl`.

    Raises:
        ConfigError: the key or secret is empty, or `ttl` is outside Zoom's 30 min to 48 h.
    """
    if not sdk_key or not sdk_secret:
        raise ConfigError("zoom.sdk_key and zoom.sdk_secret are needed to join with the SDK")
    issued = int((now - _SKEW).timestamp())
    expires = int((now + ttl).timestamp())
    lifetime = timedelta(seconds=expires - issued)
    if not MIN_TTL <= lifetime <= MAX_TTL:
        raise ConfigError(f"SDK JWT lifetime {lifetime} is outside Zoom's 30 min to 48 h")
    payload = {"appKey": sdk_key, "iat": issued, "exp": expires, "tokenExp": expires}
    return jwt.encode(payload, sdk_secret, algorithm="HS256")
