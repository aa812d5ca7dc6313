"""What every console page needs: settings, the database, the clocks, who is signed in.

`ConsoleContext` lives on `app.state.console`. Its `signed_in` reads the session cookie and
checks the session in the database on every request (idle timeout, absolute expiry, and that
the member is still a roster facilitator); `require` turns "not signed in" into a redirect to
the sign-in page (or 401 for the stream and for changes); `check_change` enforces the CSRF
token and the same-origin rule on every POST; `audit` writes the audit log with the
facilitator as the actor. Two clocks: `clock` (the wall clock: sign-in sessions, links, the
audit log) and `meeting_clock` (the service's clock, which the runtime runs the meetings on;
the same in `serve`, the demo's virtual evening in `balint-bot demo --console`).

Several groups in one service (`[[groups]]`): a facilitator signs in as a roster row of one
group and the console is that group's for them: `SignedIn.settings` are the service's
settings narrowed to it (`Settings.for_group`), and every page reads its group, time zone,
sessions and meetings from there, so a facilitator of one group sees nothing of another's
and cannot steer its meeting. `ConsoleContext.settings` stay the whole service's.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

import httpx
from fastapi import HTTPException
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.config import Settings
from bot.console import security
from bot.console.zoom_signin import ZoomOAuth
from storage import audit
from storage import console as records
from storage.console import ConsoleUser
from storage.db import session_scope

__all__ = ["ConsoleContext", "NotSignedIn", "SignedIn", "public_url"]

_TEMPLATES = Path(__file__).parent / "templates"


def public_url(settings: Settings) -> str:
    """The console's address as a browser reaches it (`[console] public_url`, else loopback)."""
    configured = settings.console.public_url.rstrip("/")
    return configured or f"http://{settings.console.host}:{settings.console.port}"


class NotSignedIn(Exception):
    """Raised by `ConsoleContext.require` for a page; answered with the sign-in page."""


@dataclass(frozen=True, slots=True, kw_only=True)
class SignedIn:
    """The facilitator behind a request, their cookie token (for the CSRF token) and their
    group's settings (see the module docstring)."""

    user: ConsoleUser
    token: str
    settings: Settings

    @property
    def csrf(self) -> str:
        return security.csrf_token(self.token)

    @property
    def actor(self) -> str:
        return f"console:{self.user.facilitator.name}"[:100]


