"""`create_console_app`: the facilitator's console as its own FastAPI app, and signing in.

The console is served on its own listener (`[console] host`, `port`; loopback by default),
beside the webhook receiver, by `balint-bot serve` (`bot.console.server`). It reads the
same database; it changes a meeting only by journaling a command for the meeting's runtime
(`bot.runtime.inbox`), never by calling the meeting or touching engine state.

Signing in:
- a link from `balint-bot console link --facilitator NAME`: opening it shows a button
  (a link preview or a mail scanner fetching the address cannot use it up); pressing it
  uses the link once and signs in;
- "Sign in with Zoom" (`bot.console.zoom_signin`): the Zoom user's e-mail must be a roster
  facilitator's; one who leads several groups chooses one on a page of single-use
  buttons (`_offer_groups`). The callback comes from zoom.us, and a SameSite=Strict
  cookie set there is not sent on a redirect that began on another site, so the callback
  answers with a short page that moves on to the console from the console's own origin.
Every sign-in, refused sign-in and sign-out is written to the audit log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from html import escape
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session, sessionmaker
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from bot.config import Settings
from bot.console import (
    absence_pages,
    group_pages,
    live_pages,
    member_notes,
    notes_pages,
    safety_pages,
)
from bot.console.context import ConsoleContext, NotSignedIn
from bot.console.security import SecurityHeaders
from bot.console.zoom_signin import ZoomIdentity, ZoomSigninError
from storage import console as records
from storage.clock import system_clock
from storage.db import session_scope

__all__ = ["create_console_app"]

_log = logging.getLogger(__name__)

_BINDING_COOKIE = "balint_zoom_signin"
_ZOOM_SIGNIN_TTL = timedelta(minutes=10)


def create_console_app(
    settings: Settings,
    *,
    session_factory: sessionmaker[Session],
    clock: Callable[[], datetime] = system_clock,
    meeting_clock: Callable[[], datetime] | None = None,
    nudge: Callable[[str], None] | None = None,
    http: httpx.AsyncClient | None = None,
) -> FastAPI:
    """The console app.

    Args:
        settings: the whole configuration (`[console]`, `[group]`, ...).
        session_factory: database sessions on the service's (migrated) database.
        clock: the wall clock (sign-in sessions, links, audit).
        meeting_clock: the service's clock the meetings run on (default `clock`).
        nudge: called with a meeting uuid after a command is journaled, so this process's
            worker steps it at once (without it, the worker's sweep finds it).
        http: the client "Sign in with Zoom" talks to Zoom with (default: a new one).
    """
    context = ConsoleContext(
        settings=settings,
        factory=session_factory,
        clock=clock,
        meeting_clock=meeting_clock or clock,
        nudge=nudge or (lambda _uuid: None),
        http=http,
    )
    if settings.console.exports_dir and len(settings.all_groups()) > 1:
        _log.warning(
            "[console] exports_dir is offered to no group with several groups: set each "
            "group's own exports_dir in its [[groups]] entry"
        )
    app = FastAPI(title="balint-bot console", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.console = context
    app.add_middleware(SecurityHeaders, secure=context.secure)
    app.mount(
        "/static", StaticFiles(directory=str(Path(__file__).parent / "static")), name="static"
    )

    @app.exception_handler(NotSignedIn)
    async def not_signed_in(request: Request, _exc: NotSignedIn) -> Response:
        return context.page(request, "signin.html", _signin_values(context), status=401)

    @app.exception_handler(HTTPException)
    async def refused(request: Request, exc: HTTPException) -> Response:
        if request.headers.get("hx-request"):
            return HTMLResponse(
                f'<p class="flash error" role="alert">{escape(str(exc.detail))}</p>',
                status_code=exc.status_code,
            )
        return context.page(
            request,
            "message.html",
            {
                "title": "Refused" if exc.status_code in (401, 403) else "Not found",
                "message": str(exc.detail),
                "signin": exc.status_code == 401,
            },
            status=exc.status_code,
        )

    @app.get("/", include_in_schema=False)
    def home(request: Request) -> Response:
        if context.signed_in(request, extend=False) is None:
            return context.page(request, "signin.html", _signin_values(context))
        return RedirectResponse("/live", status_code=303)

    @app.get("/signin", include_in_schema=False)
    def signin(request: Request) -> Response:
        return context.page(request, "signin.html", _signin_values(context))

    @app.get("/signin/link/{token}", include_in_schema=False)
    def link_page(request: Request, token: str) -> Response:
        return context.page(request, "signin_link.html", {"token": token})

    @app.post("/signin/link", include_in_schema=False)
    async def link_signin(request: Request) -> Response:
        token = await context.posted_token(request)
        now = context.clock()
        with session_scope(context.factory) as session:
            records.purge_expired(session, now=now)
            member_id = records.redeem_link(session, token=token, now=now) if token else None
            cookie = _open_session(
                context,
                session,
                member_id,
                via="link",
                now=now,
                unknown="link unknown, expired or used",
                detail="one-time link",
            )
        return _signed_in_or_refused(
            context,
            request,
            cookie,
            title="This link cannot sign you in",
            message="It is unknown, has expired, or was used already. Ask for a new one: "
            "balint-bot console link --facilitator NAME",
        )

    @app.get("/signin/zoom", include_in_schema=False)
    def zoom_start() -> Response:
        zoom = context.zoom
        if not zoom.configured:
            raise HTTPException(404, "Sign in with Zoom is not set up ([console] oauth_client_id).")
        with session_scope(context.factory) as session:
            records.purge_expired(session, now=context.clock())
            begun = records.begin_zoom_signin(session, now=context.clock(), ttl=_ZOOM_SIGNIN_TTL)
        response = RedirectResponse(
            zoom.authorize_redirect(state=begun.state, code_challenge=begun.code_challenge),
            status_code=303,
        )
        # Lax, not Strict: it must come back with Zoom's redirect to the callback.
        response.set_cookie(
            _BINDING_COOKIE,
            begun.binding,
            max_age=int(_ZOOM_SIGNIN_TTL.total_seconds()),
            path="/signin/zoom",
            secure=context.secure,
            httponly=True,
            samesite="lax",
        )
        return response

    @app.get("/signin/zoom/callback", include_in_schema=False)
    async def zoom_callback(request: Request) -> Response:
        zoom = context.zoom
        if not zoom.configured:
            raise HTTPException(404, "Sign in with Zoom is not set up.")
        params = request.query_params
        state = params.get("state", "")[:200]
        binding = request.cookies.get(_BINDING_COOKIE, "")[:200]
        with session_scope(context.factory) as session:
            verifier = (
                records.take_zoom_signin(session, state=state, binding=binding, now=context.clock())
                if state and binding
                else None
            )
        problem = ""
        facilitator = None
        offers: list[tuple[str, records.Facilitator]] = []  # (group, its facilitator row)
        zoom_user = ""
        if params.get("error"):
            problem = "Zoom did not sign you in (you may have declined)."
        elif verifier is None or not params.get("code"):
            problem = "This sign-in expired or did not start in this browser. Please try again."
        else:
            try:
                identity = await _identify(context, code=params["code"], verifier=verifier)
            except ZoomSigninError as failed:
                problem = f"Zoom could not confirm who you are: {failed}."
            else:
                zoom_user = identity.user_id
                with session_scope(context.factory) as session:
                    # every group whose roster has them as a facilitator: one console
                    # session is one group's, so a leader of several chooses (`choose`)
                    for group in settings.all_groups():
                        row = records.facilitator_by_email(
                            session, group_name=group.name, email=identity.email
                        )
                        if row is not None:
                            offers.append((group.name, row))
                if len(offers) == 1:
                    facilitator = offers[0][1]
                elif offers:
                    return _offer_groups(context, request, offers, zoom_user=zoom_user)
                else:
                    problem = (
                        "Your Zoom account's e-mail is not a facilitator's on this group's "
                        "roster. Ask whoever keeps the roster, or use a sign-in link."
                    )
        now = context.clock()
        with session_scope(context.factory) as session:
            if facilitator is None:
                context.audit(
                    session,
                    command="console sign-in refused",
                    records=[],
                    actor="console:zoom",
                    detail=f"zoom user {zoom_user or '-'}: {problem}"[:500],
                )
            else:
                cookie = records.open_session(
                    session,
                    member_id=facilitator.member_id,
                    via="zoom",
                    now=now,
                    lifetime=timedelta(hours=settings.console.session_hours),
                )
                context.audit(
                    session,
                    command="console sign-in",
                    records=[f"member:{facilitator.member_id}"],
                    actor=f"console:{facilitator.name}",
                    detail=f"Sign in with Zoom (zoom user {zoom_user})",
                )
        if facilitator is None:
            response = context.page(
                request,
                "message.html",
                {"title": "Not signed in", "message": problem, "signin": True},
                status=403,
            )
        else:
            response = context.page(request, "signed_in.html", {"name": facilitator.name})
            context.set_session_cookie(response, cookie)
        response.delete_cookie(_BINDING_COOKIE, path="/signin/zoom")
        return response

    @app.post("/signin/zoom/choose", include_in_schema=False)
    async def choose(request: Request) -> Response:
        """The group a leader of several chose after Sign in with Zoom (`_offer_groups`)."""
        token = await context.posted_token(request)
        now = context.clock()
        with session_scope(context.factory) as session:
            taken = records.take_offer(session, token=token, now=now) if token else None
            cookie = _open_session(
                context,
                session,
                None if taken is None else taken[0],
                via="zoom",
                now=now,
                unknown="group choice unknown, expired or used",
                detail=f"Sign in with Zoom (zoom user {taken[1] if taken else '-'}), "
                "one of several groups",
            )
        return _signed_in_or_refused(
            context,
            request,
            cookie,
            title="This choice cannot sign you in",
            message="It has expired or was used already. Please sign in again.",
        )

    @app.post("/signout", include_in_schema=False)
    async def signout(request: Request) -> Response:
        who, _form = await context.check_change(request)
        with session_scope(context.factory) as session:
            records.end_session(session, token=who.token, now=context.clock())
            context.audit(
                session,
                command="console sign-out",
                records=[f"member:{who.user.facilitator.member_id}"],
                actor=who.actor,
            )
        response = RedirectResponse("/signin", status_code=303)
        context.clear_session_cookie(response)
        return response

    app.include_router(live_pages.router)
    app.include_router(group_pages.router)
    app.include_router(member_notes.router)
    app.include_router(notes_pages.router)
    app.include_router(safety_pages.router)
    app.include_router(absence_pages.router)
    return app


def _open_session(
    context: ConsoleContext,
    session: Session,
    member_id: int | None,
    *,
    via: str,
    now: datetime,
    unknown: str,
    detail: str,
) -> str | None:
    """Sign in the member a single-use token was just used for (None: it was unknown,
    expired or used), if they are still a facilitator of their own group; audit the sign-in
    (`detail`) or its refusal (`unknown`, or "no longer a facilitator"). Returns the new
    console session's cookie token, None when refused."""
    own = (
        context.group_settings(records.group_of_member(session, member_id=member_id))
        if member_id is not None
        else None
    )
    facilitator = (
        records.facilitator_by_id(session, group_name=own.group.name, member_id=member_id)
        if member_id is not None and own is not None
        else None
    )
    if facilitator is None:
        context.audit(
            session,
            command="console sign-in refused",
            records=[] if member_id is None else [f"member:{member_id}"],
            actor=f"console:{via}",
            detail=unknown if member_id is None else "no longer a facilitator",
        )
        return None
    cookie = records.open_session(
        session,
        member_id=facilitator.member_id,
        via=via,
        now=now,
        lifetime=timedelta(hours=context.settings.console.session_hours),
    )
    context.audit(
        session,
        command="console sign-in",
        records=[f"member:{facilitator.member_id}"],
        actor=f"console:{facilitator.name}",
        detail=detail,
    )
    return cookie


def _signed_in_or_refused(
    context: ConsoleContext, request: Request, cookie: str | None, *, title: str, message: str
) -> Response:
    """After a single-use token: on to the console with the new session's cookie, or the
    page saying why not (`title`, `message`; 400)."""
    if cookie is None:
        return context.page(
            request,
            "message.html",
            {"title": title, "message": message, "signin": True},
            status=400,
        )
    response = RedirectResponse("/live", status_code=303)
    context.set_session_cookie(response, cookie)
    return response


def _offer_groups(
    context: ConsoleContext,
    request: Request,
    offers: list[tuple[str, records.Facilitator]],
    *,
    zoom_user: str,
) -> Response:
    """The page a Zoom user who leads several groups chooses one on: a button per group,
    each carrying a single-use token for that group's facilitator row. The tokens are
    bearer secrets like a sign-in link's, shown only to the browser that completed the
    sign-in, and the page is not stored."""
    with session_scope(context.factory) as session:
        tokens = records.offer_groups(
            session,
            member_ids=[row.member_id for _group, row in offers],
            zoom_user=zoom_user,
            now=context.clock(),
            ttl=_ZOOM_SIGNIN_TTL,
        )
    response = context.page(
        request,
        "signin_choose.html",
        {
            "name": offers[0][1].name,
            "offers": [(group, tokens[row.member_id]) for group, row in offers],
        },
    )
    response.headers["cache-control"] = "no-store"
    response.delete_cookie(_BINDING_COOKIE, path="/signin/zoom")
    return response


def _signin_values(context: ConsoleContext) -> dict[str, object]:
    return {"zoom": context.zoom.configured, "link_minutes": context.settings.console.link_minutes}


async def _identify(context: ConsoleContext, *, code: str, verifier: str) -> ZoomIdentity:
    if context.http is not None:
        return await context.zoom.identify(context.http, code=code, code_verifier=verifier)
    async with httpx.AsyncClient(trust_env=False) as http:
        return await context.zoom.identify(http, code=code, code_verifier=verifier)
