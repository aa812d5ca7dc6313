"""The console's browser security: headers on every answer, the session cookie, CSRF tokens.

- Content-Security-Policy: nothing but the console's own origin (`'self'`) for scripts,
  styles, images and the live stream; no inline script or style, no `eval`, no framing, no
  plugins, forms post only back here. The vendored htmx runs under it (`allowEval` off).
- The session cookie is HttpOnly and SameSite=Strict, and Secure (with the `__Host-` prefix)
  when the console's public address is https: behind TLS a browser never sends it in clear.
- CSRF: every change (a POST) carries a token derived from the session's cookie token with
  HMAC-SHA256, so nothing extra is stored and a token is worthless without the cookie; POSTs
  whose `Origin` or `Sec-Fetch-Site` say they come from another site are refused as well.

Pure helpers plus one Starlette middleware; no database.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import Response

__all__ = [
    "CSP",
    "SecurityHeaders",
    "cookie_name",
    "csrf_token",
    "csrf_valid",
    "same_origin",
]

CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "font-src 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "base-uri 'none'",
        "object-src 'none'",
    )
)

_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}


class SecurityHeaders(BaseHTTPMiddleware):
    """Adds the headers above to every answer; pages are never cached (they carry PHI)."""

    def __init__(self, app: object, *, secure: bool) -> None:
        super().__init__(app)  # type: ignore[arg-type]
        self._secure = secure

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        response = await call_next(request)
        for name, value in _HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith("/static/"):
            response.headers["Cache-Control"] = "no-store"
        if self._secure:
            response.headers["Strict-Transport-Security"] = "max-age=31536000"
        return response


def cookie_name(*, secure: bool) -> str:
    """`__Host-balint_console` behind TLS (Secure, host-only, path /), else `balint_console`."""
    return "__Host-balint_console" if secure else "balint_console"


def csrf_token(session_token: str) -> str:
    """The CSRF token of a session: HMAC-SHA256 of a fixed label under the cookie token."""
    return hmac.new(
        session_token.encode("utf-8"), b"balint-console-csrf", hashlib.sha256
    ).hexdigest()


def csrf_valid(session_token: str, presented: str) -> bool:
    """True when `presented` is the session's CSRF token (compared in constant time)."""
    return bool(presented) and hmac.compare_digest(csrf_token(session_token), presented)


def same_origin(request: Request, public_url: str) -> bool:
    """False when the browser says a POST comes from another site.

    Browsers send `Sec-Fetch-Site` with every request: anything but "same-origin" (or "none",
    typed by the user) is refused. Without it, `Origin` must name the console's public
    address or the host the request was sent to. Neither header (an old browser, a test
    client) is let through: the CSRF token is the check that must always pass.
    """
    fetch_site = request.headers.get("sec-fetch-site", "")
    if fetch_site:
        return fetch_site in ("same-origin", "none")
    origin = request.headers.get("origin", "")
    if not origin:
        return True
    theirs = urlsplit(origin).netloc
    return bool(theirs) and theirs in (urlsplit(public_url).netloc, request.headers.get("host", ""))
