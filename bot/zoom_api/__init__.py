"""The Zoom REST API client: S2S OAuth, typed errors and models, bounded retries."""

from bot.zoom_api.auth import ServerToServerAuth, TokenSource
from bot.zoom_api.client import DEFAULT_TIMEOUT, ZoomClient, encode_meeting_id, open_http_client
from bot.zoom_api.errors import (
    RateLimit,
    ZoomApiError,
    ZoomAuthError,
    ZoomNotFound,
    ZoomRateLimited,
    ZoomRequestError,
    ZoomUnavailable,
)
from bot.zoom_api.retry import RetryPolicy

__all__ = [
    "DEFAULT_TIMEOUT",
    "RateLimit",
    "RetryPolicy",
    "ServerToServerAuth",
    "TokenSource",
    "ZoomApiError",
    "ZoomAuthError",
    "ZoomClient",
    "ZoomNotFound",
    "ZoomRateLimited",
    "ZoomRequestError",
    "ZoomUnavailable",
    "encode_meeting_id",
    "open_http_client",
]