@dataclass(slots=True, kw_only=True)
class ConsoleContext:
    """The console's dependencies (see the module docstring)."""

    settings: Settings
    factory: sessionmaker[Session]
    clock: Callable[[], datetime]
    meeting_clock: Callable[[], datetime]
    nudge: Callable[[str], None]
    http: httpx.AsyncClient | None
    templates: Jinja2Templates = field(init=False)

    def __post_init__(self) -> None:
        self.templates = Jinja2Templates(directory=str(_TEMPLATES))
        groups = self.settings.all_groups()
        first = ZoneInfo(groups[0].timezone)

        def zone(values: Any) -> ZoneInfo:
            """The page's group's clock (`page` puts it in the template's values)."""
            name = values.get("zone")
            return ZoneInfo(name) if name else first

        env = self.templates.env
        env.filters["hm"] = pass_context(
            lambda values, at: at.astimezone(zone(values)).strftime("%H:%M") if at else "—"
        )
        env.filters["day"] = pass_context(
            lambda values, at: at.astimezone(zone(values)).strftime("%a %d %b %Y") if at else ""
        )
        # Before sign-in a page names no group of several: who may see which groups the
        # service runs is for each group to say, not the sign-in page (`page` names the
        # signed-in facilitator's own).
        env.globals["group_name"] = groups[0].name if len(groups) == 1 else "balint-bot console"

    # -- addresses and cookies -------------------------------------------------------------

    @property
    def public_url(self) -> str:
        return public_url(self.settings)

    @property
    def secure(self) -> bool:
        return self.public_url.startswith("https://")

    @property
    def cookie(self) -> str:
        return security.cookie_name(secure=self.secure)

    @property
    def zoom(self) -> ZoomOAuth:
        console = self.settings.console
        return ZoomOAuth(
            client_id=console.oauth_client_id,
            client_secret=console.oauth_client_secret.get_secret_value(),
            redirect_uri=f"{self.public_url}/signin/zoom/callback",
            authorize_url=console.oauth_authorize_url,
            token_url=console.oauth_token_url,
            revoke_url=console.oauth_revoke_url,
            api_base_url=self.settings.zoom.api_base_url,
        )

    def set_session_cookie(self, response: Response, token: str) -> None:
        response.set_cookie(
            self.cookie,
            token,
            max_age=self.settings.console.session_hours * 3600,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="strict",
        )

    def clear_session_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie, path="/", secure=self.secure, httponly=True, samesite="strict"
        )

    # -- who is signed in ------------------------------------------------------------------

    def group_settings(self, group_name: str | None) -> Settings | None:
        """The settings narrowed to the configured group called `group_name` (None: none)."""
        for group in self.settings.all_groups():
            if group.name == group_name:
                return self.settings.for_group(group)
        return None

    def signed_in(self, request: Request, *, extend: bool = True) -> SignedIn | None:
        """The facilitator signed in on this request, or None (see the module docstring)."""
        token = request.cookies.get(self.cookie, "")
        if not token or len(token) > 200:
            return None
        with session_scope(self.factory) as session:
            own = self.group_settings(records.group_of_session(session, token=token))
            if own is None:  # unknown token, or a group no longer in the settings
                return None
            user = records.touch_session(
                session,
                token=token,
                group_name=own.group.name,
                now=self.clock(),
                idle=timedelta(minutes=self.settings.console.idle_minutes),
                extend=extend,
            )
        return None if user is None else SignedIn(user=user, token=token, settings=own)

    def require(self, request: Request) -> SignedIn:
        """The signed-in facilitator, or `NotSignedIn` (a page answers with the sign-in page)."""
        found = self.signed_in(request)
        if found is None:
            raise NotSignedIn()
        return found

    async def check_change(self, request: Request) -> tuple[SignedIn, Mapping[str, str]]:
        """A POST that changes something: signed in, same origin, valid CSRF token.

        Returns the signed-in facilitator and the form fields.

        Raises:
            HTTPException: 401 without a session, 403 from another site or without the token.
        """
        form = await read_form(request)
        found = self.signed_in(request)
        if found is None:
            raise HTTPException(401, "Not signed in, or the session has expired.")
        if not security.same_origin(request, self.public_url):
            raise HTTPException(403, "This request came from another site and was refused.")
        presented = form.get("csrf") or request.headers.get("x-csrf-token", "")
        if not security.csrf_valid(found.token, presented):
            raise HTTPException(403, "The form's security token is missing or wrong: reload.")
        return found, form

    async def posted_token(self, request: Request) -> str:
        """A POST that uses up a single-use token (a sign-in link, a group choice, a
        member's link to their notes), before anyone is signed in: same origin. Returns the
        form's `token` (at most 200 characters; "" when there is none).

        Raises:
            HTTPException: 403 from another site (413 or 400 for a form that cannot be read).
        """
        form = await read_form(request)
        if not security.same_origin(request, self.public_url):
            raise HTTPException(403, "This request came from another site and was refused.")
        return form.get("token", "")[:200]

    # -- audit and pages ------------------------------------------------------------------

    def audit(
        self,
        session: Session,
        *,
        command: str,
        records: Sequence[str],
        actor: str,
        detail: str = "",
    ) -> None:
        audit.record(
            session, command=command, records=records, detail=detail, at=self.clock(), actor=actor
        )

    def page(
        self,
        request: Request,
        name: str,
        values: Mapping[str, Any],
        *,
        status: int = 200,
        who: SignedIn | None = None,
    ) -> HTMLResponse:
        context: dict[str, Any] = {"request": request, "who": who, "csrf": who.csrf if who else ""}
        if who is not None:  # the signed-in facilitator's group
            context.update(group_name=who.settings.group.name, zone=who.settings.group.timezone)
        context.update(values)
        return self.templates.TemplateResponse(request, name, context, status_code=status)


async def read_form(request: Request) -> dict[str, str]:
    """A urlencoded form body as a dict (first value of each field; at most 64 KiB)."""
    body = await request.body()
    if len(body) > 65536:
        raise HTTPException(413, "Form too large.")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(400, "Form is not UTF-8.") from None
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}
