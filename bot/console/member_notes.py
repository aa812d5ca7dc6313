"""A member's read-only page of their own notes (and its PDF), under `/my-notes`.

Reached only by a link from `balint-bot notes link --member NAME` (`storage.note_links`):

- `GET /my-notes/open/{token}` shows a button (a link preview or a mail scanner fetching
  the address cannot use it up); pressing it (`POST /my-notes/open`) uses the link once and
  gives the browser a view cookie (`balint_notes`, path `/my-notes`, HttpOnly,
  SameSite=Strict) for `VIEW_LIFETIME`;
- `GET /my-notes` is the page and `GET /my-notes/notes.pdf` the same notes as a PDF: both
  read the one member the view cookie names, and only that member's own notes (never the
  group's notes, never another member's). Every read is audited (`storage.notes.read_notes`).

Its own token check, its own cookie: the facilitators' console cookie is neither read nor set
here, and the view cookie is never accepted by the console (`ConsoleContext.signed_in` reads
only its own), so nothing else is reachable from a member's link.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.config import Settings
from bot.console.context import ConsoleContext
from bot.safety_plan import keyring_of
from storage import console, note_links, notes
from storage.billing.pdf import Line, text_pdf
from storage.crypto import DataKeyError
from storage.db import session_scope
from storage.tables.core import Member

__all__ = ["VIEW_COOKIE", "router"]

router = APIRouter()

#: The member's view cookie (never the console's).
VIEW_COOKIE = "balint_notes"
_PATH = "/my-notes"


def _context(request: Request) -> ConsoleContext:
    context: ConsoleContext = request.app.state.console
    return context


@router.get(_PATH + "/open/{token}", include_in_schema=False)
def open_page(request: Request, token: str) -> Response:
    return _context(request).page(request, "member_open.html", {"token": token})


@router.post(_PATH + "/open", include_in_schema=False)
async def open_link(request: Request) -> Response:
    context = _context(request)
    token = await context.posted_token(request)
    now = context.clock()
    with session_scope(context.factory) as session:
        note_links.purge_expired(session, now=now)
        opened = note_links.redeem(session, token=token, now=now) if token else None
        context.audit(
            session,
            command="notes link used" if opened else "notes link refused",
            records=[f"member:{opened[0]}"] if opened else [],
            actor="member link",
            detail="" if opened else "link unknown, expired or used",
        )
    if opened is None:
        return context.page(
            request,
            "member_message.html",
            {
                "title": "This link cannot open your notes",
                "message": "It is unknown, has expired, or was used already. Ask your "
                "facilitator for a new one.",
            },
            status=400,
        )
    response = RedirectResponse(_PATH, status_code=303)
    response.set_cookie(
        VIEW_COOKIE,
        opened[1],
        max_age=int(note_links.VIEW_LIFETIME.total_seconds()),
        path=_PATH,
        secure=context.secure,
        httponly=True,
        samesite="strict",
    )
    return response


class _NoView(Exception):
    """No valid view cookie: the page answers 401 (without pointing at the console)."""


def _member_notes(
    context: ConsoleContext, request: Request, *, command: str
) -> tuple[str, tuple[notes.NoteThread, ...], Settings]:
    """The viewer's name, own notes (audited) and their group's settings; `_NoView` without
    a valid view cookie."""
    view = request.cookies.get(VIEW_COOKIE, "")[:200]
    now = context.clock()
    with session_scope(context.factory) as session:
        member_id = note_links.viewer(session, view_token=view, now=now) if view else None
        if member_id is None:
            raise _NoView()
        name = _name(session, member_id)
        own = context.group_settings(console.group_of_member(session, member_id=member_id))
        if own is None:  # their group is no longer in the settings
            raise _NoView()
        try:
            threads = notes.read_notes(
                session,
                group_name=own.group.name,
                keyring=keyring_of(context.settings),
                about="member",
                member_id=member_id,
                command=command,
                now=now,
                actor=f"member:{member_id}",
            )
        except DataKeyError:
            raise HTTPException(
                503, "Your notes cannot be opened right now. Please tell your facilitator."
            ) from None
    return name, threads, own


def _name(session: Session, member_id: int) -> str:
    return session.scalar(select(Member.display_name).where(Member.id == member_id)) or ""


def _refused(context: ConsoleContext, request: Request) -> Response:
    return context.page(
        request,
        "member_message.html",
        {
            "title": "This page cannot be shown",
            "message": "It needs a link from your facilitator, and stays open for a short "
            "while after the link is used. Ask your facilitator for a new link.",
        },
        status=401,
    )


@router.get(_PATH, include_in_schema=False)
def notes_page(request: Request) -> Response:
    context = _context(request)
    try:
        name, threads, own = _member_notes(context, request, command="notes member page")
    except _NoView:
        return _refused(context, request)
    group = own.group
    values = {"name": name, "threads": threads, "group_name": group.name, "zone": group.timezone}
    return context.page(request, "member_notes.html", values)


@router.get(_PATH + "/notes.pdf", include_in_schema=False)
def notes_pdf(request: Request) -> Response:
    context = _context(request)
    try:
        name, threads, own = _member_notes(context, request, command="notes member pdf")
    except _NoView:
        return _refused(context, request)
    body = text_pdf(_pdf_lines(name, threads, own), title=f"Notes for {name}")
    return Response(
        body,
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="my-notes.pdf"'},
    )


def _pdf_lines(name: str, threads: tuple[notes.NoteThread, ...], own: Settings) -> list[Line]:
    zone = ZoneInfo(own.group.timezone)
    lines = [
        Line(f"Notes for {name}", size=16, bold=True),
        Line(f"{own.group.name}: your own notes, as your facilitators wrote them."),
    ]
    if not threads:
        lines.append(Line("No notes yet."))
    for thread in threads:
        original = thread.original
        lines.append(Line(f"Session of {original.service_date.isoformat()}", size=12, bold=True))
        lines.append(Line(f"Written {_when(zone, original.written_at)} by {original.author}"))
        lines.append(Line(original.text))
        for amendment in thread.amendments:
            lines.append(
                Line(
                    f"Amended {_when(zone, amendment.written_at)} by {amendment.author}",
                    bold=True,
                )
            )
            lines.append(Line(amendment.text))
    return lines


def _when(zone: ZoneInfo, at: datetime) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
